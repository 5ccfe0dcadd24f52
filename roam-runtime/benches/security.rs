//! What TLS and interceptors cost, next to the same case without them, measured in the same
//! run, on a current_thread runtime (`ct`) and a 2-worker multi-thread one (`mt`).
//!
//! - `tls/<flavor>/rtt/<link>`: one `echo(Vec<u8>)` call with a 32-byte argument, awaited (as
//!   in `unary.rs`), over `tls://` and over `tcp://` on loopback.
//! - `tls/<flavor>/stream/<link>`: a handler sends `N` `u64` items on a `Tx<u64>`; the client
//!   reads them all (as `stream/<flavor>/u64/…` in `streams.rs`); throughput in items/s.
//! - `tls/<flavor>/handshake/<link>`: `Connector::connect` of a fresh session (for `tls` the
//!   TLS handshake, then the roam `Hello` exchange) and dropping it, per iteration.
//! - `intercept/<flavor>/rtt/<chain>`: the TCP echo round trip with no interceptor (`none`),
//!   three no-op server interceptors (`three-noop`, `Server::intercept`) and three no-op
//!   client interceptors (`three-noop-client`, `Connector::intercept`).
//!
//! The certificates (a CA and a server certificate for 127.0.0.1) are made at start-up with
//! rcgen. `docs/benchmarks.md` reports these as ratios (tls / tcp, chain / none).

// The same run-time PKI as the integration tests (one piece, included by path: benches cannot
// depend on the tests crate, which depends on this one).
mod echo;
// Only `numbers` is timed here; `blobs` belongs to the streams bench.
#[allow(dead_code)]
mod feed;
#[path = "../../tests/src/pki.rs"]
#[allow(dead_code)]
mod pki;
mod support;

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use echo::{E, EchoClient, EchoDispatcher};
use feed::{F, FeedClient, FeedDispatcher, U64_ITEMS};

/// The links compared: name and bind URL.
const LINKS: [(&str, &str); 2] = [("tls", "tls://127.0.0.1:0"), ("tcp", "tcp://127.0.0.1:0")];

/// Binds `url`, with `tls`'s certificate when it is a `tls://` URL.
async fn bind(url: &str, tls: &roam::tls::ServerTls) -> roam::Server {
    if url.starts_with("tls://") {
        roam::Server::bind_tls(url, tls.clone()).await
    } else {
        roam::Server::bind(url).await
    }
    .expect("bind")
}

/// Starts `server` serving `service` and connects a session to it with `connector`.
async fn serve(
    server: roam::Server,
    service: impl Into<roam::Router>,
    connector: &roam::Connector,
) -> (roam::ServerHandle, roam::Connection) {
    let server = server.serve(service);
    let conn = connector
        .connect(server.local_url())
        .await
        .expect("connect");
    (server, conn)
}

/// Connects `iters` fresh sessions one after the other, dropping each (it closes with a
/// `Goodbye` in the background) once its handshake is done.
async fn handshakes(connector: &roam::Connector, url: &str, iters: u64) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        let conn = connector.connect(url).await.expect("connect");
        drop(conn);
    }
    start.elapsed()
}

fn tls(c: &mut Criterion) {
    let pki = pki::generate();
    let server_tls = pki.server_tls();
    // The same connector for both links: over `tcp://` its TLS settings are not used.
    let connector = roam::Connector::new().tls(pki.client_tls());
    for (flavor, rt) in support::flavors() {
        let mut servers = Vec::new();

        let mut g = c.benchmark_group("tls");
        g.measurement_time(Duration::from_secs(3))
            .warm_up_time(Duration::from_millis(500))
            .sample_size(30);
        for (name, url) in LINKS {
            let (server, conn) = rt.block_on(async {
                serve(
                    bind(url, &server_tls).await,
                    EchoDispatcher::new(E),
                    &connector,
                )
                .await
            });
            let client = EchoClient::new(conn);
            echo::bench_round_trips(&mut g, &rt, format!("{flavor}/rtt/{name}"), &client);
            servers.push(server);
        }
        g.finish();

        let mut g = c.benchmark_group("tls");
        g.measurement_time(Duration::from_secs(4))
            .warm_up_time(Duration::from_millis(500))
            .sample_size(15);
        g.throughput(Throughput::Elements(U64_ITEMS));
        for (name, url) in LINKS {
            let (server, conn) = rt.block_on(async {
                serve(
                    bind(url, &server_tls).await,
                    FeedDispatcher::new(F),
                    &connector,
                )
                .await
            });
            let client = FeedClient::new(conn);
            feed::bench_numbers(&mut g, &rt, format!("{flavor}/stream/{name}"), &client);
            servers.push(server);
        }
        g.finish();

        let mut g = c.benchmark_group("tls");
        g.measurement_time(Duration::from_secs(3))
            .warm_up_time(Duration::from_millis(500))
            .sample_size(20);
        for (name, url) in LINKS {
            let server =
                rt.block_on(async { bind(url, &server_tls).await.serve(EchoDispatcher::new(E)) });
            let url = server.local_url().to_owned();
            g.bench_function(format!("{flavor}/handshake/{name}"), |b| {
                b.iter_custom(|iters| {
                    let connector = connector.clone();
                    let url = url.clone();
                    support::run(
                        &rt,
                        async move { handshakes(&connector, &url, iters).await },
                    )
                })
            });
            servers.push(server);
        }
        g.finish();

        for server in servers {
            rt.block_on(server.shutdown());
        }
    }
}

/// Adds three server interceptors that only run the rest of the chain.
fn three_noop(server: roam::Server) -> roam::Server {
    server
        .intercept(|cx, next: roam::intercept::Next| async move { next.run(cx).await })
        .intercept(|cx, next: roam::intercept::Next| async move { next.run(cx).await })
        .intercept(|cx, next: roam::intercept::Next| async move { next.run(cx).await })
}

/// Adds three client interceptors that only run the rest of the chain.
fn three_noop_client(connector: roam::Connector) -> roam::Connector {
    connector
        .intercept(|call, next: roam::intercept::ClientNext| async move { next.run(call).await })
        .intercept(|call, next: roam::intercept::ClientNext| async move { next.run(call).await })
        .intercept(|call, next: roam::intercept::ClientNext| async move { next.run(call).await })
}

fn intercept(c: &mut Criterion) {
    const URL: &str = "tcp://127.0.0.1:0";
    for (flavor, rt) in support::flavors() {
        let mut g = c.benchmark_group("intercept");
        g.measurement_time(Duration::from_secs(3))
            .warm_up_time(Duration::from_millis(500))
            .sample_size(30);
        let mut servers = Vec::new();
        let cases: [(&str, bool, roam::Connector); 3] = [
            ("none", false, roam::Connector::new()),
            ("three-noop", true, roam::Connector::new()),
            (
                "three-noop-client",
                false,
                three_noop_client(roam::Connector::new()),
            ),
        ];
        for (name, server_chain, connector) in cases {
            let (server, conn) = rt.block_on(async {
                let server = roam::Server::bind(URL).await.expect("bind");
                let server = if server_chain {
                    three_noop(server)
                } else {
                    server
                };
                serve(server, EchoDispatcher::new(E), &connector).await
            });
            let client = EchoClient::new(conn);
            echo::bench_round_trips(&mut g, &rt, format!("{flavor}/rtt/{name}"), &client);
            servers.push(server);
        }
        g.finish();
        for server in servers {
            rt.block_on(server.shutdown());
        }
    }
}

criterion_group!(benches, tls, intercept);
criterion_main!(benches);
