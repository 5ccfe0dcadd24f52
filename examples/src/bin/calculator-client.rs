//! A calculator client in its own process.
//!
//! Run: `cargo run -p roam-examples --bin calculator-client -- tcp://127.0.0.1:4000`

use roam_examples::{CalculatorClient, tour};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "tcp://127.0.0.1:4000".to_owned());
    let calc = CalculatorClient::new(roam::connect(&url).await?);
    tour(&calc).await
}
