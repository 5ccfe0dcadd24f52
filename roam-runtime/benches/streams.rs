//! Streaming throughput, next to raw TCP moving the same frames, measured in the same run, on a
//! current_thread runtime (`ct`) and a 2-worker multi-thread one (`mt`).
//!
//! - `stream/<flavor>/u64/<transport>`: a handler sends `N` `u64` items on a `Tx<u64>`; the
//!   client reads them all, over memory, TCP and WebSocket.
//! - `stream/<flavor>/u64/raw`: the same number of length-prefixed frames carrying 8 bytes
//!   each over loopback TCP, written through a `BufWriter` and read through a `BufReader`, with
//!   no roam code involved.
//! - `stream/<flavor>/1KiB/…`: the same with 1 KiB `Vec<u8>` items.

mod feed;
mod support;

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use feed::{BLOB_ITEMS, F, FeedClient, FeedDispatcher, U64_ITEMS, roam_blobs};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};

/// Raw baseline: one connection per iteration batch; the writer sends `items` frames of
/// `body` bytes, the reader reads them all.
async fn raw_stream(items: u64, body: usize) -> Duration {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind raw");
    let addr = listener.local_addr().expect("addr");
    let writer = tokio::spawn(async move {
        let (s, _) = listener.accept().await.expect("accept raw");
        s.set_nodelay(true).expect("nodelay");
        let mut w = BufWriter::new(s);
        let mut frame = vec![7u8; 4 + body];
        frame[..4].copy_from_slice(&(body as u32).to_le_bytes());
        for _ in 0..items {
            w.write_all(&frame).await.expect("raw write");
        }
        w.flush().await.expect("raw flush");
    });
    let s = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connect raw");
    s.set_nodelay(true).expect("nodelay");
    let mut s = BufReader::new(s);
    let start = Instant::now();
    let mut buf = vec![0u8; 4 + body];
    for _ in 0..items {
        s.read_exact(&mut buf).await.expect("raw read");
    }
    let elapsed = start.elapsed();
    writer.await.expect("raw writer");
    elapsed
}

async fn raw_streams(iters: u64, items: u64, body: usize) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        total += raw_stream(items, body).await;
    }
    total
}

fn streams(c: &mut Criterion) {
    for (flavor, rt) in support::flavors() {
        let mut g = c.benchmark_group("stream");
        g.measurement_time(Duration::from_secs(4))
            .warm_up_time(Duration::from_millis(500))
            .sample_size(15);
        let mut servers = Vec::new();
        let mut clients = Vec::new();
        for (name, url) in support::TRANSPORTS {
            let (server, conn) = rt.block_on(support::serve(url, FeedDispatcher::new(F)));
            servers.push(server);
            clients.push((name, FeedClient::new(conn)));
        }
        g.throughput(Throughput::Elements(U64_ITEMS));
        for (name, client) in &clients {
            feed::bench_numbers(&mut g, &rt, format!("{flavor}/u64/{name}"), client);
        }
        // A u64 item on the wire is a postcard varint of up to 10 bytes; the raw baseline moves 8.
        g.bench_function(format!("{flavor}/u64/raw"), |b| {
            b.iter_custom(|iters| support::run(&rt, raw_streams(iters, U64_ITEMS, 8)))
        });
        g.throughput(Throughput::Elements(BLOB_ITEMS));
        for (name, client) in &clients {
            g.bench_function(format!("{flavor}/1KiB/{name}"), |b| {
                b.iter_custom(|iters| {
                    let client = client.clone();
                    support::run(&rt, async move { roam_blobs(&client, iters).await })
                })
            });
        }
        g.bench_function(format!("{flavor}/1KiB/raw"), |b| {
            b.iter_custom(|iters| support::run(&rt, raw_streams(iters, BLOB_ITEMS, 1024)))
        });
        g.finish();
        drop(clients);
        for server in servers {
            rt.block_on(server.shutdown());
        }
    }
}

criterion_group!(benches, streams);
criterion_main!(benches);
