//! Resumption: numbering, acknowledgements, the replay buffer and its bound, detaching, the
//! resume handshake and its ownership rule, and the grace period, on the virtual-clock pair.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;

use super::super::*;
use super::util::*;

fn resumable(resumption: Resumption) -> SessionConfig {
    SessionConfig {
        resumption: Some(resumption),
        // Pings would only add frames to read past; the keepalive test turns them on.
        keepalive: None,
        ..SessionConfig::default()
    }
}

fn pair() -> Pair {
    let config = resumable(Resumption::default());
    let mut p: Pair = Pair::resumable(config.clone(), config);
    Pair::events(&mut p.client);
    Pair::events(&mut p.server);
    p
}

/// splitmix64: the seeded randomness of the fault schedule.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn closed_with(s: &mut Session) -> Option<SessionError> {
    std::iter::from_fn(|| s.poll_event()).find_map(|e| match e {
        SessionEvent::Closed(error) => Some(error),
        _ => None,
    })
}

/// One unary round trip on an attached pair; returns the answer.
fn round_trip(p: &mut Pair, payload: &'static [u8]) -> Bytes {
    Pair::events(&mut p.client);
    let id = p
        .client
        .start(
            p.now,
            ROOT,
            OutgoingCall {
                payload: Bytes::from_static(payload),
                ..call(1)
            },
        )
        .expect("the call is accepted")
        .id;
    p.drive();
    let served = Pair::events(&mut p.server)
        .into_iter()
        .find_map(|e| match e {
            SessionEvent::Request(c) if c.id == id => Some(c),
            _ => None,
        })
        .expect("the server got the call");
    p.server.respond(
        p.now,
        ROOT,
        served.id,
        Metadata::new(),
        served.payload,
        None,
    );
    p.drive();
    Pair::events(&mut p.client)
        .into_iter()
        .find_map(|e| match e {
            SessionEvent::Response {
                id: got, payload, ..
            } if got == id => Some(payload),
            _ => None,
        })
        .expect("the answer arrived")
}

#[test]
fn replay_is_used_only_when_the_initiator_offers_and_the_acceptor_grants() {
    let on = resumable(Resumption::default());
    let off = SessionConfig::default();
    let p: Pair = Pair::resumable(on.clone(), on.clone());
    assert!(p.client.is_resumable() && p.server.is_resumable());
    for (client, server, secret) in [
        (on.clone(), off.clone(), true),
        (off.clone(), on.clone(), true),
        (on.clone(), on.clone(), false),
    ] {
        let p = if secret {
            Pair::<()>::resumable(client, server)
        } else {
            Pair::with_configs(client, server)
        };
        assert!(!p.client.is_resumable() && !p.server.is_resumable());
        assert_eq!(p.server.phase(), &Phase::Established);
        assert_eq!(p.client.phase(), &Phase::Established);
    }
}

#[test]
fn acks_empty_the_replay_buffer_within_the_ack_delay() {
    let mut p = pair();
    let sent = p.client.sent_seq();
    round_trip(&mut p, b"x");
    assert_eq!(p.client.sent_seq(), sent + 1);
    // The server's ack of the request waits for more to coalesce with, at most the delay.
    p.advance(Resumption::default().ack_delay);
    assert_eq!(p.client.replay_buffered(), (0, 0));
    assert_eq!(p.server.replay_buffered(), (0, 0));
}

