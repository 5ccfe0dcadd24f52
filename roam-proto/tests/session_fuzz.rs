//! Property tests of the session's handling of untrusted input, bounded for CI: random bytes,
//! valid messages with timer advances, mutated valid frames, and a peer that follows the
//! protocol, fed to sessions of both roles, fresh and established, resumable or not (see
//! `support/session_driver.rs` for the invariants checked after every input). The cargo-fuzz
//! targets in `fuzz/` drive the same code without a bound.
//!
//! Each property runs [`DEFAULT_CASES`] cases; `PROPTEST_CASES=100000` runs more. Failures are
//! not persisted (nothing is written to the source tree): a failure prints the minimal input.

#[path = "support/session_driver.rs"]
mod session_driver;

use std::time::Duration;

use bytes::Bytes;
use proptest::prelude::*;
use proptest::sample::Index;
use roam_core::schema::{PrimitiveKind, Schema};
use roam_proto::session::{OutputState, Role};
use roam_proto::wire::{
    self, Cancel, ChannelDirection, ChannelSpec, Message, Request, Response, SchemaAnnouncement,
    SchemaKind,
};
use roam_proto::{Metadata, MetadataValue, SessionError};

use session_driver::{Driver, PeerStep, Setup, Step};

/// Cases per property unless `PROPTEST_CASES` says otherwise; each case runs its inputs
/// against all ten setups of `Setup::ALL` (both roles, fresh and established, with and without
/// admission, with and without resumption).
const DEFAULT_CASES: u32 = 1024;

fn config() -> ProptestConfig {
    // `proptest!` passes this through `contextualize_config`, so `PROPTEST_CASES` (and the
    // other `PROPTEST_*` variables) still override it.
    ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::with_cases(DEFAULT_CASES)
    }
}

// ----- generators -----

/// Mostly small numbers (so IDs, connections and channels collide with real ones), sometimes
/// any.
fn small() -> impl Strategy<Value = u64> {
    prop_oneof![9 => 0u64..10, 1 => any::<u64>()]
}

fn bytes(max: usize) -> impl Strategy<Value = Bytes> {
    prop::collection::vec(any::<u8>(), 0..max).prop_map(Bytes::from)
}

fn metadata() -> impl Strategy<Value = Metadata> {
    let key = prop_oneof![9 => "[a-z-]{0,8}", 1 => Just("k".repeat(Metadata::MAX_KEY_LEN + 1))];
    let value = prop_oneof![
        "[ -~]{0,8}".prop_map(MetadataValue::String),
        prop::collection::vec(any::<u8>(), 0..8).prop_map(MetadataValue::Bytes),
        any::<u64>().prop_map(MetadataValue::U64),
    ];
    let entries = prop_oneof![
        9 => prop::collection::vec((key.clone(), value.clone()), 0..3),
        1 => prop::collection::vec((key, value), Metadata::MAX_ENTRIES..Metadata::MAX_ENTRIES + 3),
    ];
    entries.prop_map(|entries| {
        let mut md = Metadata::new();
        for (k, v) in entries {
            md.insert(k, v);
        }
        md
    })
}

fn schema_bytes() -> impl Strategy<Value = Vec<u8>> {
    let u8s = Schema::Primitive(PrimitiveKind::U8);
    let valid = vec![
        u8s.to_canonical_bytes(),
        Schema::tuple(vec![u8s.clone(), Schema::Bytes]).to_canonical_bytes(),
        Schema::result(u8s.clone(), Schema::infallible()).to_canonical_bytes(),
        Schema::tuple(vec![Schema::Channel {
            direction: roam_core::schema::ChannelDirection::Rx,
            item: Box::new(u8s),
        }])
        .to_canonical_bytes(),
    ];
    prop_oneof![
        3 => prop::sample::select(valid),
        1 => Just(Vec::new()),
        2 => prop::collection::vec(any::<u8>(), 0..16),
    ]
}

