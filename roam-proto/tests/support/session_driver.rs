//! Drives one `Session` with untrusted input and checks what it does after every step.
//!
//! Shared by the CI-bounded property test (`tests/session_fuzz.rs`) and the cargo-fuzz targets
//! (`fuzz/fuzz_targets/*.rs`, which include this file with `#[path]`), so that both check the
//! same invariants. Uses only roam-proto's public API (and `bytes`).
//!
//! After every step (one input, then every event and frame drained, as a driver does):
//! - nothing panicked;
//! - every frame the session sent decodes with `wire::decode`, and every frame but a `Hello`
//!   (sent before the peer's limits are known) fits in the frame limit in force;
//! - queued output ([`MAX_TRANSMIT_BYTES`]) and the events and frames of one step
//!   ([`MAX_EVENTS_PER_STEP`], [`MAX_FRAMES_PER_STEP`]) stay bounded;
//! - `SessionEvent::Closed` comes exactly once, in the step in which `is_closed()` becomes true;
//!   from then on the session stays closed and emits nothing more (its docs: "inputs ignored",
//!   and the final `Goodbye` is flushed in the step that closed it, since every step drains);
//! - a session ended by a protocol violation sent, as its last frame, a `Goodbye` whose reason
//!   is `"<rule>: <detail>"` (`ProtocolViolation::goodbye_reason`), cut to fit the frame limit
//!   in force (it always keeps its rule), if it had a link;
//! - right after `handle_timeout(now)`, no timer is due at `now` (a driver would spin);
//! - only a resumable session detaches, and a detached one sends nothing (its docs: with no
//!   link, session-level frames wait for replay and link-level ones are dropped); what it keeps
//!   for replay stays bounded like its queued output.

use std::time::{Duration, Instant};

use bytes::Bytes;
use roam_proto::session::{
    Direction, OutgoingCall, OutputState, Phase, ROOT, Resumption, Role, Session, SessionConfig,
    SessionEvent,
};
use roam_proto::wire::{
    self, Cancel, ChannelDirection, ChannelSpec, Class, Message, Replay, Request, Response,
};
use roam_proto::{Metadata, ProtocolViolation, RefusedBy, SessionError};

/// Most bytes the session may have queued for transmission after one step. Inputs here are
/// small, so anything near this is runaway growth.
pub const MAX_TRANSMIT_BYTES: usize = 16 * 1024 * 1024;
/// Most events one step may produce.
pub const MAX_EVENTS_PER_STEP: usize = 10_000;
/// Most frames one step may produce.
pub const MAX_FRAMES_PER_STEP: usize = 10_000;

/// Which session is driven.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setup {
    /// Its role.
    pub role: Role,
    /// Whether it has completed a valid handshake (the real peer's `Hello`) before the steps.
    pub established: bool,
    /// Acceptor only: whether it admits the peer (`SessionConfig::admission`); the driver
    /// admits every initiator it is asked about.
    pub admission: bool,
    /// Whether both sides offer resumption (`SessionConfig::resumption`; the acceptor has a
    /// resume secret), so that the session is resumable once established.
    pub resumption: bool,
}

impl Setup {
    /// Every distinct setup: both roles, fresh and established, the acceptor with and without
    /// admission, and both roles resumable.
    pub const ALL: [Setup; 10] = [
        Setup::new(Role::Initiator, false, false, false),
        Setup::new(Role::Initiator, true, false, false),
        Setup::new(Role::Acceptor, false, false, false),
        Setup::new(Role::Acceptor, true, false, false),
        Setup::new(Role::Acceptor, false, true, false),
        Setup::new(Role::Acceptor, true, true, false),
        Setup::new(Role::Initiator, false, false, true),
        Setup::new(Role::Initiator, true, false, true),
        Setup::new(Role::Acceptor, false, false, true),
        Setup::new(Role::Acceptor, true, false, true),
    ];

    const fn new(role: Role, established: bool, admission: bool, resumption: bool) -> Setup {
        Setup {
            role,
            established,
            admission,
            resumption,
        }
    }

    /// The configuration of a session of this setup (`admission` aside, for its peer).
    fn config(self, admission: bool) -> SessionConfig {
        SessionConfig {
            admission,
            resumption: self.resumption.then(Resumption::default),
            ..SessionConfig::default()
        }
    }

