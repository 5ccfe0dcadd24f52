//! Who may connect and what they may call: TLS certificate failures and mutual TLS, the
//! authenticator at the door, server and client interceptors, the tracing span and metrics
//! hooks, and a server's session limits. (The unary and streaming suites run over `tls://`
//! and `wss://` through `per_transport!`.)

use std::sync::{Arc, Mutex};
use std::time::Duration;

use roam::intercept::{Answer, CallRecord, ClientCall, ClientNext, Metrics, Next, Outcome};
use roam::tls::{ClientTls, TlsError};
use roam::{
    CallError, ConnectError, Connector, Context, Identity, PeerHello, Refusal, RefusedBy,
    RemoteError, Server,
};
use roam_tests::pki::{CLIENT_URI, pki};

/// What a handler can tell about who called it.
#[roam::service]
trait Door {
    /// The identity's name, the client certificate's SAN URIs, and the `request-id` metadata.
    async fn who(&self, cx: &Context) -> (Option<String>, Vec<String>, Option<String>);
    /// Only admins may call this (an interceptor refuses everyone else).
    async fn secret(&self) -> u32;
    /// Fails with its user error.
    async fn fail(&self) -> Result<(), String>;
    /// Never answers.
    async fn hang(&self);
    /// Panics.
    async fn boom(&self) -> u32;
}

/// A service the door does not serve.
#[roam::service]
trait Stranger {
    async fn knock(&self);
}

#[derive(Clone)]
struct Doorman;

impl Door for Doorman {
    async fn who(&self, cx: &Context) -> (Option<String>, Vec<String>, Option<String>) {
        (
            cx.identity().map(|i| i.name().to_owned()),
            cx.tls_peer().map(|p| p.uri_names()).unwrap_or_default(),
            cx.metadata().get_str("request-id").map(str::to_owned),
        )
    }
    async fn secret(&self) -> u32 {
        42
    }
    async fn fail(&self) -> Result<(), String> {
        Err("nope".into())
    }
    async fn hang(&self) {
        std::future::pending::<()>().await
    }
    async fn boom(&self) -> u32 {
        panic!("the handler fails on purpose")
    }
}

fn tls_error(result: Result<roam::Connection, ConnectError>) -> TlsError {
    match result {
        Err(ConnectError::Tls { source, .. }) => source,
        other => panic!("expected a TLS error, got {other:?}"),
    }
}

