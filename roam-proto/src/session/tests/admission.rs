//! Admission: an acceptor that holds its `Hello` until the application admits or refuses the
//! initiator, the refusal an initiator sees, and the credentials a `Hello` carries.

use std::time::Duration;

use super::util::*;
use crate::error::RefusedBy;
use crate::metadata::Metadata;
use crate::session::{Phase, Role, Session, SessionConfig, SessionError, SessionEvent};
use crate::wire::{self, Message};

fn credentials(token: &str) -> Metadata {
    let mut m = Metadata::new();
    m.insert("authorization", format!("Bearer {token}"));
    m
}

/// A pair whose server admits peers and whose client sends `metadata`, before any driving.
fn admitting(metadata: Metadata) -> Pair {
    let client = SessionConfig {
        metadata,
        ..SessionConfig::default()
    };
    let server = SessionConfig {
        admission: true,
        ..SessionConfig::default()
    };
    // The pair drives the handshake as far as it goes: to the server's verdict.
    Pair::with_configs(client, server)
}

fn admit_event(s: &mut Session) -> Option<Metadata> {
    Pair::events(s).into_iter().find_map(|e| match e {
        SessionEvent::Admit { metadata } => Some(metadata),
        _ => None,
    })
}

fn closed(s: &mut Session) -> Option<SessionError> {
    Pair::events(s).into_iter().find_map(|e| match e {
        SessionEvent::Closed(e) => Some(e),
        _ => None,
    })
}

#[test]
fn the_acceptor_holds_its_hello_until_it_admits_and_sees_the_credentials() {
    let mut p = admitting(credentials("t0k"));
    assert_eq!(admit_event(&mut p.server), Some(credentials("t0k")));
    assert!(matches!(p.server.phase(), Phase::Admitting { .. }));
    // The client has heard nothing: its calls wait.
    assert_eq!(p.client.phase(), &Phase::Handshaking);
    let now = p.now;
    p.server.admit(now);
    p.drive();
    assert_eq!(p.server.phase(), &Phase::Established);
    assert_eq!(p.client.phase(), &Phase::Established);
    assert!(Pair::events(&mut p.client).into_iter().any(|e| matches!(
        e,
        SessionEvent::Established { session_key: Some(key), .. } if key == [9; 16]
    )));
}

#[test]
fn a_refusal_replaces_the_hello_and_the_initiator_gets_the_rule_and_reason() {
    let mut p = admitting(credentials("wrong"));
    assert!(admit_event(&mut p.server).is_some());
    let now = p.now;
    p.server.refuse(now, RefusedBy::Authentication, "bad token");
    let frames = sent(&mut p.server);
    assert_eq!(
        frames,
        vec![Message::Goodbye {
            reason: "unauthenticated: bad token".into()
        }],
        "no Hello precedes the refusal"
    );
    for frame in &frames {
        p.client.handle_frame(now, &encode(frame));
    }
    assert_eq!(
        closed(&mut p.client),
        Some(SessionError::Refused {
            by: RefusedBy::Authentication,
            reason: "bad token".into()
        })
    );
}

#[test]
fn a_server_over_its_limit_refuses_before_the_peer_says_anything() {
    let now = std::time::Instant::now();
    let mut server = Session::new(
        Role::Acceptor,
        SessionConfig {
            admission: true,
            ..SessionConfig::default()
        },
        Some([1; 16]),
        now,
    );
    server.refuse(now, RefusedBy::SessionLimit, "at most 2 sessions");
    assert_eq!(
        sent(&mut server),
        vec![Message::Goodbye {
            reason: "session-limit: at most 2 sessions".into()
        }]
    );
    assert!(server.is_closed());
}

#[test]
fn every_refusal_rule_round_trips_through_its_goodbye() {
    for by in [
        RefusedBy::Authentication,
        RefusedBy::SessionLimit,
        RefusedBy::PeerSessionLimit,
        RefusedBy::HandshakeTimeout,
    ] {
        let goodbye = format!("{}: why", by.rule());
        assert_eq!(RefusedBy::parse_goodbye(&goodbye), Some((by, "why")));
    }
    assert_eq!(RefusedBy::parse_goodbye("version-mismatch: old"), None);
    assert_eq!(RefusedBy::parse_goodbye("unauthenticated"), None);
}

