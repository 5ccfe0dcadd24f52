//! Channel bookkeeping: which channels are open in which direction, and how much credit each
//! has. Pure data; the session turns its verdicts into messages, events and violations.
//!
//! Credit rules (see `docs/protocol.md` §6):
//! - A receiver grants credit; a sender may have at most that many `Data` items unacknowledged.
//!   The effective `initial_credit` from the handshake is granted implicitly when a channel opens.
//! - `Data` beyond the credit, `Data` on a channel the peer itself closed, or on a channel that
//!   was never opened, is a violation. `Data` on a channel *we* reset is dropped: it crossed our
//!   `Reset` on the wire. The sender answers `Reset` with `Close`, which ends the channel.
//! - `Credit` and `Reset` for a channel we no longer know are ignored: they crossed our `Close`.

use std::collections::HashMap;

use super::ids::{IdAllocator, Role};
use crate::error::ProtocolViolation;

/// Which way items flow, seen from this side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// This side sends `Data`.
    Outgoing,
    /// This side receives `Data`.
    Incoming,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Allocated for one of our requests that has not been sent yet; `closed` when our end
    /// finished before that: our sender (the `Close` follows the request) or our receiver (the
    /// `Reset` follows it).
    Queued { direction: Direction, closed: bool },
    /// We send; `credit` items may still be sent.
    Sending { credit: u64 },
    /// We receive; the peer may still send `credit` items.
    Receiving { credit: u64 },
    /// We receive, sent `Reset`, and wait for the peer's `Close`.
    ResetByUs,
}

/// What opening one of our queued channels means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opened {
    /// Our sender may send `credit` items.
    Sending {
        /// Initial credit.
        credit: u64,
    },
    /// We receive.
    Receiving,
    /// Our sender finished before the request went out: send `Close` now.
    ClosedBeforeOpening,
    /// Our receiver gave up before the request went out: send `Reset` now (the channel then
    /// waits for the peer's `Close`).
    ResetBeforeOpening,
}

/// How an abandoned channel is ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Abandon {
    /// Send `Close` (we were the sender).
    Close,
    /// Send `Reset` (we were the receiver).
    Reset,
}

/// What to do with an incoming `Data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataVerdict {
    /// Hand the item to the channel's receiver.
    Deliver,
    /// Drop it silently (it crossed our `Reset`).
    Drop,
}

/// What an incoming `Reset` means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetVerdict {
    /// Our sender must stop; answer with `Close`.
    StopSending,
    /// Nothing to do.
    Ignore,
}

/// Why we cannot send on a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ChannelSendError {
    /// The channel is not open for sending (closed, reset, or never opened).
    #[error("the channel is not open for sending")]
    NotOpen,
    /// No credit left: the caller must wait for `Credit`.
    #[error("no credit left on the channel")]
    NoCredit,
    /// The session's replay buffer is full: the caller must wait for
    /// [`SessionEvent::ReplayRoom`](super::SessionEvent::ReplayRoom) (the peer's
    /// acknowledgements).
    #[error("the replay buffer is full; wait for the peer's acknowledgements")]
    ReplayFull,
    /// The item does not fit in one frame.
    #[error("the item is {len} bytes encoded but the session allows {max} per message")]
    TooLarge {
        /// Encoded message size.
        len: usize,
        /// Effective maximum.
        max: u32,
    },
}

/// Most channels one connection keeps at once, open or waiting for the peer's `Close` after our
/// `Reset`. Far above any real use; it exists so that a peer cannot grow the table without
/// bound (for example with refused requests listing thousands of channels it never closes).
pub const MAX_CHANNELS: usize = 16 * 1024;

/// One channel: its protocol state and what the application keeps with it (its local end),
/// which leaves the table as soon as the application is done with the channel even when the
/// protocol still waits for the peer (a `Reset` of ours awaiting its `Close`).
#[derive(Debug)]
struct Entry<C> {
    state: State,
    end: Option<C>,
}

/// The channel table of one session; `C` is what the application keeps per channel.
#[derive(Debug)]
pub struct Channels<C> {
    table: HashMap<u64, Entry<C>>,
    ids: IdAllocator,
    role: Role,
}

impl<C> Channels<C> {
    /// An empty table for `role`.
    pub fn new(role: Role) -> Self {
        Channels {
            table: HashMap::new(),
            ids: IdAllocator::new(role),
            role,
        }
    }

    /// Number of channels in the table.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Allocates a channel for a request of ours that is not sent yet.
    pub fn allocate(&mut self, direction: Direction) -> u64 {
        let id = self.ids.next_id();
        self.insert(
            id,
            State::Queued {
                direction,
                closed: false,
            },
        );
        id
    }

