//! [`Metrics`]: hooks a server calls for every call it serves and as sessions and channels
//! open and close. [`Server::metrics`](crate::Server::metrics) installs them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Answer, Interceptor, Next, Outcome};
use crate::BoxFuture;
use crate::context::Context;

/// One served call, as [`Metrics::call`] sees it.
#[derive(Debug, Clone)]
pub struct CallRecord<'a> {
    /// The service's name (empty for a method this side does not serve).
    pub service: &'static str,
    /// The method's name (empty for a method this side does not serve).
    pub method: &'static str,
    /// The identity the authenticator gave the session, if any.
    pub identity: Option<&'a str>,
    /// How it ended.
    pub outcome: Outcome,
    /// From when the call reached the interceptors to its answer (zero for a call the session
    /// answered by itself).
    pub duration: Duration,
    /// The encoded arguments' size (0 for a call the session answered by itself).
    pub request_bytes: usize,
    /// The encoded response's size (0 when the call was stopped unanswered).
    pub response_bytes: usize,
}

/// What a server reports to a metrics system. Every method has an empty default, so an
/// implementation overrides what it records. Called from the sessions' tasks: keep them
/// quick (increment a counter; do not block).
pub trait Metrics: Send + Sync + 'static {
    /// A call from the peer ended: answered by its handler, refused by an interceptor, stopped
    /// unanswered (cancelled, past its deadline), or answered by the session before any
    /// handler (`UnknownMethod`, `Overloaded` over the concurrency limit, `Unavailable` while
    /// draining). Called exactly once per call.
    fn call(&self, record: &CallRecord<'_>) {
        let _ = record;
    }
    /// A session finished its handshake.
    fn session_opened(&self) {}
    /// A session that had opened ended.
    fn session_closed(&self) {}
    /// `n` channels opened on a session.
    fn channels_opened(&self, n: usize) {
        let _ = n;
    }
    /// `n` channels ended on a session.
    fn channels_closed(&self, n: usize) {
        let _ = n;
    }
}

/// The interceptor [`Server::metrics`](crate::Server::metrics) puts outermost, so calls
/// other interceptors refuse are counted too.
pub(crate) struct MetricsLayer(pub(crate) Arc<dyn Metrics>);

/// Reports the call once, when it answers or is dropped unanswered.
struct Report {
    metrics: Arc<dyn Metrics>,
    cx: Context,
    started: Instant,
    request_bytes: usize,
    answered: Option<(Outcome, usize)>,
}

impl Drop for Report {
    fn drop(&mut self) {
        let (outcome, response_bytes) = self
            .answered
            .unwrap_or_else(|| (Outcome::of_stopped(&self.cx), 0));
        self.metrics.call(&CallRecord {
            service: self.cx.service().name,
            method: self.cx.method().name,
            identity: self.cx.identity().map(|i| i.name()),
            outcome,
            duration: self.started.elapsed(),
            request_bytes: self.request_bytes,
            response_bytes,
        });
    }
}

impl Interceptor for MetricsLayer {
    fn intercept(&self, cx: Context, next: Next) -> BoxFuture<'static, Answer> {
        let mut report = Report {
            metrics: Arc::clone(&self.0),
            cx: cx.clone(),
            started: Instant::now(),
            request_bytes: next.request_len(),
            answered: None,
        };
        let answer = next.run(cx);
        Box::pin(async move {
            let answer = answer.await;
            report.answered = Some((answer.outcome(), answer.len()));
            // Names the whole guard, so the block owns it (not just the field it sets) and it
            // reports here, or when the block is dropped unanswered.
            drop(report);
            answer
        })
    }
}
