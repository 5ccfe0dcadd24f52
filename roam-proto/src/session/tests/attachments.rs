//! What the application attaches to calls and channels comes back, exactly once, on every
//! path that ends them: answer, deadline, cancel, stop, the peer's `Close`/`Reset`, and the
//! session's end.

use std::time::{Duration, Instant};

use super::super::*;
use super::util::*;

/// Names as attachments, so a test can see which one came back where.
#[derive(Debug, PartialEq, Eq)]
struct Named;

impl Attachments for Named {
    type Call = &'static str;
    type Serve = &'static str;
    type Channel = &'static str;
}

/// A pair past its handshake, with the `Established` events taken.
fn pair(client: Limits, server: Limits) -> Pair<Named> {
    let mut p = Pair::attached_with_limits(client, server);
    Pair::events(&mut p.client);
    Pair::events(&mut p.server);
    p
}

fn start(p: &mut Pair<Named>, c: OutgoingCall, name: &'static str) -> CallStarted {
    let id = p.client.next_request_id();
    p.client.call(p.now, ROOT, id, c, name).unwrap()
}

/// The server's events until now, with every request it got attached to `"handler"`.
fn serve_all(p: &mut Pair<Named>) -> Vec<SessionEvent<Named>> {
    let events = Pair::events(&mut p.server);
    for e in &events {
        if let SessionEvent::Request(call) = e {
            p.server.serving(call.conn, call.id, "handler").unwrap();
        }
    }
    events
}

#[test]
fn an_answer_hands_back_the_call_and_a_stop_hands_back_the_handler() {
    let mut p = pair(Limits::default(), Limits::default());
    let id = start(&mut p, call(1), "first").id;
    p.drive();
    serve_all(&mut p);
    assert_eq!(p.server.served(ROOT, id), Some(&"handler"));
    p.server
        .respond(p.now, ROOT, id, Metadata::new(), vec![0], None);
    p.drive();
    assert!(matches!(
        Pair::events(&mut p.client).as_slice(),
        [SessionEvent::Response { call: "first", .. }]
    ));

    let id = start(&mut p, call(1), "second").id;
    p.drive();
    serve_all(&mut p);
    let cancelled = p.client.cancel(ROOT, id).expect("pending");
    assert_eq!((cancelled.call, cancelled.sent), ("second", true));
    assert!(p.client.cancel(ROOT, id).is_none(), "given up once");
    p.drive();
    assert!(matches!(
        Pair::events(&mut p.server).as_slice(),
        [SessionEvent::StopHandler {
            serve: Some("handler"),
            ..
        }]
    ));
    // The late answer to the cancelled call is dropped: nothing comes back twice.
    assert!(Pair::events(&mut p.client).is_empty());
}

#[test]
fn a_waiting_call_given_up_hands_back_its_channel_ends() {
    let mut p = pair(Limits::default(), one_slot());
    start(&mut p, call(1), "running");
    let waiting = start(
        &mut p,
        OutgoingCall {
            channels: vec![Direction::Outgoing],
            timeout: Some(Duration::from_secs(1)),
            ..call(2)
        },
        "waiting",
    );
    p.client
        .attach_channel(ROOT, waiting.channels[0], "waiting's channel")
        .unwrap();
    let cancelled = p.client.cancel(ROOT, waiting.id).expect("waiting");
    assert_eq!(cancelled.call, "waiting");
    assert!(!cancelled.sent);
    assert_eq!(cancelled.channels, vec!["waiting's channel"]);

    // Same through the deadline.
    let late = start(
        &mut p,
        OutgoingCall {
            channels: vec![Direction::Incoming],
            timeout: Some(Duration::from_millis(10)),
            ..call(2)
        },
        "late",
    );
    p.client
        .attach_channel(ROOT, late.channels[0], "late's channel")
        .unwrap();
    p.advance(Duration::from_millis(20));
    assert!(Pair::events(&mut p.client).iter().any(|e| matches!(
        e,
        SessionEvent::CallFailed { call: "late", sent: false, channels, .. }
            if channels == &vec!["late's channel"]
    )));
    assert_eq!(p.client.waiting_calls(), 0);
}

