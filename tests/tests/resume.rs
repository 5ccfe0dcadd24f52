//! Sessions that survive: a client whose link is cut, stalled or lost to a restarted server,
//! through the fault-injection relay (`roam_tests::relay`), over TCP and WebSocket.
//!
//! No assertion here is about time: outcomes and counts only (the machines are shared).
//! Bounds on waits turn a hang into a failure.

use std::sync::Arc;
use std::time::Duration;

use roam::{
    CallError, ConnectionState, Connector, Keepalive, Resumption, RetryPolicy, Router, Server,
};
use roam_tests::relay::Relay;
use roam_tests::{
    Calc, CalculatorClient, CalculatorDispatcher, StreamerClient, StreamerDispatcher, Streams,
    Transport,
};

/// A bound on a wait that should take well under a second: only turns a hang into a failure.
const HANG: Duration = Duration::from_secs(60);

/// Quick redials, so that 20 cuts do not add seconds of backoff to the suite.
fn quick_retry() -> RetryPolicy {
    RetryPolicy {
        initial_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(50),
        ..RetryPolicy::default()
    }
}

fn router(calc: &Arc<Calc>, streams: &Arc<Streams>) -> Router {
    Router::new()
        .with(CalculatorDispatcher::new(calc.clone()))
        .with(StreamerDispatcher::new(streams.clone()))
}

/// A calculator and streamer server on `transport` (TCP or WebSocket) with `configure`
/// applied, and a relay in front of it; returns the URL clients use (the relay's).
async fn behind_relay(
    transport: Transport,
    configure: impl FnOnce(Server) -> Server,
) -> (Arc<Calc>, Arc<Streams>, roam::ServerHandle, Relay, String) {
    let calc = Arc::new(Calc::default());
    let streams = Arc::new(Streams::default());
    let server = configure(transport.bind().await).serve(router(&calc, &streams));
    let relay = Relay::in_front_of(server.local_url()).await.expect("relay");
    let url = relay.url_for(server.local_url());
    (calc, streams, server, relay, url)
}

/// 10,000 unary calls and 100,000 items each way while the relay cuts the link at 20 seeded
/// random points: every call answers once with its own result, every item arrives once and
/// in order, and the session was resumed after each cut.
async fn cuts_lose_and_repeat_nothing(transport: Transport) {
    const CALLS: i32 = 10_000;
    const ITEMS: usize = 100_000;
    const CUTS: usize = 20;
    let (_calc, _streams, _server, relay, url) = behind_relay(transport, |s| s).await;
    let conn = Connector::new()
        .retry(quick_retry())
        .connect(&url)
        .await
        .expect("connect");
    let states = conn.watch_state();
    // The workload moves a few megabytes through the relay; cuts fall in the first part.
    let plan = relay.cut_at_random(0x5eed, CUTS, 40_000);
    let calc = CalculatorClient::new(conn.clone());
    let streamer = StreamerClient::new(conn.clone());
    let unary = async {
        for i in 0..CALLS {
            assert_eq!(calc.add(i, 1).await.expect("a call survives cuts"), i + 1);
        }
    };
    let streaming = async {
        let (tx, rx) = roam::channel::<String>();
        let (out_tx, mut out_rx) = roam::channel::<String>();
        let call = streamer.transform(rx, out_tx);
        let send = async {
            for i in 0..ITEMS {
                tx.send(format!("item{i}"))
                    .await
                    .expect("send survives cuts");
            }
            drop(tx);
        };
        let receive = async {
            let mut next = 0usize;
            while let Some(s) = out_rx.recv().await.expect("receive survives cuts") {
                assert_eq!(s, format!("ITEM{next}"), "in order, exactly once");
                next += 1;
            }
            next
        };
        let (result, (), received) = tokio::join!(call, send, receive);
        result.expect("the stream call survives cuts");
        assert_eq!(received, ITEMS);
    };
    tokio::time::timeout(HANG, async {
        tokio::join!(unary, streaming);
    })
    .await
    .expect("the workload finishes");
    assert_eq!(
        relay.planned_cuts_made(),
        plan.offsets(),
        "every planned cut fell during the workload"
    );
    assert_eq!(
        states.links_lost(),
        CUTS as u64,
        "each cut lost the link once"
    );
    assert_eq!(conn.state(), ConnectionState::Resumed);
}

