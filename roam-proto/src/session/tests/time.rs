//! Everything that depends on time or on the link misbehaving: keepalive, handshake timeout,
//! call deadlines both ways, draining, closing, late and lost frames. All on the virtual clock.

use std::time::{Duration, Instant};

use super::super::*;
use super::util::*;

const SEC: Duration = Duration::from_secs(1);

fn keepalive(interval: u64, timeout: u64) -> SessionConfig {
    SessionConfig {
        keepalive: Some(Keepalive {
            interval: Duration::from_secs(interval),
            timeout: Duration::from_secs(timeout),
        }),
        ..SessionConfig::default()
    }
}

fn closed_with(events: &[SessionEvent]) -> Option<&SessionError> {
    events.iter().find_map(|e| match e {
        SessionEvent::Closed(err) => Some(err),
        _ => None,
    })
}

#[test]
fn a_peer_that_answers_pings_is_never_dropped() {
    let mut p = Pair::with_configs(keepalive(5, 3), keepalive(7, 3));
    p.latency = Duration::from_millis(800);
    Pair::events(&mut p.client);
    Pair::events(&mut p.server);
    let before = p.client.received_seq();
    p.advance(Duration::from_secs(3600));
    assert!(!p.client.is_closed() && !p.server.is_closed());
    assert!(Pair::events(&mut p.client).is_empty());
    assert!(Pair::events(&mut p.server).is_empty());
    // Pings and Pongs are link messages: they are not numbered as session messages.
    assert_eq!(p.client.received_seq(), before);
}

#[test]
fn pings_are_answered_with_the_same_nonce() {
    let (mut s, now) = established_server(Limits::default());
    s.handle_frame(now, &encode(&Message::Ping { nonce: 77 }));
    assert_eq!(sent(&mut s), vec![Message::Pong { nonce: 77 }]);
}

#[test]
fn a_peer_that_stops_answering_pings_is_detected_within_interval_plus_timeout() {
    let (interval, timeout) = (5, 3);
    let mut p = Pair::with_configs(keepalive(interval, timeout), SessionConfig::default());
    Pair::events(&mut p.client);
    // Let a few pings go by, then the server goes silent at an arbitrary moment.
    p.advance(Duration::from_millis(12_345));
    assert!(!p.client.is_closed());
    p.blackhole(Way::ServerToClient);
    let took = p
        .advance_until(Duration::from_secs(60), |p| p.client.is_closed())
        .expect("the dead peer was noticed");
    assert!(
        took <= Duration::from_secs(interval + timeout),
        "noticed after {took:?}"
    );
    let events = Pair::events(&mut p.client);
    assert_eq!(
        closed_with(&events),
        Some(&SessionError::TimedOut(TimedOut::Keepalive(
            Duration::from_secs(timeout)
        )))
    );
    let message = closed_with(&events).unwrap().to_string();
    assert!(message.contains("keepalive"), "{message}");
    // Presumed dead: nothing is left to flush.
    assert!(p.client.is_finished());
}

#[test]
fn a_late_pong_within_the_timeout_keeps_the_link() {
    let mut p = Pair::with_configs(keepalive(5, 3), SessionConfig::default());
    p.advance(Duration::from_millis(4_900));
    // The server's frames are held back for 2.5 s: the Pong arrives late but in time.
    p.hold(Way::ServerToClient);
    p.advance(Duration::from_millis(2_600));
    p.release(Way::ServerToClient);
    p.advance(Duration::from_secs(20));
    assert!(!p.client.is_closed());
}

#[test]
fn keepalive_can_be_turned_off() {
    let off = SessionConfig {
        keepalive: None,
        ..SessionConfig::default()
    };
    let mut p = Pair::with_configs(off.clone(), off);
    p.blackhole(Way::ServerToClient);
    p.blackhole(Way::ClientToServer);
    assert_eq!(p.client.poll_timeout(), None, "no timer is armed");
    p.advance(Duration::from_secs(3600));
    assert!(!p.client.is_closed());
}

