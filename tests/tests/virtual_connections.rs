//! Virtual connections: several connections on one session, each with its own services,
//! calls and limits, opened by either side, decided on by the peer's acceptor from the
//! opener's metadata, closed one at a time, and carried across a resumed link.
//!
//! No assertion here is about time: outcomes and counts only. Bounds on waits turn a hang
//! into a failure.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use roam::{
    Accept, CallError, Connection, ConnectionState, Connector, Context, Metadata, OpenError,
    OpenOptions, Refusal, Router, SessionError,
};
use roam_tests::relay::Relay;
use roam_tests::{
    Calc, CalculatorClient, CalculatorDispatcher, NotebookDispatcher, Shouter, StreamerClient,
    StreamerDispatcher, Streams, Transport,
};

const HANG: Duration = Duration::from_secs(60);

/// What the server serves on each kind of virtual connection.
struct Backends {
    calc: Arc<Calc>,
    streams: Arc<Streams>,
    /// The handles `Door` handlers saw for the connections they ran on.
    seen: Mutex<Vec<Connection>>,
}

/// A service that lets the test reach the acceptor side of a virtual connection.
#[roam::service]
trait Door {
    /// Keeps this side's handle to the connection the call came on; returns its ID.
    async fn remember(&self, cx: &Context) -> u64;
    /// Opens a virtual connection back toward the caller asking for `service`, adds there and
    /// reports the outcome (this side opening, the caller's acceptor deciding).
    async fn open_back(&self, cx: &Context, service: String, a: i32, b: i32) -> String;
}

impl Door for Arc<Backends> {
    async fn remember(&self, cx: &Context) -> u64 {
        self.seen.lock().unwrap().push(cx.connection().clone());
        cx.connection().connection_id()
    }

    async fn open_back(&self, cx: &Context, service: String, a: i32, b: i32) -> String {
        let back = match cx.connection().open(open_as(&service)).await {
            Ok(back) => back,
            Err(e) => return format!("refused: {e}"),
        };
        match CalculatorClient::new(back.clone()).add(a, b).await {
            Ok(sum) => format!("connection {} says {sum}", back.connection_id()),
            Err(e) => format!("call failed: {e}"),
        }
    }
}

impl Backends {
    fn new() -> Arc<Self> {
        Arc::new(Backends {
            calc: Arc::new(Calc::default()),
            streams: Arc::new(Streams::default()),
            seen: Mutex::new(Vec::new()),
        })
    }

    /// The acceptor: `service=calc` gets the calculator, `service=streams` the streamer; any
    /// other request is refused, naming what was asked for.
    fn acceptor(self: &Arc<Self>) -> impl Fn(&Metadata) -> Result<Accept, Refusal> + use<> {
        let backends = self.clone();
        move |md: &Metadata| match md.get_str("service") {
            Some("calc") => Ok(Accept::serve(
                Router::new().with(CalculatorDispatcher::new(backends.calc.clone())),
            )
            .with_metadata("served", "calc")),
            Some("streams") => Ok(Accept::serve(
                Router::new().with(StreamerDispatcher::new(backends.streams.clone())),
            )),
            Some("door") => Ok(Accept::serve(
                Router::new().with(DoorDispatcher::new(backends.clone())),
            )),
            other => Err(Refusal::new(format!("no service named {other:?} here"))),
        }
    }
}

/// A server whose root connection serves nothing and whose virtual connections serve what
/// [`Backends::acceptor`] decides, and a client session (with `client` applied); returns the
/// server's backends, the server and the session.
async fn setup_with(
    transport: Transport,
    client: Connector,
) -> (Arc<Backends>, roam::ServerHandle, Connection) {
    let backends = Backends::new();
    let server = transport
        .bind()
        .await
        .accept_connections(backends.acceptor())
        .serve(Router::new());
    let conn = transport
        .client(client)
        .connect(server.local_url())
        .await
        .expect("connect");
    (backends, server, conn)
}

async fn setup(transport: Transport) -> (Arc<Backends>, roam::ServerHandle, Connection) {
    setup_with(transport, Connector::new()).await
}

fn open_as(service: &str) -> OpenOptions {
    OpenOptions::new().with_metadata("service", service)
}

fn is_closed_connection<T: std::fmt::Debug, E: std::fmt::Debug>(
    r: &Result<T, CallError<E>>,
) -> bool {
    matches!(
        r,
        Err(CallError::ConnectionLost(
            SessionError::ConnectionClosed { .. }
        ))
    )
}

