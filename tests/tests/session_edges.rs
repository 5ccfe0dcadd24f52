//! Edges of a session seen through the public API, on every transport: a handler that panics,
//! an answer too big for a frame, metadata limits both ways, response metadata, a call-back
//! answered before the caller's side closes on its last handle, and a bounded shutdown when a
//! peer stops reading.

use std::sync::Arc;
use std::time::Duration;

use roam::wire::{Hello, Limits, Message, PROTOCOL_VERSION, Request};
use roam::{CallError, Connection, Connector, Context, Router, Server, ServerHandle};
use roam_tests::{Notebook, NotebookClient, NotebookDispatcher, Transport, raw_frame, serve_on};
use tokio::io::AsyncWriteExt;
use tokio::sync::Notify;

#[roam::service]
pub trait Edges {
    /// Panics.
    async fn boom(&self) -> u32;
    /// Returns `n` bytes.
    async fn big(&self, n: u32) -> Vec<u8>;
    /// Sets `entries` response metadata entries.
    async fn tagged(&self, cx: &Context, entries: u32) -> String;
    /// How many request metadata entries arrived.
    async fn count_metadata(&self, cx: &Context) -> u32;
    /// Sets response metadata, then panics.
    async fn tag_then_boom(&self, cx: &Context) -> u32;
}

struct E;

impl Edges for E {
    async fn boom(&self) -> u32 {
        panic!("the handler blew up on purpose")
    }

    async fn big(&self, n: u32) -> Vec<u8> {
        vec![1; n as usize]
    }

    async fn tagged(&self, cx: &Context, entries: u32) -> String {
        for i in 0..entries {
            cx.insert_response_metadata(format!("tag-{i}"), u64::from(i));
        }
        "tagged".into()
    }

    async fn count_metadata(&self, cx: &Context) -> u32 {
        cx.metadata().len() as u32
    }

    async fn tag_then_boom(&self, cx: &Context) -> u32 {
        cx.insert_response_metadata("half-done", "yes");
        panic!("the handler blew up after tagging its answer")
    }
}

/// A small frame limit, so "too big for a frame" is cheap to reach.
const FRAME: u32 = 64 * 1024;

async fn edges(transport: Transport) -> (EdgesClient, ServerHandle, Connection) {
    let limits = Limits {
        max_frame_size: FRAME,
        ..Limits::default()
    };
    let router = Router::new().with(EdgesDispatcher::new(E));
    let (conn, server) = serve_on(transport, limits, router).await;
    (EdgesClient::new(conn.clone()), server, conn)
}

const TRANSPORTS: [Transport; 4] = [
    Transport::Memory,
    Transport::Tcp,
    Transport::Unix,
    Transport::WebSocket,
];

#[tokio::test]
async fn a_panicking_handler_answers_internal_and_the_session_stays_up() {
    for transport in TRANSPORTS {
        let (client, _server, conn) = edges(transport).await;
        let got = client.boom().await;
        assert!(
            matches!(got, Err(CallError::Internal)),
            "{transport:?}: {got:?}"
        );
        assert!(!conn.is_closed());
        assert_eq!(client.big(3).await.unwrap(), vec![1, 1, 1], "{transport:?}");
        // The runtime's own `Internal` answer carries none of the dead handler's metadata.
        let reply = client.tag_then_boom().with_response_metadata().await;
        assert!(matches!(reply.result, Err(CallError::Internal)));
        assert!(reply.metadata.is_empty(), "{:?}", reply.metadata);
    }
}

#[tokio::test]
async fn an_answer_too_big_for_a_frame_is_internal() {
    for transport in TRANSPORTS {
        let (client, _server, conn) = edges(transport).await;
        let got = client.big(FRAME + 1).await;
        assert!(
            matches!(got, Err(CallError::Internal)),
            "{transport:?}: {got:?}"
        );
        assert!(!conn.is_closed());
        assert_eq!(
            client.big(FRAME / 2).await.unwrap().len(),
            FRAME as usize / 2
        );
    }
}

#[tokio::test]
async fn over_limit_request_metadata_is_refused_at_the_caller() {
    for transport in TRANSPORTS {
        let (client, _server, conn) = edges(transport).await;
        let mut call = client.count_metadata();
        for i in 0..=roam::Metadata::MAX_ENTRIES {
            call = call.with_metadata(format!("k{i}"), "v");
        }
        let got = call.await;
        assert!(
            matches!(got, Err(CallError::Metadata(_))),
            "{transport:?}: {got:?}"
        );
        let message = got.unwrap_err().to_string();
        assert!(message.contains("metadata"), "{message}");
        // Nothing reached the peer, so the session is intact.
        assert!(!conn.is_closed());
        let long_key = client
            .count_metadata()
            .with_metadata("k".repeat(roam::Metadata::MAX_KEY_LEN + 1), 1u64)
            .await;
        assert!(matches!(long_key, Err(CallError::Metadata(_))));
        let within = client.count_metadata().with_metadata("ok", "v").await;
        assert_eq!(within.unwrap(), 1, "{transport:?}");
    }
}