    fn insert(&mut self, id: u64, state: State) {
        self.table.insert(id, Entry { state, end: None });
    }

    /// Keeps `end` with channel `id`; hands it back if the channel is gone already.
    pub fn attach(&mut self, id: u64, end: C) -> Result<(), C> {
        match self.table.get_mut(&id) {
            Some(entry) => {
                entry.end = Some(end);
                Ok(())
            }
            None => Err(end),
        }
    }

    /// The application's end of channel `id`, if it still has one.
    pub fn end(&self, id: u64) -> Option<&C> {
        self.table.get(&id)?.end.as_ref()
    }

    /// Takes the application's end of channel `id` out (the application is done with it).
    pub fn detach(&mut self, id: u64) -> Option<C> {
        self.table.get_mut(&id)?.end.take()
    }

    /// Removes channel `id`, handing back its end.
    fn remove(&mut self, id: u64) -> Option<C> {
        self.table.remove(&id)?.end
    }

    /// Our request carrying `id` was sent: the channel opens with `initial_credit`.
    pub fn open_queued(&mut self, id: u64, initial_credit: u32) -> Option<Opened> {
        let state = &mut self.table.get_mut(&id)?.state;
        let State::Queued { direction, closed } = *state else {
            return None;
        };
        let credit = u64::from(initial_credit);
        match (closed, direction) {
            (true, Direction::Outgoing) => {
                self.table.remove(&id);
                return Some(Opened::ClosedBeforeOpening);
            }
            (true, Direction::Incoming) => {
                *state = State::ResetByUs;
                return Some(Opened::ResetBeforeOpening);
            }
            (false, _) => {}
        }
        Some(match direction {
            Direction::Outgoing => {
                *state = State::Sending { credit };
                Opened::Sending { credit }
            }
            Direction::Incoming => {
                *state = State::Receiving { credit };
                Opened::Receiving
            }
        })
    }

    /// Our request carrying `id` was dropped before it was sent; hands back the channel's end.
    pub fn forget_queued(&mut self, id: u64) -> Option<C> {
        match self.table.get(&id) {
            Some(Entry {
                state: State::Queued { .. },
                ..
            }) => self.remove(id),
            _ => None,
        }
    }

    /// The peer listed `id` in a request, flowing `direction` as seen from this side. Returns
    /// the credit our sender may use at once (0 for a receiving channel).
    pub fn register_remote(
        &mut self,
        id: u64,
        direction: Direction,
        initial_credit: u32,
    ) -> Result<u64, ProtocolViolation> {
        if !self.role.peer().owns(id) {
            return Err(ProtocolViolation::ChannelWrongParity(id));
        }
        if self.table.contains_key(&id) {
            return Err(ProtocolViolation::DuplicateChannelId(id));
        }
        if self.table.len() >= MAX_CHANNELS {
            return Err(ProtocolViolation::TooManyChannels(MAX_CHANNELS));
        }
        let credit = u64::from(initial_credit);
        Ok(match direction {
            Direction::Outgoing => {
                self.insert(id, State::Sending { credit });
                credit
            }
            Direction::Incoming => {
                self.insert(id, State::Receiving { credit });
                0
            }
        })
    }

    /// Ends a channel nobody will use (its call failed): closes it if we send, resets it if we
    /// receive. Returns the message to send, if any, and the channel's end.
    pub fn abandon(&mut self, id: u64) -> (Option<Abandon>, Option<C>) {
        let end = self.detach(id);
        if self.close(id) {
            (Some(Abandon::Close), end)
        } else if self.reset(id) {
            (Some(Abandon::Reset), end)
        } else {
            (None, self.forget_queued(id).or(end))
        }
    }

    /// Checks an incoming `Data`.
    pub fn on_data(&mut self, id: u64) -> Result<DataVerdict, ProtocolViolation> {
        match self.table.get_mut(&id).map(|e| &mut e.state) {
            Some(State::Receiving { credit }) if *credit > 0 => {
                *credit -= 1;
                Ok(DataVerdict::Deliver)
            }
            Some(State::Receiving { .. }) => Err(ProtocolViolation::CreditExceeded(id)),
            Some(State::ResetByUs) => Ok(DataVerdict::Drop),
            Some(_) => Err(ProtocolViolation::DataOnWrongChannel(id)),
            None => Err(ProtocolViolation::UnknownChannel(id)),
        }
    }

    /// Checks an incoming `Close` (the peer's sender is done). Returns whether a local receiver
    /// must be told the stream ended, with its end.
    pub fn on_close(&mut self, id: u64) -> Result<(bool, Option<C>), ProtocolViolation> {
        match self.table.get(&id).map(|e| &e.state) {
            Some(State::Receiving { .. }) => Ok((true, self.remove(id))),
            Some(State::ResetByUs) => Ok((false, self.remove(id))),
            Some(State::Queued { .. }) | Some(State::Sending { .. }) => {
                Err(ProtocolViolation::DataOnWrongChannel(id))
            }
            // A Close after the peer's own Close was already handled, or for a channel we never
            // knew: harmless, ignored.
            None => Ok((false, None)),
        }
    }