#[test]
fn links_cut_at_seeded_random_points_lose_and_repeat_nothing() {
    const CALLS: u64 = 300;
    const ITEMS: u64 = 2_000;
    for seed in 0..6 {
        let mut rng = Rng(seed);
        let mut p = pair();
        p.latency = Duration::from_millis(3);
        // One stream each way, on one call.
        let stream = p
            .client
            .start(
                p.now,
                ROOT,
                OutgoingCall {
                    channels: vec![Direction::Outgoing, Direction::Incoming],
                    ..call(2)
                },
            )
            .expect("the stream call is accepted");
        let (up, down) = (stream.channels[0], stream.channels[1]);
        let (mut client_credit, mut server_credit) = (0u64, 0u64);
        let (mut sent_up, mut sent_down) = (0u64, 0u64);
        let (mut got_up, mut got_down) = (Vec::new(), Vec::new());
        let mut expected = HashMap::new();
        let mut answers: HashMap<u64, Vec<Bytes>> = HashMap::new();
        let mut pending: Vec<(u64, Bytes)> = Vec::new();
        let (mut calls, mut cuts, mut resumes) = (0u64, 0u64, 0u64);
        for _ in 0..50_000 {
            if calls < CALLS && rng.below(3) == 0 {
                let payload = Bytes::copy_from_slice(&calls.to_le_bytes());
                let id = p
                    .client
                    .start(
                        p.now,
                        ROOT,
                        OutgoingCall {
                            payload: payload.clone(),
                            ..call(1)
                        },
                    )
                    .expect("calls are accepted, linked or not")
                    .id;
                expected.insert(id, payload);
                calls += 1;
            }
            while client_credit > 0 && sent_up < ITEMS {
                match p.client.send_data(ROOT, up, sent_up.to_le_bytes().to_vec()) {
                    Ok(()) => (sent_up, client_credit) = (sent_up + 1, client_credit - 1),
                    Err(ChannelSendError::ReplayFull) => break,
                    Err(e) => panic!("sending up: {e}"),
                }
            }
            while server_credit > 0 && sent_down < ITEMS {
                match p
                    .server
                    .send_data(ROOT, down, sent_down.to_le_bytes().to_vec())
                {
                    Ok(()) => (sent_down, server_credit) = (sent_down + 1, server_credit - 1),
                    Err(ChannelSendError::ReplayFull) => break,
                    Err(e) => panic!("sending down: {e}"),
                }
            }
            if !pending.is_empty() && rng.below(2) == 0 {
                let (id, payload) = pending.swap_remove(rng.below(pending.len() as u64) as usize);
                p.server
                    .respond(p.now, ROOT, id, Metadata::new(), payload, None);
            }
            if cuts < 20 && rng.below(30) == 0 {
                // Frames in flight are lost; both sides detach and keep working.
                p.disconnect();
                cuts += 1;
                if let Some((id, payload)) = pending.pop() {
                    p.server
                        .respond(p.now, ROOT, id, Metadata::new(), payload, None);
                }
                p.advance(Duration::from_millis(rng.below(40)));
                let nonce = (resumes as u8).to_le_bytes()[0];
                let (_, outcome) = p.resume([nonce; 16]);
                assert_eq!(outcome, Ok(()), "seed {seed}: resume {resumes}");
                resumes += 1;
            }
            p.advance(Duration::from_millis(1));
            for e in Pair::events(&mut p.client) {
                match e {
                    SessionEvent::Response { id, payload, .. } => {
                        answers.entry(id).or_default().push(payload)
                    }
                    SessionEvent::ChannelCredit { channel, n, .. } if channel == up => {
                        client_credit += n
                    }
                    SessionEvent::ChannelData {
                        channel, payload, ..
                    } if channel == down => {
                        got_down.push(u64::from_le_bytes(payload[..].try_into().unwrap()));
                        p.client.grant_credit(ROOT, down, 1);
                    }
                    SessionEvent::Closed(e) => panic!("seed {seed}: client closed: {e}"),
                    SessionEvent::CallFailed { reason, .. } => {
                        panic!("seed {seed}: a call failed: {reason}")
                    }
                    _ => {}
                }
            }
            for e in Pair::events(&mut p.server) {
                match e {
                    SessionEvent::Request(c) if c.method_id == 1 => pending.push((c.id, c.payload)),
                    SessionEvent::Request(_) => {}
                    SessionEvent::ChannelData {
                        channel, payload, ..
                    } if channel == up => {
                        got_up.push(u64::from_le_bytes(payload[..].try_into().unwrap()));
                        p.server.grant_credit(ROOT, up, 1);
                    }
                    SessionEvent::ChannelCredit { channel, n, .. } if channel == down => {
                        server_credit += n
                    }
                    SessionEvent::Closed(e) => panic!("seed {seed}: server closed: {e}"),
                    _ => {}
                }
            }
            let done = answers.len() as u64 == CALLS
                && got_up.len() as u64 == ITEMS
                && got_down.len() as u64 == ITEMS;
            if done {
                break;
            }
        }
        assert!(cuts >= 10, "seed {seed}: only {cuts} cuts");
        assert_eq!(answers.len() as u64, CALLS, "seed {seed}: calls answered");
        for (id, got) in &answers {
            assert_eq!(got, &vec![expected[id].clone()], "seed {seed}: call {id}");
        }
        assert_eq!(got_up, (0..ITEMS).collect::<Vec<_>>(), "seed {seed}: up");
        assert_eq!(
            got_down,
            (0..ITEMS).collect::<Vec<_>>(),
            "seed {seed}: down"
        );
    }
}

