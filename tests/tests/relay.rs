//! The fault-injection relay (`roam_tests::relay`) between real roam clients and servers, over
//! `tcp://` and `ws://` (and plain forwarding over `tls://` and `wss://` too): it forwards,
//! cuts, stalls, delays, refuses and cuts at seeded points, and reports what it did. Every
//! assertion is on outcomes and counters, none on how long something took; the 60 s bounds only
//! turn a hang into a failure.
//!
//! Resumption is off on both sides here, so a cut or a stall shows as the runtime's plain
//! reaction (the session ends); `resume.rs` covers sessions that survive them.

use std::future::IntoFuture;
use std::sync::Arc;
use std::time::Duration;

use roam::{CallError, ConnectError, Connection, Connector, Router, ServerHandle, SessionError};
use roam_tests::relay::{Plan, Relay, Stats};
use roam_tests::{
    Calc, CalculatorClient, CalculatorDispatcher, Point, StreamerClient, StreamerDispatcher,
    Streams, Transport,
};

/// Awaits `fut`, failing the test if it hangs (not a timing assertion).
async fn within<T>(what: &str, fut: impl IntoFuture<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(60), fut)
        .await
        .unwrap_or_else(|_| panic!("{what}: still not done after 60 s"))
}

/// A calculator and streamer server on one transport, a relay in front of it, and the URL
/// that reaches the server through the relay.
struct Setup {
    transport: Transport,
    calc: Arc<Calc>,
    relay: Relay,
    url: String,
    /// Keepalive off on both sides, so the link carries only what the test sends.
    quiet: bool,
    _server: ServerHandle,
}

impl Setup {
    async fn new(transport: Transport) -> Setup {
        Setup::with(transport, false).await
    }

    /// With keepalive off on both sides: for tests that compare byte counts.
    async fn quiet(transport: Transport) -> Setup {
        Setup::with(transport, true).await
    }

    async fn with(transport: Transport, quiet: bool) -> Setup {
        let calc = Arc::new(Calc::default());
        let router = Router::new()
            .with(CalculatorDispatcher::new(calc.clone()))
            .with(StreamerDispatcher::new(Arc::new(Streams::default())));
        let mut server = transport.bind().await.resumption(None);
        if quiet {
            server = server.keepalive(None);
        }
        let server = server.serve(router);
        let relay = Relay::in_front_of(server.local_url())
            .await
            .expect("the relay starts");
        let url = relay.url_for(server.local_url());
        Setup {
            transport,
            calc,
            relay,
            url,
            quiet,
            _server: server,
        }
    }

    fn connector(&self) -> Connector {
        let connector = self.transport.client(Connector::new().resumption(None));
        if self.quiet {
            connector.keepalive(None)
        } else {
            connector
        }
    }

    /// Connects through the relay.
    async fn try_connect(&self) -> Result<Connection, ConnectError> {
        within("connect", self.connector().connect(&self.url)).await
    }

    async fn connect(&self) -> Connection {
        self.try_connect()
            .await
            .expect("connects through the relay")
    }

    async fn wait_until(&self, what: &str, done: impl FnMut(&Stats) -> bool) -> Stats {
        within(what, self.relay.wait_until(done)).await
    }
}

/// A few unary calls and a stream each way, all checked.
async fn exercise(conn: &Connection) {
    let calc = CalculatorClient::new(conn.clone());
    assert_eq!(calc.add(2, 3).await.unwrap(), 5);
    assert_eq!(
        calc.mirror(Point { x: 1, y: 2 }).await.unwrap(),
        Point { x: 2, y: 1 }
    );
    assert!(matches!(calc.divide(1, 0).await, Err(CallError::User(_))));
    assert_eq!(
        calc.describe("blob", &[0; 1000]).await.unwrap(),
        "blob:1000"
    );

    let streamer = StreamerClient::new(conn.clone());
    let (tx, mut rx) = roam::channel::<u64>();
    let call = tokio::spawn({
        let streamer = streamer.clone();
        async move { streamer.count(100, tx).await }
    });
    let mut expected = 0;
    while let Some(n) = rx.recv().await.unwrap() {
        assert_eq!(n, expected);
        expected += 1;
    }
    assert_eq!(expected, 100);
    call.await.unwrap().unwrap();

    let (tx, rx) = roam::channel::<u64>();
    let sum = tokio::spawn(async move { streamer.sum(rx).await });
    for i in 0..100 {
        tx.send(i).await.unwrap();
    }
    tx.close();
    assert_eq!(sum.await.unwrap().unwrap(), 4950);
}

