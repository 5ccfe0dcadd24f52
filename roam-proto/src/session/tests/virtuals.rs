//! Virtual connections: opening, accepting, rejecting and closing from either side, their own
//! tables and limits, the rules about which connection a message may name, and surviving a
//! resume, on the virtual-clock pair.

use bytes::Bytes;

use super::super::*;
use super::util::*;
use crate::wire::{MAX_REASON, OpenConnection};

/// The client opens a connection and the server accepts it with `limit`; returns its ID.
fn opened(p: &mut Pair, limit: u32) -> ConnId {
    let conn = p
        .client
        .open_connection(Metadata::new(), 1024)
        .expect("the session is established");
    p.drive();
    let requested = Pair::events(&mut p.server)
        .into_iter()
        .find_map(|e| match e {
            SessionEvent::ConnectionRequested { conn, .. } => Some(conn),
            _ => None,
        })
        .expect("the server hears the Open");
    assert_eq!(requested, conn);
    assert!(p.server.accept_connection(conn, Metadata::new(), limit));
    p.drive();
    assert!(
        Pair::events(&mut p.client)
            .iter()
            .any(|e| matches!(e, SessionEvent::ConnectionAccepted { conn: c, .. } if *c == conn))
    );
    conn
}

/// The requests the server got, as (conn, id, method).
fn requests(p: &mut Pair) -> Vec<(ConnId, u64, u64)> {
    Pair::events(&mut p.server)
        .into_iter()
        .filter_map(|e| match e {
            SessionEvent::Request(c) => Some((c.conn, c.id, c.method_id)),
            _ => None,
        })
        .collect()
}

/// The responses the client got, as (conn, id, payload).
fn responses(p: &mut Pair) -> Vec<(ConnId, u64, Bytes)> {
    Pair::events(&mut p.client)
        .into_iter()
        .filter_map(|e| match e {
            SessionEvent::Response {
                conn, id, payload, ..
            } => Some((conn, id, payload)),
            _ => None,
        })
        .collect()
}

fn answer(p: &mut Pair, conn: ConnId, id: u64, payload: &'static [u8]) {
    p.server.respond(
        p.now,
        conn,
        id,
        Metadata::new(),
        Bytes::from_static(payload),
        None,
    );
    p.drive();
}

#[test]
fn two_connections_carry_their_own_calls_next_to_the_root() {
    let mut p = Pair::new(Limits::default(), Limits::default());
    Pair::events(&mut p.client);
    let a = opened(&mut p, 8);
    let b = opened(&mut p, 8);
    assert_eq!((a, b), (1, 3), "the initiator's IDs are odd and increasing");
    // The same request ID on three connections: each has its own ID space.
    for conn in [ROOT, a, b] {
        p.client
            .call(p.now, conn, 1, call(conn + 10), ())
            .expect("accepted");
    }
    p.drive();
    let mut got = requests(&mut p);
    got.sort();
    assert_eq!(got, vec![(ROOT, 1, 10), (a, 1, 11), (b, 1, 13)]);
    answer(&mut p, b, 1, b"b");
    answer(&mut p, a, 1, b"a");
    answer(&mut p, ROOT, 1, b"root");
    let got = responses(&mut p);
    assert_eq!(
        got,
        vec![
            (b, 1, Bytes::from_static(b"b")),
            (a, 1, Bytes::from_static(b"a")),
            (ROOT, 1, Bytes::from_static(b"root")),
        ]
    );
    assert_eq!(p.client.virtual_connections(), 2);
    assert_eq!(p.server.virtual_connections(), 2);
}

#[test]
fn the_acceptor_opens_with_even_ids_and_the_initiator_may_serve_them() {
    let mut p = Pair::new(Limits::default(), Limits::default());
    Pair::events(&mut p.client);
    let conn = p.server.open_connection(Metadata::new(), 4).expect("open");
    assert_eq!(conn, 2);
    p.drive();
    assert!(matches!(
        Pair::events(&mut p.client)[..],
        [SessionEvent::ConnectionRequested { conn: 2, .. }]
    ));
    assert!(p.client.accept_connection(2, Metadata::new(), 4));
    p.drive();
    let id = p.server.next_request_id();
    p.server.call(p.now, 2, id, call(7), ()).expect("accepted");
    p.drive();
    assert!(Pair::events(&mut p.client).iter().any(|e| matches!(
        e,
        SessionEvent::Request(c) if c.conn == 2 && c.method_id == 7
    )));
}