#[test]
fn an_admission_that_takes_too_long_is_a_handshake_timeout_refusal() {
    // The client waits longer than the server's budget, so the server's verdict reaches it.
    let mut p = Pair::with_configs(
        SessionConfig {
            handshake_timeout: Duration::from_secs(30),
            ..SessionConfig::default()
        },
        SessionConfig {
            admission: true,
            ..SessionConfig::default()
        },
    );
    assert!(admit_event(&mut p.server).is_some());
    p.advance(SessionConfig::default().handshake_timeout + Duration::from_millis(1));
    assert_eq!(
        closed(&mut p.client),
        Some(SessionError::Refused {
            by: RefusedBy::HandshakeTimeout,
            reason: "the session was not admitted within 10s".into()
        })
    );
    // Admitting after the timeout does nothing.
    let now = p.now;
    p.server.admit(now);
    assert!(p.server.is_closed());
}

#[test]
fn a_hello_whose_metadata_is_over_the_limits_is_a_violation() {
    let p = admitting(Metadata::new());
    let now = p.now;
    let mut fresh = Session::new(
        Role::Acceptor,
        SessionConfig {
            admission: true,
            ..SessionConfig::default()
        },
        Some([2; 16]),
        now,
    );
    let hello = Message::Hello(wire::Hello {
        version: wire::PROTOCOL_VERSION,
        limits: wire::Limits::default(),
        session_key: None,
        resume: None,
        replay: wire::Replay::Off,
        metadata: oversized_metadata(),
    });
    fresh.handle_frame(now, &encode(&hello));
    assert!(matches!(
        closed(&mut fresh),
        Some(SessionError::Protocol(
            crate::error::ProtocolViolation::Metadata(_)
        ))
    ));
    assert!(
        goodbye_reason(&mut fresh).is_some_and(|r| r.starts_with("metadata-limit: ")),
        "the peer is told which rule it broke"
    );
    // The pair itself is untouched.
    assert!(matches!(p.server.phase(), Phase::Admitting { .. }));
}

#[test]
fn the_initiator_carries_its_metadata_and_a_plain_acceptor_none() {
    let hello = |s: &mut Session| match sent(s).into_iter().next() {
        Some(Message::Hello(h)) => h,
        other => panic!("expected a Hello first, got {other:?}"),
    };
    let now = std::time::Instant::now();
    let mut client = Session::new(
        Role::Initiator,
        SessionConfig {
            metadata: credentials("x"),
            ..SessionConfig::default()
        },
        None,
        now,
    );
    assert_eq!(hello(&mut client).metadata, credentials("x"));
    let mut server = Session::new(Role::Acceptor, SessionConfig::default(), Some([3; 16]), now);
    assert_eq!(hello(&mut server).metadata, Metadata::new());
}

#[test]
fn older_versions_hellos_are_a_version_mismatch_naming_them_not_a_malformed_message() {
    let now = std::time::Instant::now();
    // Version 1's Hello had no metadata, version 2's no replay field.
    let v1: &[u8] = &[
        0x00, 0x01, 0x80, 0x80, 0x80, 0x04, 0x40, 0x80, 0x08, 0x00, 0x00,
    ];
    let v2: &[u8] = &[
        0x00, 0x02, 0x80, 0x80, 0x80, 0x04, 0x40, 0x80, 0x08, 0x00, 0x00, 0x00,
    ];
    for (version, frame) in [(1, v1), (2, v2)] {
        let mut server = Session::new(Role::Acceptor, SessionConfig::default(), Some([4; 16]), now);
        server.handle_frame(now, &bytes::Bytes::copy_from_slice(frame));
        let reason = goodbye_reason(&mut server).expect("a Goodbye");
        assert!(
            reason.starts_with(&format!(
                "version-mismatch: peer speaks protocol version {version}, this side speaks 3"
            )),
            "{reason}"
        );
    }
}