    /// A new session of `role` configured like this setup's (the peer's, without admission).
    fn session(self, role: Role, admission: bool, now: Instant) -> Session {
        let key = (role == Role::Acceptor).then_some(SESSION_KEY);
        Session::new(role, self.config(admission), key, now).with_resume_secret([3; 32])
    }
}

/// The key every acceptor here issues.
const SESSION_KEY: [u8; 16] = [7; 16];

/// One input to the session (or one command of the application driving it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A frame body from the peer.
    Frame(Vec<u8>),
    /// The clock moves on; timers that are due fire.
    Advance(Duration),
    /// The application makes a call (channel arguments: `true` where it sends).
    Call {
        /// The method.
        method_id: u64,
        /// The call's timeout, in milliseconds.
        timeout_ms: Option<u32>,
        /// Its channel arguments.
        channels: Vec<bool>,
    },
    /// The driver wrote everything (`handle_flushed`).
    Flushed,
    /// The driver's output changed (`handle_output`).
    Output(OutputState),
    /// The link failed; with `violation`, because the peer broke the framing.
    LinkClosed {
        /// Whether the peer caused it (a frame over the limit).
        violation: bool,
    },
    /// Graceful shutdown (`start_drain`).
    Drain,
    /// Immediate shutdown (`close`).
    Close,
    /// Initiator, resumable and detached: resumes over a new link (`resume`). The peer's next
    /// [`PeerStep`], whichever it is, is the answer that resumes the session.
    Resume,
    /// A frame from a peer that follows the conversation (see [`PeerStep`]).
    Peer(PeerStep),
}

/// A message of a peer that follows the protocol: it refers to what is open on the session
/// (the driver fills in the IDs), and a step that has nothing to refer to, or that would come
/// before the peer's `Hello`, is skipped (the step still drains and checks). The session must
/// never take such a peer for a violator (`tests/session_fuzz.rs` checks that).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerStep {
    /// The real peer's `Hello` (skipped once it has been sent).
    Hello,
    /// Acknowledges every session-level message received (resumable sessions only).
    Ack,
    /// Answers the session's latest `Ping`.
    Pong,
    /// A call with the peer's next request ID; channel arguments: `true` where the peer (the
    /// caller) sends.
    Request {
        /// The method (the driver's application answers even ones at once).
        method_id: u64,
        /// The caller's remaining patience, in milliseconds.
        timeout_ms: Option<u32>,
        /// Its channel arguments.
        channels: Vec<bool>,
    },
    /// Answers one of our calls (the `n`-th, modulo how many are open).
    Respond(usize),
    /// Cancels one of the peer's calls.
    Cancel(usize),
    /// An item on one of the channels the peer sends on.
    Data(usize),
    /// The peer is done sending on one of them.
    Close(usize),
    /// The peer gives up receiving on one of the channels we send on.
    Reset(usize),
    /// The peer lets us send more on one of them.
    Credit(usize, u32),
}

/// What the peer knows is open: IDs it may refer to.
#[derive(Debug, Default)]
struct PeerModel {
    /// The peer's `Hello` was sent.
    hello: bool,
    requests_made: u64,
    channels_made: u64,
    /// Our calls the peer has not answered.
    our_calls: Vec<u64>,
    /// The peer's calls.
    calls: Vec<u64>,
    /// Channels the peer sends on.
    sends: Vec<u64>,
    /// Channels the peer receives on.
    receives: Vec<u64>,
    /// The nonce of the session's latest `Ping`.
    ping: Option<u64>,
    /// Session-level messages received from the session.
    received: u64,
    /// The session sent a resume `Hello` the peer has not answered.
    resuming: bool,
}

/// Takes the `n`-th element (modulo the length) out of `v`, or copies it with `keep`.
fn pick(v: &mut Vec<u64>, n: usize, keep: bool) -> Option<u64> {
    if v.is_empty() {
        return None;
    }
    let i = n % v.len();
    Some(if keep { v[i] } else { v.remove(i) })
}