#[test]
fn channel_ends_come_back_when_the_peer_closes_or_resets() {
    let mut p = pair(Limits::default(), Limits::default());
    let started = start(
        &mut p,
        OutgoingCall {
            channels: vec![Direction::Incoming, Direction::Outgoing],
            ..call(3)
        },
        "streams",
    );
    let (ours_in, ours_out) = (started.channels[0], started.channels[1]);
    p.client.attach_channel(ROOT, ours_in, "rx").unwrap();
    p.client.attach_channel(ROOT, ours_out, "tx").unwrap();
    p.drive();
    let Some(SessionEvent::Request(req)) = serve_all(&mut p).into_iter().next() else {
        panic!("a request")
    };
    assert_eq!(p.client.channel_end(ROOT, ours_in), Some(&"rx"));
    // The server's sender (our `rx`) closes; its receiver (our `tx`) resets.
    p.server.close_channel(req.conn, ours_in);
    p.server.reset_channel(req.conn, ours_out);
    p.drive();
    let events = Pair::events(&mut p.client);
    assert!(events.contains(&SessionEvent::ChannelClosed {
        conn: ROOT,
        channel: ours_in,
        end: Some("rx"),
    }));
    assert!(events.contains(&SessionEvent::ChannelReset {
        conn: ROOT,
        channel: ours_out,
        end: Some("tx"),
    }));
    assert_eq!(p.client.channel_end(ROOT, ours_in), None);
}

#[test]
fn the_sessions_end_releases_everything_still_attached() {
    let mut p = pair(Limits::default(), one_slot());
    let sent = start(
        &mut p,
        OutgoingCall {
            channels: vec![Direction::Outgoing],
            ..call(1)
        },
        "sent",
    );
    p.client
        .attach_channel(ROOT, sent.channels[0], "sent's channel")
        .unwrap();
    start(&mut p, call(2), "waiting");
    p.drive();
    serve_all(&mut p);
    assert!(
        p.client.take_released().calls.is_empty(),
        "nothing before the end"
    );
    p.client.close(p.now, "done");
    p.server.close(p.now, "done");
    let mut released = p.client.take_released();
    released.calls.sort();
    assert_eq!(released.calls, vec!["sent", "waiting"]);
    assert_eq!(released.channels, vec!["sent's channel"]);
    assert_eq!(p.server.take_released().serving, vec!["handler"]);
}

#[test]
fn a_call_needs_an_unused_id_of_our_parity() {
    let now = Instant::now();
    let mut s =
        Session::<Named>::with_attachments(Role::Initiator, SessionConfig::default(), None, now);
    assert_eq!(
        s.call(now, ROOT, 2, call(1), "even").unwrap_err(),
        (CallRejected::IdInUse(2), "even")
    );
    s.call(now, ROOT, 1, call(1), "one").unwrap();
    assert_eq!(
        s.call(now, ROOT, 1, call(1), "again").unwrap_err(),
        (CallRejected::IdInUse(1), "again")
    );
}

#[test]
fn a_call_that_cannot_be_sent_at_once_is_refused_by_call_itself() {
    let small = Limits {
        max_frame_size: 64,
        ..Limits::default()
    };
    let mut p = pair(small, Limits::default());
    let id = p.client.next_request_id();
    // 60 payload bytes fit the 64-byte frame; with the request's header they do not.
    let refused = p.client.call(
        p.now,
        ROOT,
        id,
        OutgoingCall {
            payload: vec![0; 60].into(),
            channels: vec![Direction::Outgoing],
            ..call(1)
        },
        "too big",
    );
    assert!(matches!(
        refused,
        Err((CallRejected::TooLarge { .. }, "too big"))
    ));
    assert!(Pair::events(&mut p.client).is_empty(), "no event as well");
    assert_eq!(p.client.open_channels(), 0, "its channel is gone");
}