/// A valid message of any kind but `Hello`, with small field values.
fn message() -> impl Strategy<Value = Message> {
    let conn = || prop_oneof![9 => Just(0u64), 1 => small()];
    let timeout = prop_oneof![
        Just(None),
        (0u64..60_000_000).prop_map(Some),
        any::<u64>().prop_map(Some),
    ];
    let channel_spec = (small(), any::<bool>()).prop_map(|(id, callee_sends)| ChannelSpec {
        id,
        direction: if callee_sends {
            ChannelDirection::CalleeToCaller
        } else {
            ChannelDirection::CallerToCallee
        },
    });
    let request = (
        conn(),
        small(),
        small(),
        metadata(),
        prop::collection::vec(channel_spec, 0..3),
        timeout,
        bytes(8),
    )
        .prop_map(
            |(conn, id, method_id, metadata, channels, timeout_micros, payload)| {
                Message::Request(Request {
                    conn,
                    id,
                    method_id,
                    metadata,
                    channels,
                    timeout_micros,
                    payload,
                })
            },
        );
    let response =
        (conn(), small(), metadata(), bytes(8)).prop_map(|(conn, id, metadata, payload)| {
            Message::Response(Response {
                conn,
                id,
                metadata,
                payload,
            })
        });
    let kind = prop_oneof![
        Just(SchemaKind::Args),
        Just(SchemaKind::Response),
        Just(SchemaKind::Channels),
    ];
    let reason = prop_oneof![
        "[a-z: -]{0,16}",
        Just("session-limit: full".to_owned()),
        Just("unauthenticated: no".to_owned()),
    ];
    prop_oneof![
        4 => request,
        3 => response,
        2 => (conn(), small()).prop_map(|(conn, id)| Message::Cancel(Cancel { conn, id })),
        3 => (conn(), small(), bytes(8))
            .prop_map(|(conn, channel, payload)| Message::Data { conn, channel, payload }),
        2 => (conn(), small()).prop_map(|(conn, channel)| Message::Close { conn, channel }),
        2 => (conn(), small()).prop_map(|(conn, channel)| Message::Reset { conn, channel }),
        2 => (conn(), small(), prop_oneof![0u32..100, any::<u32>()])
            .prop_map(|(conn, channel, n)| Message::Credit { conn, channel, n }),
        2 => small().prop_map(|nonce| Message::Ping { nonce }),
        2 => small().prop_map(|nonce| Message::Pong { nonce }),
        1 => reason.prop_map(|reason| Message::Goodbye { reason }),
        2 => (conn(), small(), kind, schema_bytes()).prop_map(|(conn, method_id, kind, schema)| {
            Message::Schema(SchemaAnnouncement { conn, method_id, kind, schema })
        }),
        1 => small().prop_map(|received| Message::Ack { received }),
    ]
}

fn encoded(msg: &Message) -> Vec<u8> {
    wire::encode(msg).expect("a generated message encodes")
}

fn advance() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0u64..50).prop_map(Duration::from_millis),
        (0u64..40_000).prop_map(Duration::from_millis),
        // The default timers: handshake, keepalive interval and pong wait, drain grace.
        prop::sample::select(vec![10u64, 15, 20, 30]).prop_map(Duration::from_secs),
    ]
    .prop_map(Step::Advance)
}

/// Messages of a peer that follows the conversation.
fn peer_step() -> impl Strategy<Value = Step> {
    let n = || any::<usize>();
    prop_oneof![
        2 => Just(PeerStep::Hello),
        1 => Just(PeerStep::Pong),
        1 => Just(PeerStep::Ack),
        3 => (small(), prop::option::of(0u32..20_000), prop::collection::vec(any::<bool>(), 0..3))
            .prop_map(|(method_id, timeout_ms, channels)| PeerStep::Request {
                method_id,
                timeout_ms,
                channels,
            }),
        3 => n().prop_map(PeerStep::Respond),
        1 => n().prop_map(PeerStep::Cancel),
        3 => n().prop_map(PeerStep::Data),
        1 => n().prop_map(PeerStep::Close),
        1 => n().prop_map(PeerStep::Reset),
        2 => (n(), prop_oneof![1u32..100, any::<u32>()]).prop_map(|(n, c)| PeerStep::Credit(n, c)),
    ]
    .prop_map(Step::Peer)
}

/// Commands of the application and driver events other than frames and time.
fn command() -> impl Strategy<Value = Step> {
    prop_oneof![
        12 => (small(), prop::option::of(0u32..20_000), prop::collection::vec(any::<bool>(), 0..3))
            .prop_map(|(method_id, timeout_ms, channels)| Step::Call {
                method_id,
                timeout_ms,
                channels,
            }),
        2 => Just(Step::Flushed),
        2 => prop_oneof![
            Just(OutputState::Blocked),
            Just(OutputState::Progress),
            Just(OutputState::Flowing),
        ]
        .prop_map(Step::Output),
        2 => any::<bool>().prop_map(|violation| Step::LinkClosed { violation }),
        1 => Just(Step::Drain),
        1 => Just(Step::Close),
        3 => Just(Step::Resume),
    ]
}

/// One edit of a byte string; positions are taken modulo its length.
#[derive(Debug, Clone)]
enum Mutation {
    Flip(Index, u8),
    Set(Index, u8),
    Insert(Index, u8),
    Delete(Index),
    Truncate(Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<Index>(), 0u8..8).prop_map(|(at, bit)| Mutation::Flip(at, bit)),
        2 => (any::<Index>(), any::<u8>()).prop_map(|(at, b)| Mutation::Set(at, b)),
        2 => (any::<Index>(), any::<u8>()).prop_map(|(at, b)| Mutation::Insert(at, b)),
        2 => any::<Index>().prop_map(Mutation::Delete),
        1 => any::<Index>().prop_map(Mutation::Truncate),
    ]
}

