//! A deterministic pair of sessions: two `Session`s, the wire between them as queues, and a
//! virtual clock. Time moves only when a test says so; faults are edits of the wire.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::super::*;

/// Starting calls with the session's own ID allocator and nothing attached.
pub trait Start {
    fn start(
        &mut self,
        now: Instant,
        conn: ConnId,
        call: OutgoingCall,
    ) -> Result<CallStarted, CallRejected>;
}

impl Start for Session {
    fn start(
        &mut self,
        now: Instant,
        conn: ConnId,
        call: OutgoingCall,
    ) -> Result<CallStarted, CallRejected> {
        let id = self.next_request_id();
        self.call(now, conn, id, call, ()).map_err(|(e, ())| e)
    }
}

/// Which way a frame travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Way {
    ClientToServer,
    ServerToClient,
}

/// Two sessions with a wire and a clock; `A` is what they keep with calls and channels.
pub struct Pair<A: Attachments = ()> {
    pub client: Session<A>,
    pub server: Session<A>,
    pub now: Instant,
    /// One-way delay of every frame.
    pub latency: Duration,
    c2s: VecDeque<(Instant, Bytes)>,
    s2c: VecDeque<(Instant, Bytes)>,
    /// Frames in these directions are queued but not delivered until released.
    held: [bool; 2],
    /// Frames in these directions vanish (a peer that stopped answering).
    blackhole: [bool; 2],
}

/// The secret a resumable pair's server grants.
pub const SECRET: [u8; 32] = [5; 32];

/// Steps a drive may take before the test is failed as a livelock.
const MAX_STEPS: usize = 10_000;

impl Pair {
    /// A pair with these configs, handshake done.
    pub fn with_configs(client: SessionConfig, server: SessionConfig) -> Self {
        Pair::attached(client, server)
    }

    /// A pair with these limits and default timers.
    pub fn new(client: Limits, server: Limits) -> Self {
        Pair::attached_with_limits(client, server)
    }
}

impl<A: Attachments> Pair<A> {
    /// A pair keeping `A` with its calls and channels, with these limits and default timers.
    pub fn attached_with_limits(client: Limits, server: Limits) -> Self {
        Pair::attached(
            SessionConfig {
                limits: client,
                ..SessionConfig::default()
            },
            SessionConfig {
                limits: server,
                ..SessionConfig::default()
            },
        )
    }

    /// A pair keeping `A` with its calls and channels, with these configs, handshake done.
    pub fn attached(client: SessionConfig, server: SessionConfig) -> Self {
        Pair::build(client, server, None)
    }

    /// Like [`Pair::attached`], with a server that can grant resumption (its config must have
    /// [`SessionConfig::resumption`] for it to).
    pub fn resumable(client: SessionConfig, server: SessionConfig) -> Self {
        Pair::build(client, server, Some(SECRET))
    }

    fn build(client: SessionConfig, server: SessionConfig, secret: Option<[u8; 32]>) -> Self {
        let now = Instant::now();
        let mut server = Session::with_attachments(Role::Acceptor, server, Some([9; 16]), now);
        if let Some(secret) = secret {
            server = server.with_resume_secret(secret);
        }
        let mut p = Pair {
            client: Session::with_attachments(Role::Initiator, client, None, now),
            server,
            now,
            latency: Duration::ZERO,
            c2s: VecDeque::new(),
            s2c: VecDeque::new(),
            held: [false; 2],
            blackhole: [false; 2],
        };
        p.drive();
        p
    }

    fn index(way: Way) -> usize {
        match way {
            Way::ClientToServer => 0,
            Way::ServerToClient => 1,
        }
    }

    /// Holds back frames travelling `way` (they are delivered late, on [`Pair::release`]).
    pub fn hold(&mut self, way: Way) {
        self.held[Self::index(way)] = true;
    }

    /// Delivers what was held, from now on.
    pub fn release(&mut self, way: Way) {
        self.held[Self::index(way)] = false;
    }

    /// Frames travelling `way` are lost from now on.
    pub fn blackhole(&mut self, way: Way) {
        self.blackhole[Self::index(way)] = true;
    }

    /// Frames travelling `way` are delivered again (after [`Pair::blackhole`]).
    pub fn restore(&mut self, way: Way) {
        self.blackhole[Self::index(way)] = false;
    }

