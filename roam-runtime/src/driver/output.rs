//! Output backpressure: how many bytes a session has queued for its link and not yet written,
//! and, for a server, how many all its sessions have together.
//!
//! The driver adds what it hands the writer task, the writer subtracts what it has passed to
//! the link. When a session's queue passes its bound, or the server's total passes the
//! server's budget while this session holds a real share of it, the driver stops reading from
//! that peer: a peer that sends calls and never reads their answers then stops being served
//! instead of growing the queue. The writer wakes the driver only while reading is stopped.
//!
//! Owns the counters and the stop rule; deciding to end a stalled session is the session's
//! (its output-stall timer), and writing is the writer task's.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::sync::Notify;

/// A bound on the output of a group of sessions (a server's): over it, sessions holding more
/// than an eighth of their own bound stop reading until the group is back under it.
#[derive(Debug)]
pub struct OutputBudget {
    queued: AtomicUsize,
    budget: usize,
}

impl OutputBudget {
    /// A budget of `bytes` for all sessions sharing it.
    pub fn new(bytes: usize) -> Arc<OutputBudget> {
        Arc::new(OutputBudget {
            queued: AtomicUsize::new(0),
            budget: bytes,
        })
    }

    /// Bytes queued by all sessions sharing it now.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::SeqCst)
    }
}

/// One session's output queue, shared by its driver and its writer task.
#[derive(Debug)]
pub(crate) struct OutputQueue {
    queued: AtomicUsize,
    bound: usize,
    group: Option<Arc<OutputBudget>>,
    /// Set by the driver while it has stopped reading.
    blocked: AtomicBool,
    /// The writer's signal that bytes left while `blocked`.
    pub(crate) drained: Notify,
}

impl OutputQueue {
    pub(crate) fn new(bound: usize, group: Option<Arc<OutputBudget>>) -> Arc<OutputQueue> {
        Arc::new(OutputQueue {
            queued: AtomicUsize::new(0),
            bound,
            group,
            blocked: AtomicBool::new(false),
            drained: Notify::new(),
        })
    }

    /// `len` bytes handed to the writer; returns this session's total.
    pub(crate) fn add(&self, len: usize) -> usize {
        if let Some(group) = &self.group {
            group.queued.fetch_add(len, Ordering::SeqCst);
        }
        self.queued.fetch_add(len, Ordering::SeqCst) + len
    }

    /// `len` bytes taken by the link (it takes more only as it writes what it holds). Wakes
    /// the driver if it is waiting for the queue to drain.
    pub(crate) fn sent(&self, len: usize) {
        if let Some(group) = &self.group {
            group.queued.fetch_sub(len, Ordering::SeqCst);
        }
        self.queued.fetch_sub(len, Ordering::SeqCst);
        if self.blocked.load(Ordering::SeqCst) {
            self.drained.notify_one();
        }
    }

    /// Whether reading should stop now.
    pub(crate) fn over(&self) -> bool {
        let mine = self.queued.load(Ordering::SeqCst);
        mine > self.bound
            || self
                .group
                .as_ref()
                .is_some_and(|g| g.queued() > g.budget && mine > self.bound / 8)
    }

    pub(crate) fn set_blocked(&self, blocked: bool) {
        self.blocked.store(blocked, Ordering::SeqCst);
    }
}

impl Drop for OutputQueue {
    /// The session is gone (driver and writer both): what it still had queued, never to be
    /// written, leaves the group's total.
    fn drop(&mut self) {
        if let Some(group) = &self.group {
            group
                .queued
                .fetch_sub(*self.queued.get_mut(), Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_stops_past_its_own_bound() {
        let q = OutputQueue::new(100, None);
        assert_eq!(q.add(100), 100);
        assert!(!q.over());
        q.add(1);
        assert!(q.over());
        q.sent(50);
        assert!(!q.over());
    }

    #[test]
    fn a_group_over_budget_stops_only_sessions_holding_a_share() {
        let group = OutputBudget::new(1000);
        let hog = OutputQueue::new(800, Some(Arc::clone(&group)));
        let light = OutputQueue::new(800, Some(Arc::clone(&group)));
        hog.add(700);
        light.add(50);
        assert!(!hog.over() && !light.over(), "the group is within budget");
        hog.add(300);
        assert_eq!(group.queued(), 1050);
        assert!(hog.over(), "holds more than an eighth of its bound");
        assert!(!light.over(), "a light session keeps being read");
        drop(hog);
        assert_eq!(
            group.queued(),
            50,
            "an ended session's queue leaves the total"
        );
    }
}