#[tokio::test]
async fn response_metadata_reaches_the_caller_within_the_limits() {
    for transport in TRANSPORTS {
        let (client, _server, conn) = edges(transport).await;
        let reply = client.tagged(3).with_response_metadata().await;
        assert_eq!(reply.result.unwrap(), "tagged", "{transport:?}");
        assert_eq!(reply.metadata.len(), 3);
        assert_eq!(
            reply.metadata.get("tag-2"),
            Some(&roam::MetadataValue::U64(2))
        );
        let over = client
            .tagged(roam::Metadata::MAX_ENTRIES as u32 + 1)
            .with_response_metadata()
            .await;
        assert!(
            matches!(over.result, Err(CallError::Internal)),
            "{:?}",
            over.result
        );
        assert!(over.metadata.is_empty());
        assert!(!conn.is_closed());
    }
}

/// A `Notebook` whose answer waits for the test's go-ahead.
struct Gate {
    started: Arc<Notify>,
    release: Arc<Notify>,
}

impl Notebook for Gate {
    async fn answer(&self, question: String) -> String {
        self.started.notify_one();
        self.release.notified().await;
        format!("answered {question}")
    }
}

#[tokio::test]
async fn a_call_back_is_answered_before_the_caller_side_closes_on_its_last_handle() {
    let (started, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let gate = Gate {
        started: started.clone(),
        release: release.clone(),
    };
    let (initiator, acceptor) = roam::memory_pair_with(
        Connector::new().serve(NotebookDispatcher::new(gate)),
        Connector::new(),
    )
    .await
    .expect("handshake");
    let call = tokio::spawn({
        let notebook = NotebookClient::new(acceptor.clone());
        async move { notebook.answer("q".into()).await }
    });
    started.notified().await;
    // The initiator's application lets go of the session while its handler still runs; the
    // handler's context is now the last handle.
    drop(initiator);
    release.notify_one();
    assert_eq!(call.await.unwrap().unwrap(), "answered q");
    match acceptor.closed().await {
        roam::SessionError::ClosedByPeer { reason } => {
            assert!(reason.contains("last connection handle"), "{reason}")
        }
        other => panic!("expected a Goodbye, got {other}"),
    }
}

#[tokio::test]
async fn shutdown_finishes_when_a_peer_never_reads_its_answers() {
    let server = Server::bind("tcp://127.0.0.1:0")
        .await
        .expect("bind")
        .shutdown_grace(Duration::from_secs(1))
        .close_linger(Duration::from_millis(300))
        .serve(EdgesDispatcher::new(E));
    let addr = server
        .local_url()
        .strip_prefix("tcp://")
        .expect("tcp url")
        .to_owned();
    let mut raw = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    raw.write_all(&raw_frame(&Message::Hello(Hello {
        version: PROTOCOL_VERSION,
        limits: Limits::default(),
        session_key: None,
        resume: None,
        replay: roam::wire::Replay::Off,
        metadata: Default::default(),
    })))
    .await
    .unwrap();
    let big = roam::codec::encode(&(FRAME,)).unwrap();
    // 16 MiB of answers requested, none read: the server's writer blocks on the socket, and
    // then the server stops reading, so this side's writes block too (in a task of their own).
    let (_read_half, mut raw) = raw.into_split();
    let flood = tokio::spawn(async move {
        for i in 0..256u64 {
            let request = Message::Request(Request {
                conn: 0,
                id: 2 * i + 1,
                method_id: EDGES_DESCRIPTOR.methods[1].id,
                metadata: roam::Metadata::new(),
                channels: vec![],
                timeout_micros: None,
                payload: big.clone().into(),
            });
            if raw.write_all(&raw_frame(&request)).await.is_err() {
                return;
            }
        }
        std::future::pending::<()>().await
    });
    // A guard against a hang, not a timing assertion: the bound is grace + linger (1.3 s).
    tokio::time::timeout(Duration::from_secs(60), server.shutdown())
        .await
        .expect("shutdown finished although the peer never read");
    flood.abort();
}
