//! The Rust side of the cross-language tests: serves the calculator, the streaming numbers
//! service, the kitchen-sink `Atlas` and the `Probe` on the URL given (`ws://`, `tcp://`, or
//! with TLS `wss://` and `tls://`; port 0 for any), prints `listening on URL` and runs until
//! stdin closes.
//!
//! Flags:
//! - `--tls-dir DIR`: for `tls://` and `wss://`; writes a fresh test PKI into DIR (see the
//!   `test-pki` binary; the client reads `DIR/ca.pem`) before listening.
//! - `--token TOKEN`: admits only sessions whose `Hello` metadata has `authorization` =
//!   `Bearer TOKEN` (as the identity `token-holder`); others are refused with
//!   `Goodbye("unauthenticated: missing or wrong bearer token")`.

use roam::{Identity, PeerHello, Refusal};
use roam_examples::numbers::{Counter, NumbersDispatcher};
use roam_examples::{Calc, CalculatorDispatcher};
use roam_tests::kitchen::{AtlasDispatcher, Kitchen, ProbeDispatcher, Prober};
use tokio::io::AsyncReadExt;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut url = "ws://127.0.0.1:0".to_owned();
    let (mut tls_dir, mut token) = (None, None);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--tls-dir" => tls_dir = args.next(),
            "--token" => token = args.next(),
            _ => url = arg,
        }
    }
    let server = match tls_dir {
        Some(dir) => {
            let pki = roam_tests::pki::generate();
            pki.write_to(std::path::Path::new(&dir))?;
            roam::Server::bind_tls(&url, pki.server_tls()).await?
        }
        None => roam::Server::bind(&url).await?,
    };
    let server = match token {
        Some(token) => {
            let expected = format!("Bearer {token}");
            server.authenticate(move |hello: PeerHello| {
                let admitted = hello.metadata.get_str("authorization") == Some(expected.as_str());
                async move {
                    if admitted {
                        Ok(Identity::new("token-holder"))
                    } else {
                        Err(Refusal::new("missing or wrong bearer token"))
                    }
                }
            })
        }
        None => server,
    };
    let server = server.serve(
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