/// The next call on a session whose link was cut fails with `ConnectionLost`.
///
/// Its reason depends on a race, so it is not checked: a call that reaches the driver before it
/// has read the end of the link carries `Transport`, as does one made once the driver is gone;
/// one made in between (the session ended, the driver still running) carries `LocallyClosed`,
/// which is what the session answers any call made after it ended. `Connection::closed` always
/// gives the real reason.
async fn call_after_cut(conn: &Connection) {
    match within(
        "a call after a cut",
        CalculatorClient::new(conn.clone()).add(1, 1),
    )
    .await
    {
        Err(CallError::ConnectionLost(_)) => {}
        other => panic!("a call on a cut session gave {other:?}, not ConnectionLost"),
    }
}

async fn forwards_calls_and_streams(transport: Transport) {
    let s = Setup::new(transport).await;
    let conn = s.connect().await;
    exercise(&conn).await;
    let stats = s.relay.stats();
    assert_eq!(stats.accepted, 1, "{stats:?}");
    assert_eq!(stats.open, 1, "{stats:?}");
    assert_eq!(stats.cuts, 0, "{stats:?}");
    // 100 stream items and a 1000-byte argument went up, 100 items came down.
    assert!(stats.bytes_to_target > 1000, "{stats:?}");
    assert!(stats.bytes_from_target > 100, "{stats:?}");
    assert_eq!(stats.delayed_chunks + stats.held_chunks, 0, "{stats:?}");

    // Closing the session passes through the relay too: the connection ends on both sides.
    conn.close();
    drop(conn);
    s.wait_until("the relayed connection ends", |s| s.open == 0)
        .await;
    assert_eq!(s.relay.stats().connections_cut, 0);
}

async fn a_cut_ends_the_session_and_a_new_one_gets_through(transport: Transport) {
    let s = Setup::new(transport).await;
    let conn = s.connect().await;
    let calc = CalculatorClient::new(conn.clone());
    assert_eq!(calc.add(1, 2).await.unwrap(), 3);

    s.relay.cut();
    assert_eq!(s.relay.cuts_made(), 1);
    call_after_cut(&conn).await;
    let closed = within("the session ends", conn.closed()).await;
    assert!(matches!(closed, SessionError::Transport(_)), "{closed:?}");
    let stats = s
        .wait_until("the cut connection ends", |s| s.open == 0)
        .await;
    assert_eq!(stats.connections_cut, 1, "{stats:?}");

    // The relay keeps accepting: a new session works, and the old one stays dead.
    let again = s.connect().await;
    exercise(&again).await;
    assert!(conn.is_closed());
    let stats = s.relay.stats();
    assert_eq!(
        (stats.accepted, stats.open, stats.cuts),
        (2, 1, 1),
        "{stats:?}"
    );
}

async fn a_cut_fails_calls_in_flight_and_stops_their_handlers(transport: Transport) {
    let s = Setup::new(transport).await;
    let conn = s.connect().await;
    let calc = CalculatorClient::new(conn.clone());
    let in_flight: Vec<_> = (0..3)
        .map(|_| {
            let calc = calc.clone();
            tokio::spawn(async move { calc.slow(600_000).await })
        })
        .collect();
    assert!(s.calc.running.reaches(3).await, "the handlers run");

    s.relay.cut();
    for call in in_flight {
        match within("an in-flight call", call).await.unwrap() {
            Err(CallError::ConnectionLost(SessionError::Transport(_))) => {}
            other => panic!("an in-flight call over a cut link gave {other:?}"),
        }
    }
    // The server notices the cut too and stops the handlers of the lost session.
    assert!(
        s.calc.running.reaches(0).await,
        "the server drops the lost session's handlers"
    );
}

