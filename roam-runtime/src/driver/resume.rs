//! What the runtime adds to the session's resumption (the rules live in
//! `roam_proto::session`): the connection state handles observe, the initiator's retry policy
//! and reconnect loop, and the acceptor's table of resumable sessions by key, through which a
//! new link reaches the session it resumes.
//!
//! Owns dialling and the table; never touches protocol state except through the session's
//! commands (`resume`, `accept_resume`, `give_up`), under the state's lock.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::watch;

use super::Core;
pub use crate::connection::ConnectionState;
use crate::framing::MaxFrame;
use crate::transport::tls::ClientTls;
use crate::transport::{self, Address};

/// How a client dials again after losing its link: exponential backoff with jitter, bounded
/// in attempts and in total time.
///
/// ```
/// use std::time::Duration;
/// let policy = roam::RetryPolicy {
///     budget: Duration::from_secs(10),
///     ..roam::RetryPolicy::default()
/// };
/// assert!(policy.delay(3, 0.5) <= policy.max_delay);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Attempts to make a new link before giving up (default: unbounded, within `budget`).
    pub attempts: u32,
    /// Wait before the second attempt (the first is immediate). Default 50 ms.
    pub initial_delay: Duration,
    /// Longest wait between attempts. Default 2 s.
    pub max_delay: Duration,
    /// Each wait is the previous one times this. Default 2.
    pub multiplier: f64,
    /// Each wait is varied by up to this fraction either way, so that many clients cut off
    /// together do not dial back in step. Default 0.2.
    pub jitter: f64,
    /// Time from losing the link to giving up: then calls in flight fail with
    /// `ConnectionLost` and the connection closes. Default 30 s (below a server's default
    /// 60 s grace period, so a server that still has the session never frees it first).
    pub budget: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: u32::MAX,
            initial_delay: Duration::from_millis(50),
            max_delay: Duration::from_secs(2),
            multiplier: 2.0,
            jitter: 0.2,
            budget: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The wait before attempt `attempt` (0 is the first, made at once), with `unit` in
    /// `[0, 1)` choosing where in the jitter range it falls.
    pub fn delay(&self, attempt: u32, unit: f64) -> Duration {
        if attempt == 0 {
            return Duration::ZERO;
        }
        let exponent = i32::try_from(attempt - 1).unwrap_or(i32::MAX);
        let base = self.initial_delay.as_secs_f64() * self.multiplier.max(1.0).powi(exponent);
        let capped = base.min(self.max_delay.as_secs_f64());
        let jitter = self.jitter.clamp(0.0, 1.0);
        let varied = capped * (1.0 - jitter + 2.0 * jitter * unit.clamp(0.0, 1.0));
        Duration::from_secs_f64(varied.min(self.max_delay.as_secs_f64()).max(0.0))
    }
}

/// How a connecting side makes a new link to the same server.
#[derive(Debug)]
pub(crate) struct Redial {
    pub(crate) addr: Address,
    pub(crate) tls: Option<ClientTls>,
    pub(crate) policy: RetryPolicy,
    /// Bound on making one link (the TLS handshake and WebSocket upgrade included).
    pub(crate) link_timeout: Duration,
}

/// The state handles see, with a count of links lost so a reconnect loop can tell "lost
/// again" from "still reconnecting".
pub(crate) type StateCell = watch::Sender<(ConnectionState, u64)>;

/// Dials until the session has a link again (resumed, or a fresh session's handshake done),
/// the policy's attempts or budget run out (the session is given up), or the session ends.
pub(crate) async fn reconnect(core: Weak<Core>, redial: Arc<Redial>, max_frame: MaxFrame) {
    let started = tokio::time::Instant::now();
    let mut attempt: u32 = 0;
    loop {
        let Some(strong) = core.upgrade() else {
            return;
        };
        let mut states = strong.lock().states();
        if states.borrow_and_update().0 != ConnectionState::Reconnecting {
            if strong.dialer_may_stop() {
                return;
            }
            continue;
        }
        drop(strong);
        let elapsed = started.elapsed();
        if attempt >= redial.policy.attempts || elapsed >= redial.policy.budget {
            if let Some(core) = core.upgrade() {
                core.give_up(attempt, elapsed);
            }
            return;
        }
        let wait = redial
            .policy
            .delay(attempt, rand::random::<f64>())
            .min(redial.policy.budget.saturating_sub(elapsed));
        // Not even a zero sleep for the first attempt: the timer wheel would round it up to
        // its 1 ms tick.
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        attempt += 1;
        let link = tokio::time::timeout(
            redial.link_timeout,
            transport::connect_with(&redial.addr, &max_frame, redial.tls.as_ref()),
        )
        .await;
        let link = match link {
            Ok(Ok(link)) => link,
            Ok(Err(e)) => {
                tracing::debug!(attempt, error = %e, "reconnect: no link");
                continue;
            }
            Err(_) => {
                tracing::debug!(attempt, "reconnect: no link within the timeout");
                continue;
            }
        };
        let Some(strong) = core.upgrade() else {
            return;
        };
        let losses = states.borrow().1;
        if !strong.attach_link(link) {
            return;
        }
        drop(strong);
        // This link's outcome: the session resumed or started afresh (done), or the link was
        // lost again (dial again).
        loop {
            if states.changed().await.is_err() {
                return;
            }
            let (state, lost) = *states.borrow_and_update();
            match state {
                ConnectionState::Reconnecting if lost != losses => break,
                ConnectionState::Reconnecting => {}
                _ => match core.upgrade() {
                    Some(core) if !core.dialer_may_stop() => break,
                    _ => return,
                },
            }
        }
    }
}

/// An acceptor's resumable sessions by key: where a link whose `Hello` asks to resume finds
/// its session. Entries leave when their session ends, so it holds at most as many as the
/// server keeps sessions.
#[derive(Debug, Default)]
pub(crate) struct Resumables {
    sessions: Mutex<HashMap<[u8; 16], Weak<Core>>>,
}

impl Resumables {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 16], Weak<Core>>> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn insert(&self, key: [u8; 16], core: Weak<Core>) {
        self.lock().insert(key, core);
    }

    pub(crate) fn get(&self, key: &[u8; 16]) -> Option<Arc<Core>> {
        self.lock().get(key).and_then(Weak::upgrade)
    }

    /// Removes `key` if it still names `core` (a key is random, but be exact anyway).
    pub(crate) fn remove(&self, key: &[u8; 16], core: &Weak<Core>) {
        let mut sessions = self.lock();
        if sessions.get(key).is_some_and(|c| c.ptr_eq(core)) {
            sessions.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_its_cap_and_jitter_stays_in_range() {
        let policy = RetryPolicy {
            jitter: 0.0,
            ..RetryPolicy::default()
        };
        assert_eq!(
            policy.delay(0, 0.9),
            Duration::ZERO,
            "the first attempt is at once"
        );
        assert_eq!(policy.delay(1, 0.0), Duration::from_millis(50));
        assert_eq!(policy.delay(2, 0.0), Duration::from_millis(100));
        assert_eq!(policy.delay(30, 0.0), Duration::from_secs(2), "capped");
        assert_eq!(policy.delay(u32::MAX, 0.0), Duration::from_secs(2));
        let jittered = RetryPolicy::default();
        for unit in [0.0, 0.25, 0.5, 0.999] {
            let d = jittered.delay(2, unit);
            assert!(
                d >= Duration::from_millis(80) && d <= Duration::from_millis(120),
                "{d:?}"
            );
        }
    }
}
