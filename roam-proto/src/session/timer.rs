//! The session's timers as data: a fixed table of named deadlines. The session arms and clears
//! them; the driver only asks for the earliest ([`TimerTable::next`]) and reports when it passed.
//!
//! Per-call deadlines are not here: there can be many, so they live in `session/deadlines.rs`.

use std::time::{Duration, Instant};

/// One of the session's own timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer {
    /// The peer's `Hello` must arrive before this.
    Handshake,
    /// Send the next keepalive `Ping` then.
    KeepAliveSend,
    /// The `Pong` for the outstanding `Ping` must arrive before this.
    PongTimeout,
    /// Draining: handlers still running then are stopped and the session closes.
    DrainGrace,
    /// Closing: give up flushing the final frames (the peer may not be reading) then.
    CloseLinger,
    /// Output blocked: the peer has read none of our queued frames since this was armed; end
    /// the session then.
    OutputStall,
    /// Resumable session: acknowledge what was received by then (coalescing acks).
    Ack,
    /// Resumable session without a link: end it then, unless it was resumed.
    Grace,
}

impl Timer {
    /// Every timer, in the order expired ones are handled.
    /// `OutputStall` precedes `PongTimeout`: while output is blocked the pong wait defers to
    /// the stall deadline, and at that instant the stall must be the one that fires.
    pub const ALL: [Timer; 8] = [
        Timer::Handshake,
        Timer::KeepAliveSend,
        Timer::OutputStall,
        Timer::PongTimeout,
        Timer::DrainGrace,
        Timer::CloseLinger,
        Timer::Ack,
        Timer::Grace,
    ];

    fn index(self) -> usize {
        self as usize
    }
}

/// When each [`Timer`] fires, if armed.
#[derive(Debug, Clone, Default)]
pub struct TimerTable {
    at: [Option<Instant>; Timer::ALL.len()],
}

impl TimerTable {
    /// Arms `timer` to fire at `at` (replacing any earlier setting).
    pub fn set(&mut self, timer: Timer, at: Instant) {
        self.at[timer.index()] = Some(at);
    }

    /// Arms `timer` to fire `after` from `from`. A delay too long for the clock to represent
    /// (e.g. `Duration::MAX`, "wait forever") leaves the timer disarmed: it never fires.
    pub fn set_after(&mut self, timer: Timer, from: Instant, after: Duration) {
        match from.checked_add(after) {
            Some(at) => self.set(timer, at),
            None => self.clear(timer),
        }
    }

    /// Disarms `timer`.
    pub fn clear(&mut self, timer: Timer) {
        self.at[timer.index()] = None;
    }

    /// Disarms every timer.
    pub fn clear_all(&mut self) {
        self.at = [None; Timer::ALL.len()];
    }

    /// When `timer` fires, if armed.
    pub fn get(&self, timer: Timer) -> Option<Instant> {
        self.at[timer.index()]
    }

    /// The earliest armed deadline.
    pub fn next(&self) -> Option<Instant> {
        self.at.iter().flatten().min().copied()
    }

    /// Disarms and returns the first timer (in [`Timer::ALL`] order) that is due at `now`.
    pub fn take_expired(&mut self, now: Instant) -> Option<Timer> {
        let timer = Timer::ALL
            .into_iter()
            .find(|t| self.get(*t).is_some_and(|at| at <= now))?;
        self.clear(timer);
        Some(timer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_earliest_armed_timer_comes_first_and_fires_once() {
        let t0 = Instant::now();
        let mut table = TimerTable::default();
        assert_eq!(table.next(), None);
        table.set(Timer::PongTimeout, t0 + Duration::from_secs(5));
        table.set(Timer::Handshake, t0 + Duration::from_secs(2));
        assert_eq!(table.next(), Some(t0 + Duration::from_secs(2)));
        assert_eq!(table.take_expired(t0 + Duration::from_secs(1)), None);
        assert_eq!(
            table.take_expired(t0 + Duration::from_secs(6)),
            Some(Timer::Handshake)
        );
        assert_eq!(
            table.take_expired(t0 + Duration::from_secs(6)),
            Some(Timer::PongTimeout)
        );
        assert_eq!(table.take_expired(t0 + Duration::from_secs(6)), None);
        assert_eq!(table.next(), None);
    }

    #[test]
    fn a_delay_past_the_clock_means_never() {
        let mut table = TimerTable::default();
        table.set_after(Timer::DrainGrace, Instant::now(), Duration::MAX);
        assert_eq!(table.next(), None);
    }
}