async fn a_stall_holds_everything_until_unstalled(transport: Transport) {
    let s = Setup::quiet(transport).await;
    let conn = s.connect().await;
    let calc = CalculatorClient::new(conn.clone());
    assert_eq!(calc.add(1, 1).await.unwrap(), 2);

    s.relay.stall();
    let before = s.relay.stats();
    let call = tokio::spawn({
        let calc = calc.clone();
        async move { calc.add(20, 22).await }
    });
    // The relay has read the request and holds it.
    let held = s
        .wait_until("the request is held", |s| s.held_chunks >= 1)
        .await;
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    let still = s.relay.stats();
    assert!(
        !call.is_finished(),
        "a call completed through a stalled relay"
    );
    assert!(!conn.is_closed(), "a stall keeps the session open");
    for stats in [held, still] {
        assert_eq!(stats.bytes(), before.bytes(), "forwarded while stalled");
        assert_eq!(stats.chunks, before.chunks, "forwarded while stalled");
        assert_eq!(stats.open, 1, "a stall keeps the connection open");
    }

    s.relay.unstall();
    assert_eq!(within("the held call", call).await.unwrap().unwrap(), 42);
    let after = s.relay.stats();
    assert!(after.bytes_to_target > before.bytes_to_target, "{after:?}");
    assert!(
        after.bytes_from_target > before.bytes_from_target,
        "{after:?}"
    );
    assert_eq!(after.cuts, 0);
    // Nothing was lost: the session goes on.
    exercise(&conn).await;
}

async fn keepalive_ends_a_stalled_session(transport: Transport) {
    let s = Setup::quiet(transport).await;
    let keepalive = roam::Keepalive {
        interval: Duration::from_millis(20),
        timeout: Duration::from_millis(200),
    };
    let conn = within(
        "connect",
        s.connector().keepalive(Some(keepalive)).connect(&s.url),
    )
    .await
    .expect("connects");
    assert_eq!(
        CalculatorClient::new(conn.clone()).add(1, 1).await.unwrap(),
        2
    );
    s.relay.stall();
    // Nothing comes back, but nothing is closed either: only the keepalive can tell.
    match within("the keepalive notices", conn.closed()).await {
        SessionError::TimedOut(roam::TimedOut::Keepalive(_)) => {}
        other => panic!("a stalled session ended with {other:?}, not a keepalive timeout"),
    }
    assert_eq!(s.relay.stats().cuts, 0);
}

/// Calls `add` in a loop through the relay, reconnecting after every failure (of a call or a
/// connect), until the relay has made `cuts` cuts and then `tail` more calls succeeded on one
/// session. Returns how many failures the client saw.
async fn calls_with_reconnection(s: &Setup, cuts: u64, tail: u32) -> u64 {
    let mut failures = 0;
    let mut conn: Option<Connection> = None;
    let mut clean = 0;
    let mut i = 0i32;
    while clean < tail {
        let c = match conn.take() {
            Some(c) => c,
            None => match s.try_connect().await {
                Ok(c) => c,
                Err(_) => {
                    failures += 1;
                    continue;
                }
            },
        };
        i += 1;
        match within("a call", CalculatorClient::new(c.clone()).add(i, 1)).await {
            Ok(v) => {
                assert_eq!(v, i + 1);
                if s.relay.stats().cuts >= cuts {
                    clean += 1;
                }
                conn = Some(c);
            }
            Err(CallError::ConnectionLost(_)) => {
                failures += 1;
                clean = 0;
            }
            Err(e) => panic!("a call through the relay failed with {e:?}"),
        }
    }
    failures
}

