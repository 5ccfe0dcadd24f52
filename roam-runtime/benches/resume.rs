//! What resumption costs, next to the same case without it, measured in the same run, on a
//! current_thread runtime (`ct`) and a 2-worker multi-thread one (`mt`).
//!
//! - `resume/<flavor>/rtt/<replay>`: one `echo(Vec<u8>)` call with a 32-byte argument, awaited
//!   (as in `unary.rs`), over `tcp://` with resumption on both sides (`on`: every session
//!   message numbered, kept until acknowledged, acks flowing back) and off (`off`).
//! - `resume/<flavor>/stream/<replay>`: a handler sends `N` `u64` items on a `Tx<u64>`; the
//!   client reads them all (as in `streams.rs`); throughput in items/s.
//! - `resume/<flavor>/recover/<how>`: through the fault-injection relay, the time from cutting
//!   the link to the next call completing: `resume` (the client redials and resumes the
//!   session) against `reconnect` (no resumption: the call fails, the client connects a new
//!   session and calls again), both with the redial made at once.
//!
//! `docs/benchmarks.md` reports these as ratios (on / off, resume / reconnect).

mod echo;
// Only `numbers` is timed here; `blobs` belongs to the streams bench.
#[allow(dead_code)]
mod feed;
// The relay of the integration tests (included by path: benches cannot depend on the tests
// crate, which depends on this one).
#[path = "../../tests/src/relay.rs"]
#[allow(dead_code)]
mod relay;
mod support;

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use echo::{E, EchoClient, EchoDispatcher};
use feed::{F, FeedClient, FeedDispatcher, U64_ITEMS};

const URL: &str = "tcp://127.0.0.1:0";

/// Resumption on both sides, or off on both.
const REPLAY: [(&str, bool); 2] = [("on", true), ("off", false)];

fn resumption(on: bool) -> Option<roam::Resumption> {
    on.then(roam::Resumption::default)
}

/// Redials at once: the recovery measured is the protocol's, not a backoff's.
fn at_once() -> roam::RetryPolicy {
    roam::RetryPolicy {
        initial_delay: Duration::ZERO,
        jitter: 0.0,
        ..roam::RetryPolicy::default()
    }
}

/// A server serving `service` with resumption on or off, and a session connected to it.
async fn serve(
    on: bool,
    service: impl Into<roam::Router>,
) -> (roam::ServerHandle, roam::Connection) {
    let server = roam::Server::bind(URL)
        .await
        .expect("bind")
        .resumption(resumption(on))
        .serve(service);
    let conn = roam::Connector::new()
        .resumption(resumption(on))
        .connect(server.local_url())
        .await
        .expect("connect");
    (server, conn)
}

/// `iters` times: cuts the link, then times until a call completes. With resumption the
/// same session resumes; without, a new one is connected.
async fn recoveries(on: bool, iters: u64) -> Duration {
    let server = roam::Server::bind(URL)
        .await
        .expect("bind")
        .resumption(resumption(on))
        .serve(EchoDispatcher::new(E));
    let relay = relay::Relay::in_front_of(server.local_url())
        .await
        .expect("relay");
    let url = relay.url_for(server.local_url());
    let connector = roam::Connector::new()
        .resumption(resumption(on))
        .retry(at_once());
    let mut client = EchoClient::new(connector.connect(&url).await.expect("connect"));
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        client
            .echo(vec![1; 32])
            .await
            .expect("a call before the cut");
        let cut = Instant::now();
        relay.cut();
        loop {
            match client.echo(vec![2; 32]).await {
                Ok(_) => break,
                Err(_) if !on => {
                    client = EchoClient::new(connector.connect(&url).await.expect("reconnect"))
                }
                Err(e) => panic!("a resumed session failed a call: {e}"),
            }
        }
        total += cut.elapsed();
    }
    server.shutdown().await;
    total
}

fn resume(c: &mut Criterion) {
    for (flavor, rt) in support::flavors() {
        let mut servers = Vec::new();

        let mut g = c.benchmark_group("resume");
        g.measurement_time(Duration::from_secs(3))
            .warm_up_time(Duration::from_millis(500))
            .sample_size(30);
        for (name, on) in REPLAY {
            let (server, conn) = rt.block_on(serve(on, EchoDispatcher::new(E)));
            let client = EchoClient::new(conn);
            echo::bench_round_trips(&mut g, &rt, format!("{flavor}/rtt/{name}"), &client);
            servers.push(server);
        }
        g.finish();

        let mut g = c.benchmark_group("resume");
        g.measurement_time(Duration::from_secs(4))
            .warm_up_time(Duration::from_millis(500))
            .sample_size(15);
        g.throughput(Throughput::Elements(U64_ITEMS));
        for (name, on) in REPLAY {
            let (server, conn) = rt.block_on(serve(on, FeedDispatcher::new(F)));
            let client = FeedClient::new(conn);
            feed::bench_numbers(&mut g, &rt, format!("{flavor}/stream/{name}"), &client);
            servers.push(server);
        }
        g.finish();

        let mut g = c.benchmark_group("resume");
        g.measurement_time(Duration::from_secs(3))
            .warm_up_time(Duration::from_millis(500))
            .sample_size(20);
        for (name, on) in [("resume", true), ("reconnect", false)] {
            g.bench_function(format!("{flavor}/recover/{name}"), |b| {
                b.iter_custom(|iters| support::run(&rt, recoveries(on, iters)))
            });
        }
        g.finish();

        for server in servers {
            rt.block_on(server.shutdown());
        }
    }
}

criterion_group!(benches, resume);
criterion_main!(benches);
