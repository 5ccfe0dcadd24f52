//! Streaming throughput over TCP loopback, next to raw TCP moving the same bytes, measured in
//! the same run.
//!
//! - `stream/u64/roam`: a handler sends `N` `u64` items on a `Tx<u64>`; the client reads them all.
//! - `stream/u64/raw`: the same number of length-prefixed frames carrying 8 bytes each, written
//!   through a `BufWriter` and read with `read_exact`, with no roam code involved.
//! - `stream/1KiB/…`: the same with 1 KiB `Vec<u8>` items.

mod support;

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};

#[roam::service]
trait Feed {
    async fn numbers(&self, n: u64, out: roam::Tx<u64>);
    async fn blobs(&self, n: u64, out: roam::Tx<Vec<u8>>);
}

struct F;
impl Feed for F {
    async fn numbers(&self, n: u64, out: roam::Tx<u64>) {
        for i in 0..n {
            if out.send(i).await.is_err() {
                return;
            }
        }
    }

    async fn blobs(&self, n: u64, out: roam::Tx<Vec<u8>>) {
        for _ in 0..n {
            if out.send(vec![7u8; 1024]).await.is_err() {
                return;
            }
        }
    }
}

const U64_ITEMS: u64 = 20_000;
const BLOB_ITEMS: u64 = 5_000;

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
    let mut s = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connect raw");
    s.set_nodelay(true).expect("nodelay");
    let start = Instant::now();
    let mut buf = vec![0u8; 4 + body];
    for _ in 0..items {
        s.read_exact(&mut buf).await.expect("raw read");
    }
    let elapsed = start.elapsed();
    writer.await.expect("raw writer");
    elapsed
}

fn streams(c: &mut Criterion) {
    let rt = support::runtime();
    let (server, conn) = rt.block_on(support::serve_tcp(FeedDispatcher::new(F)));
    let client = FeedClient::new(conn);
    let mut g = c.benchmark_group("stream");
    g.measurement_time(Duration::from_secs(4))
        .warm_up_time(Duration::from_millis(500))
        .sample_size(15);

    g.throughput(Throughput::Elements(U64_ITEMS));
    g.bench_function("u64/roam", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let (tx, mut rx) = roam::channel::<u64>();
                    let call = client.numbers(U64_ITEMS, tx);
                    let read = async {
                        let mut n = 0;
                        while rx.recv().await.expect("recv").is_some() {
                            n += 1;
                        }
                        n
                    };
                    let (r, n) = tokio::join!(call.into_future(), read);
                    r.expect("numbers");
                    assert_eq!(n, U64_ITEMS);
                }
                start.elapsed()
            })
        })
    });
    // A u64 item on the wire is a postcard varint of up to 10 bytes; the raw baseline moves 8.
    g.bench_function("u64/raw", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    total += raw_stream(U64_ITEMS, 8).await;
                }
                total
            })
        })
    });

    g.throughput(Throughput::Elements(BLOB_ITEMS));
    g.bench_function("1KiB/roam", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let (tx, mut rx) = roam::channel::<Vec<u8>>();
                    let call = client.blobs(BLOB_ITEMS, tx);
                    let read = async {
                        let mut n = 0;
                        while let Some(b) = rx.recv().await.expect("recv") {
                            assert_eq!(b.len(), 1024);
                            n += 1;
                        }
                        n
                    };
                    let (r, n) = tokio::join!(call.into_future(), read);
                    r.expect("blobs");
                    assert_eq!(n, BLOB_ITEMS);
                }
                start.elapsed()
            })
        })
    });
    g.bench_function("1KiB/raw", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    total += raw_stream(BLOB_ITEMS, 1024).await;
                }
                total
            })
        })
    });
    g.finish();
    drop(client);
    rt.block_on(server.shutdown());
}

criterion_group!(benches, streams);
criterion_main!(benches);
