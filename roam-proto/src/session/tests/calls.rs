//! Calls, limits, violations and schema exchange on a `Pair` at a fixed time.

use std::time::Instant;

use super::super::*;
use super::util::*;

#[test]
fn handshake_takes_the_minimum_of_both_limits_and_shares_the_key() {
    let mut p = Pair::new(
        Limits {
            max_frame_size: 1000,
            initial_credit: 8,
            max_concurrent_requests: 50,
        },
        Limits {
            max_frame_size: 5000,
            initial_credit: 4,
            max_concurrent_requests: 10,
        },
    );
    let want = Limits {
        max_frame_size: 1000,
        initial_credit: 4,
        max_concurrent_requests: 10,
    };
    assert_eq!(
        Pair::events(&mut p.client),
        vec![SessionEvent::Established {
            limits: want,
            session_key: Some([9; 16])
        }]
    );
    assert_eq!(
        Pair::events(&mut p.server),
        vec![SessionEvent::Established {
            limits: want,
            session_key: Some([9; 16])
        }]
    );
}

#[test]
fn calls_flow_both_ways_with_parity_ids() {
    let mut p = Pair::new(Limits::default(), Limits::default());
    Pair::events(&mut p.client);
    Pair::events(&mut p.server);
    let c1 = p.client.start(p.now, ROOT, call(7)).unwrap().id;
    let s1 = p.server.start(p.now, ROOT, call(8)).unwrap().id;
    assert_eq!((c1, s1), (1, 2));
    p.drive();
    let SessionEvent::Request(req) = p.server.poll_event().unwrap() else {
        panic!()
    };
    assert_eq!((req.id, req.method_id), (1, 7));
    let SessionEvent::Request(req) = p.client.poll_event().unwrap() else {
        panic!()
    };
    assert_eq!((req.id, req.method_id), (2, 8));
    p.server
        .respond(p.now, ROOT, 1, Metadata::new(), vec![0, 42], None);
    p.client
        .respond(p.now, ROOT, 2, Metadata::new(), vec![0, 43], None);
    p.drive();
    assert!(
        matches!(p.client.poll_event(), Some(SessionEvent::Response { id: 1, ref payload, .. }) if payload[..] == [0, 42])
    );
    assert!(
        matches!(p.server.poll_event(), Some(SessionEvent::Response { id: 2, ref payload, .. }) if payload[..] == [0, 43])
    );
}

#[test]
fn calls_beyond_the_peer_limit_wait_in_the_session() {
    let small = Limits {
        max_concurrent_requests: 2,
        ..Limits::default()
    };
    let mut p = Pair::new(Limits::default(), small);
    for _ in 0..5 {
        p.client.start(p.now, ROOT, call(1)).unwrap();
    }
    p.drive();
    assert_eq!(p.client.outgoing_in_flight(), 2);
    assert_eq!(p.client.waiting_calls(), 3);
    assert_eq!(p.server.incoming_in_flight(), 2);
    p.server
        .respond(p.now, ROOT, 1, Metadata::new(), vec![0], None);
    p.drive();
    assert_eq!(p.client.outgoing_in_flight(), 2);
    assert_eq!(p.client.waiting_calls(), 2);
}

#[test]
fn request_payloads_are_handed_on_as_slices_of_their_frame() {
    let (mut s, now) = established_server(Limits::default());
    let frame = encode(&Message::Request(Request {
        conn: 0,
        id: 1,
        method_id: 5,
        metadata: Metadata::new(),
        channels: vec![],
        timeout_micros: None,
        payload: Bytes::from_static(b"args"),
    }));
    s.handle_frame(now, &frame);
    let Some(SessionEvent::Request(call)) = s.poll_event() else {
        panic!("a request event");
    };
    // No copy between the link and the handler: the payload is the frame's tail.
    assert_eq!(call.payload.as_ptr(), frame[frame.len() - 4..].as_ptr());
}

#[test]
fn a_peer_over_our_limit_gets_overloaded_answers() {
    let (mut s, now) = established_server(one_slot());
    s.handle_frame(now, &raw_request(1));
    s.handle_frame(now, &raw_request(3));
    assert_eq!(s.incoming_in_flight(), 1);
    let out: Vec<_> = std::iter::from_fn(|| s.poll_transmit()).collect();
    assert_eq!(out.len(), 1);
    match wire::decode(&out[0]).unwrap() {
        Message::Response(r) => {
            assert_eq!(r.id, 3);
            assert_eq!(r.payload, response::remote(RemoteError::Overloaded));
        }
        other => panic!("unexpected {other:?}"),
    }
    let refused: Vec<_> = std::iter::from_fn(|| s.poll_event())
        .filter(|e| matches!(e, SessionEvent::Refused { .. }))
        .collect();
    assert_eq!(
        refused,
        vec![SessionEvent::Refused {
            conn: 0,
            method_id: 5,
            error: RemoteError::Overloaded
        }],
        "the application hears of the refusal (for its metrics), once"
    );
}

