//! Unary call cost, next to the raw floors underneath, measured in the same run, on a
//! current_thread runtime (`ct`) and a 2-worker multi-thread one (`mt`).
//!
//! - `rtt/<flavor>/<transport>/roam`: one `echo(Vec<u8>)` call with a 32-byte argument, awaited,
//!   over memory, TCP and WebSocket.
//! - `rtt/<flavor>/tcp/raw`: a hand-written ping-pong of 36 bytes (4-byte length + 32-byte
//!   body) over loopback TCP, with no roam code involved.
//! - `rtt/<flavor>/memory/floor`: a tokio mpsc + oneshot round trip to another task, the floor
//!   of any in-process request/response.
//! - `pipelined/<flavor>/tcp/64-in-flight`: 64 calls kept in flight on one TCP session;
//!   throughput in calls/s.
//!
//! `docs/benchmarks.md` reports these as ratios (roam / raw).

mod echo;
mod support;

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use echo::{BODY, E, EchoClient, EchoDispatcher};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

/// Echoes length-prefixed frames until EOF.
async fn raw_echo_server<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(mut s: S) {
    let mut buf = [0u8; 4 + BODY];
    while s.read_exact(&mut buf).await.is_ok() {
        if s.write_all(&buf).await.is_err() {
            return;
        }
    }
}

async fn raw_round_trips<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    s: &mut S,
    iters: u64,
) -> Duration {
    let mut frame = [7u8; 4 + BODY];
    frame[..4].copy_from_slice(&(BODY as u32).to_le_bytes());
    let mut back = [0u8; 4 + BODY];
    let start = Instant::now();
    for _ in 0..iters {
        s.write_all(&frame).await.expect("raw write");
        s.read_exact(&mut back).await.expect("raw read");
    }
    start.elapsed()
}

type Floor = mpsc::Sender<(Vec<u8>, oneshot::Sender<Vec<u8>>)>;

fn floor_server() -> Floor {
    let (tx, mut rx) = mpsc::channel::<(Vec<u8>, oneshot::Sender<Vec<u8>>)>(64);
    tokio::spawn(async move {
        while let Some((data, reply)) = rx.recv().await {
            let _ = reply.send(data);
        }
    });
    tx
}

async fn floor_round_trips(floor: &Floor, iters: u64) -> Duration {
    let data = vec![7u8; BODY];
    let start = Instant::now();
    for _ in 0..iters {
        let (tx, rx) = oneshot::channel();
        floor.send((data.clone(), tx)).await.expect("floor send");
        assert_eq!(rx.await.expect("floor reply").len(), BODY);
    }
    start.elapsed()
}

async fn raw_tcp_pair() -> tokio::net::TcpStream {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind raw");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let (s, _) = listener.accept().await.expect("accept raw");
        s.set_nodelay(true).expect("nodelay");
        raw_echo_server(s).await;
    });
    let s = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connect raw");
    s.set_nodelay(true).expect("nodelay");
    s
}

fn rtt(c: &mut Criterion) {
    for (flavor, rt) in support::flavors() {
        let mut g = c.benchmark_group("rtt");
        g.measurement_time(Duration::from_secs(3))
            .warm_up_time(Duration::from_millis(500))
            .sample_size(30);
        let mut servers = Vec::new();
        for (name, url) in support::TRANSPORTS {
            let (server, conn) = rt.block_on(support::serve(url, EchoDispatcher::new(E)));
            let client = EchoClient::new(conn);
            echo::bench_round_trips(&mut g, &rt, format!("{flavor}/{name}/roam"), &client);
            servers.push(server);
        }
        let raw_tcp = std::sync::Arc::new(tokio::sync::Mutex::new(rt.block_on(raw_tcp_pair())));
        g.bench_function(format!("{flavor}/tcp/raw"), |b| {
            b.iter_custom(|n| {
                let raw = raw_tcp.clone();
                support::run(&rt, async move {
                    raw_round_trips(&mut *raw.lock().await, n).await
                })
            })
        });
        let floor = rt.block_on(async { floor_server() });
        g.bench_function(format!("{flavor}/memory/floor"), |b| {
            b.iter_custom(|n| {
                let floor = floor.clone();
                support::run(&rt, async move { floor_round_trips(&floor, n).await })
            })
        });
        g.finish();
        for server in servers {
            rt.block_on(server.shutdown());
        }
    }
}

fn pipelined(c: &mut Criterion) {
    const IN_FLIGHT: usize = 64;
    const CALLS: u64 = 4096;
    for (flavor, rt) in support::flavors() {
        let (server, conn) =
            rt.block_on(support::serve("tcp://127.0.0.1:0", EchoDispatcher::new(E)));
        let client = EchoClient::new(conn);
        let mut g = c.benchmark_group("pipelined");
        g.measurement_time(Duration::from_secs(4))
            .warm_up_time(Duration::from_millis(500))
            .sample_size(20);
        g.throughput(Throughput::Elements(CALLS));
        g.bench_function(format!("{flavor}/tcp/64-in-flight"), |b| {
            b.iter(|| {
                let client = client.clone();
                support::run(&rt, async move {
                    let data = vec![7u8; BODY];
                    let mut in_flight = FuturesUnordered::new();
                    let mut sent = 0;
                    let mut done = 0;
                    while done < CALLS {
                        while sent < CALLS && in_flight.len() < IN_FLIGHT {
                            in_flight.push(client.echo(data.clone()).into_future());
                            sent += 1;
                        }
                        if let Some(r) = in_flight.next().await {
                            r.expect("echo");
                            done += 1;
                        }
                    }
                })
            })
        });
        g.finish();
        drop(client);
        rt.block_on(server.shutdown());
    }
}

criterion_group!(benches, rtt, pipelined);
criterion_main!(benches);