fn refusal(result: Result<roam::Connection, ConnectError>) -> (RefusedBy, String) {
    match result {
        Err(ConnectError::Refused { by, reason, .. }) => (by, reason),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

async fn tls_server(url: &str, tls: roam::tls::ServerTls) -> roam::ServerHandle {
    Server::bind_tls(url, tls)
        .await
        .expect("bind")
        .serve(DoorDispatcher::new(Doorman))
}

const TLS_URLS: [&str; 2] = ["tls://127.0.0.1:0", "wss://127.0.0.1:0/roam"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_certificate_the_client_does_not_trust_is_a_typed_error() {
    for url in TLS_URLS {
        let server = tls_server(url, pki().server_tls()).await;
        let rogue = ClientTls::with_ca_pem(pki().rogue_ca.as_bytes()).unwrap();
        let e = tls_error(
            Connector::new()
                .tls(rogue)
                .connect(server.local_url())
                .await,
        );
        assert!(
            matches!(e, TlsError::UntrustedCertificate(_)),
            "{url}: {e:?}"
        );
        assert!(
            e.to_string().contains("ClientTls::with_ca_pem"),
            "says what to do: {e}"
        );
        // The platform's roots do not know the test CA either.
        let e = tls_error(roam::connect(server.local_url()).await);
        assert!(
            matches!(e, TlsError::UntrustedCertificate(_)),
            "{url}: {e:?}"
        );
        // A certificate for other names.
        let elsewhere = pki().client_tls().server_name("elsewhere.example");
        let e = tls_error(
            Connector::new()
                .tls(elsewhere)
                .connect(server.local_url())
                .await,
        );
        assert!(matches!(e, TlsError::WrongName(_)), "{url}: {e:?}");
        server.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_refuses_missing_and_foreign_client_certificates_and_shows_the_good_one() {
    for url in TLS_URLS {
        let server = tls_server(url, pki().mutual_server_tls()).await;
        let url = server.local_url().to_owned();
        let none = Connector::new().tls(pki().client_tls()).connect(&url).await;
        assert!(
            matches!(tls_error(none), TlsError::ClientCertificateRejected(_)),
            "{url}: no client certificate"
        );
        let foreign = Connector::new()
            .tls(pki().client_tls_as(&pki().rogue_client))
            .connect(&url)
            .await;
        assert!(
            matches!(tls_error(foreign), TlsError::ClientCertificateRejected(_)),
            "{url}: a certificate from another CA"
        );
        let conn = Connector::new()
            .tls(pki().client_tls_as(&pki().client))
            .connect(&url)
            .await
            .expect("the CA's client certificate is accepted");
        let (_, uris, _) = DoorClient::new(conn.clone()).who().await.unwrap();
        assert_eq!(uris, vec![CLIENT_URI.to_owned()], "{url}");
        assert!(
            conn.tls_peer().is_some(),
            "the client sees the server's certificate"
        );
        server.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn optional_client_certificates_serve_clients_with_and_without_one() {
    let tls = pki()
        .server_tls()
        .allow_client_certificates(pki().ca.as_bytes())
        .unwrap();
    let server = tls_server("tls://127.0.0.1:0", tls).await;
    let url = server.local_url().to_owned();
    let anonymous = Connector::new()
        .tls(pki().client_tls())
        .connect(&url)
        .await
        .unwrap();
    let (_, uris, _) = DoorClient::new(anonymous).who().await.unwrap();
    assert!(uris.is_empty());
    let named = Connector::new()
        .tls(pki().client_tls_as(&pki().client))
        .connect(&url)
        .await
        .unwrap();
    let (_, uris, _) = DoorClient::new(named).who().await.unwrap();
    assert_eq!(uris, vec![CLIENT_URI.to_owned()]);
    let foreign = Connector::new()
        .tls(pki().client_tls_as(&pki().rogue_client))
        .connect(&url)
        .await;
    assert!(matches!(
        tls_error(foreign),
        TlsError::ClientCertificateRejected(_)
    ));
    server.shutdown().await;
}

/// Admits `Bearer <name>` for the names in `allowed`, as the identity `<name>`.
fn bearer(allowed: &'static [&'static str]) -> impl roam::Authenticator {
    move |hello: PeerHello| async move {
        assert!(
            hello.ip.is_some_and(|ip| ip.is_loopback()),
            "the authenticator sees the peer's address"
        );
        match hello
            .metadata
            .get_str("authorization")
            .and_then(|v| v.strip_prefix("Bearer "))
        {
            Some(name) if allowed.contains(&name) => Ok(Identity::new(name).with_data(name.len())),
            Some(_) => Err(Refusal::new("unknown token")),
            None => Err(Refusal::new("send authorization: Bearer <token>")),
        }
    }
}

async fn door(server: Server) -> roam::ServerHandle {
    server.serve(DoorDispatcher::new(Doorman))
}

fn with_token(token: &str) -> Connector {
    Connector::new().with_metadata("authorization", format!("Bearer {token}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_authenticator_refuses_bad_credentials_with_its_reason_and_names_the_good() {
    let server = door(
        Server::bind("tcp://127.0.0.1:0")
            .await
            .unwrap()
            .authenticate(bearer(&["ada"])),
    )
    .await;
    let url = server.local_url().to_owned();
    assert_eq!(
        refusal(with_token("eve").connect(&url).await),
        (RefusedBy::Authentication, "unknown token".to_owned())
    );
    let (by, reason) = refusal(Connector::new().connect(&url).await);
    assert_eq!(by, RefusedBy::Authentication);
    assert!(reason.contains("Bearer"), "{reason}");
    let conn = with_token("ada")
        .connect(&url)
        .await
        .expect("ada is admitted");
    let (identity, _, _) = DoorClient::new(conn).who().await.unwrap();
    assert_eq!(identity.as_deref(), Some("ada"));
    server.shutdown().await;
}

/// Refuses `secret` to everyone but `admin`.
async fn admins_only(cx: Context, next: Next) -> Answer {
    let admin = cx.identity().is_some_and(|i| i.name() == "admin");
    if cx.method().name == "secret" && !admin {
        return Answer::deny("secret is for admins");
    }
    next.run(cx).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_interceptor_refuses_one_method_for_one_identity_and_client_metadata_arrives() {
    let server = door(
        Server::bind("tcp://127.0.0.1:0")
            .await
            .unwrap()
            .authenticate(bearer(&["admin", "guest"]))
            .intercept(admins_only),
    )
    .await;
    let url = server.local_url().to_owned();
    let stamped = |c: Connector| {
        c.intercept(|mut call: ClientCall, next: ClientNext| async move {
            call.metadata
                .insert("request-id", format!("r-{}", call.method.name));
            next.run(call).await
        })
    };
    let guest = DoorClient::new(stamped(with_token("guest")).connect(&url).await.unwrap());
    let admin = DoorClient::new(with_token("admin").connect(&url).await.unwrap());
    match guest.secret().await {
        Err(CallError::PermissionDenied(reason)) => assert_eq!(reason, "secret is for admins"),
        other => panic!("expected PermissionDenied, got {other:?}"),
    }
    assert_eq!(admin.secret().await.unwrap(), 42);
    let (identity, _, request_id) = guest.who().await.unwrap();
    assert_eq!(identity.as_deref(), Some("guest"));
    assert_eq!(
        request_id.as_deref(),
        Some("r-who"),
        "the client interceptor's metadata reaches the handler"
    );
    server.shutdown().await;
}

/// One call as the hook saw it: method, outcome, identity, response bytes.
type Seen = (&'static str, Outcome, Option<String>, usize);

/// Records every hook call.
#[derive(Default)]
struct Recorder {
    calls: Mutex<Vec<Seen>>,
    sessions: Mutex<(usize, usize)>,
}

struct Shared(Arc<Recorder>);

impl Metrics for Shared {
    fn call(&self, r: &CallRecord<'_>) {
        self.0.calls.lock().unwrap().push((
            r.method,
            r.outcome,
            r.identity.map(str::to_owned),
            r.response_bytes,
        ));
    }
    fn session_opened(&self) {
        self.0.sessions.lock().unwrap().0 += 1;
    }
    fn session_closed(&self) {
        self.0.sessions.lock().unwrap().1 += 1;
    }
}

/// One of each outcome: ok, user error, denied, stopped past its deadline, panicked.
async fn one_of_each(client: &DoorClient) {
    client.who().await.unwrap();
    assert!(matches!(client.fail().await, Err(CallError::User(_))));
    assert!(matches!(
        client.secret().await,
        Err(CallError::PermissionDenied(_))
    ));
    assert!(matches!(
        client.hang().with_timeout(Duration::from_millis(50)).await,
        Err(CallError::DeadlineExceeded)
    ));
    assert!(matches!(client.boom().await, Err(CallError::Internal)));
}

fn expected_outcomes() -> Vec<(&'static str, Outcome)> {
    vec![
        ("who", Outcome::Ok),
        ("fail", Outcome::UserError),
        ("secret", Outcome::PermissionDenied),
        ("hang", Outcome::Failed(RemoteError::DeadlineExceeded)),
        ("boom", Outcome::Failed(RemoteError::Internal)),
    ]
}

/// Waits (bounded: a hang guard, not a timing check) until `done` holds.
async fn eventually(mut done: impl FnMut() -> bool) {
    for _ in 0..500 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the condition did not come true within 5 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_hooks_record_every_call_once_with_its_outcome_and_the_sessions() {
    let recorder = Arc::new(Recorder::default());
    let server = door(
        Server::bind("tcp://127.0.0.1:0")
            .await
            .unwrap()
            .authenticate(bearer(&["guest"]))
            .intercept(admins_only)
            .metrics(Shared(recorder.clone())),
    )
    .await;
    let conn = with_token("guest")
        .connect(server.local_url())
        .await
        .unwrap();
    one_of_each(&DoorClient::new(conn.clone())).await;
    // Answered by the server before any handler: recorded too.
    assert!(matches!(
        StrangerClient::new(conn.clone()).knock().await,
        Err(CallError::UnknownMethod)
    ));
    // The deadline's record is written when the session stops the handler, which may come
    // just after the caller gave up.
    eventually(|| recorder.calls.lock().unwrap().len() >= 6).await;
    conn.close();
    eventually(|| recorder.sessions.lock().unwrap().1 == 1).await;
    let calls = recorder.calls.lock().unwrap().clone();
    let outcomes: Vec<_> = calls.iter().map(|(m, o, _, _)| (*m, *o)).collect();
    let mut want = expected_outcomes();
    want.push(("", Outcome::Failed(RemoteError::UnknownMethod)));
    assert_eq!(outcomes, want, "each call once, in order, with its outcome");
    assert!(
        calls
            .iter()
            .all(|(_, _, who, _)| who.as_deref() == Some("guest"))
    );
    assert!(calls[0].3 > 0 && calls[3].3 == 0, "answer sizes: {calls:?}");
    assert_eq!(*recorder.sessions.lock().unwrap(), (1, 1));
    server.shutdown().await;
}

/// Runs [`one_of_each`] against a `mem://` door configured by `server`, everything on this
/// thread (a current_thread runtime), so a thread-local recorder or subscriber sees the
/// handlers' records too.
fn one_of_each_on_this_thread(server: impl FnOnce(Server) -> Server, client: Connector) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let server = door(server(Server::bind("mem://").await.unwrap())).await;
        let conn = client.connect(server.local_url()).await.unwrap();
        one_of_each(&DoorClient::new(conn.clone())).await;
        conn.close();
        server.shutdown().await;
    });
}

#[test]
fn the_metrics_crate_adapter_counts_calls_by_outcome() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        one_of_each_on_this_thread(
            |s| {
                s.intercept(admins_only)
                    .metrics(roam::intercept::MetricsCrate)
            },
            Connector::new(),
        )
    });
    let mut calls = Vec::new();
    let mut sessions = None;
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let key = key.key();
        let label = |name: &str| {
            key.labels()
                .find(|l| l.key() == name)
                .map(|l| l.value().to_owned())
        };
        match (key.name(), value) {
            ("roam_calls_total", DebugValue::Counter(n)) => {
                calls.push((label("method").unwrap(), label("outcome").unwrap(), n))
            }
            ("roam_sessions_open", DebugValue::Gauge(g)) => sessions = Some(g.into_inner()),
            _ => {}
        }
    }
    calls.sort();
    let mut want: Vec<_> = expected_outcomes()
        .into_iter()
        .map(|(m, o)| (m.to_owned(), o.as_str().to_owned(), 1))
        .collect();
    want.sort();
    assert_eq!(calls, want);
    assert_eq!(sessions, Some(0.0), "opened and closed once");
}

/// Captures the fields of every closed `roam.call` span.
mod spans {
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};

    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing_subscriber::layer::{Context, Layer};
    use tracing_subscriber::registry::LookupSpan;

    pub type Fields = BTreeMap<String, String>;

    #[derive(Clone, Default)]
    pub struct Capture(pub Arc<Mutex<Vec<Fields>>>);

    struct Visitor<'a>(&'a mut Fields);

    impl Visit for Visitor<'_> {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            self.0.insert(field.name().to_owned(), format!("{value:?}"));
        }
        fn record_str(&mut self, field: &Field, value: &str) {
            self.0.insert(field.name().to_owned(), value.to_owned());
        }
    }

    impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
        fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
            if attrs.metadata().name() != "roam.call"
                || attrs.metadata().level() != &tracing::Level::INFO
            {
                return;
            }
            let mut fields = Fields::new();
            attrs.record(&mut Visitor(&mut fields));
            if let Some(span) = ctx.span(id) {
                span.extensions_mut().insert(fields);
            }
        }
        fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
            if let Some(span) = ctx.span(id)
                && let Some(fields) = span.extensions_mut().get_mut::<Fields>()
            {
                values.record(&mut Visitor(fields));
            }
        }
        fn on_close(&self, id: Id, ctx: Context<'_, S>) {
            if let Some(span) = ctx.span(&id)
                && let Some(fields) = span.extensions_mut().remove::<Fields>()
            {
                self.0.lock().unwrap().push(fields);
            }
        }
    }
}

