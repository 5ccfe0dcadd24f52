//! Resumption's bookkeeping: the session-level frames the peer has not acknowledged (the
//! replay buffer), the acknowledgements this side owes the peer, and the resume secret.
//!
//! Owns sequence arithmetic and the secret's derivations; knows nothing about phases, timers
//! or links (the session decides when to ack, detach and resume). See `docs/protocol.md` §8.

use std::collections::VecDeque;

use bytes::Bytes;

/// Frames sent (or queued) and not yet acknowledged, oldest first, with the numbering they
/// were sent under: the front frame is number `acked + 1`.
#[derive(Debug)]
pub(crate) struct ReplayBuffer {
    frames: VecDeque<Bytes>,
    /// Bytes in `frames`.
    bytes: usize,
    /// Frames the peer has acknowledged (the front frame's number minus one).
    acked: u64,
    /// Senders of channel items and new requests wait while `bytes` is at or over this.
    bound: usize,
    /// Whether a sender was told to wait since room was last reported.
    waited: bool,
}

/// Why an acknowledgement (an `Ack`, or a resume's `last_received`) cannot be right.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AckError {
    /// It acknowledges fewer frames than an earlier acknowledgement did: those frames are
    /// gone from the buffer, so they cannot be replayed.
    Backwards,
    /// It acknowledges frames never sent.
    Ahead,
}

impl ReplayBuffer {
    pub(crate) fn new(bound: usize, already_sent: u64) -> Self {
        ReplayBuffer {
            frames: VecDeque::new(),
            bytes: 0,
            acked: already_sent,
            bound,
            waited: false,
        }
    }

    /// Keeps a frame just numbered `acked + len + 1`.
    pub(crate) fn push(&mut self, frame: Bytes) {
        self.bytes += frame.len();
        self.frames.push_back(frame);
    }

    /// Drops the frames up to number `received`. `Ok(true)` when that made room for senders
    /// that were told to wait.
    pub(crate) fn ack(&mut self, received: u64) -> Result<bool, AckError> {
        let sent = self.acked + self.frames.len() as u64;
        if received < self.acked {
            return Err(AckError::Backwards);
        }
        if received > sent {
            return Err(AckError::Ahead);
        }
        for _ in self.acked..received {
            if let Some(frame) = self.frames.pop_front() {
                self.bytes -= frame.len();
            }
        }
        self.acked = received;
        let room = self.waited && !self.is_full();
        if room {
            self.waited = false;
        }
        Ok(room)
    }

    /// Whether senders must wait for acknowledgements (it is reported as room once they
    /// free some).
    pub(crate) fn is_full(&self) -> bool {
        self.bytes >= self.bound
    }

    /// Records that a sender was told to wait.
    pub(crate) fn wait(&mut self) {
        self.waited = true;
    }

    /// The frames after number `received`, in order: what a peer that has seen `received`
    /// needs replayed. [`ack`](Self::ack) it first.
    pub(crate) fn unacked(&self) -> impl Iterator<Item = &Bytes> {
        self.frames.iter()
    }

    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    pub(crate) fn len(&self) -> usize {
        self.frames.len()
    }
}

/// Acknowledgements owed to the peer: an `Ack` goes out once `every` messages or `bytes`
/// bytes arrived since the last one, or when the ack timer (armed by the session at the first
/// message after an ack) fires, whichever comes first.
#[derive(Debug)]
pub(crate) struct AckDebt {
    /// Messages received and not yet acknowledged.
    messages: u64,
    /// Their bytes.
    bytes: usize,
    every: u64,
    max_bytes: usize,
}

impl AckDebt {
    pub(crate) fn new(every: u32, max_bytes: usize) -> Self {
        AckDebt {
            messages: 0,
            bytes: 0,
            every: u64::from(every.max(1)),
            max_bytes: max_bytes.max(1),
        }
    }

    /// One more session-level message of `len` bytes received. Returns whether an `Ack` is
    /// due at once; otherwise, whether this is the first unacknowledged one (arm the timer).
    pub(crate) fn received(&mut self, len: usize) -> AckDue {
        self.messages += 1;
        self.bytes += len;
        if self.messages >= self.every || self.bytes >= self.max_bytes {
            AckDue::Now
        } else if self.messages == 1 {
            AckDue::Later
        } else {
            AckDue::Armed
        }
    }

    /// Whether anything is owed.
    pub(crate) fn owed(&self) -> bool {
        self.messages > 0
    }

    /// An acknowledgement of everything went out (an `Ack`, or a resume handshake).
    pub(crate) fn paid(&mut self) {
        self.messages = 0;
        self.bytes = 0;
    }
}

