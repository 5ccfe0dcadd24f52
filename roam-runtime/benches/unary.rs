//! Unary call cost, next to the raw transport underneath, measured in the same run.
//!
//! - `rtt/<transport>/roam`: one `echo(Vec<u8>)` call with a 32-byte argument, awaited.
//! - `rtt/<transport>/raw`: a hand-written ping-pong of 36 bytes (4-byte length + 32-byte body)
//!   over the same kind of link, in this file, with no roam code involved.
//! - `pipelined/tcp/64`: 64 calls kept in flight on one TCP session; throughput in calls/s.
//!
//! `docs/benchmarks.md` reports these as ratios (roam / raw).

mod support;

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[roam::service]
trait Echo {
    async fn echo(&self, data: Vec<u8>) -> Vec<u8>;
}

struct E;
impl Echo for E {
    async fn echo(&self, data: Vec<u8>) -> Vec<u8> {
        data
    }
}

const BODY: usize = 32;

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

async fn roam_round_trips(client: &EchoClient, iters: u64) -> Duration {
    let data = vec![7u8; BODY];
    let start = Instant::now();
    for _ in 0..iters {
        let back = client.echo(data.clone()).await.expect("echo");
        assert_eq!(back.len(), BODY);
    }
    start.elapsed()
}

fn rtt(c: &mut Criterion) {
    let rt = support::runtime();
    let mut g = c.benchmark_group("rtt");
    g.measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_millis(500))
        .sample_size(30);

    // TCP loopback.
    let (server, tcp_client) = rt.block_on(async {
        let server = roam::Server::bind("tcp://127.0.0.1:0")
            .await
            .expect("bind")
            .serve(EchoDispatcher::new(E));
        let client = EchoClient::new(roam::connect(server.local_url()).await.expect("connect"));
        (server, client)
    });
    let mut raw_tcp = rt.block_on(async {
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
    });
    g.bench_function("tcp/roam", |b| {
        b.iter_custom(|n| rt.block_on(roam_round_trips(&tcp_client, n)))
    });
    g.bench_function("tcp/raw", |b| {
        b.iter_custom(|n| rt.block_on(raw_round_trips(&mut raw_tcp, n)))
    });

    // In memory.
    let mem_client = rt.block_on(async {
        let (client, _server) = roam::memory_pair_with(
            roam::Connector::new(),
            roam::Connector::new().serve(EchoDispatcher::new(E)),
        )
        .await
        .expect("memory pair");
        EchoClient::new(client)
    });
    let mut raw_mem = rt.block_on(async {
        let (a, b) = tokio::io::duplex(256 * 1024);
        tokio::spawn(raw_echo_server(b));
        a
    });
    g.bench_function("memory/roam", |b| {
        b.iter_custom(|n| rt.block_on(roam_round_trips(&mem_client, n)))
    });
    g.bench_function("memory/raw", |b| {
        b.iter_custom(|n| rt.block_on(raw_round_trips(&mut raw_mem, n)))
    });
    g.finish();

    drop((tcp_client, mem_client));
    rt.block_on(server.shutdown());
}

fn pipelined(c: &mut Criterion) {
    const IN_FLIGHT: usize = 64;
    const CALLS: u64 = 4096;
    let rt = support::runtime();
    let (server, conn) = rt.block_on(support::serve_tcp(EchoDispatcher::new(E)));
    let client = EchoClient::new(conn);
    let mut g = c.benchmark_group("pipelined");
    g.measurement_time(Duration::from_secs(4))
        .warm_up_time(Duration::from_millis(500))
        .sample_size(20);
    g.throughput(Throughput::Elements(CALLS));
    g.bench_function("tcp/64-in-flight", |b| {
        b.iter(|| {
            rt.block_on(async {
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

criterion_group!(benches, rtt, pipelined);
criterion_main!(benches);
