//! The driver on tokio's paused clock over an in-memory link, against a scripted raw peer:
//! keepalive, the handshake timeout, and bounded shutdown when the peer stops reading or a
//! handler never returns. Virtual time makes "within N seconds" exact and instant to test.

use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use roam_core::{MethodDescriptor, ServiceDescriptor};
use tokio_util::sync::CancellationToken;

use std::sync::atomic::AtomicU64;

use bytes::Bytes;

use super::*;
use crate::BoxFuture;
use crate::context::Context;
use crate::dispatch::Dispatch;
use crate::dispatch::Router;
use crate::error::RemoteError;
use crate::metadata::Metadata;
use crate::response;
use crate::session::Keepalive;
use crate::transport::memory_link_pair;
use crate::wire::{self, Hello, Limits, Message, PROTOCOL_VERSION, Request, Response};

static PROBE: ServiceDescriptor = ServiceDescriptor {
    name: "Probe",
    doc: "",
    methods: &[
        MethodDescriptor {
            name: "big",
            doc: "",
            id: 1,
            args: &[],
            returns: "Vec<u8>",
            error: None,
            idempotent: false,
        },
        MethodDescriptor {
            name: "hang",
            doc: "",
            id: 2,
            args: &[],
            returns: "()",
            error: None,
            idempotent: false,
        },
        MethodDescriptor {
            name: "sum",
            doc: "",
            id: 3,
            args: &[],
            returns: "u64",
            error: None,
            idempotent: false,
        },
        MethodDescriptor {
            name: "count",
            doc: "",
            id: 4,
            args: &[],
            returns: "()",
            error: None,
            idempotent: false,
        },
    ],
};

thread_local! {
    /// Polls, on this thread, of the handler tasks that send on a `Tx` (see `count`) and of
    /// the tasks consuming an `Rx` in the wake-up test.
    static PRODUCER_POLLS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    static CONSUMER_POLLS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Counts the polls of the future it wraps.
struct CountPolls<F> {
    inner: F,
    polls: &'static std::thread::LocalKey<std::cell::Cell<u64>>,
}

impl<F: std::future::Future + Unpin> std::future::Future for CountPolls<F> {
    type Output = F::Output;
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        self.polls.set(self.polls.get() + 1);
        std::pin::Pin::new(&mut self.inner).poll(cx)
    }
}

/// `big` answers 64 KiB; `hang` never returns; `sum` adds the `u64`s of its one `Rx`;
/// `count` sends `STREAMED` `u64`s on its one `Tx`, counting its polls.
struct Probe;

impl Dispatch for Probe {
    fn descriptor(&self) -> &'static ServiceDescriptor {
        &PROBE
    }

    fn dispatch(&self, cx: Context, _payload: bytes::Bytes) -> BoxFuture<'static, Vec<u8>> {
        Box::pin(async move {
            match cx.method_id() {
                1 => crate::__private::ok_response(&cx, &vec![7u8; 64 * 1024]),
                4 => {
                    let out = match crate::__private::take_tx::<u64>(&cx, 0) {
                        Ok(tx) => tx,
                        Err(response) => return response,
                    };
                    let produce = Box::pin(async move {
                        for n in 0..STREAMED {
                            if out.send(n).await.is_err() {
                                break;
                            }
                        }
                    });
                    CountPolls {
                        inner: produce,
                        polls: &PRODUCER_POLLS,
                    }
                    .await;
                    crate::__private::ok_response(&cx, &())
                }
                3 => {
                    let mut items = match crate::__private::take_rx::<u64>(&cx, 0) {
                        Ok(rx) => rx,
                        Err(response) => return response,
                    };
                    let mut sum = 0u64;
                    while let Ok(Some(n)) = items.recv().await {
                        sum += n;
                    }
                    crate::__private::ok_response(&cx, &sum)
                }
                _ => std::future::pending().await,
            }
        })
    }
}

