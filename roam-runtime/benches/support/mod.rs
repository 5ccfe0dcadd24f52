//! What the runtime benches share: the tokio runtimes they run on and served sessions.

#![allow(dead_code)]

use tokio::runtime::Runtime;

/// Both runtime flavours the numbers in docs/benchmarks.md are given for: `ct` (everything on
/// one thread, client and server included) and `mt` (two workers, like the 2-core machines).
pub fn flavors() -> Vec<(&'static str, Runtime)> {
    vec![
        (
            "ct",
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio runtime"),
        ),
        (
            "mt",
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("tokio runtime"),
        ),
    ]
}

/// Serves `service` on `url` (a port-0 or fresh address) and connects a session to it.
pub async fn serve(
    url: &str,
    service: impl Into<roam::Router>,
) -> (roam::ServerHandle, roam::Connection) {
    let server = roam::Server::bind(url).await.expect("bind").serve(service);
    let conn = roam::connect(server.local_url()).await.expect("connect");
    (server, conn)
}

/// The transports benchmarked: name and bind URL.
pub const TRANSPORTS: [(&str, &str); 3] = [
    ("memory", "mem://"),
    ("tcp", "tcp://127.0.0.1:0"),
    ("ws", "ws://127.0.0.1:0/"),
];

/// Runs `work` as a task of `rt` and waits for it: the measured loop then runs on a worker
/// (not on the thread calling `block_on`), for roam and for the raw baselines alike.
pub fn run<T: Send + 'static>(
    rt: &Runtime,
    work: impl std::future::Future<Output = T> + Send + 'static,
) -> T {
    rt.block_on(async { tokio::spawn(work).await.expect("bench task") })
}