#[test]
fn the_trace_span_records_every_call_once_with_service_method_peer_and_outcome() {
    use tracing_subscriber::layer::SubscriberExt;
    let capture = spans::Capture::default();
    let subscriber = tracing_subscriber::registry().with(capture.clone());
    tracing::subscriber::with_default(subscriber, || {
        one_of_each_on_this_thread(
            |s| {
                s.authenticate(bearer_any())
                    .intercept(roam::intercept::Trace)
                    .intercept(admins_only)
            },
            with_token("guest"),
        )
    });
    let spans = capture.0.lock().unwrap().clone();
    let seen: Vec<_> = spans
        .iter()
        .map(|f| (f["method"].clone(), f["outcome"].clone()))
        .collect();
    let want: Vec<_> = expected_outcomes()
        .into_iter()
        .map(|(m, o)| (m.to_owned(), o.as_str().to_owned()))
        .collect();
    assert_eq!(seen, want, "one span per call, with its outcome");
    for span in &spans {
        assert_eq!(span["service"], "Door");
        assert_eq!(span["identity"], "guest");
        assert!(span["peer"].starts_with("mem://"), "{span:?}");
        assert!(span.contains_key("duration_us"), "{span:?}");
    }
}

/// Admits any bearer token as its name (a `mem://` peer has no IP address to check).
fn bearer_any() -> impl roam::Authenticator {
    |hello: PeerHello| async move {
        match hello
            .metadata
            .get_str("authorization")
            .and_then(|v| v.strip_prefix("Bearer "))
        {
            Some(name) => Ok(Identity::new(name)),
            None => Err(Refusal::new("send a bearer token")),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_after_the_limit_is_refused_naming_it_and_a_freed_place_is_reused() {
    let server = door(
        Server::bind("tcp://127.0.0.1:0")
            .await
            .unwrap()
            .max_sessions(2),
    )
    .await;
    let url = server.local_url().to_owned();
    let a = roam::connect(&url).await.unwrap();
    let _b = roam::connect(&url).await.unwrap();
    let (by, reason) = refusal(roam::connect(&url).await);
    assert_eq!(by, RefusedBy::SessionLimit);
    assert!(reason.contains("at most 2 sessions"), "{reason}");
    a.close();
    eventually(|| server.session_count() == 1).await;
    roam::connect(&url)
        .await
        .expect("a freed place is taken by the next session");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_over_its_own_limit_is_refused_while_the_server_has_room() {
    let server = door(
        Server::bind("tcp://127.0.0.1:0")
            .await
            .unwrap()
            .max_sessions(100)
            .max_sessions_per_peer(1),
    )
    .await;
    let url = server.local_url().to_owned();
    let _first = roam::connect(&url).await.unwrap();
    let (by, reason) = refusal(roam::connect(&url).await);
    assert_eq!(by, RefusedBy::PeerSessionLimit);
    assert!(reason.contains("127.0.0.1"), "{reason}");
    server.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn an_authenticator_slower_than_the_handshake_budget_refuses_as_handshake_timeout() {
    let server = door(
        Server::bind("mem://")
            .await
            .unwrap()
            .handshake_timeout(Duration::from_secs(1))
            .authenticate(|_hello: PeerHello| async {
                std::future::pending::<Result<Identity, Refusal>>().await
            }),
    )
    .await;
    let (by, reason) = refusal(
        Connector::new()
            .handshake_timeout(Duration::from_secs(30))
            .connect(server.local_url())
            .await,
    );
    assert_eq!(by, RefusedBy::HandshakeTimeout);
    assert!(reason.contains("not admitted"), "{reason}");
    server.shutdown().await;
}
