//! Deterministic tests of the session state machine: two `Session`s wired back to back on a
//! virtual clock; no tasks, no sockets, no wall-clock time.

mod admission;
mod attachments;
mod calls;
mod resume;
mod time;
mod util;
mod virtuals;