/// Two virtual connections on one session serve different services: each answers its own
/// and not the other's, and the root connection serves neither.
async fn two_connections_serve_different_services(transport: Transport) {
    let (_backends, _server, conn) = setup(transport).await;
    let calc_conn = conn.open(open_as("calc")).await.expect("calc accepted");
    let stream_conn = conn
        .open(open_as("streams"))
        .await
        .expect("streams accepted");
    assert_ne!(calc_conn.connection_id(), stream_conn.connection_id());
    assert_ne!(calc_conn.connection_id(), conn.connection_id());
    assert_eq!(conn.connection_id(), 0, "the root connection is 0");

    let calc = CalculatorClient::new(calc_conn.clone());
    assert_eq!(calc.add(20, 22).await.expect("add"), 42);
    assert_eq!(
        calc.divide(1, 0).await.map_err(|e| format!("{e:?}")),
        Err(format!(
            "{:?}",
            CallError::User(roam_tests::MathError::DivisionByZero)
        ))
    );
    let streamer = StreamerClient::new(stream_conn.clone());
    let (tx, rx) = roam::channel::<u64>();
    let send = async move {
        for n in 1..=1000u64 {
            tx.send(n).await.expect("send");
        }
    };
    let (sum, ()) = tokio::join!(streamer.sum(rx), send);
    assert_eq!(sum.expect("sum"), 500_500);

    // Each connection has only the services its acceptor gave it.
    assert!(matches!(
        StreamerClient::new(calc_conn.clone()).hang().await,
        Err(CallError::UnknownMethod)
    ));
    assert!(matches!(
        CalculatorClient::new(stream_conn.clone()).add(1, 1).await,
        Err(CallError::UnknownMethod)
    ));
    assert!(matches!(
        CalculatorClient::new(conn.clone()).add(1, 1).await,
        Err(CallError::UnknownMethod)
    ));
}