impl PeerModel {
    /// What the peer learns from a frame the session sent.
    fn observe(&mut self, msg: &Message) {
        if msg.class() == Class::Session {
            self.received += 1;
        }
        match msg {
            Message::Request(r) => {
                self.our_calls.push(r.id);
                for spec in &r.channels {
                    match spec.direction {
                        ChannelDirection::CallerToCallee => self.receives.push(spec.id),
                        ChannelDirection::CalleeToCaller => self.sends.push(spec.id),
                    }
                }
            }
            // A response after the `Cancel` stays possible (they may cross): it is dropped.
            Message::Ping { nonce } => self.ping = Some(*nonce),
            _ => {}
        }
    }

    /// The peer's message for `step`, if it has something to refer to, to a session of
    /// `setup` that is `resumable` or not.
    fn message(
        &mut self,
        setup: Setup,
        resumable: bool,
        now: Instant,
        step: &PeerStep,
    ) -> Option<Message> {
        let peer = setup.role.peer();
        let hello = || wire::decode(&peer_hello(setup, now)).expect("a Hello decodes");
        Some(match step {
            // The first frame on the new link answers the resume, whatever else the peer had
            // in mind.
            _ if self.resuming => {
                self.resuming = false;
                let Message::Hello(mut answer) = hello() else {
                    unreachable!("a Hello")
                };
                answer.replay = Replay::Resumed {
                    last_received: self.received,
                    nonce: [5; 16],
                };
                Message::Hello(answer)
            }
            PeerStep::Hello if self.hello => return None,
            PeerStep::Hello => {
                self.hello = true;
                hello()
            }
            // Nothing but a `Hello` comes first.
            _ if !self.hello => return None,
            PeerStep::Ack if !resumable => return None,
            PeerStep::Ack => Message::Ack {
                received: self.received,
            },
            PeerStep::Pong => Message::Pong { nonce: self.ping? },
            PeerStep::Request {
                method_id,
                timeout_ms,
                channels,
            } => {
                let id = peer.request_id(self.requests_made);
                self.requests_made += 1;
                self.calls.push(id);
                let channels = channels
                    .iter()
                    .map(|&peer_sends| {
                        // Channel IDs follow the same parity as request IDs.
                        let id = peer.request_id(self.channels_made);
                        self.channels_made += 1;
                        if peer_sends {
                            self.sends.push(id);
                        } else {
                            self.receives.push(id);
                        }
                        ChannelSpec {
                            id,
                            direction: if peer_sends {
                                ChannelDirection::CallerToCallee
                            } else {
                                ChannelDirection::CalleeToCaller
                            },
                        }
                    })
                    .collect();
                Message::Request(Request {
                    conn: ROOT,
                    id,
                    method_id: *method_id,
                    metadata: Metadata::new(),
                    channels,
                    timeout_micros: timeout_ms.map(|ms| u64::from(ms) * 1000),
                    payload: Bytes::from_static(&[0]),
                })
            }
            PeerStep::Respond(n) => Message::Response(Response {
                conn: ROOT,
                id: pick(&mut self.our_calls, *n, false)?,
                metadata: Metadata::new(),
                payload: Bytes::from_static(&[0, 1]),
            }),
            PeerStep::Cancel(n) => Message::Cancel(Cancel {
                conn: ROOT,
                id: pick(&mut self.calls, *n, false)?,
            }),
            PeerStep::Data(n) => Message::Data {
                conn: ROOT,
                channel: pick(&mut self.sends, *n, true)?,
                payload: Bytes::from_static(&[2]),
            },
            PeerStep::Close(n) => Message::Close {
                conn: ROOT,
                channel: pick(&mut self.sends, *n, false)?,
            },
            PeerStep::Reset(n) => Message::Reset {
                conn: ROOT,
                channel: pick(&mut self.receives, *n, false)?,
            },
            PeerStep::Credit(n, credit) => Message::Credit {
                conn: ROOT,
                channel: pick(&mut self.receives, *n, true)?,
                n: *credit,
            },
        })
    }
}

