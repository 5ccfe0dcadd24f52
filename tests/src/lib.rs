//! Shared fixtures for the workspace integration tests: a calculator service with every kind
//! of unary method, a service the client serves back, and helpers to run a server on each
//! transport.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

pub mod kitchen;
pub mod pki;
pub mod relay;

use facet::Facet;
use roam::{Connection, Connector, Context, Router, Server, ServerHandle};

/// A user error type.
#[derive(Facet, Debug, Clone, PartialEq)]
#[repr(u8)]
pub enum MathError {
    /// Divisor was zero.
    DivisionByZero,
    /// Result does not fit.
    Overflow,
}

/// A user struct.
#[derive(Facet, Debug, Clone, PartialEq)]
pub struct Point {
    /// x
    pub x: i32,
    /// y
    pub y: i32,
}

/// The service under test.
#[roam::service]
pub trait Calculator {
    /// Adds two numbers.
    async fn add(&self, a: i32, b: i32) -> i32;
    /// Fallible division.
    async fn divide(&self, a: i32, b: i32) -> Result<i32, MathError>;
    /// Reads call metadata.
    async fn whoami(&self, cx: &roam::Context) -> String;
    /// Borrowed arguments.
    async fn describe(&self, name: &str, raw: &[u8]) -> String;
    /// A struct argument and return.
    async fn mirror(&self, p: Point) -> Point;
    /// No arguments, no return.
    async fn ping(&self);
    /// An enum argument.
    async fn classify(&self, e: MathError) -> String;
    /// Sleeps, then answers; counts how many are running. Safe to run twice.
    #[roam(idempotent)]
    async fn slow(&self, millis: u64) -> u64;
    /// Calls back into the caller's `Notebook` service on the same session.
    async fn ask_back(&self, cx: &roam::Context, question: String) -> String;
}

/// The service a client serves to the server (for call-backs).
#[roam::service]
pub trait Notebook {
    /// Answers a question.
    async fn answer(&self, question: String) -> String;
}

/// Calculator implementation with observable state.
#[derive(Default)]
pub struct Calc {
    /// Handlers of `slow` running now.
    pub running: Gauge,
    /// Most handlers of `slow` seen running at once.
    pub peak: AtomicUsize,
}

impl Calculator for Arc<Calc> {
    async fn add(&self, a: i32, b: i32) -> i32 {
        a.wrapping_add(b)
    }

    async fn divide(&self, a: i32, b: i32) -> Result<i32, MathError> {
        if b == 0 {
            return Err(MathError::DivisionByZero);
        }
        a.checked_div(b).ok_or(MathError::Overflow)
    }

    async fn whoami(&self, cx: &Context) -> String {
        format!(
            "{}.{} user={}",
            cx.service().name,
            cx.method().name,
            cx.metadata().get_str("user").unwrap_or("-")
        )
    }

    async fn describe(&self, name: &str, raw: &[u8]) -> String {
        format!("{name}:{}", raw.len())
    }

    async fn mirror(&self, p: Point) -> Point {
        Point { x: p.y, y: p.x }
    }

    async fn ping(&self) {}

    async fn classify(&self, e: MathError) -> String {
        format!("{e:?}")
    }

    async fn slow(&self, millis: u64) -> u64 {
        let now = self.running.add(1);
        self.peak.fetch_max(now, Ordering::SeqCst);
        let _running = Running(&self.running);
        tokio::time::sleep(Duration::from_millis(millis)).await;
        millis
    }

    async fn ask_back(&self, cx: &Context, question: String) -> String {
        let notebook = NotebookClient::new(cx.connection().clone());
        match notebook.answer(question).await {
            Ok(a) => format!("client says: {a}"),
            Err(e) => format!("call-back failed: {e}"),
        }
    }
}

/// A `Notebook` that answers by upper-casing.
pub struct Shouter;

impl Notebook for Shouter {
    async fn answer(&self, question: String) -> String {
        question.to_uppercase()
    }
}

/// The transports every end-to-end test runs over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// In-process (`mem://`), a channel of frames.
    Memory,
    /// TCP loopback.
    Tcp,
    /// Unix socket in a temp dir.
    Unix,
    /// WebSocket over TCP loopback.
    WebSocket,
    /// `tls://`: frames over TLS over TCP loopback, with the test PKI.
    Tls,
    /// `wss://`: WebSocket over TLS, with the test PKI.
    SecureWebSocket,
}

impl Transport {
    /// A fresh address to bind on this transport.
    pub fn bind_url(self) -> String {
        match self {
            Transport::Memory => "mem://".to_owned(),
            Transport::Tcp => "tcp://127.0.0.1:0".to_owned(),
            Transport::Unix => format!("unix://{}", unique_socket_path().display()),
            Transport::WebSocket => "ws://127.0.0.1:0/roam".to_owned(),
            Transport::Tls => "tls://127.0.0.1:0".to_owned(),
            Transport::SecureWebSocket => "wss://127.0.0.1:0/roam".to_owned(),
        }
    }