/// Two in-memory links with the default frame limit, and that limit for the driver's side.
fn links() -> (Link, MaxFrame, Link) {
    let max = MaxFrame::new(Limits::default().max_frame_size);
    let (ours, theirs) = memory_link_pair(&max, &max.clone());
    (ours, max, theirs)
}

/// The far end of a link, speaking raw frames.
struct RawPeer {
    link: Link,
}

impl RawPeer {
    fn new(link: Link) -> Self {
        RawPeer { link }
    }

    async fn send(&mut self, msg: &Message) {
        let body = wire::encode(msg).expect("test messages encode");
        self.link
            .outgoing
            .send(Bytes::from(body))
            .await
            .expect("the link is up");
    }

    async fn recv(&mut self) -> Option<Message> {
        let frame = self.link.incoming.next().await?.ok()?;
        Some(wire::decode(&frame).expect("the driver sends valid messages"))
    }

    async fn hello(&mut self, session_key: Option<[u8; 16]>) {
        self.send(&Message::Hello(Hello {
            version: PROTOCOL_VERSION,
            limits: Limits::default(),
            session_key,
            resume: None,
            replay: roam_proto::wire::Replay::Off,
            metadata: Default::default(),
        }))
        .await;
    }

    fn request(id: u64, method_id: u64) -> Message {
        Message::Request(Request {
            conn: 0,
            id,
            method_id,
            metadata: Metadata::new(),
            channels: vec![],
            timeout_micros: None,
            payload: bytes::Bytes::new(),
        })
    }
}

/// An initiator-side session with a raw acceptor that has done its handshake.
async fn initiated(config: SessionConfig) -> (RawPeer, Running, JoinHandle<()>) {
    let (ours, max, theirs) = links();
    let mut peer = RawPeer::new(theirs);
    let (handshake, ()) = tokio::join!(
        start(
            ours,
            max,
            Role::Initiator,
            options(config),
            CancellationToken::new()
        ),
        async {
            assert!(matches!(peer.recv().await, Some(Message::Hello(_))));
            peer.hello(Some([1; 16])).await;
        }
    );
    let (running, task) = handshake.expect("handshake");
    (peer, running, task)
}

fn options(config: SessionConfig) -> SessionOptions {
    SessionOptions {
        config,
        router: Arc::new(Router::new().with(Probe)),
        ..SessionOptions::default()
    }
}

#[tokio::test(start_paused = true)]
async fn a_peer_that_stops_answering_pings_is_dropped_within_interval_plus_timeout() {
    let keepalive = Keepalive {
        interval: Duration::from_secs(5),
        timeout: Duration::from_secs(3),
    };
    let config = SessionConfig {
        keepalive: Some(keepalive),
        ..SessionConfig::default()
    };
    let (mut peer, running, task) = initiated(config).await;
    let established = tokio::time::Instant::now();
    // The peer reads (so writes never block) but never answers.
    let pings = tokio::spawn(async move {
        let mut pings = 0;
        while let Some(msg) = peer.recv().await {
            if matches!(msg, Message::Ping { .. }) {
                pings += 1;
            }
        }
        pings
    });
    let error = running.connection.closed().await;
    let took = established.elapsed();
    assert_eq!(
        error,
        SessionError::TimedOut(crate::error::TimedOut::Keepalive(keepalive.timeout))
    );
    assert!(error.to_string().contains("keepalive"), "{error}");
    assert!(
        took <= keepalive.interval + keepalive.timeout,
        "noticed after {took:?}"
    );
    task.await.expect("the session task ends");
    assert_eq!(pings.await.expect("peer task"), 1);
}

