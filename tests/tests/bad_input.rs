//! A misbehaving peer over every transport: every case ends that session with a `Goodbye`
//! naming the broken rule, the server keeps serving others, and no allocation follows a
//! peer's claimed length. Protocol-level cases run over all four transports with a raw frame
//! link; byte-level cases (garbage, impossible lengths, a cut-off frame) over the byte-stream
//! transports; WebSocket-level cases (text messages, oversize messages) over WebSocket.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::{SinkExt, StreamExt};
use roam::Metadata;
use roam::wire::{
    ChannelDirection, ChannelSpec, Hello, Limits, Message, PROTOCOL_VERSION, Request,
    SchemaAnnouncement, SchemaKind,
};
use roam_tests::{CalculatorClient, RawClient, Transport, fixture, raw_frame};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::protocol::Role;

/// Records the largest single allocation this test binary makes.
struct Watermark;
static LARGEST: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only records sizes.
unsafe impl GlobalAlloc for Watermark {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Watermark = Watermark;

fn hello() -> Message {
    Message::Hello(Hello {
        version: PROTOCOL_VERSION,
        limits: Limits::default(),
        session_key: None,
        resume: None,
        replay: roam::wire::Replay::Off,
        metadata: Default::default(),
    })
}

fn request(conn: u64, id: u64, method_id: u64, payload: Vec<u8>) -> Message {
    Message::Request(Request {
        conn,
        id,
        method_id,
        metadata: Metadata::new(),
        channels: vec![],
        timeout_micros: None,
        payload: payload.into(),
    })
}

/// Checks that the server behind `f` still serves its other session and new ones.
async fn still_serving(conn: &roam::Connection, url: &str) {
    let calc = CalculatorClient::new(conn.clone());
    assert_eq!(
        calc.add(20, 22).await.unwrap(),
        42,
        "server still serves its other sessions"
    );
    let fresh = CalculatorClient::new(roam_tests::connect(url).await.unwrap());
    assert_eq!(
        fresh.add(1, 2).await.unwrap(),
        3,
        "server still accepts new sessions"
    );
}

/// Runs `script` on a raw frame link over `transport` against a fresh server, returns the
/// Goodbye reason, and checks that the server still serves others afterwards.
async fn misbehave(transport: Transport, script: impl AsyncFnOnce(&mut RawClient)) -> String {
    let f = fixture(transport).await;
    let mut raw = RawClient::connect(f.server.local_url()).await;
    script(&mut raw).await;
    let reason = raw.goodbye().await;
    still_serving(&f.conn, f.server.local_url()).await;
    reason
}

/// Like [`misbehave`], against a `Streamer` server.
async fn misbehave_streams(
    transport: Transport,
    script: impl AsyncFnOnce(&mut RawClient),
) -> String {
    let (_streams, conn, server) = roam_tests::stream_fixture(transport, Limits::default()).await;
    let mut raw = RawClient::connect(server.local_url()).await;
    script(&mut raw).await;
    let reason = raw.goodbye().await;
    let (tx, rx) = roam::channel::<u64>();
    let client = roam_tests::StreamerClient::new(conn);
    let sum = tokio::spawn(async move { client.sum(rx).await });
    tx.send(5).await.unwrap();
    tx.close();
    assert_eq!(
        sum.await.unwrap().unwrap(),
        5,
        "server still serves its other sessions"
    );
    reason
}

/// A byte stream of either socket kind.
trait ByteStream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> ByteStream for T {}

/// Runs `script` on a raw socket of each byte-stream transport (TCP, Unix) against a fresh
/// server, and returns the Goodbye reasons.
async fn misbehave_bytes(script: impl AsyncFn(&mut Box<dyn ByteStream>)) -> Vec<String> {
    let mut reasons = Vec::new();
    let transports: &[Transport] = if cfg!(unix) {
        &[Transport::Tcp, Transport::Unix]
    } else {
        &[Transport::Tcp]
    };
    for &transport in transports {
        let f = fixture(transport).await;
        let url = f.server.local_url().to_owned();
        let mut sock: Box<dyn ByteStream> = match transport {
            Transport::Tcp => Box::new(
                tokio::net::TcpStream::connect(url.trim_start_matches("tcp://"))
                    .await
                    .unwrap(),
            ),
            #[cfg(unix)]
            _ => Box::new(
                tokio::net::UnixStream::connect(url.trim_start_matches("unix://"))
                    .await
                    .unwrap(),
            ),
            #[cfg(not(unix))]
            _ => unreachable!(),
        };
        script(&mut sock).await;
        let (r, w) = tokio::io::split(sock);
        let max = roam::framing::MaxFrame::new(u32::MAX);
        let link = roam::transport::byte_stream_link(r, w, url.clone(), &max);
        reasons.push(RawClient::from_link(link).goodbye().await);
        still_serving(&f.conn, &url).await;
    }
    reasons
}

/// Runs `script` on a raw WebSocket against a fresh server; returns the Goodbye reason (sent
/// as a binary message) and checks the server still serves others.
async fn misbehave_ws(
    script: impl AsyncFnOnce(
        tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
    ) -> tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
) -> String {
    let f = fixture(Transport::WebSocket).await;
    let url = f.server.local_url().to_owned();
    let hostport = url
        .trim_start_matches("ws://")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let tcp = tokio::net::TcpStream::connect(&hostport).await.unwrap();
    let (ws, _) = tokio_tungstenite::client_async(url.as_str(), tcp)
        .await
        .expect("upgrade");
    let mut ws = script(ws).await;
    let read = async {
        while let Some(Ok(msg)) = ws.next().await {
            if let WsMessage::Binary(body) = msg
                && let Ok(Message::Goodbye { reason }) = roam::wire::decode(&body)
            {
                return reason;
            }
        }
        panic!("the server closed without Goodbye");
    };
    let reason = tokio::time::timeout(std::time::Duration::from_secs(10), read)
        .await
        .expect("no Goodbye within 10 s");
    still_serving(&f.conn, &url).await;
    reason
}

// ----- byte streams (TCP, Unix) -----

#[tokio::test]
async fn garbage_bytes() {
    for reason in misbehave_bytes(async |s: &mut Box<dyn ByteStream>| {
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
    })
    .await
    {
        assert!(reason.starts_with("frame-too-large"), "{reason}");
    }
}

#[tokio::test]
async fn a_frame_claiming_four_gib_is_refused_without_allocating_it() {
    for reason in misbehave_bytes(async |s: &mut Box<dyn ByteStream>| {
        s.write_all(&raw_frame(&hello())).await.unwrap();
        s.write_all(&[0xff, 0xff, 0xff, 0xff, 1, 2, 3])
            .await
            .unwrap();
    })
    .await
    {
        assert!(reason.starts_with("frame-too-large"), "{reason}");
    }
    let largest = LARGEST.load(Ordering::Relaxed);
    assert!(
        largest < 64 * 1024 * 1024,
        "largest single allocation was {largest} bytes"
    );
}

#[tokio::test]
async fn a_truncated_frame() {
    for reason in misbehave_bytes(async |s: &mut Box<dyn ByteStream>| {
        s.write_all(&raw_frame(&hello())).await.unwrap();
        s.write_all(&[100, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
            .await
            .unwrap();
        s.shutdown().await.unwrap();
    })
    .await
    {
        assert!(
            reason.starts_with("malformed-message") && reason.contains("inside a frame"),
            "{reason}"
        );
    }
}

// ----- WebSocket -----

#[tokio::test]
async fn a_websocket_text_message() {
    let reason = misbehave_ws(async |mut ws| {
        let hello = roam::wire::encode(&hello()).unwrap();
        ws.send(WsMessage::Binary(hello.into())).await.unwrap();
        ws.send(WsMessage::text("{\"method\": \"add\"}"))
            .await
            .unwrap();
        ws
    })
    .await;
    assert!(
        reason.starts_with("malformed-message") && reason.contains("text WebSocket message"),
        "{reason}"
    );
}

#[tokio::test]
async fn an_oversize_websocket_message_is_refused_from_its_header() {
    let reason = misbehave_ws(async |ws| {
        let mut tcp = ws.into_inner();
        // A masked binary frame claiming 4 GiB of payload, and four bytes of it.
        let mut frame = vec![0x82, 0x80 | 127];
        frame.extend_from_slice(&(4u64 << 30).to_be_bytes());
        frame.extend_from_slice(&[1, 2, 3, 4, 9, 9, 9, 9]);
        tcp.write_all(&frame).await.unwrap();
        tokio_tungstenite::WebSocketStream::from_raw_socket(tcp, Role::Client, None).await
    })
    .await;
    assert!(reason.starts_with("frame-too-large"), "{reason}");
    let largest = LARGEST.load(Ordering::Relaxed);
    assert!(
        largest < 64 * 1024 * 1024,
        "largest single allocation was {largest} bytes"
    );
}

#[tokio::test]
async fn a_websocket_message_over_the_negotiated_frame_size() {
    let reason = misbehave_ws(async |mut ws| {
        let hello = roam::wire::encode(&hello()).unwrap();
        ws.send(WsMessage::Binary(hello.into())).await.unwrap();
        let over = Limits::default().max_frame_size as usize + 1;
        // The server may refuse the message before all of it is written.
        let _ = ws.send(WsMessage::Binary(vec![0u8; over].into())).await;
        ws
    })
    .await;
    assert!(reason.starts_with("frame-too-large"), "{reason}");
}

// ----- every transport -----

async fn garbage_inside_a_frame(transport: Transport) {
    let reason = misbehave(transport, async |s: &mut RawClient| {
        s.send_body(vec![0xde, 0xad, 0xbe, 0xef]).await;
    })
    .await;
    assert!(reason.starts_with("malformed-message"), "{reason}");
}

async fn a_request_on_an_unknown_connection(transport: Transport) {
    let reason = misbehave(transport, async |s: &mut RawClient| {
        s.send(&hello()).await;
        s.send(&request(7, 1, 1, vec![])).await;
    })
    .await;
    assert!(reason.starts_with("unknown-connection"), "{reason}");
}

async fn a_duplicate_request_id(transport: Transport) {
    let slow = roam_tests::CALCULATOR_DESCRIPTOR
        .method_named("slow")
        .unwrap()
        .id;
    let reason = misbehave(transport, async |s: &mut RawClient| {
        s.send(&hello()).await;
        // `slow(5000)` stays in flight while its ID is reused.
        let args = roam::codec::encode(&(5000u64,)).unwrap();
        s.send(&request(0, 1, slow, args.clone())).await;
        s.send(&request(0, 1, slow, args)).await;
    })
    .await;
    assert!(reason.starts_with("duplicate-request-id"), "{reason}");
}

async fn data_beyond_the_credit(transport: Transport) {
    let reason = misbehave_streams(transport, async |s: &mut RawClient| {
        // Announce a credit of 4: the effective initial credit is min(4, server's).
        let limits = Limits {
            initial_credit: 4,
            ..Limits::default()
        };
        s.send(&Message::Hello(Hello {
            version: PROTOCOL_VERSION,
            limits,
            session_key: None,
            resume: None,
            replay: roam::wire::Replay::Off,
            metadata: Default::default(),
        }))
        .await;
        let stall = roam_tests::STREAMER_DESCRIPTOR
            .method_named("stall")
            .unwrap()
            .id;
        s.send(&Message::Request(Request {
            conn: 0,
            id: 1,
            method_id: stall,
            metadata: Metadata::new(),
            channels: vec![ChannelSpec {
                id: 1,
                direction: ChannelDirection::CallerToCallee,
            }],
            timeout_micros: None,
            payload: vec![].into(),
        }))
        .await;
        // `stall` reads nothing, so no credit comes back: the fifth item is one too many.
        for n in 0..5u8 {
            s.send(&Message::Data {
                conn: 0,
                channel: 1,
                payload: vec![n].into(),
            })
            .await;
        }
    })
    .await;
    assert!(reason.starts_with("credit-exceeded"), "{reason}");
}

async fn data_on_an_unknown_channel(transport: Transport) {
    let reason = misbehave(transport, async |s: &mut RawClient| {
        s.send(&hello()).await;
        s.send(&Message::Data {
            conn: 0,
            channel: 9,
            payload: vec![1].into(),
        })
        .await;
    })
    .await;
    assert!(reason.starts_with("unknown-channel"), "{reason}");
}

async fn a_channel_with_the_servers_parity(transport: Transport) {
    let reason = misbehave_streams(transport, async |s: &mut RawClient| {
        s.send(&hello()).await;
        let sum = roam_tests::STREAMER_DESCRIPTOR
            .method_named("sum")
            .unwrap()
            .id;
        s.send(&Message::Request(Request {
            conn: 0,
            id: 1,
            method_id: sum,
            metadata: Metadata::new(),
            channels: vec![ChannelSpec {
                id: 2,
                direction: ChannelDirection::CallerToCallee,
            }],
            timeout_micros: None,
            payload: vec![].into(),
        }))
        .await;
    })
    .await;
    assert!(reason.starts_with("wrong-parity"), "{reason}");
}

async fn a_request_before_hello(transport: Transport) {
    let reason = misbehave(transport, async |s: &mut RawClient| {
        s.send(&request(0, 1, 1, vec![])).await;
    })
    .await;
    assert!(reason.starts_with("handshake"), "{reason}");
}

async fn an_unknown_protocol_version(transport: Transport) {
    let reason = misbehave(transport, async |s: &mut RawClient| {
        s.send(&Message::Hello(Hello {
            version: roam::wire::PROTOCOL_VERSION + 1,
            limits: Limits::default(),
            session_key: None,
            resume: None,
            replay: roam::wire::Replay::Off,
            metadata: Default::default(),
        }))
        .await;
    })
    .await;
    assert!(reason.starts_with("version-mismatch"), "{reason}");
}

async fn a_malformed_schema_announcement(transport: Transport) {
    let reason = misbehave(transport, async |s: &mut RawClient| {
        s.send(&hello()).await;
        s.send(&Message::Schema(SchemaAnnouncement {
            conn: 0,
            method_id: 1,
            kind: SchemaKind::Args,
            // Version 1, then a struct whose field count claims far more than follows.
            schema: vec![0x01, 0x07, 0x01, b'P', 0x00, 0xff, 0xff, 0xff, 0x0f],
        }))
        .await;
    })
    .await;
    assert!(reason.starts_with("bad-schema"), "{reason}");
}

roam_tests::per_transport!(
    garbage_inside_a_frame,
    a_request_on_an_unknown_connection,
    a_duplicate_request_id,
    data_beyond_the_credit,
    data_on_an_unknown_channel,
    a_channel_with_the_servers_parity,
    a_request_before_hello,
    an_unknown_protocol_version,
    a_malformed_schema_announcement,
);