    /// Checks an incoming `Reset` (the peer's receiver gave up); a sender that must stop comes
    /// with its end.
    pub fn on_reset(&mut self, id: u64) -> (ResetVerdict, Option<C>) {
        match self.table.get(&id).map(|e| &e.state) {
            Some(State::Sending { .. }) => (ResetVerdict::StopSending, self.remove(id)),
            _ => (ResetVerdict::Ignore, None),
        }
    }

    /// Checks an incoming `Credit`. Returns the credit to add to our sender.
    pub fn on_credit(&mut self, id: u64, n: u32) -> u64 {
        match self.table.get_mut(&id).map(|e| &mut e.state) {
            Some(State::Sending { credit }) => {
                *credit = credit.saturating_add(u64::from(n));
                u64::from(n)
            }
            _ => 0,
        }
    }

    /// Spends one credit for our `Data`.
    pub fn send_data(&mut self, id: u64) -> Result<(), ChannelSendError> {
        match self.table.get_mut(&id).map(|e| &mut e.state) {
            Some(State::Sending { credit }) if *credit > 0 => {
                *credit -= 1;
                Ok(())
            }
            Some(State::Sending { .. }) => Err(ChannelSendError::NoCredit),
            _ => Err(ChannelSendError::NotOpen),
        }
    }

    /// Our sender is done. Returns whether a `Close` must be sent now.
    pub fn close(&mut self, id: u64) -> bool {
        match self.table.get_mut(&id).map(|e| &mut e.state) {
            Some(State::Sending { .. }) => {
                self.table.remove(&id);
                true
            }
            Some(State::Queued {
                direction: Direction::Outgoing,
                closed,
            }) => {
                // The request is not sent yet: send Close right after it.
                *closed = true;
                false
            }
            _ => false,
        }
    }

    /// Our receiver gave up. Returns whether a `Reset` must be sent now.
    pub fn reset(&mut self, id: u64) -> bool {
        match self.table.get_mut(&id).map(|e| &mut e.state) {
            Some(state @ State::Receiving { .. }) => {
                *state = State::ResetByUs;
                true
            }
            Some(State::Queued {
                direction: Direction::Incoming,
                closed,
            }) => {
                // The request is not sent yet: send Reset right after it, or the peer's sender
                // would wait for credit nobody grants.
                *closed = true;
                false
            }
            _ => false,
        }
    }

    /// Grants `n` more items to the peer's sender. Returns whether a `Credit` must be sent.
    pub fn grant(&mut self, id: u64, n: u32) -> bool {
        match self.table.get_mut(&id).map(|e| &mut e.state) {
            Some(State::Receiving { credit }) => {
                *credit = credit.saturating_add(u64::from(n));
                true
            }
            _ => false,
        }
    }