/// What [`AckDebt::received`] asks of the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AckDue {
    /// Send an `Ack` now.
    Now,
    /// Arm the ack timer.
    Later,
    /// The timer is armed already.
    Armed,
}

/// The secret that proves a session's ownership on resume. It travels once, in the acceptor's
/// first `Hello` (`Replay::Grant`); every resume derives the next one from the current one
/// and both sides' nonces, so a resume message seen on the wire proves nothing afterwards.
#[derive(Clone, PartialEq, Eq)]
struct Secret([u8; 32]);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// Domain separation of the two derivations (BLAKE3 keyed with the secret).
const PROOF_CONTEXT: &[u8] = b"roam resume proof v1";
const ROTATE_CONTEXT: &[u8] = b"roam resume rotate v1";

impl Secret {
    fn new(bytes: [u8; 32]) -> Self {
        Secret(bytes)
    }

    /// The proof a `Resume` carries: binds the key, what was received and the resumer's
    /// nonce to this secret.
    fn proof(&self, key: &[u8; 16], last_received: u64, nonce: &[u8; 16]) -> [u8; 32] {
        let mut h = blake3::Hasher::new_keyed(&self.0);
        h.update(PROOF_CONTEXT)
            .update(key)
            .update(&last_received.to_le_bytes())
            .update(nonce);
        *h.finalize().as_bytes()
    }

    /// Whether `proof` is right for these fields (compared in constant time).
    fn verifies(
        &self,
        key: &[u8; 16],
        last_received: u64,
        nonce: &[u8; 16],
        proof: &[u8; 32],
    ) -> bool {
        blake3::Hash::from_bytes(self.proof(key, last_received, nonce))
            == blake3::Hash::from_bytes(*proof)
    }

    /// The secret after a resume with these nonces (the resumer's, then the acceptor's).
    fn rotate(&self, resumer: &[u8; 16], acceptor: &[u8; 16]) -> Secret {
        let mut h = blake3::Hasher::new_keyed(&self.0);
        h.update(ROTATE_CONTEXT).update(resumer).update(acceptor);
        Secret(*h.finalize().as_bytes())
    }
}

/// Why an acceptor refuses to resume a session (the reason of its `resume-refused` Goodbye).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ResumeRefusal {
    /// No session with that key is kept here (never issued, freed after its grace period,
    /// or the server restarted).
    #[error("no session with this key is kept here (it expired, or the server restarted)")]
    UnknownSession,
    /// The proof does not match the session's secret.
    #[error("the resume proof does not match the session")]
    BadProof,
    /// This exact resume message was accepted before.
    #[error("this resume message was used before")]
    Replayed,
    /// Too many resumes in a row whose answers never reached the initiator.
    #[error("too many resumes without a confirmation")]
    Unconfirmed,
    /// The initiator says it received messages never sent, or fewer than it acknowledged:
    /// there is nothing to replay that would be exact.
    #[error("the initiator's position cannot be replayed from")]
    Gap,
    /// The session does not replay (its handshake did not agree on it) or has ended.
    #[error("the session cannot be resumed")]
    NotResumable,
}

/// Resume attempts accepted under one secret before the initiator confirms one (by sending
/// anything on the new link); beyond, resumes are refused. Each costs a nonce kept here.
const MAX_UNCONFIRMED: usize = 16;

/// A resumable session's ownership and acknowledgement state.
#[derive(Debug)]
pub(crate) struct Ownership {
    /// The session key (the acceptor's, named in `Resume`).
    pub(crate) key: [u8; 16],
    /// The secret both sides are known to hold (the initiator's secret, on its side).
    base: Secret,
    /// Acceptor: nonces of resumes accepted as proving `base` since the last confirmation.
    used: Vec<[u8; 16]>,
    /// Acceptor: the secrets those resumes rotated to, oldest first. Until the initiator
    /// speaks on a resumed link it may hold any of them (an answer can be lost with its link,
    /// and a resume delayed on an old link can be accepted after a newer one), or still
    /// `base`; a proof with any of them is accepted.
    rotations: Vec<Secret>,
    /// Initiator: the nonce of the resume in flight.
    pub(crate) resuming: Option<[u8; 16]>,
    pub(crate) debt: AckDebt,
}

/// Which secret a resume proved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Proved {
    /// The secret both sides were known to hold.
    Base,
    /// The one an accepted resume rotated to (index into the rotations).
    Rotation(usize),
}