/// A link that stops forwarding (sockets open) is noticed by keepalive, dropped, and the
/// session resumed once the relay forwards again; the call in flight completes.
async fn a_stalled_link_is_detected_and_resumed(transport: Transport) {
    let keepalive = Some(Keepalive {
        interval: Duration::from_millis(100),
        timeout: Duration::from_millis(200),
    });
    let (_calc, _streams, _server, relay, url) =
        behind_relay(transport, |s| s.keepalive(keepalive)).await;
    let conn = Connector::new()
        .keepalive(keepalive)
        // Dials through the stalled relay hang until this; then the next attempt goes.
        .handshake_timeout(Duration::from_millis(300))
        .retry(quick_retry())
        .connect(&url)
        .await
        .expect("connect");
    let mut states = conn.watch_state();
    let calc = CalculatorClient::new(conn.clone());
    relay.stall();
    let call = tokio::spawn(async move { calc.slow(50).await });
    let detected = tokio::time::timeout(HANG, async {
        while states.changed().await != Some(ConnectionState::Reconnecting) {}
    })
    .await;
    assert!(detected.is_ok(), "keepalive noticed the stall");
    assert!(!call.is_finished(), "the call waits for the link");
    relay.unstall();
    tokio::time::timeout(HANG, async {
        while states.changed().await != Some(ConnectionState::Resumed) {}
    })
    .await
    .expect("resumed once the relay forwards again");
    let answer = tokio::time::timeout(HANG, call).await.expect("answered");
    assert_eq!(answer.expect("task").expect("call"), 50);
}