fn mutate(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        let len = bytes.len();
        match *m {
            Mutation::Insert(at, b) => bytes.insert(at.index(len + 1), b),
            _ if len == 0 => {}
            Mutation::Flip(at, bit) => bytes[at.index(len)] ^= 1 << bit,
            Mutation::Set(at, b) => bytes[at.index(len)] = b,
            Mutation::Delete(at) => {
                bytes.remove(at.index(len));
            }
            Mutation::Truncate(at) => bytes.truncate(at.index(len)),
        }
    }
    bytes
}

/// A valid message, encoded and then edited.
fn mutated_frame() -> impl Strategy<Value = Vec<u8>> {
    (message(), prop::collection::vec(mutation(), 1..4))
        .prop_map(|(msg, mutations)| mutate(encoded(&msg), &mutations))
}

/// The real peer's `Hello` for a session of any setup, edited: exercises the handshake of
/// fresh sessions with almost-valid `Hello`s (whatever fields `Hello` has).
fn mutated_hello() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::sample::select(&Setup::ALL[..]),
        prop::collection::vec(mutation(), 1..4),
    )
        .prop_map(|(setup, mutations)| {
            let hello = session_driver::peer_hello(setup, std::time::Instant::now());
            mutate(hello.to_vec(), &mutations)
        })
}

// ----- properties -----

proptest! {
    #![proptest_config(config())]

    /// (a) Random bytes as frames.
    #[test]
    fn random_frames(frames in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..512), 1..8)) {
        for frame in &frames {
            session_driver::fuzz_decode(frame);
        }
        let steps: Vec<Step> = frames.into_iter().map(Step::Frame).collect();
        session_driver::run_all(&steps);
    }

    /// (b) Valid messages interleaved with timer advances and the application's commands.
    #[test]
    fn valid_messages_and_timers(steps in prop::collection::vec(prop_oneof![
        3 => message().prop_map(|m| Step::Frame(encoded(&m))),
        8 => peer_step(),
        3 => advance(),
        3 => command(),
    ], 1..48)) {
        session_driver::run_all(&steps);
    }

    /// (c) Mutated valid frames (and mutated `Hello`s), among valid ones and timer advances.
    #[test]
    fn mutated_frames(steps in prop::collection::vec(prop_oneof![
        4 => mutated_frame().prop_map(Step::Frame),
        1 => mutated_hello().prop_map(Step::Frame),
        2 => message().prop_map(|m| Step::Frame(encoded(&m))),
        4 => peer_step(),
        2 => advance(),
        2 => command(),
    ], 1..32)) {
        for step in &steps {
            if let Step::Frame(frame) = step {
                session_driver::fuzz_decode(frame);
            }
        }
        session_driver::run_all(&steps);
    }

    /// A peer that follows the protocol is never taken for a violator, whatever the clock and
    /// the application do (short of a framing error, which is the link's verdict).
    #[test]
    fn a_conversation_is_never_a_violation(steps in prop::collection::vec(prop_oneof![
        8 => peer_step(),
        2 => advance(),
        3 => command().prop_filter("not a framing error", |s| {
            !matches!(s, Step::LinkClosed { violation: true })
        }),
    ], 1..48)) {
        for setup in Setup::ALL {
            let mut driver = Driver::new(setup);
            for step in &steps {
                driver.step(step);
            }
            if let Some(SessionError::Protocol(v)) = driver.closed_with() {
                prop_assert!(false, "a {setup:?} session took its peer for a violator: {v}");
            }
        }
    }

    /// The cargo-fuzz targets' bodies, on random input, so CI compiles and runs them.
    #[test]
    fn fuzz_target_bodies(data in prop::collection::vec(any::<u8>(), 0..1024)) {
        session_driver::fuzz_decode(&data);
        session_driver::fuzz_session(&data);
    }
}

// ----- sanity checks of the harness itself -----

