//! A misbehaving peer over a raw TCP socket: every case ends that session with a `Goodbye`
//! naming the broken rule, the server keeps serving others, and no allocation follows a
//! peer's claimed length.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use roam::Metadata;
use roam::wire::{
    self, ChannelDirection, ChannelSpec, Hello, Limits, Message, PROTOCOL_VERSION, Request,
    SchemaAnnouncement, SchemaKind,
};
use roam_tests::{CalculatorClient, Transport, fixture, raw_frame};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

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

fn hello() -> Vec<u8> {
    raw_frame(&Message::Hello(Hello {
        version: PROTOCOL_VERSION,
        limits: Limits::default(),
        session_key: None,
        resume: None,
    }))
}

fn request(conn: u64, id: u64, method_id: u64, payload: Vec<u8>) -> Vec<u8> {
    raw_frame(&Message::Request(Request {
        conn,
        id,
        method_id,
        metadata: Metadata::new(),
        channels: vec![],
        timeout_micros: None,
        payload,
    }))
}

/// Reads frames until the server's `Goodbye`, then checks the server closes the socket.
async fn goodbye(sock: &mut TcpStream) -> String {
    let read = async {
        loop {
            let mut len = [0u8; 4];
            sock.read_exact(&mut len)
                .await
                .expect("server closed without Goodbye");
            let mut body = vec![0u8; u32::from_le_bytes(len) as usize];
            sock.read_exact(&mut body)
                .await
                .expect("truncated frame from server");
            if let Message::Goodbye { reason } =
                wire::decode(&body).expect("server sent a valid message")
            {
                let mut rest = Vec::new();
                let _ = sock.read_to_end(&mut rest).await;
                return reason;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("no Goodbye within 10 s")
}

/// Runs `script` on a raw socket against a fresh server, returns the Goodbye reason, and checks
/// that a well-behaved client is still served afterwards.
async fn misbehave(script: impl AsyncFnOnce(&mut TcpStream)) -> String {
    let f = fixture(Transport::Tcp).await;
    let server = f.server.as_ref().expect("tcp fixture has a server");
    let addr = server.local_url().trim_start_matches("tcp://").to_owned();
    let mut sock = TcpStream::connect(&addr).await.unwrap();
    script(&mut sock).await;
    let reason = goodbye(&mut sock).await;
    let calc = CalculatorClient::new(f.conn.clone());
    assert_eq!(
        calc.add(20, 22).await.unwrap(),
        42,
        "server still serves its other sessions"
    );
    let fresh = CalculatorClient::new(roam::connect(server.local_url()).await.unwrap());
    assert_eq!(
        fresh.add(1, 2).await.unwrap(),
        3,
        "server still accepts new sessions"
    );
    reason
}

/// Like [`misbehave`], against a `Streamer` server.
async fn misbehave_streams(script: impl AsyncFnOnce(&mut TcpStream)) -> String {
    let (_streams, conn, server) =
        roam_tests::stream_fixture(Transport::Tcp, Limits::default()).await;
    let server = server.expect("tcp fixture has a server");
    let addr = server.local_url().trim_start_matches("tcp://").to_owned();
    let mut sock = TcpStream::connect(&addr).await.unwrap();
    script(&mut sock).await;
    let reason = goodbye(&mut sock).await;
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

#[tokio::test]
async fn garbage_bytes() {
    let reason = misbehave(async |s: &mut TcpStream| {
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
    })
    .await;
    assert!(reason.starts_with("frame-too-large"), "{reason}");
}

#[tokio::test]
async fn garbage_inside_a_frame() {
    let reason = misbehave(async |s: &mut TcpStream| {
        s.write_all(&[4, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef])
            .await
            .unwrap();
    })
    .await;
    assert!(reason.starts_with("malformed-message"), "{reason}");
}

#[tokio::test]
async fn a_frame_claiming_four_gib_is_refused_without_allocating_it() {
    let reason = misbehave(async |s: &mut TcpStream| {
        s.write_all(&hello()).await.unwrap();
        s.write_all(&[0xff, 0xff, 0xff, 0xff, 1, 2, 3])
            .await
            .unwrap();
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
async fn a_truncated_frame() {
    let reason = misbehave(async |s: &mut TcpStream| {
        s.write_all(&hello()).await.unwrap();
        s.write_all(&[100, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
            .await
            .unwrap();
        s.shutdown().await.unwrap();
    })
    .await;
    assert!(
        reason.starts_with("malformed-message") && reason.contains("inside a frame"),
        "{reason}"
    );
}

#[tokio::test]
async fn a_request_on_an_unknown_connection() {
    let reason = misbehave(async |s: &mut TcpStream| {
        s.write_all(&hello()).await.unwrap();
        s.write_all(&request(7, 1, 1, vec![])).await.unwrap();
    })
    .await;
    assert!(reason.starts_with("unknown-connection"), "{reason}");
}

#[tokio::test]
async fn a_duplicate_request_id() {
    let slow = roam_tests::CALCULATOR_DESCRIPTOR
        .method_named("slow")
        .unwrap()
        .id;
    let reason = misbehave(async |s: &mut TcpStream| {
        s.write_all(&hello()).await.unwrap();
        // `slow(5000)` stays in flight while its ID is reused.
        let args = roam::codec::encode(&(5000u64,)).unwrap();
        s.write_all(&request(0, 1, slow, args.clone()))
            .await
            .unwrap();
        s.write_all(&request(0, 1, slow, args)).await.unwrap();
    })
    .await;
    assert!(reason.starts_with("duplicate-request-id"), "{reason}");
}

#[tokio::test]
async fn data_beyond_the_credit() {
    let reason = misbehave_streams(async |s: &mut TcpStream| {
        // Announce a credit of 4: the effective initial credit is min(4, server's).
        let limits = Limits {
            initial_credit: 4,
            ..Limits::default()
        };
        let hello = Message::Hello(Hello {
            version: PROTOCOL_VERSION,
            limits,
            session_key: None,
            resume: None,
        });
        s.write_all(&raw_frame(&hello)).await.unwrap();
        let stall = roam_tests::STREAMER_DESCRIPTOR
            .method_named("stall")
            .unwrap()
            .id;
        let req = Request {
            conn: 0,
            id: 1,
            method_id: stall,
            metadata: Metadata::new(),
            channels: vec![ChannelSpec {
                id: 1,
                direction: ChannelDirection::CallerToCallee,
            }],
            timeout_micros: None,
            payload: vec![],
        };
        s.write_all(&raw_frame(&Message::Request(req)))
            .await
            .unwrap();
        // `stall` reads nothing, so no credit comes back: the fifth item is one too many.
        for n in 0..5u8 {
            s.write_all(&raw_frame(&Message::Data {
                conn: 0,
                channel: 1,
                payload: vec![n],
            }))
            .await
            .unwrap();
        }
    })
    .await;
    assert!(reason.starts_with("credit-exceeded"), "{reason}");
}

#[tokio::test]
async fn data_on_an_unknown_channel() {
    let reason = misbehave(async |s: &mut TcpStream| {
        s.write_all(&hello()).await.unwrap();
        s.write_all(&raw_frame(&Message::Data {
            conn: 0,
            channel: 9,
            payload: vec![1],
        }))
        .await
        .unwrap();
    })
    .await;
    assert!(reason.starts_with("unknown-channel"), "{reason}");
}

#[tokio::test]
async fn a_channel_with_the_servers_parity() {
    let reason = misbehave_streams(async |s: &mut TcpStream| {
        s.write_all(&hello()).await.unwrap();
        let sum = roam_tests::STREAMER_DESCRIPTOR
            .method_named("sum")
            .unwrap()
            .id;
        let req = Request {
            conn: 0,
            id: 1,
            method_id: sum,
            metadata: Metadata::new(),
            channels: vec![ChannelSpec {
                id: 2,
                direction: ChannelDirection::CallerToCallee,
            }],
            timeout_micros: None,
            payload: vec![],
        };
        s.write_all(&raw_frame(&Message::Request(req)))
            .await
            .unwrap();
    })
    .await;
    assert!(reason.starts_with("wrong-parity"), "{reason}");
}

#[tokio::test]
async fn a_request_before_hello() {
    let reason = misbehave(async |s: &mut TcpStream| {
        s.write_all(&request(0, 1, 1, vec![])).await.unwrap();
    })
    .await;
    assert!(reason.starts_with("handshake"), "{reason}");
}

#[tokio::test]
async fn an_unknown_protocol_version() {
    let reason = misbehave(async |s: &mut TcpStream| {
        let hello = Message::Hello(Hello {
            version: 2,
            limits: Limits::default(),
            session_key: None,
            resume: None,
        });
        s.write_all(&raw_frame(&hello)).await.unwrap();
    })
    .await;
    assert!(reason.starts_with("version-mismatch"), "{reason}");
}

#[tokio::test]
async fn a_malformed_schema_announcement() {
    let reason = misbehave(async |s: &mut TcpStream| {
        s.write_all(&hello()).await.unwrap();
        let announcement = Message::Schema(SchemaAnnouncement {
            conn: 0,
            method_id: 1,
            kind: SchemaKind::Args,
            // Version 1, then a struct whose field count claims far more than follows.
            schema: vec![0x01, 0x07, 0x01, b'P', 0x00, 0xff, 0xff, 0xff, 0x0f],
        });
        s.write_all(&raw_frame(&announcement)).await.unwrap();
    })
    .await;
    assert!(reason.starts_with("bad-schema"), "{reason}");
}