impl Ownership {
    pub(crate) fn new(key: [u8; 16], secret: [u8; 32], debt: AckDebt) -> Self {
        Ownership {
            key,
            base: Secret::new(secret),
            used: Vec::new(),
            rotations: Vec::new(),
            resuming: None,
            debt,
        }
    }

    /// Initiator: the proof for a resume from `last_received` with `nonce`.
    pub(crate) fn proof(&self, last_received: u64, nonce: &[u8; 16]) -> [u8; 32] {
        self.base.proof(&self.key, last_received, nonce)
    }

    /// Initiator: the acceptor accepted the resume made with `ours`.
    pub(crate) fn rotate(&mut self, ours: &[u8; 16], theirs: &[u8; 16]) {
        self.base = self.base.rotate(ours, theirs);
    }

    /// Acceptor: checks a resume's key and proof without changing anything (a refused
    /// resume leaves the session as it was).
    pub(crate) fn verify(
        &self,
        key: &[u8; 16],
        last_received: u64,
        nonce: &[u8; 16],
        proof: &[u8; 32],
    ) -> Result<Proved, ResumeRefusal> {
        if key != &self.key {
            return Err(ResumeRefusal::UnknownSession);
        }
        if self.base.verifies(key, last_received, nonce, proof) {
            return if self.used.contains(nonce) {
                Err(ResumeRefusal::Replayed)
            } else if self.used.len() >= MAX_UNCONFIRMED {
                Err(ResumeRefusal::Unconfirmed)
            } else {
                Ok(Proved::Base)
            };
        }
        self.rotations
            .iter()
            .position(|r| r.verifies(key, last_received, nonce, proof))
            .map(Proved::Rotation)
            .ok_or(ResumeRefusal::BadProof)
    }

    /// Acceptor: a verified resume is accepted, and the secret it proved rotates.
    pub(crate) fn accept(&mut self, proved: Proved, resumer: &[u8; 16], ours: &[u8; 16]) {
        if let Proved::Rotation(i) = proved
            && let Some(held) = self.rotations.get(i).cloned()
        {
            // The initiator held this one: everything before it is history.
            self.base = held;
            self.used.clear();
            self.rotations.clear();
        }
        self.used.push(*resumer);
        self.rotations.push(self.base.rotate(resumer, ours));
    }