#[test]
fn calls_made_without_a_link_wait_unsent_and_go_after_the_resume() {
    let mut p = pair();
    p.disconnect();
    assert!(matches!(
        Pair::events(&mut p.client)[..],
        [SessionEvent::Detached {
            error: SessionError::Transport(_)
        }]
    ));
    let seq = p.client.sent_seq();
    p.client.start(p.now, ROOT, call(1)).expect("accepted");
    assert_eq!(p.client.waiting_calls(), 1);
    assert_eq!(p.client.sent_seq(), seq, "not numbered: it never left");
    let (_, outcome) = p.resume([1; 16]);
    assert_eq!(outcome, Ok(()));
    assert_eq!(p.client.waiting_calls(), 0);
    assert!(
        Pair::events(&mut p.server)
            .iter()
            .any(|e| matches!(e, SessionEvent::Request(_)))
    );
}

#[test]
fn a_seen_or_forged_resume_is_refused_and_the_owner_carries_on() {
    let mut p = pair();
    round_trip(&mut p, b"before");
    p.disconnect();
    // The initiator's acknowledgement of the answer is held: the rotation is unconfirmed.
    p.hold(Way::ClientToServer);
    let (seen, outcome) = p.resume([1; 16]);
    assert_eq!(outcome, Ok(()));
    let (outcome, answer) = p.offer_resume(&seen, [2; 16]);
    assert_eq!(outcome, Err(ResumeRefusal::Replayed));
    let goodbye = answer
        .iter()
        .map(|f| wire::decode(f).unwrap())
        .find_map(|m| match m {
            Message::Goodbye { reason } => Some(reason),
            _ => None,
        })
        .expect("the new link hears why");
    assert!(goodbye.starts_with("resume-refused: "), "{goodbye}");
    p.release(Way::ClientToServer);
    p.drive();
    // Confirmed: now the old secret proves nothing at all.
    assert_eq!(
        p.offer_resume(&seen, [3; 16]).0,
        Err(ResumeRefusal::BadProof)
    );
    let edit = |f: &dyn Fn(&mut Resume)| {
        let Message::Hello(mut hello) = wire::decode(&seen).unwrap() else {
            unreachable!("a resume Hello")
        };
        f(hello.resume.as_mut().unwrap());
        encode(&Message::Hello(hello))
    };
    let guessed = edit(&|r| r.session_key = [0xaa; 16]);
    assert_eq!(
        p.offer_resume(&guessed, [4; 16]).0,
        Err(ResumeRefusal::UnknownSession)
    );
    let forged = edit(&|r| {
        r.nonce = [0x55; 16];
        r.proof[0] ^= 1;
    });
    assert_eq!(
        p.offer_resume(&forged, [5; 16]).0,
        Err(ResumeRefusal::BadProof)
    );
    let moved = edit(&|r| r.last_received += 1);
    assert_eq!(
        p.offer_resume(&moved, [6; 16]).0,
        Err(ResumeRefusal::BadProof)
    );
    // None of it touched the owner's session.
    assert!(!p.server.is_detached() && !p.client.is_detached());
    assert_eq!(round_trip(&mut p, b"after"), Bytes::from_static(b"after"));
}

#[test]
fn an_initiator_whose_resume_answer_was_lost_resumes_again() {
    let mut p = pair();
    p.disconnect();
    assert!(p.client.resume(p.now, [1; 16]));
    let hello = p.client.poll_transmit().expect("a resume Hello");
    assert_eq!(p.offer_resume(&hello, [2; 16]).0, Ok(()));
    // The new link dies before the answer reaches the initiator.
    p.disconnect();
    let (_, outcome) = p.resume([3; 16]);
    assert_eq!(outcome, Ok(()));
    assert_eq!(round_trip(&mut p, b"x"), Bytes::from_static(b"x"));
}

#[test]
fn an_unanswered_resume_detaches_again_after_the_handshake_timeout() {
    let mut p = pair();
    p.disconnect();
    Pair::events(&mut p.client);
    assert!(p.client.resume(p.now, [1; 16]));
    let _ = p.client.poll_transmit();
    p.advance(SessionConfig::default().handshake_timeout);
    assert!(p.client.is_detached());
    assert!(matches!(
        Pair::events(&mut p.client)[..],
        [SessionEvent::Detached {
            error: SessionError::TimedOut(TimedOut::Handshake(_))
        }]
    ));
    assert_eq!(p.resume([2; 16]).1, Ok(()));
}