#[test]
fn draining_answers_new_calls_unavailable() {
    let (mut s, now) = established_server(Limits::default());
    s.handle_frame(now, &raw_request(1));
    s.start_drain(now, "shutting down");
    s.handle_frame(now, &raw_request(3));
    assert_eq!(s.incoming_in_flight(), 1);
    let Message::Response(r) = wire::decode(&s.poll_transmit().unwrap()).unwrap() else {
        panic!()
    };
    assert_eq!(
        (r.id, r.payload),
        (3, response::remote(RemoteError::Unavailable).into())
    );
}

#[test]
fn duplicate_request_ids_end_the_session() {
    let (mut s, now) = established_server(Limits::default());
    s.handle_frame(now, &raw_request(1));
    s.handle_frame(now, &raw_request(1));
    assert!(s.is_closed());
    assert!(
        goodbye_reason(&mut s)
            .unwrap()
            .starts_with("duplicate-request-id")
    );
}

#[test]
fn wrong_parity_and_zero_ids_end_the_session() {
    for id in [0, 2] {
        let (mut s, now) = established_server(Limits::default());
        s.handle_frame(now, &raw_request(id));
        assert!(
            goodbye_reason(&mut s).unwrap().starts_with("wrong-parity"),
            "id {id}"
        );
    }
}

#[test]
fn unknown_connections_end_the_session() {
    let (mut s, now) = established_server(Limits::default());
    let frame = encode(&Message::Cancel(Cancel { conn: 9, id: 1 }));
    s.handle_frame(now, &frame);
    assert!(
        goodbye_reason(&mut s)
            .unwrap()
            .starts_with("unknown-connection")
    );
}

#[test]
fn responses_to_nothing_end_the_session() {
    let (mut s, now) = established_server(Limits::default());
    let frame = encode(&Message::Response(Response {
        conn: 0,
        id: 2,
        metadata: Metadata::new(),
        payload: vec![].into(),
    }));
    s.handle_frame(now, &frame);
    assert!(
        goodbye_reason(&mut s)
            .unwrap()
            .starts_with("unknown-response")
    );
}

#[test]
fn the_first_message_must_be_hello() {
    let now = Instant::now();
    let mut s = Session::new(Role::Acceptor, SessionConfig::default(), Some([0; 16]), now);
    s.handle_frame(now, &raw_request(1));
    assert!(goodbye_reason(&mut s).unwrap().starts_with("handshake"));
    assert!(matches!(
        s.poll_event(),
        Some(SessionEvent::Closed(SessionError::Protocol(_)))
    ));
}

#[test]
fn garbage_frames_end_the_session() {
    let (mut s, now) = established_server(Limits::default());
    s.handle_frame(now, &Bytes::from_static(&[0xde, 0xad, 0xbe, 0xef]));
    assert!(
        goodbye_reason(&mut s)
            .unwrap()
            .starts_with("malformed-message")
    );
}

#[test]
fn an_unknown_version_gets_a_goodbye_naming_it() {
    let now = Instant::now();
    let mut s = Session::new(Role::Acceptor, SessionConfig::default(), Some([0; 16]), now);
    let hello = encode(&Message::Hello(Hello {
        version: 99,
        limits: Limits::default(),
        session_key: None,
        resume: None,
        replay: crate::wire::Replay::Off,
        metadata: Default::default(),
    }));
    s.handle_frame(now, &hello);
    let reason = goodbye_reason(&mut s).unwrap();
    assert!(
        reason.starts_with("version-mismatch") && reason.contains("99"),
        "{reason}"
    );
    assert!(matches!(
        s.poll_event(),
        Some(SessionEvent::Closed(SessionError::HandshakeFailed(_)))
    ));
}

