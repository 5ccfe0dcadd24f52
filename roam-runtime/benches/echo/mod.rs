//! The echo service the unary and security benches time: one call with a [`BODY`]-byte
//! argument, echoed back.

use std::time::{Duration, Instant};

/// Bytes sent and echoed per call.
pub const BODY: usize = 32;

#[roam::service]
pub trait Echo {
    async fn echo(&self, data: Vec<u8>) -> Vec<u8>;
}

/// The echo handler.
pub struct E;

impl Echo for E {
    async fn echo(&self, data: Vec<u8>) -> Vec<u8> {
        data
    }
}

/// Makes `iters` echo calls one after the other and returns how long they took.
pub async fn roam_round_trips(client: &EchoClient, iters: u64) -> Duration {
    let data = vec![7u8; BODY];
    let start = Instant::now();
    for _ in 0..iters {
        let back = client.echo(data.clone()).await.expect("echo");
        assert_eq!(back.len(), BODY);
    }
    start.elapsed()
}

/// Times [`roam_round_trips`] on `client`, on `rt`, as `id` in `g`.
pub fn bench_round_trips(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    rt: &tokio::runtime::Runtime,
    id: String,
    client: &EchoClient,
) {
    g.bench_function(id, |b| {
        b.iter_custom(|n| {
            let client = client.clone();
            crate::support::run(rt, async move { roam_round_trips(&client, n).await })
        })
    });
}