/// The frame a real peer of a `setup` session sends first: its `Hello`, taken from a `Session`
/// of the opposite role (so it has whatever fields `Hello` has today).
pub fn peer_hello(setup: Setup, now: Instant) -> Bytes {
    let mut peer = setup.session(setup.role.peer(), false, now);
    if let Some(hello) = peer.poll_transmit() {
        return hello;
    }
    // A resuming acceptor holds its `Hello` until it hears the initiator's.
    let mut us = setup.session(setup.role, false, now);
    let ours = us
        .poll_transmit()
        .expect("an initiator sends its Hello at once");
    peer.handle_frame(now, &ours);
    peer.poll_transmit()
        .expect("an acceptor answers a new initiator's Hello")
}

/// A session and the application around it: reacts to events in a fixed way (admits, answers
/// requests for even method IDs with their payload, grants one credit per item received, sends
/// one item per credit grant) and checks the invariants after every step.
pub struct Driver {
    session: Session,
    setup: Setup,
    peer: PeerModel,
    config: SessionConfig,
    now: Instant,
    /// A `SessionEvent::Closed` has been seen.
    closed: bool,
    /// What it said.
    closed_with: Option<SessionError>,
    /// Frames sent so far, for the tests' own sanity checks.
    frames_sent: usize,
    /// Frames sent in the last step.
    last_frames: usize,
    /// `SessionEvent::Resumed` events seen.
    resumed: usize,
}

impl Driver {
    /// A session set up as `setup` says, its first output already drained and checked.
    pub fn new(setup: Setup) -> Driver {
        let now = Instant::now();
        let mut driver = Driver {
            session: setup.session(setup.role, setup.admission, now),
            setup,
            peer: PeerModel::default(),
            config: setup.config(setup.admission),
            now,
            closed: false,
            closed_with: None,
            frames_sent: 0,
            last_frames: 0,
            resumed: 0,
        };
        driver.drain(&"the session's creation", false, false);
        if setup.established {
            driver.step(&Step::Peer(PeerStep::Hello));
            assert!(
                matches!(driver.session.phase(), Phase::Established),
                "the real peer's Hello establishes a {setup:?} session, but it is {:?}",
                driver.session.phase()
            );
            assert_eq!(driver.session.is_resumable(), setup.resumption, "{setup:?}");
        }
        driver
    }

    /// The session driven.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// Why the session ended, once it has.
    pub fn closed_with(&self) -> Option<&SessionError> {
        self.closed_with.as_ref()
    }

    /// How many times the session was resumed.
    pub fn resumed(&self) -> usize {
        self.resumed
    }

    /// Frames the session has sent so far.
    pub fn frames_sent(&self) -> usize {
        self.frames_sent
    }

    /// Feeds one step, drains every event and frame, and checks the invariants.
    pub fn step(&mut self, step: &Step) {
        let was_closed = self.session.is_closed();
        let was_detached = self.session.is_detached();
        let now = self.now;
        match step {
            Step::Frame(bytes) => self
                .session
                .handle_frame(now, &Bytes::copy_from_slice(bytes)),
            Step::Advance(d) => {
                // A clock that cannot go further just stays put.
                self.now = now.checked_add(*d).unwrap_or(now);
                if self.session.poll_timeout().is_some_and(|at| at <= self.now) {
                    self.session.handle_timeout(self.now);
                    let due = self.session.poll_timeout();
                    assert!(
                        due.is_none_or(|at| at > self.now),
                        "a timer is still due right after handle_timeout; a driver would spin"
                    );
                }
            }
            Step::Call {
                method_id,
                timeout_ms,
                channels,
            } => {
                let id = self.session.next_request_id();
                let channels = channels
                    .iter()
                    .map(|&out| {
                        if out {
                            Direction::Outgoing
                        } else {
                            Direction::Incoming
                        }
                    })
                    .collect();
                let call = OutgoingCall {
                    method_id: *method_id,
                    metadata: Metadata::new(),
                    timeout: timeout_ms.map(|ms| Duration::from_millis(ms.into())),
                    payload: Bytes::from_static(&[0]),
                    channels,
                    args_schema: None,
                    channels_schema: None,
                };
                // Refusals (closed, too large for the peer's limit) are the session's call.
                // (The peer learns of the call from its `Request`, if it is ever sent.)
                let _ = self.session.call(now, ROOT, id, call, ());
            }
            Step::Resume => {
                if self.session.resume(now, [self.frames_sent as u8; 16]) {
                    self.peer.resuming = true;
                }
            }
            // Without a link the peer cannot send: what it sent would be lost, and it would
            // have to send it again after the resume (which this peer does not do).
            Step::Peer(_) if self.session.is_detached() => {}
            Step::Peer(step) => {
                let resumable = self.session.is_resumable();
                if let Some(msg) = self.peer.message(self.setup, resumable, now, step) {
                    let frame = wire::encode(&msg).expect("the peer's messages encode");
                    self.session.handle_frame(now, &Bytes::from(frame));
                }
            }
            Step::Flushed => self.session.handle_flushed(),
            Step::Output(state) => self.session.handle_output(now, *state),
            Step::LinkClosed { violation } => {
                let violation = violation.then_some(ProtocolViolation::FrameTooLarge {
                    len: 1 << 30,
                    max: self.config.limits.max_frame_size.into(),
                });
                self.session
                    .handle_link_closed(now, violation, "the link failed".to_owned());
            }
            Step::Drain => self.session.start_drain(now, "draining"),
            Step::Close => self.session.close(now, "closing"),
        }
        self.drain(step, was_closed, was_detached);
        if was_detached && self.session.is_detached() {
            assert_eq!(
                self.last_frames, 0,
                "a detached session sent frames after {step:?}"
            );
        }
    }