async fn seeded_cuts_land_on_the_planned_bytes(transport: Transport) {
    const SEED: u64 = 0x5eed;
    const CUTS: usize = 6;
    const MEAN: u64 = 300;
    let mut made = Vec::new();
    // Two relays, one run each, with the same seed: the same cuts at the same byte counts.
    for _ in 0..2 {
        let s = Setup::quiet(transport).await;
        let plan = s.relay.cut_at_random(SEED, CUTS, MEAN);
        assert_eq!(plan, Plan::random(SEED, CUTS, MEAN));
        let failures = within(
            "calls with reconnection",
            calls_with_reconnection(&s, CUTS as u64, 20),
        )
        .await;
        let stats = s.relay.stats();
        assert_eq!(failures, CUTS as u64, "one failure per cut: {stats:?}");
        assert_eq!(
            (stats.cuts, stats.planned_cuts),
            (CUTS as u64, CUTS as u64),
            "{stats:?}"
        );
        assert_eq!(stats.connections_cut, CUTS as u64, "{stats:?}");
        assert_eq!(s.relay.planned_cuts_made(), plan.offsets());
        made.push(s.relay.planned_cuts_made());
    }
    assert_eq!(made[0], made[1]);
}

async fn a_cut_inside_the_handshake_fails_that_connect_only(transport: Transport) {
    let s = Setup::quiet(transport).await;
    // One byte of the client's first frame (or of the WebSocket upgrade request) gets through.
    s.relay.cut_at(Plan::at([1]));
    assert!(s.try_connect().await.is_err(), "a connect cut after 1 byte");
    assert_eq!(s.relay.planned_cuts_made(), [1]);
    let conn = s.connect().await;
    exercise(&conn).await;
    assert_eq!(s.relay.stats().cuts, 1);
}

async fn a_delay_holds_every_chunk_and_calls_still_succeed(transport: Transport) {
    let s = Setup::quiet(transport).await;
    s.relay.set_delay(Duration::from_millis(1));
    let conn = s.connect().await;
    exercise(&conn).await;
    let delayed = s.relay.stats();
    assert!(delayed.chunks > 0);
    assert_eq!(
        delayed.delayed_chunks, delayed.chunks,
        "every chunk was delayed"
    );

    s.relay.set_delay(Duration::ZERO);
    exercise(&conn).await;
    let after = s.relay.stats();
    assert!(after.chunks > delayed.chunks);
    assert_eq!(
        after.delayed_chunks, delayed.delayed_chunks,
        "no delay once cleared"
    );
}

async fn refusing_drops_new_connections_only(transport: Transport) {
    let s = Setup::new(transport).await;
    let kept = s.connect().await;
    s.relay.refuse(true);
    assert!(s.try_connect().await.is_err(), "a refused connect failed");
    let stats = s.relay.stats();
    assert_eq!((stats.accepted, stats.refused), (2, 1), "{stats:?}");
    // The session relayed already is untouched.
    exercise(&kept).await;

    s.relay.refuse(false);
    let conn = s.connect().await;
    exercise(&conn).await;
    let stats = s.relay.stats();
    assert_eq!(
        (stats.accepted, stats.refused, stats.open),
        (3, 1, 2),
        "{stats:?}"
    );
}

async fn dropping_the_relay_ends_its_connections(transport: Transport) {
    let s = Setup::new(transport).await;
    let conn = s.connect().await;
    let Setup { relay, url, .. } = s;
    drop(relay);
    let closed = within("the session ends", conn.closed()).await;
    assert!(matches!(closed, SessionError::Transport(_)), "{closed:?}");
    assert!(
        within("connect", roam_tests::connect(&url)).await.is_err(),
        "nothing listens once the relay is dropped"
    );
}

macro_rules! over {
    ($($module:ident = $transport:ident: [$($name:ident),* $(,)?]),* $(,)?) => {
        $(
            mod $module {
                $(
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $name() {
                        super::$name(roam_tests::Transport::$transport).await
                    }
                )*
            }
        )*
    };
}