#[test]
fn a_session_not_resumed_in_its_grace_period_is_freed_with_its_handlers() {
    let grace = Duration::from_secs(30);
    let config = resumable(Resumption {
        grace,
        ..Resumption::default()
    });
    let mut p: Pair = Pair::resumable(config.clone(), config);
    let id = p.client.start(p.now, ROOT, call(1)).unwrap().id;
    p.drive();
    assert_eq!(p.server.incoming_in_flight(), 1);
    p.server.serving(ROOT, id, ()).unwrap();
    p.disconnect();
    Pair::events(&mut p.server);
    p.advance(grace - Duration::from_millis(1));
    assert!(!p.server.is_closed(), "kept through the grace period");
    assert_eq!(p.server.incoming_in_flight(), 1, "the handler still runs");
    p.advance(Duration::from_millis(1));
    assert_eq!(
        closed_with(&mut p.server),
        Some(SessionError::TimedOut(TimedOut::ResumeGrace(grace)))
    );
    assert_eq!(
        p.server.take_released().serving.len(),
        1,
        "its handler is stopped"
    );
    assert_eq!(
        closed_with(&mut p.client),
        Some(SessionError::TimedOut(TimedOut::ResumeGrace(grace))),
        "the initiator gives up too"
    );
    assert_eq!(p.client.take_released().calls.len(), 1);
    assert_eq!(
        p.client.start(p.now, ROOT, call(1)),
        Err(CallRejected::Closed(SessionError::TimedOut(
            TimedOut::ResumeGrace(grace)
        ))),
        "a later call hears why the session ended"
    );
}

#[test]
fn a_stalled_link_is_detected_by_keepalive_and_resumed_once_it_forwards_again() {
    let keepalive = Keepalive {
        interval: Duration::from_secs(1),
        timeout: Duration::from_secs(2),
    };
    let config = SessionConfig {
        keepalive: Some(keepalive),
        ..resumable(Resumption::default())
    };
    let mut p: Pair = Pair::resumable(config.clone(), config);
    p.blackhole(Way::ClientToServer);
    p.blackhole(Way::ServerToClient);
    let took = p
        .advance_until(Duration::from_secs(60), |p| {
            p.client.is_detached() && p.server.is_detached()
        })
        .expect("both sides notice");
    assert!(took <= keepalive.interval + keepalive.timeout, "{took:?}");
    assert!(Pair::events(&mut p.client).iter().any(|e| matches!(
        e,
        SessionEvent::Detached {
            error: SessionError::TimedOut(TimedOut::Keepalive(_))
        }
    )));
    p.restore(Way::ClientToServer);
    p.restore(Way::ServerToClient);
    assert_eq!(p.resume([1; 16]).1, Ok(()));
    assert_eq!(round_trip(&mut p, b"x"), Bytes::from_static(b"x"));
}

#[test]
fn a_peer_that_never_acks_makes_senders_wait_and_memory_stays_bounded() {
    const BOUND: u32 = 4096;
    let config = resumable(Resumption {
        buffer: BOUND,
        ack_every: 1,
        ..Resumption::default()
    });
    let mut p: Pair = Pair::resumable(config.clone(), config);
    let stream = p
        .client
        .start(
            p.now,
            ROOT,
            OutgoingCall {
                channels: vec![Direction::Outgoing],
                ..call(2)
            },
        )
        .unwrap();
    p.advance(Duration::from_millis(20));
    Pair::events(&mut p.client);
    // The server's acknowledgements never arrive.
    p.hold(Way::ServerToClient);
    let item = vec![0u8; 200];
    let mut sent = 0;
    let refused = loop {
        match p.client.send_data(ROOT, stream.channels[0], item.clone()) {
            Ok(()) => sent += 1,
            Err(e) => break e,
        }
        assert!(sent < 64, "the initial credit would run out first");
    };
    assert_eq!(refused, ChannelSendError::ReplayFull);
    let (bytes, _) = p.client.replay_buffered();
    assert!(
        bytes >= BOUND as usize && bytes < BOUND as usize + 300,
        "{bytes} bytes kept"
    );
    p.client.start(p.now, ROOT, call(1)).unwrap();
    assert_eq!(p.client.waiting_calls(), 1, "new calls wait too");
    p.advance(Duration::from_secs(10));
    assert_eq!(p.client.replay_buffered().0, bytes, "nothing more is kept");
    p.release(Way::ServerToClient);
    p.advance(Duration::from_millis(20));
    assert!(
        Pair::events(&mut p.client)
            .iter()
            .any(|e| matches!(e, SessionEvent::ReplayRoom))
    );
    assert_eq!(p.client.waiting_calls(), 0, "the waiting call went");
    assert!(p.client.replay_buffered().0 < bytes);
}