#[test]
fn cancel_stops_the_handler_and_the_late_answer_is_dropped_quietly() {
    let mut p = Pair::new(Limits::default(), Limits::default());
    Pair::events(&mut p.server);
    Pair::events(&mut p.client);
    let id = p.client.start(p.now, ROOT, call(1)).unwrap().id;
    p.drive();
    Pair::events(&mut p.server);
    p.client.cancel(ROOT, id);
    p.drive();
    // The callee's session answers `Cancelled` itself and asks for the handler to stop.
    assert_eq!(
        Pair::events(&mut p.server),
        vec![SessionEvent::StopHandler {
            conn: ROOT,
            id,
            reason: StopReason::Cancelled,
            serve: None
        }]
    );
    assert_eq!(p.server.incoming_in_flight(), 0);
    // The handler's own answer, racing the cancel, is dropped by the session.
    p.server
        .respond(p.now, ROOT, id, Metadata::new(), vec![0], None);
    assert!(p.server.poll_transmit().is_none());
    p.drive();
    // The caller gave up, so the `Cancelled` answer is not reported, and not a violation.
    assert!(Pair::events(&mut p.client).is_empty());
    assert_eq!(p.client.outgoing_in_flight(), 0);
    assert!(!p.client.is_closed() && !p.server.is_closed());
}

#[test]
fn cancelling_a_waiting_call_never_sends_it() {
    let mut p = Pair::new(Limits::default(), one_slot());
    let _first = p.client.start(p.now, ROOT, call(1)).unwrap();
    let second = p.client.start(p.now, ROOT, call(2)).unwrap().id;
    p.client.cancel(ROOT, second);
    p.drive();
    assert_eq!(p.client.waiting_calls(), 0);
    assert_eq!(p.server.incoming_in_flight(), 1);
}

#[test]
fn oversize_calls_are_refused_locally() {
    let mut p = Pair::new(
        Limits {
            max_frame_size: 64,
            ..Limits::default()
        },
        Limits::default(),
    );
    let big = OutgoingCall {
        payload: vec![0; 100].into(),
        ..call(1)
    };
    assert!(matches!(
        p.client.start(p.now, ROOT, big),
        Err(CallRejected::TooLarge { len: 100, max: 64 })
    ));
    let almost = OutgoingCall {
        payload: vec![0; 60].into(),
        ..call(1)
    };
    // The payload fits but the request does not: refused by `call` too, not by a later event.
    assert!(matches!(
        p.client.start(p.now, ROOT, almost),
        Err(CallRejected::TooLarge { max: 64, .. })
    ));
    assert!(
        !Pair::events(&mut p.client)
            .iter()
            .any(|e| matches!(e, SessionEvent::CallFailed { .. }))
    );
}

#[test]
fn goodbye_from_the_peer_ends_the_session() {
    let mut p = Pair::new(Limits::default(), Limits::default());
    Pair::events(&mut p.client);
    p.server.close(p.now, "maintenance");
    p.drive();
    assert_eq!(
        p.client.poll_event(),
        Some(SessionEvent::Closed(SessionError::ClosedByPeer {
            reason: "maintenance".into()
        }))
    );
}

fn leaked_schema(schema: roam_core::schema::Schema) -> &'static LocalSchema {
    Box::leak(Box::new(LocalSchema::new(&schema)))
}

fn schema_messages(frames: &[Bytes]) -> Vec<SchemaAnnouncement> {
    frames
        .iter()
        .filter_map(|f| match wire::decode(f) {
            Ok(Message::Schema(a)) => Some(a),
            _ => None,
        })
        .collect()
}

#[test]
fn schemas_are_announced_once_per_method_and_again_when_they_change() {
    use roam_core::schema::{PrimitiveKind, Schema};
    let mut p = Pair::new(Limits::default(), Limits::default());
    let v1 = leaked_schema(Schema::tuple(vec![Schema::Primitive(PrimitiveKind::U32)]));
    let v2 = leaked_schema(Schema::tuple(vec![Schema::Primitive(
        PrimitiveKind::String,
    )]));
    let with = |schema| OutgoingCall {
        args_schema: Some(schema),
        ..call(7)
    };
    let mut sent = Vec::new();
    for schema in [v1, v1, v2, v1] {
        p.client.start(p.now, ROOT, with(schema)).unwrap();
        sent.extend(std::iter::from_fn(|| p.client.poll_transmit()));
    }
    let announced = schema_messages(&sent);
    let hashes: Vec<u64> = announced
        .iter()
        .map(|a| roam_core::schema::hash_of_canonical_bytes(&a.schema))
        .collect();
    assert_eq!(hashes, vec![v1.hash, v2.hash, v1.hash]);
    assert!(
        announced
            .iter()
            .all(|a| a.method_id == 7 && a.kind == SchemaKind::Args)
    );
    // Each announcement comes right before the request that needs it.
    let first = wire::decode(&sent[0]).unwrap();
    assert!(matches!(first, Message::Schema(_)), "{first:?}");
    assert!(matches!(
        wire::decode(&sent[1]).unwrap(),
        Message::Request(_)
    ));
}