#[tokio::test(start_paused = true)]
async fn a_peer_that_answers_pings_keeps_the_session_for_hours() {
    let config = SessionConfig {
        keepalive: Some(Keepalive {
            interval: Duration::from_secs(2),
            timeout: Duration::from_secs(1),
        }),
        ..SessionConfig::default()
    };
    let (a, max, b) = links();
    let never = CancellationToken::new();
    let (client, server) = tokio::join!(
        start(
            a,
            max.clone(),
            Role::Initiator,
            options(config.clone()),
            never.clone()
        ),
        start(b, max, Role::Acceptor, options(config), never),
    );
    let (client, server) = (
        client.expect("handshake").0.connection,
        server.expect("handshake").0.connection,
    );
    tokio::time::sleep(Duration::from_secs(3 * 3600)).await;
    assert!(!client.is_closed() && !server.is_closed());
    let got: Result<Vec<u8>, crate::CallError<std::convert::Infallible>> =
        client.call(&PROBE.methods[0], &()).await;
    assert_eq!(got.expect("the session still serves").len(), 64 * 1024);
}

#[tokio::test(start_paused = true)]
async fn a_missing_hello_is_a_handshake_timeout() {
    let (ours, max, theirs) = links();
    let config = SessionConfig {
        handshake_timeout: Duration::from_secs(4),
        ..SessionConfig::default()
    };
    let started = tokio::time::Instant::now();
    let result = start(
        ours,
        max,
        Role::Initiator,
        options(config),
        CancellationToken::new(),
    )
    .await;
    match result {
        Err(SessionError::TimedOut(crate::error::TimedOut::Handshake(after))) => {
            assert_eq!(after, Duration::from_secs(4))
        }
        Err(other) => panic!("expected a handshake timeout, got {other}"),
        Ok(_) => panic!("expected a handshake timeout, got a session"),
    }
    assert!(started.elapsed() <= Duration::from_secs(4) + Duration::from_millis(10));
    drop(theirs);
}

/// An acceptor-side session with a raw client that has done its handshake.
async fn served(config: SessionConfig) -> (RawPeer, JoinHandle<()>, CancellationToken) {
    served_with(options(config)).await
}

async fn served_with(options: SessionOptions) -> (RawPeer, JoinHandle<()>, CancellationToken) {
    let (ours, max, theirs) = links();
    let mut peer = RawPeer::new(theirs);
    let shutdown = CancellationToken::new();
    let (handshake, ()) = tokio::join!(
        start(ours, max, Role::Acceptor, options, shutdown.clone()),
        async {
            peer.hello(None).await;
            assert!(matches!(peer.recv().await, Some(Message::Hello(_))));
        }
    );
    let (running, task) = handshake.expect("handshake");
    drop(running);
    (peer, task, shutdown)
}

/// Both at once: a handler that never returns holds the drain for its whole grace while the
/// writer is stuck on a peer that reads nothing; the grace, then the linger, still end it.
#[tokio::test(start_paused = true)]
async fn shutdown_is_bounded_when_the_peer_stops_reading() {
    let config = SessionConfig {
        drain_grace: Duration::from_secs(5),
        close_linger: Duration::from_secs(2),
        keepalive: None,
        ..SessionConfig::default()
    };
    let (mut peer, task, shutdown) = served(config.clone()).await;
    // 64 answers of 64 KiB each: far more than the in-memory pipe holds, and never read.
    for i in 0..64 {
        peer.send(&RawPeer::request(2 * i + 1, 1)).await;
    }
    peer.send(&RawPeer::request(999, 2)).await;
    // Let the server answer until its writer is stuck on the full pipe.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = tokio::time::Instant::now();
    shutdown.cancel();
    // A regression would hang here forever; on the paused clock this guard fails it instead.
    tokio::time::timeout(Duration::from_secs(600), task)
        .await
        .expect("shutdown finished")
        .expect("the session task ends");
    let took = started.elapsed();
    assert!(
        took >= config.drain_grace,
        "the hung handler held the drain: {took:?}"
    );
    assert!(
        took <= config.drain_grace + config.close_linger,
        "shutdown took {took:?}"
    );
    drop(peer);
}

