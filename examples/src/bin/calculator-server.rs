//! A calculator server in its own process (it also serves the streaming `Numbers` service).
//!
//! Run: `cargo run -p roam-examples --bin calculator-server -- tcp://127.0.0.1:4000`
//! (stop it with Ctrl-C; it drains calls in flight before exiting).

use roam_examples::numbers::{Counter, NumbersDispatcher};
use roam_examples::{Calc, CalculatorDispatcher};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "tcp://127.0.0.1:4000".to_owned());
    let server = roam::Server::bind(&url).await?.serve(
        roam::Router::new()
            .with(CalculatorDispatcher::new(Calc))
            .with(NumbersDispatcher::new(Counter)),
    );
    println!("listening on {}", server.local_url());
    tokio::signal::ctrl_c().await?;
    println!("shutting down");
    server.shutdown().await;
    Ok(())
}
