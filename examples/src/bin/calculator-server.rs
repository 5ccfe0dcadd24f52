//! A calculator server in its own process (it also serves the streaming `Numbers` service).
//!
//! Run: `cargo run -p roam-examples --bin calculator-server -- tcp://127.0.0.1:4000`
//! (stop it with Ctrl-C; it drains calls in flight before exiting).
//!
//! With `--web DIR --http ADDR` it also serves the files of `DIR` over HTTP on `ADDR`: that is
//! how `examples/typescript/web.sh` hands a browser the page that calls it over WebSocket.

use roam_examples::numbers::{Counter, NumbersDispatcher};
use roam_examples::{Calc, CalculatorDispatcher};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut url = "tcp://127.0.0.1:4000".to_owned();
    let (mut web, mut http) = (None, "127.0.0.1:8080".to_owned());
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--web" => web = Some(args.next().ok_or("--web needs a directory")?),
            "--http" => http = args.next().ok_or("--http needs an address")?,
            _ => url = arg,
        }
    }
    let server = roam::Server::bind(&url).await?.serve(
        roam::Router::new()
            .with(CalculatorDispatcher::new(Calc))
            .with(NumbersDispatcher::new(Counter)),
    );
    println!("listening on {}", server.local_url());
    if let Some(dir) = web {
        let listener = tokio::net::TcpListener::bind(&http).await?;
        println!("serving {dir} on http://{}/", listener.local_addr()?);
        tokio::spawn(roam_examples::web::serve_dir(listener, dir.into()));
    }
    tokio::signal::ctrl_c().await?;
    println!("shutting down");
    server.shutdown().await;
    Ok(())
}