/// The properties above mean something only if valid input gets far: the real peer's `Hello`
/// establishes every setup, and a valid call is served and answered.
#[test]
fn the_driver_establishes_and_serves() {
    for setup in Setup::ALL {
        let mut driver = Driver::new(setup);
        if !setup.established {
            driver.step(&Step::Peer(PeerStep::Hello));
        }
        assert!(!driver.session().is_closed(), "{setup:?}");
        let before = driver.frames_sent();
        let peer_id = match setup.role {
            Role::Initiator => 2,
            Role::Acceptor => 1,
        };
        // Even method ID: the driver answers it at once.
        driver.step(&Step::Frame(encoded(&Message::Request(Request {
            conn: 0,
            id: peer_id,
            method_id: 4,
            metadata: Metadata::new(),
            channels: vec![],
            timeout_micros: None,
            payload: Bytes::from_static(&[1]),
        }))));
        assert!(!driver.session().is_closed(), "{setup:?}");
        assert_eq!(driver.frames_sent(), before + 1, "{setup:?}: the response");
        // A violation: a response to nothing. Checked by the driver: Goodbye names the rule.
        driver.step(&Step::Frame(encoded(&Message::Response(Response {
            conn: 0,
            id: 99,
            metadata: Metadata::new(),
            payload: Bytes::new(),
        }))));
        assert!(
            matches!(driver.closed_with(), Some(SessionError::Protocol(_))),
            "{setup:?}: {:?}",
            driver.closed_with()
        );
    }
}

/// A resumable initiator that loses its link resumes when the peer answers, and what it sent
/// meanwhile reaches the peer then.
#[test]
fn the_driver_resumes() {
    let setup = Setup::ALL[7];
    assert!(setup.resumption && setup.established && setup.role == Role::Initiator);
    let mut driver = Driver::new(setup);
    driver.step(&Step::LinkClosed { violation: false });
    assert!(driver.session().is_detached());
    driver.step(&Step::Call {
        method_id: 1,
        timeout_ms: None,
        channels: vec![],
    });
    // Nothing goes out without a link (the driver checks it).
    let before = driver.frames_sent();
    driver.step(&Step::Resume);
    assert_eq!(driver.frames_sent(), before + 1, "the resume Hello");
    driver.step(&Step::Peer(PeerStep::Hello));
    assert_eq!(driver.resumed(), 1);
    assert!(!driver.session().is_detached() && !driver.session().is_closed());
    assert!(
        driver.frames_sent() >= before + 2,
        "the call's request, held while detached, and the Ack"
    );
    // The peer answers the call; it acknowledges what it got.
    driver.step(&Step::Peer(PeerStep::Respond(0)));
    driver.step(&Step::Peer(PeerStep::Ack));
    assert!(driver.closed_with().is_none(), "{:?}", driver.closed_with());
    assert_eq!(driver.session().replay_buffered(), (0, 0));
}

#[test]
fn the_fuzz_input_format_parses_as_documented() {
    let (setup, steps) = session_driver::parse(&[
        13, 2, 5, 1, 0xf0, 7, 0xf3, 0xf9, 0, 1, 9, 0xf8, 6, 3, 10, 0xf2, 4, 2, 0b101, 0xf7, 0,
        0xf7, 1, 0xf8, 19, 0, 3, 8,
    ]);
    assert_eq!(setup, Setup::ALL[3]);
    assert_eq!(
        steps,
        vec![
            Step::Frame(vec![5, 1]),
            Step::Advance(Duration::from_millis(7)),
            Step::Flushed,
            Step::Frame(vec![9]),
            Step::Peer(PeerStep::Credit(3, 10)),
            Step::Call {
                method_id: 4,
                timeout_ms: Some(200),
                channels: vec![true],
            },
            Step::Close,
            Step::Resume,
            Step::Peer(PeerStep::Ack),
            // Cut short by the end of the input.
            Step::Frame(vec![8]),
        ]
    );
}

/// A peer announcing a frame limit too small for a `Goodbye` is refused at its `Hello`, with a
/// `Goodbye` that fits (our own limit is the one in force until both `Hello`s are in).
#[test]
fn a_hello_with_a_tiny_frame_limit_is_refused_with_a_goodbye() {
    use roam_proto::session::{Session, SessionConfig};
    let now = std::time::Instant::now();
    // The real acceptor's Hello (whatever fields it has), with a frame limit of 0.
    let Ok(Message::Hello(mut hello)) =
        wire::decode(&session_driver::peer_hello(Setup::ALL[0], now))
    else {
        panic!("a Hello");
    };
    hello.limits.max_frame_size = 0;
    let hello = Bytes::from(encoded(&Message::Hello(hello)));
    let mut session = Session::new(Role::Initiator, SessionConfig::default(), None, now);
    while session.poll_transmit().is_some() {}
    session.handle_frame(now, &hello);
    assert!(session.is_closed());
    let last = std::iter::from_fn(|| session.poll_transmit()).last();
    match last.as_ref().map(wire::decode) {
        Some(Ok(Message::Goodbye { reason })) => {
            assert!(reason.starts_with("handshake: "), "{reason}")
        }
        other => panic!("the peer is told why: last frame {other:?}"),
    }
}
