//! Output backpressure with real sockets: peers that send calls with large answers and never
//! read them cost the server a bounded amount of memory each, and a well-behaved client on the
//! same server keeps getting answers meanwhile.
//!
//! The bound per peer is about `output_bound + max_concurrent_requests × answer`: the session
//! stops reading once its queue passes the output bound, but the handlers already running
//! still answer. The server runs with its defaults (256 KiB, 64 calls at once per session);
//! answers are 64 KiB; so the bound is 256 KiB + 4 MiB, and the goal is 4 MiB of RSS.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use roam::wire::{Hello, Limits, Message, PROTOCOL_VERSION, Request};
use roam_tests::raw_frame;
use tokio::io::AsyncWriteExt;

/// A service whose answers are as large as asked.
#[roam::service]
trait Big {
    /// `len` bytes.
    async fn answer(&self, len: u32) -> Vec<u8>;
}

struct B;
impl Big for B {
    async fn answer(&self, len: u32) -> Vec<u8> {
        vec![7; len as usize]
    }
}

const PEERS: usize = 50;
const ANSWER: u32 = 64 * 1024;
/// The goal per peer that never reads.
const PER_PEER_BOUND: usize = 4 * 1024 * 1024;

/// This process's resident set, from `/proc/self/statm`.
fn rss() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("procfs is mounted");
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("statm has a resident field");
    pages * 4096
}

/// Connects, says Hello, then sends calls for large answers as fast as the server takes them,
/// never reading; counts the calls the server took.
async fn hog(addr: String, taken: Arc<AtomicU64>) {
    let sock = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    // The read half is kept (so the socket stays open) and never read.
    let (_never_read, mut w) = sock.into_split();
    let hello = Message::Hello(Hello {
        version: PROTOCOL_VERSION,
        limits: Limits::default(),
        session_key: None,
        resume: None,
        replay: roam::wire::Replay::Off,
        metadata: Default::default(),
    });
    if w.write_all(&raw_frame(&hello)).await.is_err() {
        return;
    }
    let args = roam::codec::encode(&(ANSWER,)).expect("encodes");
    for i in 0u64.. {
        let request = Message::Request(Request {
            conn: 0,
            id: 2 * i + 1,
            method_id: BIG_DESCRIPTOR.methods[0].id,
            metadata: roam::Metadata::new(),
            channels: vec![],
            timeout_micros: None,
            payload: args.clone().into(),
        });
        if w.write_all(&raw_frame(&request)).await.is_err() {
            break;
        }
        taken.fetch_add(1, Ordering::Relaxed);
    }
    std::future::pending::<()>().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_that_never_read_cost_a_bounded_amount_and_others_are_still_served() {
    let server = roam::Server::bind("tcp://127.0.0.1:0")
        .await
        .expect("bind")
        .serve(BigDispatcher::new(B));
    let addr = server.local_url().trim_start_matches("tcp://").to_owned();
    let good = BigClient::new(roam::connect(server.local_url()).await.expect("connect"));
    assert_eq!(
        good.answer(ANSWER).await.expect("warm-up").len(),
        ANSWER as usize
    );
    let before = rss();

    let counters: Vec<Arc<AtomicU64>> = (0..PEERS).map(|_| Arc::default()).collect();
    let hogs: Vec<_> = counters
        .iter()
        .map(|c| tokio::spawn(hog(addr.clone(), Arc::clone(c))))
        .collect();

    // The good client is answered while the hogs fill the server up.
    for _ in 0..200 {
        let got = tokio::time::timeout(Duration::from_secs(30), good.answer(ANSWER))
            .await
            .expect("the good client is answered while others hog the server")
            .expect("the call succeeds");
        assert_eq!(got.len(), ANSWER as usize);
    }

    // Settle: wait until no hog gets another call taken (every session stopped reading). The
    // loop waits on the server; its bound only turns a hang into a failure.
    let total = || {
        counters
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum::<u64>()
    };
    let mut last = total();
    let mut quiet = 0;
    for _ in 0..600 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = total();
        quiet = if now == last { quiet + 1 } else { 0 };
        last = now;
        if quiet == 10 {
            break;
        }
    }
    assert_eq!(
        quiet, 10,
        "the server kept taking calls from peers that never read"
    );

    let grown = rss().saturating_sub(before);
    let per_peer = grown / PEERS;
    let queued = server.queued_output();
    eprintln!(
        "{PEERS} non-reading peers: {last} calls taken, {queued} bytes queued, RSS +{} KiB ({} KiB per peer)",
        grown / 1024,
        per_peer / 1024
    );
    assert!(
        per_peer <= PER_PEER_BOUND,
        "each non-reading peer cost {per_peer} bytes of RSS"
    );

    // Still served after the hogs have settled.
    assert_eq!(
        good.answer(ANSWER).await.expect("served").len(),
        ANSWER as usize
    );
    // The hogs leave: their sessions end (writes to a closed socket fail) and the server's
    // queued-output total returns to what the good client holds, nothing.
    for h in hogs {
        h.abort();
    }
    let mut drained = false;
    for _ in 0..1200 {
        if server.queued_output() == 0 && server.session_count() == 1 {
            drained = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        drained,
        "queued output {} bytes and {} sessions after the hogs left",
        server.queued_output(),
        server.session_count()
    );
}
