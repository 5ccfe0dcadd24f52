//! The streaming service the streams and security benches time: a handler that sends `n`
//! items on a `Tx`, and callers that read them all.

use std::time::{Duration, Instant};

/// `u64` items per streamed call.
pub const U64_ITEMS: u64 = 20_000;
/// 1 KiB items per streamed call.
pub const BLOB_ITEMS: u64 = 5_000;

#[roam::service]
pub trait Feed {
    async fn numbers(&self, n: u64, out: roam::Tx<u64>);
    async fn blobs(&self, n: u64, out: roam::Tx<Vec<u8>>);
}

/// The feed handler.
pub struct F;
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

/// Streams [`U64_ITEMS`] `u64`s per iteration and reads them all.
pub async fn roam_numbers(client: &FeedClient, iters: u64) -> Duration {
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
}

/// Streams [`BLOB_ITEMS`] 1 KiB blobs per iteration and reads them all.
pub async fn roam_blobs(client: &FeedClient, iters: u64) -> Duration {
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
}

/// Times [`roam_numbers`] on `client`, on `rt`, as `id` in `g`.
pub fn bench_numbers(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    rt: &tokio::runtime::Runtime,
    id: String,
    client: &FeedClient,
) {
    g.bench_function(id, |b| {
        b.iter_custom(|iters| {
            let client = client.clone();
            crate::support::run(rt, async move { roam_numbers(&client, iters).await })
        })
    });
}
