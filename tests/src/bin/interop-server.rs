//! The Rust side of the cross-language tests: serves the calculator, the streaming numbers
//! service, the kitchen-sink `Atlas` and the `Probe` on the URL given (`ws://` or `tcp://`,
//! port 0 for any), prints `listening on URL` and runs until stdin closes.

use roam_examples::numbers::{Counter, NumbersDispatcher};
use roam_examples::{Calc, CalculatorDispatcher};
use roam_tests::kitchen::{AtlasDispatcher, Kitchen, ProbeDispatcher, Prober};
use tokio::io::AsyncReadExt;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "ws://127.0.0.1:0".to_owned());
    let server = roam::Server::bind(&url).await?.serve(
        roam::Router::new()
            .with(CalculatorDispatcher::new(Calc))
            .with(NumbersDispatcher::new(Counter))
            .with(AtlasDispatcher::new(Kitchen))
            .with(ProbeDispatcher::new(Prober::default())),
    );
    println!("listening on {}", server.local_url());
    // The test that started us closes stdin to stop us, even if it dies.
    let mut sink = Vec::new();
    let _ = tokio::io::stdin().read_to_end(&mut sink).await;
    server.shutdown().await;
    Ok(())
}