    /// The client resumes over a new link, as a server would run it: the client's resume
    /// `Hello` goes to a fresh acceptor session, whose [`SessionEvent::ResumeRequested`] is
    /// passed to the original server session's [`Session::accept_resume`]. Returns the
    /// resume `Hello`'s bytes (for replaying them later) and the outcome; on success the new
    /// link is driven like the old one.
    pub fn resume(&mut self, nonce: [u8; 16]) -> (Bytes, Result<(), ResumeRefusal>) {
        self.c2s.clear();
        self.s2c.clear();
        assert!(self.client.resume(self.now, nonce), "the client can resume");
        let hello = self.client.poll_transmit().expect("a resume Hello");
        let (outcome, answer) = self.offer_resume(&hello, [nonce[0].wrapping_add(100); 16]);
        for frame in answer {
            self.client.handle_frame(self.now, &frame);
        }
        self.drive();
        (hello, outcome)
    }

    /// Presents a resume `Hello` (anyone's) to the server the way a new link would; returns
    /// the outcome and, if refused, what the new link heard.
    pub fn offer_resume(
        &mut self,
        hello: &Bytes,
        nonce: [u8; 16],
    ) -> (Result<(), ResumeRefusal>, Vec<Bytes>) {
        let mut fresh: Session<A> = Session::with_attachments(
            Role::Acceptor,
            self.server.config.clone(),
            Some([8; 16]),
            self.now,
        )
        .with_resume_secret([7; 32]);
        assert!(
            fresh.poll_transmit().is_none(),
            "an acceptor that resumes holds its Hello"
        );
        fresh.handle_frame(self.now, hello);
        let resume = std::iter::from_fn(|| fresh.poll_event())
            .find_map(|e| match e {
                SessionEvent::ResumeRequested { resume, .. } => Some(resume),
                _ => None,
            })
            .expect("the fresh session reports the resume request");
        let outcome = self.server.accept_resume(self.now, &resume, nonce);
        let mut answer = Vec::new();
        if let Err(refusal) = outcome {
            // What a server does with a refusal: the new link hears why.
            fresh.refuse(self.now, RefusedBy::Resume, &refusal.to_string());
            answer.extend(std::iter::from_fn(|| fresh.poll_transmit()));
        }
        (outcome, answer)
    }

    /// The link dies: frames in flight are lost and both sides are told.
    pub fn disconnect(&mut self) {
        self.c2s.clear();
        self.s2c.clear();
        self.client
            .handle_link_closed(self.now, None, "link died".into());
        self.server
            .handle_link_closed(self.now, None, "link died".into());
    }

    /// Moves what both sides transmit onto the wire; returns whether anything moved.
    fn collect(&mut self) -> bool {
        let at = self.now + self.latency;
        let mut moved = false;
        while let Some(f) = self.client.poll_transmit() {
            moved = true;
            if !self.blackhole[0] {
                self.c2s.push_back((at, f));
            }
        }
        while let Some(f) = self.server.poll_transmit() {
            moved = true;
            if !self.blackhole[1] {
                self.s2c.push_back((at, f));
            }
        }
        moved
    }

    /// Delivers every frame due now; returns whether any was delivered.
    fn deliver(&mut self) -> bool {
        let mut delivered = false;
        while !self.held[0]
            && let Some((at, _)) = self.c2s.front()
            && *at <= self.now
        {
            if let Some((_, f)) = self.c2s.pop_front() {
                self.server.handle_frame(self.now, &f);
                delivered = true;
            }
        }
        while !self.held[1]
            && let Some((at, _)) = self.s2c.front()
            && *at <= self.now
        {
            if let Some((_, f)) = self.s2c.pop_front() {
                self.client.handle_frame(self.now, &f);
                delivered = true;
            }
        }
        delivered
    }

    /// Moves frames both ways, at the current time, until neither side has anything to send
    /// or deliver. Bounded so a livelock fails the test instead of hanging it.
    pub fn drive(&mut self) {
        for _ in 0..MAX_STEPS {
            let moved = self.collect();
            let delivered = self.deliver();
            if !moved && !delivered {
                return;
            }
        }
        panic!("sessions did not go idle within {MAX_STEPS} steps");
    }

    /// The next moment something happens: a frame arrives or a timer fires.
    fn next_event(&self) -> Option<Instant> {
        let frames = [
            (!self.held[0])
                .then(|| self.c2s.front().map(|f| f.0))
                .flatten(),
            (!self.held[1])
                .then(|| self.s2c.front().map(|f| f.0))
                .flatten(),
        ];
        [self.client.poll_timeout(), self.server.poll_timeout()]
            .into_iter()
            .chain(frames)
            .flatten()
            .min()
    }

