//! Output backpressure: how many bytes a session has queued for its link and not yet written,
//! and, for a server, how many all its sessions have together.
//!
//! The driver reports its queue after every turn (frames the session holds for it plus frames
//! fed to the link and not yet flushed). When a session's queue passes its bound, or the
//! server's total passes the server's budget while this session holds a real share of it, the
//! driver stops reading from that peer: a peer that sends calls and never reads their answers
//! then stops being served instead of growing the queue.
//!
//! Owns the counters and the stop rule; deciding to end a stalled session is the session's
//! (its output-stall timer), and writing is the driver's.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

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
        self.queued.load(Ordering::Relaxed)
    }
}

/// One session's output queue as the driver last measured it.
#[derive(Debug)]
pub(crate) struct OutputQueue {
    queued: usize,
    bound: usize,
    group: Option<Arc<OutputBudget>>,
}

impl OutputQueue {
    pub(crate) fn new(bound: usize, group: Option<Arc<OutputBudget>>) -> OutputQueue {
        OutputQueue {
            queued: 0,
            bound,
            group,
        }
    }

    /// The session's queue is now `queued` bytes.
    pub(crate) fn set(&mut self, queued: usize) {
        if let Some(group) = &self.group {
            if queued > self.queued {
                group
                    .queued
                    .fetch_add(queued - self.queued, Ordering::Relaxed);
            } else if queued < self.queued {
                group
                    .queued
                    .fetch_sub(self.queued - queued, Ordering::Relaxed);
            }
        }
        self.queued = queued;
    }

    /// Whether reading should stop now.
    pub(crate) fn over(&self) -> bool {
        self.queued > self.bound
            || self
                .group
                .as_ref()
                .is_some_and(|g| g.queued() > g.budget && self.queued > self.bound / 8)
    }
}

impl Drop for OutputQueue {
    /// The session is gone: what it still had queued, never to be written, leaves the group's
    /// total.
    fn drop(&mut self) {
        self.set(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_stops_past_its_own_bound() {
        let mut q = OutputQueue::new(100, None);
        q.set(100);
        assert!(!q.over());
        q.set(101);
        assert!(q.over());
        q.set(50);
        assert!(!q.over());
    }

    #[test]
    fn a_group_over_budget_stops_only_sessions_holding_a_share() {
        let group = OutputBudget::new(1000);
        let mut hog = OutputQueue::new(800, Some(Arc::clone(&group)));
        let mut light = OutputQueue::new(800, Some(Arc::clone(&group)));
        hog.set(700);
        light.set(50);
        assert!(!hog.over() && !light.over(), "the group is within budget");
        hog.set(1000);
        assert_eq!(group.queued(), 1050);
        assert!(hog.over(), "holds more than an eighth of its bound");
        assert!(!light.over(), "a light session keeps being read");
        hog.set(400);
        assert_eq!(group.queued(), 450);
        drop(hog);
        assert_eq!(
            group.queued(),
            50,
            "an ended session's queue leaves the total"
        );
    }
}