#[test]
fn announced_schemas_travel_with_the_requests_and_responses_that_follow() {
    use roam_core::schema::{PrimitiveKind, Schema};
    let mut p = Pair::new(Limits::default(), Limits::default());
    let args = leaked_schema(Schema::tuple(vec![Schema::Primitive(PrimitiveKind::U32)]));
    let reply = leaked_schema(Schema::result(
        Schema::Primitive(PrimitiveKind::U64),
        Schema::Primitive(PrimitiveKind::String),
    ));
    p.client
        .start(
            p.now,
            ROOT,
            OutgoingCall {
                args_schema: Some(args),
                ..call(7)
            },
        )
        .unwrap();
    p.client.start(p.now, ROOT, call(8)).unwrap();
    p.drive();
    let events = Pair::events(&mut p.server);
    let requests: Vec<&IncomingCall> = events
        .iter()
        .filter_map(|e| match e {
            SessionEvent::Request(r) => Some(r),
            _ => None,
        })
        .collect();
    assert_eq!(requests.len(), 2);
    assert_eq!(
        requests[0].args_schema.as_ref().map(|s| s.hash()),
        Some(args.hash)
    );
    assert!(
        requests[1].args_schema.is_none(),
        "method 8 announced nothing"
    );
    let (first, second) = (requests[0].id, requests[1].id);
    p.server
        .respond(p.now, ROOT, first, Metadata::new(), vec![0, 1], Some(reply));
    p.server
        .respond(p.now, ROOT, second, Metadata::new(), vec![0, 1], None);
    p.drive();
    let schemas: Vec<Option<u64>> = Pair::events(&mut p.client)
        .into_iter()
        .filter_map(|e| match e {
            SessionEvent::Response { schema, .. } => Some(schema.map(|s| s.hash())),
            _ => None,
        })
        .collect();
    assert_eq!(schemas, vec![Some(reply.hash), None]);
}

#[test]
fn invalid_schema_bytes_end_the_session_naming_the_rule() {
    let (mut s, now) = established_server(Limits::default());
    s.handle_frame(now, &args_schema_frame(1, vec![0x01, 0x7f]));
    assert!(goodbye_reason(&mut s).unwrap().starts_with("bad-schema"));
}

#[test]
fn a_peer_cannot_grow_the_schema_table_without_bound() {
    use roam_core::schema::{PrimitiveKind, Schema};
    let (mut s, now) = established_server(Limits::default());
    let canonical = Schema::Primitive(PrimitiveKind::U8).to_canonical_bytes();
    for method_id in 0..=MAX_REMOTE_SCHEMAS as u64 {
        s.handle_frame(now, &args_schema_frame(method_id, canonical.clone()));
    }
    assert!(
        goodbye_reason(&mut s)
            .unwrap()
            .starts_with("too-many-schemas")
    );
}

#[test]
fn a_type_without_a_schema_withdraws_the_one_announced_before() {
    use roam_core::schema::{PrimitiveKind, Schema};
    let mut p = Pair::new(Limits::default(), Limits::default());
    let v1 = leaked_schema(Schema::tuple(vec![Schema::Primitive(PrimitiveKind::U32)]));
    p.client
        .start(
            p.now,
            ROOT,
            OutgoingCall {
                args_schema: Some(v1),
                ..call(7)
            },
        )
        .unwrap();
    p.client.start(p.now, ROOT, call(7)).unwrap();
    p.drive();
    let schemas: Vec<Option<u64>> = Pair::events(&mut p.server)
        .into_iter()
        .filter_map(|e| match e {
            SessionEvent::Request(r) => Some(r.args_schema.map(|s| s.hash())),
            _ => None,
        })
        .collect();
    assert_eq!(schemas, vec![Some(v1.hash), None]);
}

#[test]
fn oversized_schemas_are_refused() {
    let (mut s, now) = established_server(Limits::default());
    s.handle_frame(now, &args_schema_frame(1, vec![0; MAX_SCHEMA_BYTES + 1]));
    assert!(goodbye_reason(&mut s).unwrap().starts_with("bad-schema"));
}