/// The acceptor's refusal reaches the opener with the acceptor's own words; a side with no
/// acceptor refuses every request and says so; the session is fine afterwards.
async fn rejection_reaches_the_opener(transport: Transport) {
    let (_backends, _server, conn) = setup(transport).await;
    match conn.open(open_as("billing")).await {
        Err(OpenError::Rejected { reason }) => {
            assert_eq!(reason, "no service named Some(\"billing\") here")
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    // The client installed no acceptor: the server's attempt to open toward it is refused.
    let door = DoorClient::new(conn.open(open_as("door")).await.expect("accepted"));
    let answer = door.open_back("calc".into(), 1, 2).await.unwrap();
    assert!(
        answer.starts_with("refused: ") && answer.contains("does not accept"),
        "{answer}"
    );
    let calc_conn = conn
        .open(open_as("calc"))
        .await
        .expect("accepted after refusals");
    assert_eq!(CalculatorClient::new(calc_conn).add(1, 2).await.unwrap(), 3);
}

/// Closing one virtual connection fails only its calls: a call in flight on it fails with
/// `ConnectionClosed` carrying the closer's reason (and its handler is stopped), new calls on
/// it fail the same way, and a sibling connection's stream and the root connection go on.
async fn closing_one_fails_only_its_calls(transport: Transport) {
    let backends = Backends::new();
    let server = transport
        .bind()
        .await
        .accept_connections(backends.acceptor())
        .serve(Router::new().with(CalculatorDispatcher::new(backends.calc.clone())));
    let conn = transport
        .client(Connector::new())
        .connect(server.local_url())
        .await
        .expect("connect");
    let doomed = conn.open(open_as("calc")).await.expect("accepted");
    let sibling = conn.open(open_as("streams")).await.expect("accepted");

    let doomed_calc = CalculatorClient::new(doomed.clone());
    let in_flight = tokio::spawn({
        let c = doomed_calc.clone();
        async move { c.slow(600_000).await }
    });
    let sibling_stream = StreamerClient::new(sibling.clone());
    let (out_tx, mut out_rx) = roam::channel::<u64>();
    let counting = tokio::spawn(async move { sibling_stream.count(10_000, out_tx).await });
    assert!(backends.calc.running.reaches(1).await, "slow runs");

    doomed.close_with("done with it");
    let result = tokio::time::timeout(HANG, in_flight)
        .await
        .expect("fails")
        .expect("no panic");
    match &result {
        Err(CallError::ConnectionLost(SessionError::ConnectionClosed { reason })) => {
            assert_eq!(reason, "done with it")
        }
        other => panic!("expected ConnectionClosed, got {other:?}"),
    }
    assert!(
        backends.calc.running.reaches(0).await,
        "the closed connection's handler is stopped"
    );
    assert!(is_closed_connection(&doomed_calc.add(1, 1).await));
    assert!(doomed.is_closed());

    // The sibling's stream and the root connection were not touched.
    let mut next = 0u64;
    while let Some(n) = out_rx.recv().await.expect("sibling stream") {
        assert_eq!(n, next);
        next += 1;
    }
    assert_eq!(next, 10_000);
    counting.await.unwrap().expect("count");
    assert!(!conn.is_closed());
    assert_eq!(
        CalculatorClient::new(conn.clone()).add(2, 3).await.unwrap(),
        5
    );
    let again = conn.open(open_as("calc")).await.expect("a new one opens");
    assert_ne!(
        again.connection_id(),
        doomed.connection_id(),
        "IDs are not reused"
    );
    assert_eq!(CalculatorClient::new(again).add(4, 4).await.unwrap(), 8);
}

/// When the opener drops its last handle (clients hold handles too), the connection closes:
/// the acceptor side's handle reports it closed. The session and root connection stay.
async fn dropping_the_last_handle_closes_it(transport: Transport) {
    let (backends, _server, conn) = setup(transport).await;
    let door_conn = conn.open(open_as("door")).await.expect("accepted");
    let door = DoorClient::new(door_conn.clone());
    let id = door.remember().await.unwrap();
    assert_eq!(id, door_conn.connection_id());
    let server_side = backends.seen.lock().unwrap()[0].clone();
    assert_eq!(server_side.connection_id(), id);

    let clone = door_conn.clone();
    drop(door_conn);
    drop(clone);
    // `door` still holds a handle: still open.
    assert_eq!(door.remember().await.unwrap(), id);
    assert!(!server_side.is_closed());
    drop(door);
    let why = tokio::time::timeout(HANG, server_side.closed())
        .await
        .expect("the acceptor side sees the close");
    assert!(
        matches!(why, SessionError::ConnectionClosed { .. }),
        "{why:?}"
    );
    assert!(!conn.is_closed());
    assert_eq!(conn.state(), ConnectionState::Connected);
}

/// Either side opens: the server opens toward the client (whose acceptor decides) from a
/// handler; the IDs each side allocates have its parity; a connection opened by the
/// client can serve the client's own services to the server.
async fn either_side_opens(transport: Transport) {
    let client_backends = Backends::new();
    let client = Connector::new().accept_connections(client_backends.acceptor());
    let (_backends, _server, conn) = setup_with(transport, client).await;
    let door = DoorClient::new(conn.open(open_as("door")).await.expect("accepted"));
    let answer = door.open_back("calc".into(), 5, 6).await.unwrap();
    let id: u64 = answer
        .strip_prefix("connection ")
        .and_then(|rest| rest.strip_suffix(" says 11"))
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("unexpected answer {answer:?}"));
    assert!(
        id != 0 && id.is_multiple_of(2),
        "connections the session's acceptor opens have even IDs from 2: {id}"
    );
    let refused = door.open_back("nothing".into(), 1, 1).await.unwrap();
    assert_eq!(
        refused,
        "refused: the peer refused the connection: no service named Some(\"nothing\") here"
    );

    // A connection the client opens can carry services the client serves.
    let served = conn
        .open(open_as("calc").serve(Router::new().with(NotebookDispatcher::new(Shouter))))
        .await
        .expect("accepted");
    assert_eq!(served.connection_id() % 2, 1, "the initiator's IDs are odd");
    let answer = CalculatorClient::new(served)
        .ask_back("hello".into())
        .await
        .unwrap();
    assert_eq!(answer, "client says: HELLO");
}

roam_tests::per_transport!(
    two_connections_serve_different_services,
    rejection_reaches_the_opener,
    closing_one_fails_only_its_calls,
    dropping_the_last_handle_closes_it,
    either_side_opens,
);

/// Virtual connections survive a resumed link: calls in flight on them complete after the
/// cut, streams lose and repeat nothing, and they go on serving afterwards.
async fn they_resume_with_the_session(transport: Transport) {
    let backends = Backends::new();
    let server = transport
        .bind()
        .await
        .accept_connections(backends.acceptor())
        .serve(Router::new());
    let relay = Relay::in_front_of(server.local_url()).await.expect("relay");
    let url = relay.url_for(server.local_url());
    let conn = Connector::new().connect(&url).await.expect("connect");
    let calc_conn = conn.open(open_as("calc")).await.expect("accepted");
    let stream_conn = conn.open(open_as("streams")).await.expect("accepted");
    let calc = CalculatorClient::new(calc_conn.clone());
    let streamer = StreamerClient::new(stream_conn.clone());
    assert_eq!(calc.add(1, 1).await.unwrap(), 2);

    let slow = tokio::spawn({
        let calc = calc.clone();
        async move { calc.slow(300).await }
    });
    let (out_tx, mut out_rx) = roam::channel::<u64>();
    let counting = tokio::spawn(async move { streamer.count(50_000, out_tx).await });
    assert!(backends.calc.running.reaches(1).await);
    // Cut once some items have crossed.
    assert_eq!(out_rx.recv().await.unwrap(), Some(0));
    relay.cut();
    let mut next = 1u64;
    while let Some(n) = tokio::time::timeout(HANG, out_rx.recv())
        .await
        .expect("items keep coming")
        .expect("no channel error")
    {
        assert_eq!(n, next, "in order, none lost or repeated");
        next += 1;
    }
    assert_eq!(next, 50_000);
    counting.await.unwrap().expect("count");
    assert_eq!(slow.await.unwrap().expect("the slow call survives"), 300);
    assert_eq!(relay.stats().cuts, 1);
    assert_eq!(conn.state(), ConnectionState::Resumed);
    assert!(!calc_conn.is_closed() && !stream_conn.is_closed());
    assert_eq!(calc.add(2, 2).await.unwrap(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn they_resume_with_the_session_over_tcp() {
    they_resume_with_the_session(Transport::Tcp).await
}

#[tokio::test]
async fn they_resume_with_the_session_over_websocket() {
    they_resume_with_the_session(Transport::WebSocket).await
}