    /// Drops every channel (the session ended), handing back the ends still attached.
    pub fn drain_ends(&mut self) -> impl Iterator<Item = C> + '_ {
        self.table.drain().filter_map(|(_, e)| e.end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receiving(credit: u32) -> (Channels<()>, u64) {
        let mut c = Channels::<()>::new(Role::Acceptor);
        assert_eq!(c.register_remote(1, Direction::Incoming, credit), Ok(0));
        (c, 1)
    }

    #[test]
    fn the_peer_cannot_grow_the_table_without_bound() {
        let mut c = Channels::<()>::new(Role::Acceptor);
        for i in 0..MAX_CHANNELS as u64 {
            assert!(c.register_remote(2 * i + 1, Direction::Incoming, 4).is_ok());
        }
        assert_eq!(
            c.register_remote(2 * MAX_CHANNELS as u64 + 1, Direction::Incoming, 4),
            Err(ProtocolViolation::TooManyChannels(MAX_CHANNELS))
        );
    }

    #[test]
    fn data_within_credit_is_delivered_and_beyond_it_is_a_violation() {
        let (mut c, id) = receiving(2);
        assert_eq!(c.on_data(id), Ok(DataVerdict::Deliver));
        assert_eq!(c.on_data(id), Ok(DataVerdict::Deliver));
        assert_eq!(c.on_data(id), Err(ProtocolViolation::CreditExceeded(id)));
        assert!(c.grant(id, 1));
        assert_eq!(c.on_data(id), Ok(DataVerdict::Deliver));
    }

    #[test]
    fn data_after_our_reset_is_dropped_until_the_peer_closes() {
        let (mut c, id) = receiving(1);
        assert!(c.reset(id));
        assert_eq!(c.on_data(id), Ok(DataVerdict::Drop));
        assert_eq!(c.on_close(id), Ok((false, None)));
        assert_eq!(c.len(), 0);
        assert_eq!(c.on_data(id), Err(ProtocolViolation::UnknownChannel(id)));
    }

    #[test]
    fn data_after_the_peers_close_is_a_violation() {
        let (mut c, id) = receiving(4);
        assert_eq!(c.on_close(id), Ok((true, None)));
        assert_eq!(c.on_data(id), Err(ProtocolViolation::UnknownChannel(id)));
    }

    #[test]
    fn remote_ids_need_the_peers_parity_and_must_be_fresh() {
        let mut c = Channels::<()>::new(Role::Acceptor);
        let d = Direction::Incoming;
        assert_eq!(
            c.register_remote(2, d, 1),
            Err(ProtocolViolation::ChannelWrongParity(2))
        );
        assert_eq!(
            c.register_remote(0, d, 1),
            Err(ProtocolViolation::ChannelWrongParity(0))
        );
        c.register_remote(3, d, 1).unwrap();
        assert_eq!(
            c.register_remote(3, d, 1),
            Err(ProtocolViolation::DuplicateChannelId(3))
        );
    }

    #[test]
    fn sending_spends_credit_and_credit_refills_it() {
        let mut c = Channels::<()>::new(Role::Initiator);
        let id = c.allocate(Direction::Outgoing);
        assert_eq!(
            c.send_data(id),
            Err(ChannelSendError::NotOpen),
            "not before the request is sent"
        );
        assert_eq!(c.open_queued(id, 1), Some(Opened::Sending { credit: 1 }));
        assert_eq!(c.send_data(id), Ok(()));
        assert_eq!(c.send_data(id), Err(ChannelSendError::NoCredit));
        assert_eq!(c.on_credit(id, 3), 3);
        assert_eq!(c.send_data(id), Ok(()));
        assert!(c.close(id));
        assert_eq!(c.send_data(id), Err(ChannelSendError::NotOpen));
        assert_eq!(
            c.on_credit(id, 1),
            0,
            "credit crossing our Close is ignored"
        );
        assert_eq!(c.on_reset(id).0, ResetVerdict::Ignore);
    }

    #[test]
    fn closing_before_the_request_is_sent_closes_right_after_it() {
        let mut c = Channels::<()>::new(Role::Initiator);
        let id = c.allocate(Direction::Outgoing);
        assert!(!c.close(id));
        assert_eq!(c.open_queued(id, 4), Some(Opened::ClosedBeforeOpening));
        assert_eq!(c.len(), 0);
    }

    #[test]
    fn resetting_before_the_request_is_sent_resets_right_after_it() {
        let mut c = Channels::<()>::new(Role::Initiator);
        let id = c.allocate(Direction::Incoming);
        assert!(!c.reset(id), "nothing to send before the request");
        assert_eq!(c.open_queued(id, 4), Some(Opened::ResetBeforeOpening));
        // The peer's items in flight are dropped until its Close ends the channel.
        assert_eq!(c.on_data(id), Ok(DataVerdict::Drop));
        assert_eq!(c.on_close(id), Ok((false, None)));
        assert_eq!(c.len(), 0);
    }

    #[test]
    fn abandoning_closes_senders_and_resets_receivers() {
        let mut c = Channels::<()>::new(Role::Acceptor);
        c.register_remote(1, Direction::Outgoing, 4).unwrap();
        c.register_remote(3, Direction::Incoming, 4).unwrap();
        c.attach(1, ()).unwrap();
        assert_eq!(c.abandon(1), (Some(Abandon::Close), Some(())));
        assert_eq!(c.abandon(3), (Some(Abandon::Reset), None));
        assert_eq!(c.on_data(3), Ok(DataVerdict::Drop));
        assert_eq!(c.on_close(3), Ok((false, None)));
        assert_eq!(c.len(), 0);
    }

    #[test]
    fn a_reset_stops_our_sender() {
        let mut c = Channels::<()>::new(Role::Acceptor);
        assert_eq!(c.register_remote(5, Direction::Outgoing, 8), Ok(8));
        assert_eq!(c.on_reset(5).0, ResetVerdict::StopSending);
        assert_eq!(c.send_data(5), Err(ChannelSendError::NotOpen));
    }

    #[test]
    fn data_on_our_own_sending_channel_is_a_violation() {
        let mut c = Channels::<()>::new(Role::Acceptor);
        c.register_remote(5, Direction::Outgoing, 8).unwrap();
        assert_eq!(c.on_data(5), Err(ProtocolViolation::DataOnWrongChannel(5)));
    }
}
