//! # roam-proto: the protocol core, with no I/O and no clock
//!
//! Everything roam's wire protocol decides lives here: the messages and their bytes
//! ([`wire`]), frames on byte-stream links ([`frame`]), call metadata and its limits
//! ([`metadata`]), protocol errors and response codes ([`error`], [`response`]), schemas as
//! plain data ([`schema`]), and the session state machine ([`session`]).
//!
//! This crate is fully deterministic: it opens no sockets, spawns no tasks, reads no clock and
//! draws no randomness. Time arrives as a `now: Instant` argument, randomness (the session key)
//! as a value, and frames as byte slices; what must be written, acted on or waited for comes
//! back as data. The runtime (`roam-runtime`) runs it on tokio; tests run it on a virtual clock.
//!
//! It depends on neither tokio nor facet (a test checks the dependency tree): knowing Rust
//! types, compiling translation plans and decoding payloads is the runtime's job.
//!
//! ```
//! use std::time::Instant;
//! use roam_proto::session::{Role, Session, SessionConfig, SessionEvent};
//!
//! let now = Instant::now();
//! let mut client = Session::new(Role::Initiator, SessionConfig::default(), None, now);
//! let mut server = Session::new(Role::Acceptor, SessionConfig::default(), Some([7; 16]), now);
//! while let Some(frame) = client.poll_transmit() { server.handle_frame(now, &frame); }
//! while let Some(frame) = server.poll_transmit() { client.handle_frame(now, &frame); }
//! assert!(matches!(client.poll_event(), Some(SessionEvent::Established { session_key: Some(k), .. }) if k == [7; 16]));
//! // The keepalive timer is armed: the driver sleeps until then.
//! assert!(client.poll_timeout().is_some());
//! ```

pub mod error;
pub mod frame;
pub mod metadata;
pub mod response;
pub mod schema;
pub mod session;
pub mod wire;

pub use error::{ProtocolViolation, RefusedBy, RemoteError, SessionError, TimedOut};
pub use metadata::{Metadata, MetadataValue};
pub use wire::Limits;