#[tokio::test(start_paused = true)]
async fn shutdown_is_bounded_when_a_handler_never_returns() {
    let config = SessionConfig {
        drain_grace: Duration::from_secs(5),
        keepalive: None,
        ..SessionConfig::default()
    };
    let (mut peer, task, shutdown) = served(config.clone()).await;
    peer.send(&RawPeer::request(1, 2)).await;
    tokio::time::sleep(Duration::from_millis(10)).await;
    let started = tokio::time::Instant::now();
    shutdown.cancel();
    // The hung call is answered `Unavailable` when the grace ends, then the session says
    // Goodbye.
    let mut answered = None;
    let mut goodbye = None;
    while let Ok(Some(msg)) = tokio::time::timeout(Duration::from_secs(600), peer.recv()).await {
        match msg {
            Message::Response(Response { id, payload, .. }) => {
                answered = Some((id, payload, started.elapsed()))
            }
            Message::Goodbye { reason } => goodbye = Some(reason),
            _ => {}
        }
    }
    let (id, payload, at) = answered.expect("the hung call was answered");
    assert_eq!(id, 1);
    assert_eq!(payload, response::remote(RemoteError::Unavailable));
    assert_eq!(at, config.drain_grace);
    assert_eq!(goodbye.as_deref(), Some("shutting down"));
    tokio::time::timeout(Duration::from_secs(600), task)
        .await
        .expect("shutdown finished")
        .expect("the session task ends");
    assert!(started.elapsed() <= config.drain_grace + config.close_linger);
}

fn backpressured(stall: Duration) -> SessionOptions {
    SessionOptions {
        output_bound: 128 * 1024,
        ..options(SessionConfig {
            keepalive: None,
            output_stall_timeout: stall,
            close_linger: Duration::from_secs(2),
            ..SessionConfig::default()
        })
    }
}

/// Sends `n` requests for 64 KiB answers from a task of its own, then keeps the link open;
/// reports how many went out.
fn flood(mut outgoing: crate::transport::FrameSink, n: u64) -> (Arc<AtomicU64>, JoinHandle<()>) {
    let sent = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&sent);
    let task = tokio::spawn(async move {
        for i in 0..n {
            let body = wire::encode(&RawPeer::request(2 * i + 1, 1)).expect("encodes");
            if outgoing.send(Bytes::from(body)).await.is_err() {
                return;
            }
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        // Closing our side would end the session before its answers are read.
        std::future::pending::<()>().await;
    });
    (sent, task)
}

#[tokio::test(start_paused = true)]
async fn a_peer_that_never_reads_stops_being_read_then_is_ended_after_the_stall_timeout() {
    let stall = Duration::from_secs(10);
    let (ours, max, theirs) = links();
    let mut peer = RawPeer::new(theirs);
    let (handshake, ()) = tokio::join!(
        start(
            ours,
            max,
            Role::Acceptor,
            backpressured(stall),
            CancellationToken::new()
        ),
        async {
            peer.hello(None).await;
            assert!(matches!(peer.recv().await, Some(Message::Hello(_))));
        }
    );
    let (running, task) = handshake.expect("handshake");
    let RawPeer { link } = peer;
    let (sent, flooding) = flood(link.outgoing, 10_000);
    // Let everything settle: the server answers until its queue passes the bound, then stops
    // taking frames, so the flood stalls on the link's full queue.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let stuck_at = sent.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        stuck_at < 1_000,
        "the server kept reading: {stuck_at} requests taken"
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        sent.load(std::sync::atomic::Ordering::SeqCst),
        stuck_at,
        "nothing is read while the output is blocked"
    );
    let error = tokio::time::timeout(Duration::from_secs(600), running.connection.closed())
        .await
        .expect("the session ended");
    assert_eq!(
        error,
        SessionError::TimedOut(crate::error::TimedOut::OutputStalled(stall))
    );
    tokio::time::timeout(Duration::from_secs(600), task)
        .await
        .expect("the session task ended")
        .expect("the session task ends");
    flooding.abort();
    drop(link.incoming);
}