#[test]
fn a_server_that_lost_the_session_refuses_the_resume_and_calls_in_flight_fail() {
    let mut p = pair();
    p.client.start(p.now, ROOT, call(1)).unwrap();
    p.drive();
    p.disconnect();
    // The server restarted: what answers is a fresh session that never knew this one.
    let config = p.server.config.clone();
    p.server =
        Session::new(Role::Acceptor, config, Some([1; 16]), p.now).with_resume_secret([2; 32]);
    let (_, outcome) = p.resume([3; 16]);
    assert_eq!(outcome, Err(ResumeRefusal::NotResumable));
    match closed_with(&mut p.client) {
        Some(SessionError::Refused {
            by: RefusedBy::Resume,
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(p.client.take_released().calls.len(), 1);
}

#[test]
fn wrong_acknowledgements_are_violations_naming_the_replay_rule() {
    let (mut plain, now) = established_server(Limits::default());
    plain.handle_frame(now, &encode(&Message::Ack { received: 0 }));
    let reason = goodbye_reason(&mut plain).unwrap();
    assert!(
        reason.starts_with("replay: an Ack on a session without replay"),
        "{reason}"
    );

    let mut p = pair();
    p.client
        .handle_frame(p.now, &encode(&Message::Ack { received: 99 }));
    let reason = goodbye_reason(&mut p.client).unwrap();
    assert!(
        reason.starts_with("replay: an Ack for messages never sent"),
        "{reason}"
    );
}

#[test]
fn a_grant_nobody_offered_is_a_handshake_violation() {
    let now = std::time::Instant::now();
    let mut client = Session::new(Role::Initiator, SessionConfig::default(), None, now);
    let _ = client.poll_transmit();
    client.handle_frame(
        now,
        &encode(&Message::Hello(Hello {
            version: PROTOCOL_VERSION,
            limits: Limits::default(),
            session_key: Some([1; 16]),
            resume: None,
            metadata: Metadata::new(),
            replay: Replay::Grant {
                buffer: 1,
                secret: [0; 32],
            },
        })),
    );
    let reason = goodbye_reason(&mut client).unwrap();
    assert!(
        reason.starts_with("handshake: ") && reason.ends_with("replay granted but not offered"),
        "{reason}"
    );
}

#[test]
fn a_peer_that_never_acknowledges_answers_is_ended_at_the_hard_limit() {
    let now = std::time::Instant::now();
    let config = SessionConfig {
        limits: Limits {
            max_frame_size: 1024,
            max_concurrent_requests: 1,
            ..Limits::default()
        },
        ..resumable(Resumption {
            buffer: 256,
            ..Resumption::default()
        })
    };
    let mut server = Session::new(Role::Acceptor, config.clone(), Some([1; 16]), now)
        .with_resume_secret([2; 32]);
    let mut client = Session::new(Role::Initiator, config, None, now);
    let hello = client.poll_transmit().expect("the client's Hello");
    server.handle_frame(now, &hello);
    assert!(server.is_resumable());
    // Requests past the one slot are answered `Overloaded` by the session itself; the answers
    // are kept for replay and the peer acknowledges none of them.
    let mut sent = 0;
    while !server.is_closed() {
        server.handle_frame(now, &raw_request(2 * sent + 1));
        sent += 1;
        assert!(sent < 10_000, "the limit never struck");
        assert!(server.replay_buffered().0 <= 256 + 2 * 1024 + 64);
    }
    assert!(sent > 100, "well past the buffer first ({sent} requests)");
    let reason = goodbye_reason(&mut server).expect("a Goodbye");
    assert!(
        reason.starts_with("replay: the peer acknowledged nothing"),
        "{reason}"
    );
}