#[test]
fn a_missing_hello_times_out_with_a_typed_error() {
    let now = Instant::now();
    let config = SessionConfig {
        handshake_timeout: 4 * SEC,
        ..SessionConfig::default()
    };
    let mut s = Session::new(Role::Acceptor, config, Some([0; 16]), now);
    assert_eq!(s.poll_timeout(), Some(now + 4 * SEC));
    assert!(matches!(sent(&mut s)[..], [Message::Hello(_)]));
    s.handle_timeout(now + 3 * SEC);
    assert!(!s.is_closed());
    s.handle_timeout(now + 4 * SEC);
    assert_eq!(
        s.poll_event(),
        Some(SessionEvent::Closed(SessionError::TimedOut(
            TimedOut::Handshake(4 * SEC)
        )))
    );
    assert!(
        goodbye_reason(&mut s)
            .unwrap()
            .starts_with("handshake-timeout")
    );
}

#[test]
fn goodbye_before_hello_fails_the_handshake() {
    let now = Instant::now();
    let mut s = Session::new(Role::Initiator, SessionConfig::default(), None, now);
    s.handle_frame(
        now,
        &encode(&Message::Goodbye {
            reason: "not today".into(),
        }),
    );
    match s.poll_event() {
        Some(SessionEvent::Closed(SessionError::HandshakeFailed(why))) => {
            assert!(why.contains("not today"), "{why}")
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(s.is_finished(), "nothing to answer a Goodbye with");
}

#[test]
fn our_deadline_fails_the_call_and_cancels_it_on_the_peer() {
    let mut p = Pair::new(Limits::default(), Limits::default());
    Pair::events(&mut p.client);
    Pair::events(&mut p.server);
    let id = p
        .client
        .start(
            p.now,
            ROOT,
            OutgoingCall {
                timeout: Some(2 * SEC),
                ..call(1)
            },
        )
        .unwrap()
        .id;
    p.drive();
    let SessionEvent::Request(req) = p.server.poll_event().unwrap() else {
        panic!("the request arrives")
    };
    assert_eq!(req.deadline, Some(p.now + 2 * SEC));
    // The server's clock, not the client's, stops its handler; hold its answer back so the
    // client's own deadline is what fails the call.
    p.hold(Way::ServerToClient);
    p.advance(2 * SEC);
    let events = Pair::events(&mut p.client);
    assert_eq!(
        events,
        vec![SessionEvent::CallFailed {
            conn: ROOT,
            id,
            reason: CallRejected::DeadlineExceeded,
            sent: true,
            call: (),
            channels: vec![]
        }]
    );
    assert_eq!(
        Pair::events(&mut p.server),
        vec![SessionEvent::StopHandler {
            conn: ROOT,
            id,
            reason: StopReason::DeadlineExceeded,
            serve: None
        }]
    );
    // The server's `DeadlineExceeded` answer arrives late: dropped, not a violation.
    p.release(Way::ServerToClient);
    p.advance(SEC);
    assert!(Pair::events(&mut p.client).is_empty());
    assert!(!p.client.is_closed() && !p.server.is_closed());
    assert_eq!(p.client.pending_deadlines(), 0);
    assert_eq!(p.server.pending_deadlines(), 0);
}

#[test]
fn a_call_that_waited_for_a_slot_sends_only_the_time_left() {
    let mut p = Pair::new(Limits::default(), one_slot());
    p.client.start(p.now, ROOT, call(1)).unwrap();
    p.client
        .start(
            p.now,
            ROOT,
            OutgoingCall {
                timeout: Some(10 * SEC),
                ..call(2)
            },
        )
        .unwrap();
    p.drive();
    Pair::events(&mut p.server);
    p.advance(3 * SEC);
    p.server
        .respond(p.now, ROOT, 1, Metadata::new(), vec![0], None);
    p.drive();
    let second = Pair::events(&mut p.server)
        .into_iter()
        .find_map(|e| match e {
            SessionEvent::Request(r) => Some(r),
            _ => None,
        })
        .expect("the waiting call went out");
    assert_eq!(second.deadline, Some(p.now + 7 * SEC));
}

#[test]
fn a_waiting_call_whose_deadline_passes_is_never_sent() {
    let mut p = Pair::new(Limits::default(), one_slot());
    p.client.start(p.now, ROOT, call(1)).unwrap();
    let waiting = p
        .client
        .start(
            p.now,
            ROOT,
            OutgoingCall {
                timeout: Some(SEC),
                ..call(2)
            },
        )
        .unwrap()
        .id;
    p.advance(2 * SEC);
    assert!(
        Pair::events(&mut p.client).contains(&SessionEvent::CallFailed {
            conn: ROOT,
            id: waiting,
            reason: CallRejected::DeadlineExceeded,
            sent: false,
            call: (),
            channels: vec![]
        })
    );
    assert_eq!(p.client.waiting_calls(), 0);
    assert_eq!(p.server.incoming_in_flight(), 1);
}

#[test]
fn over_limit_metadata_is_refused_at_the_caller_and_the_session_stays_up() {
    let mut p = Pair::new(Limits::default(), Limits::default());
    Pair::events(&mut p.client);
    let refused = p.client.start(
        p.now,
        ROOT,
        OutgoingCall {
            metadata: oversized_metadata(),
            ..call(1)
        },
    );
    assert!(
        matches!(refused, Err(CallRejected::Metadata(_))),
        "{refused:?}"
    );
    let mut long_key = Metadata::new();
    long_key.insert("k".repeat(Metadata::MAX_KEY_LEN + 1), 1u64);
    assert!(matches!(
        p.client.start(
            p.now,
            ROOT,
            OutgoingCall {
                metadata: long_key,
                ..call(1)
            }
        ),
        Err(CallRejected::Metadata(_))
    ));
    assert!(p.client.poll_transmit().is_none(), "nothing was sent");
    assert!(p.client.start(p.now, ROOT, call(1)).is_ok());
    p.drive();
    assert!(!p.server.is_closed());
}

#[test]
fn over_limit_response_metadata_becomes_internal() {
    let (mut p, id) = pair_with_a_call(Limits::default(), Limits::default());
    p.server
        .respond(p.now, ROOT, id, oversized_metadata(), vec![0], None);
    p.drive();
    assert!(matches!(
        &Pair::events(&mut p.client)[..],
        [SessionEvent::Response { payload, metadata, .. }]
            if payload == &response::remote(RemoteError::Internal) && metadata.is_empty()
    ));
    assert!(!p.client.is_closed() && !p.server.is_closed());
}

#[test]
fn response_metadata_travels_to_the_caller() {
    let (mut p, id) = pair_with_a_call(Limits::default(), Limits::default());
    let mut metadata = Metadata::new();
    metadata.insert("served-by", "node-3");
    p.server
        .respond(p.now, ROOT, id, metadata.clone(), vec![0], None);
    p.drive();
    assert!(matches!(
        &Pair::events(&mut p.client)[..],
        [SessionEvent::Response { metadata: got, .. }] if got == &metadata
    ));
}

#[test]
fn a_response_too_big_for_a_frame_becomes_internal() {
    let small = Limits {
        max_frame_size: 64,
        ..Limits::default()
    };
    let (mut p, id) = pair_with_a_call(small, small);
    p.server
        .respond(p.now, ROOT, id, Metadata::new(), vec![0; 100], None);
    p.drive();
    assert!(matches!(
        &Pair::events(&mut p.client)[..],
        [SessionEvent::Response { payload, .. }] if payload == &response::remote(RemoteError::Internal)
    ));
    assert!(!p.server.is_closed());
}

#[test]
fn draining_says_goodbye_once_the_last_call_is_answered() {
    let (mut p, id) = pair_with_a_call(Limits::default(), Limits::default());
    p.server.start_drain(p.now, "shutting down");
    assert!(matches!(p.server.phase(), Phase::Draining { .. }));
    p.drive();
    assert!(!p.client.is_closed(), "calls in flight keep the session");
    p.server
        .respond(p.now, ROOT, id, Metadata::new(), vec![0, 7], None);
    assert_eq!(p.server.phase(), &Phase::Closing);
    p.drive();
    p.server.handle_flushed();
    assert!(p.server.is_finished());
    let events = Pair::events(&mut p.client);
    assert!(matches!(&events[0], SessionEvent::Response { payload, .. } if payload[..] == [0, 7]));
    assert_eq!(
        closed_with(&events),
        Some(&SessionError::ClosedByPeer {
            reason: "shutting down".into()
        })
    );
}

#[test]
fn the_drain_grace_stops_handlers_that_never_return() {
    let config = SessionConfig {
        drain_grace: 5 * SEC,
        ..SessionConfig::default()
    };
    let mut p = Pair::with_configs(SessionConfig::default(), config);
    Pair::events(&mut p.client);
    let id = p.client.start(p.now, ROOT, call(1)).unwrap().id;
    p.drive();
    Pair::events(&mut p.server);
    p.server.start_drain(p.now, "shutting down");
    let took = p
        .advance_until(Duration::from_secs(60), |p| p.server.is_closed())
        .expect("the grace ends the drain");
    assert_eq!(took, 5 * SEC);
    let server_events = Pair::events(&mut p.server);
    assert!(server_events.contains(&SessionEvent::StopHandler {
        conn: ROOT,
        id,
        reason: StopReason::Shutdown,
        serve: None
    }));
    let client_events = Pair::events(&mut p.client);
    assert!(
        matches!(&client_events[0], SessionEvent::Response { payload, .. }
        if payload == &response::remote(RemoteError::Unavailable))
    );
    assert!(matches!(
        closed_with(&client_events),
        Some(SessionError::ClosedByPeer { .. })
    ));
}

#[test]
fn draining_with_nothing_in_flight_closes_at_once() {
    let (mut s, now) = established_server(Limits::default());
    s.start_drain(now, "bye");
    assert!(s.is_closed());
    assert_eq!(goodbye_reason(&mut s).as_deref(), Some("bye"));
}

#[test]
fn closing_lingers_for_the_flush_but_not_forever() {
    let config = SessionConfig {
        close_linger: 2 * SEC,
        ..SessionConfig::default()
    };
    let (mut s, now) = established_server_with(config);
    s.close(now, "done");
    assert_eq!(s.phase(), &Phase::Closing);
    assert_eq!(
        s.poll_event(),
        Some(SessionEvent::Closed(SessionError::LocallyClosed))
    );
    // A peer that never reads: the driver never reports the flush.
    assert_eq!(s.poll_timeout(), Some(now + 2 * SEC));
    s.handle_timeout(now + 2 * SEC);
    assert!(s.is_finished());
    assert!(s.poll_transmit().is_none(), "unsent frames are dropped");
}

#[test]
fn closing_finishes_when_the_goodbye_is_flushed() {
    let (mut s, now) = established_server(Limits::default());
    s.close(now, "done");
    s.handle_flushed();
    assert!(!s.is_finished(), "the Goodbye has not been taken yet");
    assert_eq!(goodbye_reason(&mut s).as_deref(), Some("done"));
    s.handle_flushed();
    assert!(s.is_finished());
}

#[test]
fn a_dead_link_fails_calls_in_flight_on_both_sides() {
    let mut p = Pair::new(Limits::default(), Limits::default());
    Pair::events(&mut p.client);
    Pair::events(&mut p.server);
    p.client.start(p.now, ROOT, call(1)).unwrap();
    p.drive();
    p.disconnect();
    for s in [&mut p.client, &mut p.server] {
        assert!(s.is_finished());
        assert_eq!(s.outgoing_in_flight() + s.incoming_in_flight(), 0);
        assert!(matches!(
            closed_with(&Pair::events(s)),
            Some(SessionError::Transport(_))
        ));
    }
}

#[test]
fn a_cancel_delivered_after_the_answer_is_harmless() {
    let (mut p, id) = pair_with_a_call(Limits::default(), Limits::default());
    // The answer and the cancel cross on the wire.
    p.hold(Way::ServerToClient);
    p.server
        .respond(p.now, ROOT, id, Metadata::new(), vec![0], None);
    p.drive();
    p.client.cancel(ROOT, id);
    p.drive();
    p.release(Way::ServerToClient);
    p.drive();
    assert!(!p.client.is_closed() && !p.server.is_closed());
    assert!(Pair::events(&mut p.server).is_empty());
}

#[test]
fn session_messages_are_numbered_and_link_messages_are_not() {
    let mut p = Pair::new(Limits::default(), Limits::default());
    let (c0, s0) = (p.client.sent_seq(), p.server.received_seq());
    assert_eq!((c0, s0), (0, 0), "Hello is a link message");
    let id = p.client.start(p.now, ROOT, call(1)).unwrap().id;
    p.client.cancel(ROOT, id);
    p.advance(Duration::from_secs(60)); // keepalive pings both ways
    assert_eq!(p.client.sent_seq(), 2, "Request and Cancel");
    assert_eq!(p.server.received_seq(), 2);
    assert_eq!(p.server.sent_seq(), 1, "the Cancelled response");
}

#[test]
fn a_busy_peer_whose_pong_is_stuck_behind_data_is_not_dropped() {
    let config = keepalive(5, 3);
    let now = Instant::now();
    let mut s = Session::new(Role::Initiator, config, None, now);
    s.handle_frame(
        now,
        &encode(&Message::Hello(Hello {
            version: PROTOCOL_VERSION,
            limits: Limits::default(),
            session_key: Some([1; 16]),
            resume: None,
            replay: crate::wire::Replay::Off,
            metadata: Default::default(),
        })),
    );
    sent(&mut s);
    s.handle_timeout(now + 5 * SEC);
    assert!(matches!(sent(&mut s)[..], [Message::Ping { .. }]));
    // The Pong is late, but the peer keeps talking: the link is alive.
    for t in 6..=10 {
        s.handle_timeout(now + t * SEC);
        s.handle_frame(
            now + t * SEC,
            &encode(&Message::Ping {
                nonce: 100 + u64::from(t),
            }),
        );
    }
    s.handle_timeout(now + 12 * SEC);
    assert!(!s.is_closed(), "heard from 3 s ago at most");
    // Then silence: dead one timeout after the last frame heard.
    assert_eq!(s.poll_timeout(), Some(now + 13 * SEC));
    s.handle_timeout(now + 13 * SEC);
    assert!(s.is_finished());
    assert!(
        s.poll_transmit().is_none(),
        "nothing is left queued for a dead link"
    );
}

#[test]
fn a_zero_keepalive_interval_does_not_ping_in_a_busy_loop() {
    let mut p = Pair::with_configs(keepalive(0, 1), SessionConfig::default());
    let established = p.now;
    assert_eq!(
        p.client.poll_timeout(),
        Some(established + Keepalive::MIN_INTERVAL)
    );
    p.advance(SEC);
    assert!(!p.client.is_closed());
    assert!(p.client.poll_timeout().unwrap() > p.now);
}

#[test]
fn an_endless_drain_grace_never_fires_and_never_panics() {
    let config = SessionConfig {
        drain_grace: Duration::MAX,
        keepalive: None,
        ..SessionConfig::default()
    };
    let mut p = Pair::with_configs(SessionConfig::default(), config);
    Pair::events(&mut p.client);
    p.client.start(p.now, ROOT, call(1)).unwrap();
    p.drive();
    p.server.start_drain(p.now, "shutting down");
    assert_eq!(p.server.poll_timeout(), None);
    p.advance(Duration::from_secs(24 * 3600));
    assert!(matches!(p.server.phase(), Phase::Draining { .. }));
}

#[test]
fn completed_calls_leave_no_deadline_behind() {
    let mut p = Pair::new(Limits::default(), Limits::default());
    Pair::events(&mut p.client);
    let timed = |method| OutgoingCall {
        timeout: Some(60 * SEC),
        ..call(method)
    };
    let answered = p.client.start(p.now, ROOT, timed(1)).unwrap().id;
    let cancelled = p.client.start(p.now, ROOT, timed(2)).unwrap().id;
    p.drive();
    assert_eq!(p.client.pending_deadlines(), 2);
    assert_eq!(p.server.pending_deadlines(), 2);
    p.server
        .respond(p.now, ROOT, answered, Metadata::new(), vec![0], None);
    p.client.cancel(ROOT, cancelled);
    p.drive();
    assert_eq!(p.client.pending_deadlines(), 0, "answered and cancelled");
    assert_eq!(p.server.pending_deadlines(), 0, "answered and stopped");
    // A waiting call cancelled before it was sent leaves nothing either.
    let mut q = Pair::new(Limits::default(), one_slot());
    q.client.start(q.now, ROOT, call(1)).unwrap();
    let waiting = q.client.start(q.now, ROOT, timed(2)).unwrap().id;
    assert!(q.client.cancel(ROOT, waiting).is_some_and(|c| !c.sent));
    assert_eq!(q.client.pending_deadlines(), 0);
}

#[test]
fn a_timeout_handled_late_still_ends_a_silent_link() {
    let (mut s, now) = established_server_with(keepalive(5, 3));
    s.handle_timeout(now + 5 * SEC);
    s.handle_frame(now + 6 * SEC, &encode(&Message::Ping { nonce: 9 }));
    // The driver was descheduled for a long while: everything due is handled at once.
    s.handle_timeout(now + 100 * SEC);
    assert!(s.is_finished());
}

fn no_keepalive_stall(secs: u64) -> SessionConfig {
    SessionConfig {
        keepalive: None,
        output_stall_timeout: Duration::from_secs(secs),
        ..SessionConfig::default()
    }
}

#[test]
fn blocked_output_without_progress_ends_the_session_after_the_stall_timeout() {
    let (mut s, start) = established_server_with(no_keepalive_stall(30));
    s.handle_output(start, OutputState::Blocked);
    // Reporting the block again does not push the deadline back.
    s.handle_output(start + 10 * SEC, OutputState::Blocked);
    assert_eq!(s.poll_timeout(), Some(start + 30 * SEC));
    s.handle_timeout(start + 30 * SEC - Duration::from_millis(1));
    assert!(!s.is_closed());
    s.handle_timeout(start + 30 * SEC);
    assert!(s.is_closed());
    let reason = goodbye_reason(&mut s).expect("a Goodbye is queued");
    assert!(reason.starts_with("output-stalled"), "{reason}");
    let events = Pair::events(&mut s);
    assert_eq!(
        closed_with(&events),
        Some(&SessionError::TimedOut(TimedOut::OutputStalled(30 * SEC)))
    );
}

#[test]
fn progress_rearms_the_stall_timer_and_flowing_output_disarms_it() {
    let (mut s, start) = established_server_with(no_keepalive_stall(30));
    s.handle_output(start, OutputState::Blocked);
    s.handle_output(start + 20 * SEC, OutputState::Progress);
    assert_eq!(s.poll_timeout(), Some(start + 50 * SEC));
    s.handle_timeout(start + 40 * SEC);
    assert!(!s.is_closed(), "a peer that reads slowly is not dropped");
    s.handle_output(start + 45 * SEC, OutputState::Flowing);
    assert_eq!(s.poll_timeout(), None);
    s.handle_timeout(start + 3600 * SEC);
    assert!(!s.is_closed());
}

#[test]
fn output_progress_counts_as_a_sign_of_life_for_keepalive() {
    let mut config = keepalive(5, 3);
    config.output_stall_timeout = Duration::from_secs(600);
    let (mut s, start) = established_server_with(config);
    s.handle_output(start, OutputState::Blocked);
    // The driver has stopped reading: no Pong is heard, but the peer keeps taking our bytes.
    let mut now = start;
    for _ in 0..100 {
        now += SEC;
        s.handle_output(now, OutputState::Progress);
        s.handle_timeout(now);
        while s.poll_transmit().is_some() {}
    }
    assert!(
        !s.is_closed(),
        "a reading peer is alive even when its Pongs wait unread"
    );
    // When the progress stops, the stall timer, not keepalive, ends it: with a Goodbye.
    s.handle_timeout(now + 9 * SEC);
    assert!(
        !s.is_closed(),
        "keepalive defers to the stall timer while output is blocked"
    );
    s.handle_timeout(now + 600 * SEC);
    assert!(s.is_closed());
    let reason = goodbye_reason(&mut s).expect("a Goodbye is queued");
    assert!(reason.starts_with("output-stalled"), "{reason}");
}

#[test]
fn with_default_keepalive_a_peer_that_never_reads_gets_the_stall_goodbye() {
    let (mut s, start) = established_server_with(SessionConfig::default());
    // A Ping is outstanding when the output blocks.
    s.handle_timeout(start + 15 * SEC);
    while s.poll_transmit().is_some() {}
    s.handle_output(start + 15 * SEC, OutputState::Blocked);
    s.handle_timeout(start + 40 * SEC);
    assert!(!s.is_closed(), "the pong timeout waits for the stall timer");
    s.handle_timeout(start + 45 * SEC);
    assert!(s.is_closed());
    let reason = goodbye_reason(&mut s).expect("a Goodbye is queued");
    assert!(reason.starts_with("output-stalled"), "{reason}");
    let events = Pair::events(&mut s);
    assert_eq!(
        closed_with(&events),
        Some(&SessionError::TimedOut(TimedOut::OutputStalled(30 * SEC)))
    );
    // Once output flows again, keepalive is back in charge.
    let (mut s, start) = established_server_with(SessionConfig::default());
    s.handle_output(start, OutputState::Blocked);
    s.handle_output(start + SEC, OutputState::Flowing);
    s.handle_timeout(start + 15 * SEC);
    while s.poll_transmit().is_some() {}
    s.handle_timeout(start + 36 * SEC);
    assert!(
        s.is_closed(),
        "an unanswered ping ends it within interval + timeout"
    );
}