    /// Acceptor: the initiator spoke on the resumed link, so it holds the secret the latest
    /// accepted resume rotated to.
    pub(crate) fn confirm(&mut self) {
        if let Some(latest) = self.rotations.pop() {
            self.base = latest;
            self.rotations.clear();
            self.used.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acks_free_frames_in_order_and_report_room_once() {
        let mut buf = ReplayBuffer::new(10, 0);
        for _ in 0..3 {
            buf.push(Bytes::from_static(&[0; 4]));
        }
        assert!(buf.is_full());
        buf.wait();
        assert_eq!(buf.ack(1), Ok(true), "8 bytes left, under the bound");
        assert_eq!(buf.ack(1), Ok(false), "the same ack again frees nothing");
        assert_eq!(buf.ack(0), Err(AckError::Backwards));
        assert_eq!(buf.ack(4), Err(AckError::Ahead));
        assert_eq!((buf.len(), buf.bytes()), (2, 8));
        assert_eq!(buf.ack(3), Ok(false), "nobody waited");
        assert_eq!(buf.len(), 0);
    }

    #[test]
    fn a_proof_binds_every_field_and_rotation_invalidates_it() {
        let s = Secret::new([1; 32]);
        let (key, nonce) = ([2; 16], [3; 16]);
        let proof = s.proof(&key, 7, &nonce);
        assert!(s.verifies(&key, 7, &nonce, &proof));
        assert!(!s.verifies(&key, 8, &nonce, &proof));
        assert!(!s.verifies(&[0; 16], 7, &nonce, &proof));
        assert!(!s.verifies(&key, 7, &[0; 16], &proof));
        let next = s.rotate(&nonce, &[4; 16]);
        assert!(!next.verifies(&key, 7, &nonce, &proof));
        assert_eq!(
            next,
            s.rotate(&nonce, &[4; 16]),
            "both sides derive the same"
        );
        assert_ne!(next, s.rotate(&nonce, &[5; 16]));
    }

    #[test]
    fn proof_and_rotation_bytes_are_pinned_for_other_runtimes() {
        // The TypeScript runtime's test/session-resume.test.ts pins the same values.
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        let s = Secret::new([1; 32]);
        assert_eq!(
            hex(&s.proof(&[2; 16], 7, &[3; 16])),
            "efb072756ffba663437435df8fb961a640704628f1a22e55d0e1b9adbf1726b2"
        );
        assert_eq!(
            hex(&s.rotate(&[3; 16], &[4; 16]).0),
            "1f1611375ddfd2de72b4a8b43a5e4eb43d24e54e350cf46f1a3cd9c51012cb50"
        );
    }

    #[test]
    fn debt_is_due_after_enough_messages_or_bytes() {
        let mut debt = AckDebt::new(3, 100);
        assert_eq!(debt.received(10), AckDue::Later);
        assert_eq!(debt.received(10), AckDue::Armed);
        assert_eq!(debt.received(10), AckDue::Now);
        debt.paid();
        assert!(!debt.owed());
        assert_eq!(debt.received(100), AckDue::Now);
    }
}

#[cfg(test)]
mod ownership_tests {
    use super::*;

    fn owner() -> Ownership {
        Ownership::new([1; 16], [2; 32], AckDebt::new(1, 1))
    }

    #[test]
    fn a_resume_seen_before_is_refused_whether_or_not_it_was_confirmed() {
        let mut acceptor = owner();
        let initiator = owner();
        let nonce = [5; 16];
        let proof = initiator.proof(3, &nonce);
        let proved = acceptor.verify(&[1; 16], 3, &nonce, &proof).unwrap();
        assert_eq!(proved, Proved::Base);
        acceptor.accept(proved, &nonce, &[6; 16]);
        assert_eq!(
            acceptor.verify(&[1; 16], 3, &nonce, &proof),
            Err(ResumeRefusal::Replayed),
            "unconfirmed: the old secret still counts, its nonce does not"
        );
        acceptor.confirm();
        assert_eq!(
            acceptor.verify(&[1; 16], 3, &nonce, &proof),
            Err(ResumeRefusal::BadProof)
        );
        assert_eq!(
            acceptor.verify(&[9; 16], 3, &nonce, &proof),
            Err(ResumeRefusal::UnknownSession)
        );
    }

    #[test]
    fn an_initiator_that_missed_the_answer_resumes_with_the_old_secret() {
        let mut acceptor = owner();
        let mut initiator = owner();
        let first = [5; 16];
        let proved = acceptor
            .verify(&[1; 16], 3, &first, &initiator.proof(3, &first))
            .unwrap();
        acceptor.accept(proved, &first, &[6; 16]);
        // The answer was lost: the initiator still holds the first secret.
        let second = [7; 16];
        let proved = acceptor
            .verify(&[1; 16], 3, &second, &initiator.proof(3, &second))
            .unwrap();
        assert_eq!(proved, Proved::Base);
        acceptor.accept(proved, &second, &[8; 16]);
        initiator.rotate(&second, &[8; 16]);
        acceptor.confirm();
        let third = [9; 16];
        assert!(
            acceptor
                .verify(&[1; 16], 4, &third, &initiator.proof(4, &third))
                .is_ok(),
            "both sides derived the same secret"
        );
    }

    #[test]
    fn a_resume_delayed_on_an_old_link_does_not_strand_the_initiator() {
        let mut acceptor = owner();
        let mut initiator = owner();
        // Two resumes made with the first secret: the second (newer link) is answered first
        // and reaches the initiator; the first arrives late and is accepted too.
        let (old, new) = ([5; 16], [6; 16]);
        let (old_proof, new_proof) = (initiator.proof(3, &old), initiator.proof(3, &new));
        let proved = acceptor.verify(&[1; 16], 3, &new, &new_proof).unwrap();
        acceptor.accept(proved, &new, &[7; 16]);
        initiator.rotate(&new, &[7; 16]);
        let proved = acceptor.verify(&[1; 16], 3, &old, &old_proof).unwrap();
        acceptor.accept(proved, &old, &[8; 16]);
        // The initiator resumes with what it holds: accepted.
        let next = [9; 16];
        let proved = acceptor
            .verify(&[1; 16], 4, &next, &initiator.proof(4, &next))
            .expect("the secret the initiator holds still counts");
        acceptor.accept(proved, &next, &[10; 16]);
        initiator.rotate(&next, &[10; 16]);
        acceptor.confirm();
        // From here on only what the initiator holds proves anything.
        let last = [11; 16];
        assert!(
            acceptor
                .verify(&[1; 16], 5, &last, &initiator.proof(5, &last))
                .is_ok()
        );
        assert_eq!(
            acceptor.verify(&[1; 16], 3, &old, &old_proof),
            Err(ResumeRefusal::BadProof)
        );
    }
}