    /// Whether this transport runs over TLS.
    pub fn is_tls(self) -> bool {
        matches!(self, Transport::Tls | Transport::SecureWebSocket)
    }

    /// Binds a fresh address on this transport (with the test PKI's certificate over TLS).
    pub async fn bind(self) -> Server {
        if self.is_tls() {
            Server::bind_tls(&self.bind_url(), pki::pki().server_tls()).await
        } else {
            Server::bind(&self.bind_url()).await
        }
        .expect("bind")
    }

    /// `client`, trusting the test PKI's CA over TLS.
    pub fn client(self, client: Connector) -> Connector {
        if self.is_tls() {
            client.tls(pki::pki().client_tls())
        } else {
            client
        }
    }
}

/// Runs each listed `async fn name(transport: Transport)` once per transport, as
/// `memory::name`, `tcp::name`, `unix::name`, `websocket::name`, `tls::name` and `wss::name`.
/// Memory, Unix and `wss://` run on a current_thread runtime, TCP, WebSocket and `tls://` on a
/// 2-worker one, so both the single-threaded path and handles applying commands from other
/// threads than the driver's are exercised.
#[macro_export]
macro_rules! per_transport {
    ($($name:ident),* $(,)?) => {
        mod memory { $( #[tokio::test] async fn $name() { super::$name($crate::Transport::Memory).await } )* }
        mod tcp { $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { super::$name($crate::Transport::Tcp).await } )* }
        #[cfg(unix)]
        mod unix { $( #[tokio::test] async fn $name() { super::$name($crate::Transport::Unix).await } )* }
        mod websocket { $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { super::$name($crate::Transport::WebSocket).await } )* }
        mod tls { $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { super::$name($crate::Transport::Tls).await } )* }
        mod wss { $( #[tokio::test] async fn $name() { super::$name($crate::Transport::SecureWebSocket).await } )* }
    };
}

/// A calculator server on one transport and a client session to it.
pub struct Fixture {
    /// The calculator's observable state.
    pub calc: Arc<Calc>,
    /// The client's session (which also serves `Notebook`).
    pub conn: Connection,
    /// The server.
    pub server: ServerHandle,
}

/// Starts a calculator server on `transport` and connects to it.
pub async fn fixture(transport: Transport) -> Fixture {
    let calc = Arc::new(Calc::default());
    let router = Router::new().with(CalculatorDispatcher::new(calc.clone()));
    let client = Connector::new().serve(NotebookDispatcher::new(Shouter));
    let (conn, server) = serve_with(transport, |s| s, client, router).await;
    Fixture { calc, conn, server }
}

/// A socket path unique to this process and call.
pub fn unique_socket_path() -> std::path::PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    std::env::temp_dir().join(format!(
        "roam-test-{}-{}.sock",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ))
}

/// The streaming service under test.
#[roam::service]
pub trait Streamer {
    /// Client streams numbers, server answers once.
    async fn sum(&self, numbers: roam::Rx<u64>) -> u64;
    /// Server streams `0..upto` to the client.
    async fn count(&self, upto: u64, out: roam::Tx<u64>);
    /// Both directions at once: upper-cases every string.
    async fn transform(&self, input: roam::Rx<String>, output: roam::Tx<String>);
    /// Waits for the test's go-ahead before reading anything, then reports how many items were
    /// buffered at that moment and how many it read in all.
    async fn stall(&self, numbers: roam::Rx<u64>) -> (u64, u64);
    /// Never returns; counts itself in `Streams::hanging` while running.
    async fn hang(&self);
}

/// `Streamer` implementation with test hooks.
#[derive(Default)]
pub struct Streams {
    /// Released by the test to let `stall` start reading.
    pub go: tokio::sync::Notify,
    /// `hang` handlers currently running.
    pub hanging: Gauge,
}

/// `msg` as one length-prefixed frame, the way a raw peer writes it to a socket.
pub fn raw_frame(msg: &roam::wire::Message) -> Vec<u8> {
    let body = roam::wire::encode(msg).expect("test messages encode");
    let mut out = (body.len() as u32).to_le_bytes().to_vec();
    out.extend_from_slice(&body);
    out
}

/// A count that tests can wait on without polling: handlers move it, tests await a value.
#[derive(Debug, Default)]
pub struct Gauge(tokio::sync::watch::Sender<usize>);

impl Gauge {
    /// Adds `n`; returns the new value.
    pub fn add(&self, n: usize) -> usize {
        let mut now = 0;
        self.0.send_modify(|v| {
            *v += n;
            now = *v;
        });
        now
    }

    /// Subtracts `n`.
    pub fn sub(&self, n: usize) {
        self.0.send_modify(|v| *v = v.saturating_sub(n));
    }

    /// The current value.
    pub fn get(&self) -> usize {
        *self.0.borrow()
    }

    /// Waits until the value is `want`. The 60 s bound only turns a hang into a failure; it is
    /// not a timing assertion.
    pub async fn reaches(&self, want: usize) -> bool {
        let mut rx = self.0.subscribe();
        tokio::time::timeout(Duration::from_secs(60), rx.wait_for(|v| *v == want))
            .await
            .is_ok_and(|r| r.is_ok())
    }
}

/// Decrements a gauge when dropped: how a handler observes that it was stopped.
struct Running<'a>(&'a Gauge);
impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.sub(1);
    }
}

