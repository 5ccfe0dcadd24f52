//! What the runtime benches share: the tokio runtime they run on and a served TCP session.

use tokio::runtime::Runtime;

/// A two-worker runtime, like the 2-core machines the numbers in docs/benchmarks.md come from.
pub fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Serves `service` on a loopback TCP port and connects a session to it.
pub async fn serve_tcp(service: impl Into<roam::Router>) -> (roam::ServerHandle, roam::Connection) {
    let server = roam::Server::bind("tcp://127.0.0.1:0")
        .await
        .expect("bind")
        .serve(service);
    let conn = roam::connect(server.local_url()).await.expect("connect");
    (server, conn)
}