#[test]
fn the_peers_schemas_are_bounded_in_total_bytes() {
    use roam_core::schema::{PrimitiveKind, Schema};
    let (mut s, now) = established_server(Limits::default());
    // A tuple of ~60 KiB: legal alone, but twenty of them exceed the session's total.
    let big =
        Schema::tuple(vec![Schema::Primitive(PrimitiveKind::U8); 30_000]).to_canonical_bytes();
    assert!(big.len() <= MAX_SCHEMA_BYTES);
    for method_id in 0..(MAX_SCHEMA_TABLE_BYTES / big.len() + 1) as u64 {
        s.handle_frame(now, &args_schema_frame(method_id, big.clone()));
    }
    assert!(goodbye_reason(&mut s).unwrap().starts_with("bad-schema"));
}

#[test]
fn a_schema_the_peers_frames_cannot_carry_is_withdrawn_not_sent() {
    use roam_core::schema::{PrimitiveKind, Schema};
    let small = Limits {
        max_frame_size: 128,
        ..Limits::default()
    };
    let mut p = Pair::new(small, small);
    let fits = leaked_schema(Schema::tuple(vec![Schema::Primitive(PrimitiveKind::U8)]));
    let too_big = leaked_schema(Schema::tuple(vec![
        Schema::Primitive(PrimitiveKind::U8);
        200
    ]));
    let mut sent = Vec::new();
    for schema in [fits, too_big] {
        p.client
            .start(
                p.now,
                ROOT,
                OutgoingCall {
                    args_schema: Some(schema),
                    ..call(7)
                },
            )
            .unwrap();
        sent.extend(std::iter::from_fn(|| p.client.poll_transmit()));
    }
    let announced: Vec<usize> = schema_messages(&sent)
        .iter()
        .map(|a| a.schema.len())
        .collect();
    assert_eq!(
        announced,
        vec![fits.canonical.len(), 0],
        "sent, then withdrawn"
    );
    assert!(sent.iter().all(|f| f.len() <= 128));
}

/// A `Schema` message announcing `schema` as the arguments of `method_id`.
fn args_schema_frame(method_id: u64, schema: Vec<u8>) -> Bytes {
    encode(&Message::Schema(SchemaAnnouncement {
        conn: 0,
        method_id,
        kind: SchemaKind::Args,
        schema,
    }))
}

#[test]
fn refused_requests_cannot_pile_up_channels_without_bound() {
    // Every request is refused (Overloaded), its channels reset and left waiting for a `Close`
    // the peer never sends.
    let (mut s, now) = established_server(Limits {
        max_concurrent_requests: 0,
        ..Limits::default()
    });
    let per_request = 1000;
    let mut next = 1;
    for id in 0..(MAX_CHANNELS / per_request + 1) as u64 {
        let channels = (0..per_request)
            .map(|_| {
                next += 2;
                ChannelSpec {
                    id: next,
                    direction: ChannelDirection::CallerToCallee,
                }
            })
            .collect();
        s.handle_frame(
            now,
            &encode(&Message::Request(Request {
                conn: 0,
                id: 2 * id + 1,
                method_id: 5,
                metadata: Metadata::new(),
                channels,
                timeout_micros: None,
                payload: vec![].into(),
            })),
        );
        assert!(s.open_channels() <= MAX_CHANNELS);
    }
    assert!(
        goodbye_reason(&mut s)
            .unwrap()
            .starts_with("too-many-channels")
    );
}

#[test]
fn a_receiver_given_up_before_its_request_is_sent_resets_right_after_it() {
    let mut p = Pair::new(Limits::default(), one_slot());
    let first = p.client.start(p.now, ROOT, call(1)).unwrap().id;
    let waiting = p
        .client
        .start(
            p.now,
            ROOT,
            OutgoingCall {
                channels: vec![Direction::Incoming],
                ..call(2)
            },
        )
        .unwrap();
    p.drive();
    // Our receiver goes away while the call waits for the server's one slot.
    p.client.reset_channel(ROOT, waiting.channels[0]);
    p.server
        .respond(p.now, ROOT, first, Metadata::new(), vec![0], None);
    p.drive();
    // The server's sender on that channel hears the Reset as soon as the request arrives,
    // rather than waiting for credit nobody would grant.
    assert!(Pair::events(&mut p.server).iter().any(|e| matches!(
        e,
        SessionEvent::ChannelReset { channel, .. } if *channel == waiting.channels[0]
    )));
}