impl Streamer for Arc<Streams> {
    async fn sum(&self, mut numbers: roam::Rx<u64>) -> u64 {
        let mut total = 0u64;
        while let Ok(Some(n)) = numbers.recv().await {
            total = total.wrapping_add(n);
        }
        total
    }

    async fn count(&self, upto: u64, out: roam::Tx<u64>) {
        for i in 0..upto {
            if out.send(i).await.is_err() {
                return;
            }
        }
    }

    async fn transform(&self, mut input: roam::Rx<String>, output: roam::Tx<String>) {
        while let Ok(Some(s)) = input.recv().await {
            if output.send(s.to_uppercase()).await.is_err() {
                return;
            }
        }
    }

    async fn stall(&self, mut numbers: roam::Rx<u64>) -> (u64, u64) {
        self.go.notified().await;
        let buffered = numbers.buffered() as u64;
        let mut read = 0;
        while let Ok(Some(_)) = numbers.recv().await {
            read += 1;
        }
        (buffered, read)
    }

    async fn hang(&self) {
        self.hanging.add(1);
        let _running = Running(&self.hanging);
        std::future::pending::<()>().await
    }
}

/// A `Streamer` server on `transport` with the given limits, and a client session to it.
pub async fn stream_fixture(
    transport: Transport,
    limits: roam::Limits,
) -> (Arc<Streams>, Connection, ServerHandle) {
    let streams = Arc::new(Streams::default());
    let router = Router::new().with(StreamerDispatcher::new(streams.clone()));
    let (conn, server) = serve_on(transport, limits, router).await;
    (streams, conn, server)
}

/// Serves `router` on `transport` (both sides announcing `limits`) and connects a client
/// session to it.
pub async fn serve_on(
    transport: Transport,
    limits: roam::Limits,
    router: Router,
) -> (Connection, ServerHandle) {
    serve_with(
        transport,
        |s| s.limits(limits),
        Connector::new().limits(limits),
        router,
    )
    .await
}

/// Serves `router` on `transport` with the server configured by `server`, and connects
/// `client` to it.
pub async fn serve_with(
    transport: Transport,
    server: impl FnOnce(Server) -> Server,
    client: Connector,
    router: Router,
) -> (Connection, ServerHandle) {
    let bound = transport.bind().await;
    let server = server(bound).serve(router);
    let conn = transport
        .client(client)
        .connect(server.local_url())
        .await
        .expect("connect");
    (conn, server)
}

/// Connects to `url` with default options, trusting the test PKI's CA for `tls://` and
/// `wss://`.
pub async fn connect(url: &str) -> Result<Connection, roam::ConnectError> {
    Connector::new()
        .tls(pki::pki().client_tls())
        .connect(url)
        .await
}

/// A peer speaking raw frames over any transport, for tests that misbehave on purpose.
pub struct RawClient {
    link: roam::transport::Link,
}

impl RawClient {
    /// Connects a raw link to `url`.
    pub async fn connect(url: &str) -> RawClient {
        let addr = roam::transport::Address::parse(url).expect("a valid address");
        let max = roam::framing::MaxFrame::new(u32::MAX);
        let link = roam::transport::connect_with(&addr, &max, Some(&pki::pki().client_tls()))
            .await
            .expect("the raw link connects");
        RawClient { link }
    }

    /// A raw client over a link made by hand.
    pub fn from_link(link: roam::transport::Link) -> RawClient {
        RawClient { link }
    }

    /// Sends `msg` as one frame.
    pub async fn send(&mut self, msg: &roam::wire::Message) {
        let body = roam::wire::encode(msg).expect("test messages encode");
        self.send_body(body).await;
    }

    /// Sends `body` as one frame, whatever it holds.
    pub async fn send_body(&mut self, body: Vec<u8>) {
        use futures::SinkExt;
        self.link
            .outgoing
            .send(body.into())
            .await
            .expect("the raw link is up");
    }

    /// Reads frames until the server's `Goodbye`, then checks the server ends the link.
    pub async fn goodbye(&mut self) -> String {
        use futures::StreamExt;
        let read = async {
            loop {
                let frame = self
                    .link
                    .incoming
                    .next()
                    .await
                    .expect("server closed without Goodbye")
                    .expect("a valid frame from the server");
                if let roam::wire::Message::Goodbye { reason } =
                    roam::wire::decode(&frame).expect("server sent a valid message")
                {
                    while let Some(Ok(_)) = self.link.incoming.next().await {}
                    return reason;
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(10), read)
            .await
            .expect("no Goodbye within 10 s")
    }
}
