//! Per-call deadlines, both ways: when our call stops waiting for its response, and when a call
//! we serve must be answered. Ordered by time so the earliest is found at once; entries are
//! removed when their call completes, so the set never outgrows the calls in flight.

use std::collections::BTreeSet;
use std::time::Instant;

/// Whose call a deadline belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Side {
    /// A call we made (we stop waiting and send `Cancel`).
    Outgoing,
    /// A call we serve (we stop the handler and answer `DeadlineExceeded`).
    Incoming,
}

/// A call's deadline: `(when, side, conn, request id)`.
pub type Deadline = (Instant, Side, u64, u64);

/// The deadlines of the calls in flight.
#[derive(Debug, Default)]
pub struct Deadlines {
    set: BTreeSet<Deadline>,
}

impl Deadlines {
    /// Records a deadline.
    pub fn insert(&mut self, at: Instant, side: Side, conn: u64, id: u64) {
        self.set.insert((at, side, conn, id));
    }

    /// Forgets a deadline (the call completed first).
    pub fn remove(&mut self, at: Instant, side: Side, conn: u64, id: u64) {
        self.set.remove(&(at, side, conn, id));
    }

    /// The earliest deadline.
    pub fn next(&self) -> Option<Instant> {
        self.set.first().map(|d| d.0)
    }

    /// Removes and returns the earliest deadline if it is due at `now`.
    pub fn pop_expired(&mut self, now: Instant) -> Option<Deadline> {
        if self.set.first()?.0 <= now {
            self.set.pop_first()
        } else {
            None
        }
    }

    /// Forgets every deadline.
    pub fn clear(&mut self) {
        self.set.clear();
    }

    /// Deadlines recorded.
    pub fn len(&self) -> usize {
        self.set.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn expired_deadlines_come_out_in_time_order() {
        let t0 = Instant::now();
        let mut d = Deadlines::default();
        d.insert(t0 + Duration::from_millis(30), Side::Incoming, 0, 2);
        d.insert(t0 + Duration::from_millis(10), Side::Outgoing, 0, 1);
        d.insert(t0 + Duration::from_millis(20), Side::Outgoing, 0, 3);
        d.remove(t0 + Duration::from_millis(20), Side::Outgoing, 0, 3);
        assert_eq!(d.next(), Some(t0 + Duration::from_millis(10)));
        let now = t0 + Duration::from_millis(40);
        assert_eq!(d.pop_expired(now).map(|x| x.3), Some(1));
        assert_eq!(d.pop_expired(now).map(|x| x.3), Some(2));
        assert_eq!(d.pop_expired(now), None);
        assert_eq!(d.len(), 0);
    }
}