#[test]
fn a_rejection_reaches_the_opener_with_the_reason_and_fails_the_waiting_calls() {
    let mut p = Pair::new(Limits::default(), Limits::default());
    Pair::events(&mut p.client);
    let mut metadata = Metadata::new();
    metadata.insert("service", "billing");
    let conn = p.client.open_connection(metadata, 16).expect("open");
    // Made before the answer: it waits for the `Accept`.
    p.client
        .call(p.now, conn, 1, call(1), ())
        .expect("accepted");
    p.drive();
    let asked = Pair::events(&mut p.server)
        .into_iter()
        .find_map(|e| match e {
            SessionEvent::ConnectionRequested { metadata, .. } => Some(metadata),
            _ => None,
        })
        .expect("requested");
    assert_eq!(asked.get_str("service"), Some("billing"));
    assert!(p.server.reject_connection(conn, "no billing here"));
    p.drive();
    let events = Pair::events(&mut p.client);
    assert!(
        matches!(
            &events[..],
            [SessionEvent::ConnectionRejected { conn: 1, reason, calls, .. }]
                if reason == "no billing here" && calls.len() == 1
        ),
        "{events:?}"
    );
    assert_eq!(p.server.virtual_connections(), 0);
    assert_eq!(p.client.virtual_connections(), 0);
    // The ID is never used again, and the root is unaffected.
    assert_eq!(p.client.open_connection(Metadata::new(), 1), Ok(3));
    assert!(!p.client.is_closed() && !p.server.is_closed());
}

#[test]
fn closing_one_connection_fails_only_its_calls_and_stops_only_its_handlers() {
    let mut p = Pair::new(Limits::default(), Limits::default());
    Pair::events(&mut p.client);
    let a = opened(&mut p, 8);
    let b = opened(&mut p, 8);
    for conn in [ROOT, a, b] {
        p.client
            .call(p.now, conn, 1, call(1), ())
            .expect("accepted");
    }
    p.drive();
    for (conn, id, _) in requests(&mut p) {
        p.server.serving(conn, id, ()).expect("serving");
    }
    let released = p.client.close_connection(a, "done with a").expect("open");
    assert_eq!(released.calls.len(), 1);
    p.drive();
    let events = Pair::events(&mut p.server);
    assert!(
        matches!(
            &events[..],
            [SessionEvent::ConnectionClosed { conn, reason, serving, .. }]
                if *conn == a && reason == "done with a" && serving.len() == 1
        ),
        "{events:?}"
    );
    // The server's late answer on `a` crossed the close: dropped, not a violation.
    answer(&mut p, a, 1, b"late");
    answer(&mut p, b, 1, b"b");
    answer(&mut p, ROOT, 1, b"r");
    let got: Vec<ConnId> = responses(&mut p).into_iter().map(|r| r.0).collect();
    assert_eq!(got, vec![b, ROOT]);
    assert!(!p.client.is_closed() && !p.server.is_closed());
    assert_eq!(
        p.client.incoming_in_flight() + p.client.outgoing_in_flight(),
        0
    );
    assert_eq!(p.server.incoming_in_flight(), 0);
    // A close crossing the peer's is dropped too.
    let closing = p.server.close_connection(b, "bye").expect("open");
    assert!(closing.calls.is_empty());
    p.client.close_connection(b, "bye too");
    p.drive();
    assert!(!p.client.is_closed() && !p.server.is_closed());
    assert_eq!(p.client.virtual_connections(), 0);
}