    /// Lets `d` of virtual time pass, jumping from event to event: frames are delivered and
    /// timers fire at their exact moments. Bounded in steps.
    pub fn advance(&mut self, d: Duration) {
        let until = self.now + d;
        for _ in 0..MAX_STEPS {
            self.drive();
            match self.next_event() {
                Some(at) if at <= until => {
                    self.now = self.now.max(at);
                    self.client.handle_timeout(self.now);
                    self.server.handle_timeout(self.now);
                }
                _ => {
                    self.now = until;
                    self.client.handle_timeout(self.now);
                    self.server.handle_timeout(self.now);
                    self.drive();
                    return;
                }
            }
        }
        panic!("time did not reach its target within {MAX_STEPS} steps");
    }

    /// Advances until `done` holds or `limit` passes; returns the time it took.
    pub fn advance_until(
        &mut self,
        limit: Duration,
        mut done: impl FnMut(&mut Pair<A>) -> bool,
    ) -> Option<Duration> {
        let start = self.now;
        let until = start + limit;
        for _ in 0..MAX_STEPS {
            self.drive();
            if done(self) {
                return Some(self.now - start);
            }
            match self.next_event() {
                Some(at) if at <= until => {
                    self.now = self.now.max(at);
                    self.client.handle_timeout(self.now);
                    self.server.handle_timeout(self.now);
                }
                _ => return None,
            }
        }
        panic!("no outcome within {MAX_STEPS} steps");
    }

    pub fn events(s: &mut Session<A>) -> Vec<SessionEvent<A>> {
        std::iter::from_fn(|| s.poll_event()).collect()
    }
}

pub fn call(method_id: u64) -> OutgoingCall {
    OutgoingCall {
        method_id,
        metadata: Metadata::new(),
        timeout: None,
        payload: Bytes::from_static(&[1, 2]),
        channels: vec![],
        args_schema: None,
        channels_schema: None,
    }
}

/// `msg` as a frame.
pub fn encode(msg: &Message) -> Bytes {
    wire::encode(msg).expect("test messages encode").into()
}

pub fn raw_request(id: u64) -> Bytes {
    raw_request_with(id, Metadata::new(), None)
}

pub fn raw_request_with(id: u64, metadata: Metadata, timeout_micros: Option<u64>) -> Bytes {
    encode(&Message::Request(Request {
        conn: 0,
        id,
        method_id: 5,
        metadata,
        channels: vec![],
        timeout_micros,
        payload: Bytes::new(),
    }))
}

/// A server session that has completed its handshake with a scripted (raw) client.
pub fn established_server(limits: Limits) -> (Session, Instant) {
    established_server_with(SessionConfig {
        limits,
        ..SessionConfig::default()
    })
}

pub fn established_server_with(config: SessionConfig) -> (Session, Instant) {
    let now = Instant::now();
    let mut s = Session::new(Role::Acceptor, config, Some([1; 16]), now);
    let hello = encode(&Message::Hello(Hello {
        version: PROTOCOL_VERSION,
        limits: Limits::default(),
        session_key: None,
        resume: None,
        replay: crate::wire::Replay::Off,
        metadata: Default::default(),
    }));
    s.handle_frame(now, &hello);
    while s.poll_transmit().is_some() {}
    while s.poll_event().is_some() {}
    (s, now)
}

/// Every frame `s` has queued, decoded.
pub fn sent(s: &mut Session) -> Vec<Message> {
    std::iter::from_fn(|| s.poll_transmit())
        .map(|f| wire::decode(&f).expect("the session sends valid messages"))
        .collect()
}

pub fn goodbye_reason(s: &mut Session) -> Option<String> {
    sent(s).into_iter().find_map(|m| match m {
        Message::Goodbye { reason } => Some(reason),
        _ => None,
    })
}

/// Metadata with one entry more than the protocol allows.
pub fn oversized_metadata() -> Metadata {
    let mut metadata = Metadata::new();
    for i in 0..=Metadata::MAX_ENTRIES {
        metadata.insert(format!("k{i}"), "v");
    }
    metadata
}

/// An established pair with one call from the client delivered to the server (events drained
/// on both sides); returns the call's ID.
pub fn pair_with_a_call(client: Limits, server: Limits) -> (Pair, u64) {
    let mut p = Pair::new(client, server);
    Pair::events(&mut p.client);
    let id = p
        .client
        .start(p.now, ROOT, call(1))
        .expect("the call is accepted")
        .id;
    p.drive();
    Pair::events(&mut p.server);
    (p, id)
}

/// Limits that let one call at a time in: the next ones wait in the caller's session.
pub fn one_slot() -> Limits {
    Limits {
        max_concurrent_requests: 1,
        ..Limits::default()
    }
}
