//! A calculator server in its own process.
//!
//! Run: `cargo run -p roam-examples --bin calculator-server -- tcp://127.0.0.1:4000`
//! (stop it with Ctrl-C; it drains calls in flight before exiting).

use roam_examples::{Calc, CalculatorDispatcher};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "tcp://127.0.0.1:4000".to_owned());
    let server = roam::Server::bind(&url)
        .await?
        .serve(CalculatorDispatcher::new(Calc));
    println!("listening on {}", server.local_url());
    tokio::signal::ctrl_c().await?;
    println!("shutting down");
    server.shutdown().await;
    Ok(())
}