#[test]
fn each_connection_has_its_own_concurrency_limit() {
    let mut p = Pair::new(Limits::default(), Limits::default());
    Pair::events(&mut p.client);
    let conn = opened(&mut p, 1);
    for id in [1, 3, 5] {
        p.client
            .call(p.now, conn, id, call(1), ())
            .expect("accepted");
    }
    p.drive();
    assert_eq!(
        requests(&mut p).len(),
        1,
        "the acceptor serves one at a time here"
    );
    assert_eq!(p.client.waiting_calls(), 2);
    answer(&mut p, conn, 1, b"1");
    assert_eq!(
        requests(&mut p).len(),
        1,
        "the next one goes when a slot frees"
    );
    // A peer that ignores the limit is answered `Overloaded`, as on the root.
    let (mut s, now) = established_server(Limits::default());
    s.handle_frame(
        now,
        &encode(&Message::Open(OpenConnection {
            conn: 1,
            metadata: Metadata::new(),
            max_concurrent_requests: 8,
        })),
    );
    assert!(s.accept_connection(1, Metadata::new(), 1));
    for id in [1, 3] {
        s.handle_frame(
            now,
            &encode(&Message::Request(Request {
                conn: 1,
                id,
                method_id: 5,
                metadata: Metadata::new(),
                channels: vec![],
                timeout_micros: None,
                payload: Bytes::new(),
            })),
        );
    }
    let overloaded = sent(&mut s).into_iter().any(|m| {
        matches!(m, Message::Response(r) if r.conn == 1 && r.id == 3
            && r.payload[..] == crate::response::remote(RemoteError::Overloaded)[..])
    });
    assert!(overloaded);
    assert!(!s.is_closed());
}

/// A scripted client's frames to a fresh server; returns the `Goodbye` reason, if any.
fn violation_of(frames: &[Message]) -> Option<String> {
    let (mut s, now) = established_server(Limits::default());
    for frame in frames {
        s.handle_frame(now, &encode(frame));
        let _ = std::iter::from_fn(|| s.poll_event()).count();
    }
    goodbye_reason(&mut s)
}

fn open(conn: ConnId) -> Message {
    Message::Open(OpenConnection {
        conn,
        metadata: Metadata::new(),
        max_concurrent_requests: 8,
    })
}

fn request_on(conn: ConnId) -> Message {
    Message::Request(Request {
        conn,
        id: 1,
        method_id: 5,
        metadata: Metadata::new(),
        channels: vec![],
        timeout_micros: None,
        payload: Bytes::new(),
    })
}

#[test]
fn connection_ids_and_states_the_peer_may_not_use_are_violations() {
    let unknown =
        |reason: Option<String>| reason.is_some_and(|r| r.starts_with("unknown-connection"));
    // An Open for the root, of the receiver's parity, or not above the opener's last.
    assert!(unknown(violation_of(&[open(0)])));
    assert!(unknown(violation_of(&[open(2)])));
    assert!(unknown(violation_of(&[open(3), open(1)])));
    assert!(unknown(violation_of(&[open(3), open(3)])));
    // A call on a connection never opened, or not accepted yet.
    assert!(unknown(violation_of(&[request_on(5)])));
    assert!(unknown(violation_of(&[open(1), request_on(1)])));
    // An Accept or Reject for a connection the receiver did not open.
    assert!(unknown(violation_of(&[
        open(1),
        Message::Accept(OpenConnection {
            conn: 1,
            metadata: Metadata::new(),
            max_concurrent_requests: 1,
        }),
    ])));
    assert!(unknown(violation_of(&[Message::Reject {
        conn: 2,
        reason: String::new(),
    }])));
    // Closing the root, or a connection never opened.
    assert!(unknown(violation_of(&[Message::CloseConnection {
        conn: 0,
        reason: String::new(),
    }])));
    assert!(unknown(violation_of(&[Message::CloseConnection {
        conn: 7,
        reason: String::new(),
    }])));
    // Opens over the metadata limits.
    let reason = violation_of(&[Message::Open(OpenConnection {
        conn: 1,
        metadata: oversized_metadata(),
        max_concurrent_requests: 1,
    })]);
    assert!(reason.is_some_and(|r| r.starts_with("metadata-limit")));
}

