//! The README's demo: starts a calculator server on a TCP loopback port, connects a client to
//! it, calls every method, and shuts the server down gracefully.
//!
//! Run: `cargo run -p roam-examples --bin demo`

use roam_examples::{Calc, CalculatorClient, CalculatorDispatcher, tour};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = roam::Server::bind("tcp://127.0.0.1:0")
        .await?
        .serve(CalculatorDispatcher::new(Calc));
    println!("server listening on {}", server.local_url());

    let conn = roam::connect(server.local_url()).await?;
    let calc = CalculatorClient::new(conn);
    tour(&calc).await?;

    drop(calc);
    server.shutdown().await;
    println!("server shut down");
    Ok(())
}