    /// Drains events (acting on them) and then frames, checking both.
    fn drain(&mut self, step: &dyn std::fmt::Debug, was_closed: bool, was_detached: bool) {
        self.check_queued(step);
        let now = self.now;
        let mut events = 0;
        let mut violation = None;
        while let Some(event) = self.session.poll_event() {
            events += 1;
            assert!(
                events < MAX_EVENTS_PER_STEP,
                "more than {MAX_EVENTS_PER_STEP} events after {step:?}"
            );
            match event {
                SessionEvent::Closed(error) => {
                    assert!(
                        !self.closed,
                        "a second Closed event ({error:?}) after {step:?}"
                    );
                    self.closed = true;
                    if let SessionError::Protocol(v) = &error {
                        violation = Some(v.clone());
                    }
                    self.closed_with = Some(error);
                }
                SessionEvent::Admit { .. } => self.session.admit(now),
                // This acceptor has no other sessions to resume.
                SessionEvent::ResumeRequested { .. } => {
                    self.session
                        .refuse(now, RefusedBy::Resume, "no such session here")
                }
                SessionEvent::Resumed { .. } => self.resumed += 1,
                SessionEvent::Detached { .. } => {
                    assert!(
                        self.session.is_resumable(),
                        "only a resumable session detaches"
                    );
                    self.peer.resuming = false;
                }
                SessionEvent::Request(call) if call.method_id % 2 == 0 => self.session.respond(
                    now,
                    call.conn,
                    call.id,
                    Metadata::new(),
                    call.payload,
                    None,
                ),
                SessionEvent::ChannelData { conn, channel, .. } => {
                    self.session.grant_credit(conn, channel, 1)
                }
                SessionEvent::ChannelCredit { conn, channel, .. } => {
                    // Refused sends (the channel went away) are fine.
                    let _ = self
                        .session
                        .send_data(conn, channel, Bytes::from_static(&[1]));
                }
                _ => {}
            }
        }
        self.check_queued(step);
        let max_frame = self
            .session
            .limits()
            .unwrap_or(self.config.limits)
            .max_frame_size as usize;
        let mut frames = 0;
        let mut last = None;
        while let Some(frame) = self.session.poll_transmit() {
            frames += 1;
            assert!(
                frames < MAX_FRAMES_PER_STEP,
                "more than {MAX_FRAMES_PER_STEP} frames after {step:?}"
            );
            let msg = wire::decode(&frame).unwrap_or_else(|e| {
                panic!("after {step:?} the session sent a frame that does not decode ({e}): {frame:02x?}")
            });
            assert!(
                matches!(msg, Message::Hello(_)) || frame.len() <= max_frame,
                "after {step:?} the session sent a {}-byte frame over the {max_frame}-byte limit: {msg:?}",
                frame.len()
            );
            self.peer.observe(&msg);
            last = Some(msg);
        }
        self.frames_sent += frames;
        self.last_frames = frames;
        assert_eq!(
            self.session.transmit_bytes(),
            0,
            "transmit_bytes counts frames that poll_transmit no longer yields"
        );
        if was_closed {
            assert!(
                events == 0 && frames == 0,
                "a closed session emitted {events} events and {frames} frames after {step:?}"
            );
        }
        assert_eq!(
            self.closed,
            self.session.is_closed(),
            "after {step:?}: Closed event seen = {}, is_closed() = {} (phase {:?})",
            self.closed,
            self.session.is_closed(),
            self.session.phase()
        );
        assert!(!self.session.is_finished() || self.session.is_closed());
        assert!(!self.session.is_detached() || self.session.is_resumable());
        let (replay_bytes, _) = self.session.replay_buffered();
        assert!(
            replay_bytes <= MAX_TRANSMIT_BYTES,
            "{replay_bytes} bytes kept for replay after {step:?}"
        );
        if let Some(v) = violation {
            let want = v.goodbye_reason();
            assert!(want.starts_with(&format!("{}: ", v.rule())));
            let goodbye = wire::encode(&Message::Goodbye {
                reason: want.clone(),
            })
            .expect("a Goodbye encodes");
            assert!(
                !was_detached,
                "a detached session ended on a violation ({v}) after {step:?}: a link it gave up on cannot break rules"
            );
            match &last {
                Some(Message::Goodbye { reason }) if goodbye.len() > max_frame => assert!(
                    want.starts_with(reason.as_str())
                        && reason.starts_with(&format!("{}: ", v.rule())),
                    "the Goodbye after {step:?}, cut to fit, does not start with the broken rule: {reason:?}"
                ),
                Some(Message::Goodbye { reason }) => assert_eq!(
                    reason, &want,
                    "the Goodbye after {step:?} does not name the broken rule"
                ),
                other => panic!(
                    "the session ended on a violation ({v}) after {step:?}, but its last frame was {other:?}, not Goodbye(\"{want}\")"
                ),
            }
        }
    }