over! {
    tcp = Tcp: [
        forwards_calls_and_streams,
        a_cut_ends_the_session_and_a_new_one_gets_through,
        a_cut_fails_calls_in_flight_and_stops_their_handlers,
        a_stall_holds_everything_until_unstalled,
        keepalive_ends_a_stalled_session,
        seeded_cuts_land_on_the_planned_bytes,
        a_cut_inside_the_handshake_fails_that_connect_only,
        a_delay_holds_every_chunk_and_calls_still_succeed,
        refusing_drops_new_connections_only,
        dropping_the_relay_ends_its_connections,
    ],
    websocket = WebSocket: [
        forwards_calls_and_streams,
        a_cut_ends_the_session_and_a_new_one_gets_through,
        a_cut_fails_calls_in_flight_and_stops_their_handlers,
        a_stall_holds_everything_until_unstalled,
        keepalive_ends_a_stalled_session,
        seeded_cuts_land_on_the_planned_bytes,
        a_cut_inside_the_handshake_fails_that_connect_only,
        a_delay_holds_every_chunk_and_calls_still_succeed,
        refusing_drops_new_connections_only,
        dropping_the_relay_ends_its_connections,
    ],
    tls = Tls: [forwards_calls_and_streams, a_cut_ends_the_session_and_a_new_one_gets_through],
    wss = SecureWebSocket: [forwards_calls_and_streams, a_cut_ends_the_session_and_a_new_one_gets_through],
}

/// Plans alone, no network.
mod plan {
    use roam_tests::relay::Plan;

    #[test]
    fn the_same_seed_gives_the_same_plan_and_another_seed_another() {
        let a = Plan::random(42, 100, 1000);
        assert_eq!(a, Plan::random(42, 100, 1000));
        assert_ne!(a, Plan::random(43, 100, 1000));
        assert_eq!(a.offsets().len(), 100);
        let mut previous = 0;
        for &at in a.offsets() {
            let gap = at - previous;
            assert!((500..=1500).contains(&gap), "gap {gap} out of [500, 1500]");
            previous = at;
        }
    }

    #[test]
    fn tiny_means_still_cut_after_at_least_a_byte() {
        for mean in [0, 1, 2] {
            let plan = Plan::random(7, 50, mean);
            assert!(plan.offsets().windows(2).all(|w| w[0] < w[1]), "{plan:?}");
            assert!(plan.offsets()[0] >= 1, "{plan:?}");
        }
    }

    #[test]
    #[should_panic(expected = "strictly increasing")]
    fn explicit_offsets_must_increase() {
        let _ = Plan::at([10, 10]);
    }
}

/// The relay against a target where nothing listens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_target_closes_the_accepted_connection() {
    let gone = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = gone.local_addr().unwrap();
    drop(gone);
    let relay = Relay::start(target).await.unwrap();
    let url = format!("tcp://{}", relay.addr());
    assert!(
        within("connect", roam::connect(&url)).await.is_err(),
        "a connect through a relay to nothing failed"
    );
    let stats = within(
        "the failure is counted",
        relay.wait_until(|s| s.unreachable == 1),
    )
    .await;
    assert_eq!((stats.accepted, stats.open), (1, 0), "{stats:?}");
}

/// The module docs' example, compiled and run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_docs_example_works() {
    let server = Transport::WebSocket
        .bind()
        .await
        .serve(Router::new().with(CalculatorDispatcher::new(Arc::new(Calc::default()))));
    let relay = Relay::in_front_of(server.local_url()).await.unwrap();
    let url = relay.url_for(server.local_url());
    assert_eq!(url, format!("ws://{}/roam", relay.addr()));
    let conn = roam::connect(&url)
        .await
        .expect("connects through the relay");
    relay.cut();
    within(
        "the cut connection ends",
        relay.wait_until(|s| s.connections_cut == 1),
    )
    .await;
    let again = roam::connect(&url).await.expect("the relay still accepts");
    assert_eq!(CalculatorClient::new(again).add(1, 1).await.unwrap(), 2);
    drop(conn);
}