/// A session whose client never comes back is freed after the grace period, and its handler
/// is stopped then (not at the cut).
async fn a_session_not_resumed_is_freed_after_its_grace(transport: Transport) {
    let grace = Duration::from_secs(2);
    let resumption = Some(Resumption {
        grace,
        ..Resumption::default()
    });
    let (_calc, streams, server, relay, url) =
        behind_relay(transport, |s| s.resumption(resumption)).await;
    let conn = Connector::new()
        .retry(quick_retry())
        .connect(&url)
        .await
        .expect("connect");
    let streamer = StreamerClient::new(conn.clone());
    let hang = tokio::spawn(async move { streamer.hang().await });
    assert!(streams.hanging.reaches(1).await, "the handler runs");
    assert_eq!(server.session_count(), 1);
    // The client can never come back.
    relay.refuse(true);
    relay.cut();
    // Losing the link is not the end: the handler runs on and the session is kept (checked
    // at once; the grace period is seconds away).
    tokio::task::yield_now().await;
    assert_eq!(streams.hanging.get(), 1, "the handler outlives the link");
    assert_eq!(server.session_count(), 1, "the session is kept");
    assert!(
        streams.hanging.reaches(0).await,
        "the handler is stopped once the grace period is over"
    );
    tokio::time::timeout(HANG, async {
        while server.session_count() > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the session is freed");
    drop(conn);
    hang.abort();
}

/// A forged resume (the owner's key, a made-up proof) is refused with a `resume-refused`
/// Goodbye, and the owner's session carries on.
async fn a_forged_resume_is_refused_and_the_owner_is_unaffected(transport: Transport) {
    let (_calc, _streams, server, _relay, url) = behind_relay(transport, |s| s).await;
    let conn = Connector::new().connect(&url).await.expect("connect");
    let key = conn.session_key().expect("the server issued a key");
    let mut intruder = roam_tests::RawClient::connect(server.local_url()).await;
    intruder
        .send(&roam::wire::Message::Hello(roam::wire::Hello {
            version: roam::wire::PROTOCOL_VERSION,
            limits: roam::Limits::default(),
            session_key: None,
            resume: Some(roam::wire::Resume {
                session_key: key,
                last_received: 0,
                nonce: [1; 16],
                proof: [0; 32],
            }),
            metadata: roam::Metadata::new(),
            replay: roam::wire::Replay::Offer { buffer: 1 << 20 },
        }))
        .await;
    let goodbye = intruder.goodbye().await;
    assert!(goodbye.starts_with("resume-refused: "), "{goodbye}");
    let calc = CalculatorClient::new(conn.clone());
    assert_eq!(calc.add(2, 3).await.unwrap(), 5);
    assert_eq!(conn.state(), ConnectionState::Connected);
}

mod tcp {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cuts_lose_and_repeat_nothing() {
        super::cuts_lose_and_repeat_nothing(Transport::Tcp).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stalled_link_is_detected_and_resumed() {
        super::a_stalled_link_is_detected_and_resumed(Transport::Tcp).await
    }

    #[tokio::test]
    async fn a_session_not_resumed_is_freed_after_its_grace() {
        super::a_session_not_resumed_is_freed_after_its_grace(Transport::Tcp).await
    }

    #[tokio::test]
    async fn a_forged_resume_is_refused_and_the_owner_is_unaffected() {
        super::a_forged_resume_is_refused_and_the_owner_is_unaffected(Transport::Tcp).await
    }
}

mod websocket {
    use super::*;

    #[tokio::test]
    async fn cuts_lose_and_repeat_nothing() {
        super::cuts_lose_and_repeat_nothing(Transport::WebSocket).await
    }

    #[tokio::test]
    async fn a_stalled_link_is_detected_and_resumed() {
        super::a_stalled_link_is_detected_and_resumed(Transport::WebSocket).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_session_not_resumed_is_freed_after_its_grace() {
        super::a_session_not_resumed_is_freed_after_its_grace(Transport::WebSocket).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_resumption_a_cut_fails_calls_in_flight() {
    let (_calc, _streams, _server, relay, url) =
        behind_relay(Transport::Tcp, |s| s.resumption(None)).await;
    let conn = Connector::new().connect(&url).await.expect("connect");
    let calc = CalculatorClient::new(conn.clone());
    let call = tokio::spawn(async move { calc.slow(5_000).await });
    tokio::task::yield_now().await;
    relay.wait_until(|s| s.bytes() > 0).await;
    relay.cut();
    let result = tokio::time::timeout(HANG, call)
        .await
        .expect("fails")
        .unwrap();
    assert!(
        matches!(result, Err(CallError::ConnectionLost(_))),
        "{result:?}"
    );
}

/// The server restarts (a new one that never knew the session answers at the same address)
/// while calls are in flight: the resume is refused, the calls fail with `ConnectionLost`
/// and their channels error, the idempotent one is sent again and succeeds, and the next
/// call on the same handle goes through a fresh session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_server_fails_calls_in_flight_and_the_handle_starts_afresh() {
    let (calc_a, streams_a, _server_a, relay, url) = behind_relay(Transport::Tcp, |s| s).await;
    let conn = Connector::new()
        .retry(quick_retry())
        .connect(&url)
        .await
        .expect("connect");
    let mut states = conn.watch_state();
    let calc = CalculatorClient::new(conn.clone());
    let streamer = StreamerClient::new(conn.clone());
    let (tx, mut items) = roam::channel::<u64>();
    let counting = tokio::spawn({
        let streamer = streamer.clone();
        async move { streamer.count(u64::MAX, tx).await }
    });
    assert!(matches!(items.recv().await, Ok(Some(0))), "the stream runs");
    let hang = tokio::spawn({
        let streamer = streamer.clone();
        async move { streamer.hang().await }
    });
    let slow = tokio::spawn({
        let calc = calc.clone();
        async move { calc.slow(200).await }
    });
    assert!(streams_a.hanging.reaches(1).await);
    assert!(calc_a.running.reaches(1).await);

    // The restart: a new server, which the relay leads to from now on; the old link is cut.
    let calc_b = Arc::new(Calc::default());
    let streams_b = Arc::new(Streams::default());
    let server_b = Transport::Tcp
        .bind()
        .await
        .serve(router(&calc_b, &streams_b));
    let b_addr = server_b
        .local_url()
        .trim_start_matches("tcp://")
        .parse()
        .expect("an address");
    relay.retarget(b_addr);
    relay.cut();

    let lost = |r: &Result<_, CallError<_>>| {
        matches!(
            r,
            Err(CallError::ConnectionLost(roam::SessionError::Refused {
                by: roam::RefusedBy::Resume,
                ..
            }))
        )
    };
    let hang = tokio::time::timeout(HANG, hang)
        .await
        .expect("fails")
        .unwrap();
    assert!(lost(&hang), "{hang:?}");
    let counting = tokio::time::timeout(HANG, counting)
        .await
        .expect("fails")
        .unwrap();
    assert!(lost(&counting), "{counting:?}");
    let drained = tokio::time::timeout(HANG, async {
        loop {
            match items.recv().await {
                Ok(Some(_)) => {}
                other => return other,
            }
        }
    })
    .await
    .expect("the channel ends");
    assert!(
        matches!(drained, Err(roam::ChannelError::ConnectionLost(_))),
        "{drained:?}"
    );
    let slow = tokio::time::timeout(HANG, slow)
        .await
        .expect("answers")
        .unwrap();
    assert_eq!(slow.expect("the idempotent call is sent again"), 200);
    assert!(
        calc_b.peak.load(std::sync::atomic::Ordering::SeqCst) >= 1,
        "it ran on the new server"
    );
    assert_eq!(calc.add(1, 2).await.expect("the next call"), 3);
    let fresh = tokio::time::timeout(HANG, async {
        while states.current() != ConnectionState::Fresh {
            states.changed().await;
        }
    })
    .await;
    assert!(fresh.is_ok(), "the connection reports a fresh session");
}

/// A resume adds no session: a server at its session limit refuses a new client but lets the
/// session it keeps resume.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_at_its_session_limit_still_lets_its_sessions_resume() {
    let (_calc, _streams, _server, relay, url) =
        behind_relay(Transport::Tcp, |s| s.max_sessions(1)).await;
    let conn = Connector::new()
        .retry(quick_retry())
        .connect(&url)
        .await
        .expect("connect");
    let calc = CalculatorClient::new(conn.clone());
    assert_eq!(calc.add(1, 1).await.unwrap(), 2);
    let second = Connector::new().connect(&url).await;
    assert!(
        matches!(
            second,
            Err(roam::ConnectError::Refused {
                by: roam::RefusedBy::SessionLimit,
                ..
            })
        ),
        "{second:?}"
    );
    relay.cut();
    assert_eq!(calc.add(2, 2).await.expect("resumed, not refused"), 4);
    assert_eq!(conn.state(), ConnectionState::Resumed);
}