#[tokio::test(start_paused = true)]
async fn a_peer_that_reads_slowly_gets_every_answer() {
    let (peer, task, _shutdown) = served_with(backpressured(Duration::from_secs(10))).await;
    let RawPeer { link } = peer;
    let n = 300;
    let (sent, flooding) = flood(link.outgoing, n);
    let mut incoming = link.incoming;
    let mut answers = 0;
    // 300 answers of 64 KiB, read 10 per second: half a minute, three stall timeouts, and the
    // server waits for the reader each time instead of giving up on it.
    while answers < n {
        let frame = tokio::time::timeout(Duration::from_secs(600), incoming.next())
            .await
            .expect("an answer comes")
            .unwrap_or_else(|| panic!("the link went down after {answers} answers"))
            .expect("a valid frame");
        if let Message::Response(r) = wire::decode(&frame).expect("valid message") {
            assert!(r.payload.len() > 64 * 1024);
            answers += 1;
            if answers % 10 == 0 {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
    assert!(!task.is_finished(), "the session is still up");
    assert_eq!(sent.load(std::sync::atomic::Ordering::SeqCst), n);
    flooding.abort();
}

#[tokio::test(start_paused = true)]
async fn an_ended_session_lets_go_of_its_link_while_handles_remain() {
    // Keepalive ends the session without a Goodbye or a flush: only letting go of the link
    // closes it then.
    let config = SessionConfig {
        keepalive: Some(Keepalive {
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
        }),
        ..SessionConfig::default()
    };
    let (mut peer, running, task) = initiated(config).await;
    let conn = running.connection;
    // The peer reads but never answers a Ping; it sees the link end although `conn` is held.
    let ended = tokio::time::timeout(Duration::from_secs(600), async {
        while peer.recv().await.is_some() {}
    })
    .await;
    assert!(
        ended.is_ok(),
        "the link stayed open while a handle was alive"
    );
    task.await.expect("the session task ends");
    assert!(matches!(conn.closed().await, SessionError::TimedOut(_)));
}

/// A request and the items on its channel arrive together, before the driver has routed the
/// request: the items still reach the handler (its channel end is attached before the next
/// frame is handled).
#[tokio::test(start_paused = true)]
async fn items_that_arrive_with_their_request_reach_the_handler() {
    use crate::wire::{ChannelDirection, ChannelSpec};
    let (mut peer, _task, _shutdown) = served(SessionConfig::default()).await;
    let mut frames = vec![Message::Request(Request {
        channels: vec![ChannelSpec {
            id: 1,
            direction: ChannelDirection::CallerToCallee,
        }],
        ..match RawPeer::request(1, 3) {
            Message::Request(r) => r,
            _ => unreachable!("RawPeer::request makes requests"),
        }
    })];
    for n in 1..=10u64 {
        frames.push(Message::Data {
            conn: 0,
            channel: 1,
            payload: crate::codec::encode(&n).expect("u64 encodes").into(),
        });
    }
    frames.push(Message::Close {
        conn: 0,
        channel: 1,
    });
    // Fed without flushing in between, so the driver reads them in one batch.
    for msg in &frames {
        let body = wire::encode(msg).expect("test messages encode");
        peer.link
            .outgoing
            .feed(Bytes::from(body))
            .await
            .expect("the link is up");
    }
    peer.link.outgoing.flush().await.expect("the link is up");
    let answer = loop {
        match peer.recv().await {
            Some(Message::Response(r)) => break r,
            Some(_) => continue,
            None => panic!("the session ended before answering"),
        }
    };
    let sum: Result<u64, crate::CallError<std::convert::Infallible>> =
        response::decode(&answer.payload, None);
    assert_eq!(sum.expect("an answer"), 55);
}

/// Items `count` streams.
const STREAMED: u64 = 20_000;

/// The wake-up budget of a stream item in steady state (docs/architecture.md: at most 2):
/// every task involved (both drivers, the producing handler and the consuming caller) is
/// counted while 20,000 items flow over an in-memory link on one thread, where scheduling is
/// deterministic. Counts of polls, not times: nothing here depends on the machine's speed.
#[tokio::test]
async fn a_flowing_stream_costs_under_two_wakeups_per_item() {
    let (client_link, max, server_link) = links();
    let server = start(
        server_link,
        max.clone(),
        Role::Acceptor,
        options(SessionConfig::default()),
        CancellationToken::new(),
    );
    let client = start(
        client_link,
        max,
        Role::Initiator,
        options(SessionConfig::default()),
        CancellationToken::new(),
    );
    let (server, client) = tokio::join!(server, client);
    let (_server, _server_task) = server.expect("handshake");
    let (client, _client_task) = client.expect("handshake");
    let conn = client.connection;
    let counted = || super::DRIVER_WAKEUPS.get() + PRODUCER_POLLS.get() + CONSUMER_POLLS.get();
    let before = counted();
    let (tx, mut rx) = crate::channel::<u64>();
    let call = conn.call_with_channels::<(), (), std::convert::Infallible>(
        &PROBE.methods[3],
        &(),
        vec![tx.into()],
    );
    let consume = Box::pin(async move {
        let mut seen = 0u64;
        while let Ok(Some(n)) = rx.recv().await {
            assert_eq!(n, seen, "in order");
            seen += 1;
        }
        seen
    });
    let (answer, seen) = tokio::join!(
        call,
        CountPolls {
            inner: consume,
            polls: &CONSUMER_POLLS,
        }
    );
    answer.expect("count answers");
    assert_eq!(seen, STREAMED);
    let wakeups = counted() - before;
    let per_item = wakeups as f64 / STREAMED as f64;
    assert!(
        per_item <= 2.0,
        "{wakeups} wake-ups for {STREAMED} items: {per_item:.3} per item"
    );
    eprintln!("{wakeups} wake-ups for {STREAMED} items: {per_item:.3} per item");
}

/// A call too large to send once its header is counted fails at once, and so do the ends of
/// its channels: the caller's `Tx` errors instead of waiting for credit that never comes, and
/// an `Rx` errors instead of looking like an empty stream.
#[tokio::test(start_paused = true)]
async fn a_call_refused_as_too_large_fails_its_channel_ends() {
    let config = SessionConfig {
        limits: Limits {
            max_frame_size: 1024,
            ..Limits::default()
        },
        ..SessionConfig::default()
    };
    let (_peer, running, _task) = initiated(config).await;
    let conn = running.connection;
    // The payload alone fits the frame; with the request's header it does not.
    let args = (vec![0u8; 1016],);

    let (tx, rx) = crate::channel::<u64>();
    let call = conn.call_with_channels::<_, u64, std::convert::Infallible>(
        &PROBE.methods[2],
        &args,
        vec![rx.into()],
    );
    let (answer, sent) = tokio::join!(
        call,
        tokio::time::timeout(Duration::from_secs(60), tx.send(1))
    );
    assert!(
        matches!(answer, Err(crate::CallError::Codec(_))),
        "{answer:?}"
    );
    assert!(
        matches!(sent, Ok(Err(_))),
        "the Tx must fail, not wait: {sent:?}"
    );

    let (tx, mut rx) = crate::channel::<u64>();
    let call = conn.call_with_channels::<_, (), std::convert::Infallible>(
        &PROBE.methods[3],
        &args,
        vec![tx.into()],
    );
    let (answer, received) = tokio::join!(
        call,
        tokio::time::timeout(Duration::from_secs(60), rx.recv())
    );
    assert!(
        matches!(answer, Err(crate::CallError::Codec(_))),
        "{answer:?}"
    );
    assert!(
        matches!(received, Ok(Err(_))),
        "the Rx must fail, not end cleanly: {received:?}"
    );
}