    fn check_queued(&self, step: &dyn std::fmt::Debug) {
        let queued = self.session.transmit_bytes();
        assert!(
            queued <= MAX_TRANSMIT_BYTES,
            "{queued} bytes queued after {step:?}"
        );
    }
}

/// Runs `steps` against a fresh driver of each setup.
pub fn run_all(steps: &[Step]) {
    for setup in Setup::ALL {
        run(setup, steps);
    }
}

/// Runs `steps` against a driver set up as `setup`.
pub fn run(setup: Setup, steps: &[Step]) {
    let mut driver = Driver::new(setup);
    for step in steps {
        driver.step(step);
    }
}

/// The fuzz target's input format, read leniently (every byte string is an input): the first
/// byte picks the [`Setup`] (an index into [`Setup::ALL`]), then one step per tag byte:
/// - `0x00..=0xef`: a frame of that many bytes (fewer at the end of the input);
/// - `0xf0 ms`: advance `ms` milliseconds; `0xf1 s`: advance `s` seconds;
/// - `0xf2 method timeout channels`: a call (`timeout` 0 is none, else `timeout * 100` ms;
///   `channels`' low two bits are how many, the next bits say which ones we send on);
/// - `0xf3`: flushed; `0xf4 n`: output blocked, progress or flowing (`n % 3`);
/// - `0xf5 v`: the link closed (by a violation if `v` is odd); `0xf6`: drain;
/// - `0xf7 v`: close (`v` even) or resume (`v` odd);
/// - `0xf8 kind n …`: a [`PeerStep`] about the `n`-th open call or channel (`kind % 10`: 0
///   request, reading `channels timeout` bytes more like a call; 1 respond; 2 cancel; 3 data;
///   4 close; 5 reset; 6 credit, reading its amount; 7 hello; 8 pong; 9 ack);
/// - `0xf9..=0xff hi lo`: a frame of `hi * 256 + lo` bytes.
pub fn parse(data: &[u8]) -> (Setup, Vec<Step>) {
    let Some((&first, mut rest)) = data.split_first() else {
        return (Setup::ALL[0], Vec::new());
    };
    let setup = Setup::ALL[usize::from(first) % Setup::ALL.len()];
    let mut steps = Vec::new();
    // A byte past the end reads as 0.
    let next = |rest: &mut &[u8]| -> u8 {
        match rest.split_first() {
            Some((&b, tail)) => {
                *rest = tail;
                b
            }
            None => 0,
        }
    };
    while !rest.is_empty() {
        let tag = next(&mut rest);
        let frame = |rest: &mut &[u8], len: usize| {
            let (frame, tail) = rest.split_at(len.min(rest.len()));
            *rest = tail;
            Step::Frame(frame.to_vec())
        };
        let step = match tag {
            0x00..=0xef => frame(&mut rest, tag.into()),
            0xf0 => Step::Advance(Duration::from_millis(next(&mut rest).into())),
            0xf1 => Step::Advance(Duration::from_secs(next(&mut rest).into())),
            0xf2 => {
                let method_id = next(&mut rest).into();
                let timeout = next(&mut rest);
                let channels = next(&mut rest);
                Step::Call {
                    method_id,
                    timeout_ms: (timeout != 0).then(|| u32::from(timeout) * 100),
                    channels: (0..channels & 3)
                        .map(|i| channels & (4 << i) != 0)
                        .collect(),
                }
            }
            0xf3 => Step::Flushed,
            0xf4 => Step::Output(match next(&mut rest) % 3 {
                0 => OutputState::Blocked,
                1 => OutputState::Progress,
                _ => OutputState::Flowing,
            }),
            0xf5 => Step::LinkClosed {
                violation: next(&mut rest) % 2 == 1,
            },
            0xf6 => Step::Drain,
            0xf7 => match next(&mut rest) % 2 {
                0 => Step::Close,
                _ => Step::Resume,
            },
            0xf8 => {
                let kind = next(&mut rest);
                let n = usize::from(next(&mut rest));
                Step::Peer(match kind % 10 {
                    7 => PeerStep::Hello,
                    8 => PeerStep::Pong,
                    9 => PeerStep::Ack,
                    0 => {
                        let channels = next(&mut rest);
                        let timeout = next(&mut rest);
                        PeerStep::Request {
                            method_id: n as u64,
                            timeout_ms: (timeout != 0).then(|| u32::from(timeout) * 100),
                            channels: (0..channels & 3)
                                .map(|i| channels & (4 << i) != 0)
                                .collect(),
                        }
                    }
                    1 => PeerStep::Respond(n),
                    2 => PeerStep::Cancel(n),
                    3 => PeerStep::Data(n),
                    4 => PeerStep::Close(n),
                    5 => PeerStep::Reset(n),
                    _ => PeerStep::Credit(n, next(&mut rest).into()),
                })
            }
            0xf9..=0xff => {
                let len = usize::from(next(&mut rest)) << 8 | usize::from(next(&mut rest));
                frame(&mut rest, len)
            }
        };
        steps.push(step);
    }
    (setup, steps)
}

/// The session fuzz target: parses `data` (see [`parse`]) and runs it.
pub fn fuzz_session(data: &[u8]) {
    let (setup, steps) = parse(data);
    run(setup, &steps);
}

/// The decode fuzz target: any bytes, as a frame body, decode or are refused without a panic;
/// a message that decodes encodes again, to bytes that decode to the same message and are a
/// fixed point of re-encoding. (Not necessarily to `data`: a non-canonical varint such as
/// `80 00` is accepted, as `docs/protocol.md` says.)
pub fn fuzz_decode(data: &[u8]) {
    let _ = wire::hello_version(data);
    let Ok(msg) = wire::decode(&Bytes::copy_from_slice(data)) else {
        return;
    };
    let bytes = wire::encode(&msg).expect("a decoded message encodes");
    let again = wire::decode(&Bytes::from(bytes.clone())).unwrap_or_else(|e| {
        panic!("{msg:?} re-encoded as {bytes:02x?}, which does not decode: {e}")
    });
    assert_eq!(again, msg, "re-encoding changed the message");
    assert_eq!(
        wire::encode(&again).expect("it encoded before"),
        bytes,
        "re-encoding is not a fixed point"
    );
}