#[test]
fn a_peer_opening_more_than_the_bound_is_ended_and_a_closed_one_frees_its_place() {
    let max = 1024u64;
    let opens: Vec<Message> = (0..max).map(|i| open(2 * i + 1)).collect();
    assert_eq!(violation_of(&opens), None, "1,024 are allowed");
    let mut more = opens.clone();
    more.push(open(2 * max + 1));
    assert!(violation_of(&more).is_some_and(|r| r.starts_with("too-many-connections")));
    // One closed by its opener leaves room for the next.
    let mut freed = opens;
    freed.push(Message::CloseConnection {
        conn: 1,
        reason: String::new(),
    });
    freed.push(open(2 * max + 1));
    assert_eq!(violation_of(&freed), None);
    // And this side refuses to open past the bound itself.
    let mut p = Pair::new(Limits::default(), Limits::default());
    for _ in 0..max {
        p.client.open_connection(Metadata::new(), 1).expect("open");
    }
    assert_eq!(
        p.client.open_connection(Metadata::new(), 1),
        Err(OpenError::TooMany(1024))
    );
}

#[test]
fn messages_on_a_connection_closed_meanwhile_are_dropped() {
    let (mut s, now) = established_server(Limits::default());
    s.handle_frame(now, &encode(&open(1)));
    assert!(s.accept_connection(1, Metadata::new(), 8));
    assert!(s.close_connection(1, "bye").is_some());
    let _ = sent(&mut s);
    // Sent by the peer before it saw the close.
    for msg in [
        request_on(1),
        Message::Credit {
            conn: 1,
            channel: 1,
            n: 1,
        },
        Message::CloseConnection {
            conn: 1,
            reason: String::new(),
        },
    ] {
        s.handle_frame(now, &encode(&msg));
    }
    assert_eq!(sent(&mut s), vec![]);
    assert!(!s.is_closed());
    assert!(std::iter::from_fn(|| s.poll_event()).all(|e| !matches!(e, SessionEvent::Request(_))));
}

#[test]
fn a_long_reason_is_cut_on_a_character_boundary() {
    let mut p = Pair::new(Limits::default(), Limits::default());
    let conn = p.client.open_connection(Metadata::new(), 1).expect("open");
    p.drive();
    Pair::events(&mut p.server);
    let reason = "é".repeat(600);
    assert!(p.server.reject_connection(conn, &reason));
    p.drive();
    let got = Pair::events(&mut p.client)
        .into_iter()
        .find_map(|e| match e {
            SessionEvent::ConnectionRejected { reason, .. } => Some(reason),
            _ => None,
        })
        .expect("rejected");
    assert_eq!(got.len(), MAX_REASON);
    assert!(reason.starts_with(&got));
}

#[test]
fn connections_survive_a_resume_with_their_calls() {
    let config = SessionConfig {
        resumption: Some(Resumption::default()),
        keepalive: None,
        ..SessionConfig::default()
    };
    let mut p: Pair = Pair::resumable(config.clone(), config);
    Pair::events(&mut p.client);
    Pair::events(&mut p.server);
    let before = opened(&mut p, 8);
    // Opened while the link is cut: the `Open` is replayed by the resume.
    p.disconnect();
    let during = p.client.open_connection(Metadata::new(), 8).expect("open");
    p.client
        .call(p.now, before, 1, call(1), ())
        .expect("accepted");
    let (_, outcome) = p.resume([4; 16]);
    assert_eq!(outcome, Ok(()));
    let events = Pair::events(&mut p.server);
    assert!(
        events.iter().any(
            |e| matches!(e, SessionEvent::ConnectionRequested { conn, .. } if *conn == during)
        )
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, SessionEvent::Request(c) if c.conn == before))
    );
    assert!(p.server.accept_connection(during, Metadata::new(), 8));
    answer(&mut p, before, 1, b"ok");
    p.client
        .call(p.now, during, 1, call(2), ())
        .expect("accepted");
    p.drive();
    assert!(requests(&mut p).contains(&(during, 1, 2)));
    assert!(
        responses(&mut p)
            .iter()
            .any(|(c, id, payload)| *c == before && *id == 1 && &payload[..] == b"ok")
    );
}
