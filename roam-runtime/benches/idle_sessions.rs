//! Server memory per idle session: the RSS growth of this process over `SESSIONS` idle TCP
//! sessions, divided by their number, on each runtime flavour.
//!
//! The clients are raw sockets that send `Hello`, read the server's, then stay silent (no
//! roam code on their side, so what grows is the server's). Results are printed and written to
//! `target/roam-bench/idle_sessions.json` for `scripts/bench-report.py`. RSS is what the
//! operator pays; it includes allocator slack, so it is an upper bound on what roam holds.

use std::io::{Read, Write};
use std::time::Duration;

const SESSIONS: usize = 1000;

fn rss() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("procfs");
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("statm resident field");
    pages * 4096
}

#[roam::service]
trait Idle {
    async fn ping(&self);
}

struct I;
impl Idle for I {
    async fn ping(&self) {}
}

fn hello() -> Vec<u8> {
    let body = roam::wire::encode(&roam::wire::Message::Hello(roam::wire::Hello {
        version: roam::wire::PROTOCOL_VERSION,
        limits: roam::Limits::default(),
        session_key: None,
        resume: None,
        replay: roam::wire::Replay::Off,
        metadata: Default::default(),
    }))
    .expect("hello encodes");
    let mut frame = (body.len() as u32).to_le_bytes().to_vec();
    frame.extend_from_slice(&body);
    frame
}

fn measure_on(rt: &tokio::runtime::Handle, flavor: &str) -> f64 {
    let server = rt.block_on(async {
        roam::Server::bind("tcp://127.0.0.1:0")
            .await
            .expect("bind")
            .serve(IdleDispatcher::new(I))
    });
    let addr = server.local_url().trim_start_matches("tcp://").to_owned();
    let hello = hello();
    // One session first, so one-time allocations (the runtime, the listener) are not counted.
    let warm = open(&addr, &hello);
    std::thread::sleep(Duration::from_millis(200));
    let before = rss();
    let peers: Vec<_> = (0..SESSIONS).map(|_| open(&addr, &hello)).collect();
    // Let every session settle (handshake answered, buffers released).
    while server.session_count() < SESSIONS + 1 {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(500));
    let grown = rss().saturating_sub(before);
    let per = grown as f64 / SESSIONS as f64 / 1024.0;
    println!(
        "idle_sessions/{flavor}: {SESSIONS} sessions, RSS +{} KiB, {per:.2} KiB per session",
        grown / 1024
    );
    drop((peers, warm));
    rt.block_on(server.shutdown());
    per
}

/// A raw client: connect, say Hello, read the server's Hello frame, then stay.
fn open(addr: &str, hello: &[u8]) -> std::net::TcpStream {
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.write_all(hello).expect("hello");
    let mut len = [0u8; 4];
    s.read_exact(&mut len).expect("server hello");
    let mut body = vec![0u8; u32::from_le_bytes(len) as usize];
    s.read_exact(&mut body).expect("server hello body");
    s
}

fn main() {
    // `cargo bench` passes `--bench`; any other argument (a filter from `cargo test`) skips.
    if std::env::args().skip(1).any(|a| a != "--bench") {
        return;
    }
    let ct = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // A current_thread runtime only runs while blocked on: drive it from a thread of its own.
    let ct_per = {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let handle = ct.handle().clone();
        let runner = std::thread::spawn(move || {
            ct.block_on(async move {
                while rx.try_recv().is_err() {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
        });
        let per = measure_on(&handle, "ct");
        let _ = tx.send(());
        runner.join().expect("runtime thread");
        per
    };
    let mt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mt_per = measure_on(mt.handle(), "mt");
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/roam-bench");
    std::fs::create_dir_all(&out).expect("output dir");
    std::fs::write(
        out.join("idle_sessions.json"),
        format!("{{\"sessions\": {SESSIONS}, \"ct_kib\": {ct_per:.3}, \"mt_kib\": {mt_per:.3}}}\n"),
    )
    .expect("write results");
}
