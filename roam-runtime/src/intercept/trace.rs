//! [`Trace`]: a `tracing` span per served call.

use std::time::Instant;

use tracing::Instrument;
use tracing::field::Empty;

use super::{Answer, Interceptor, Next, Outcome};
use crate::BoxFuture;
use crate::context::Context;

/// Opens an `INFO` span `roam.call` around every call it serves, with the fields `service`,
/// `method`, `peer`, `identity` (the authenticator's name, or empty), and, when the call
/// ends, `outcome` ([`Outcome::as_str`]) and `duration_us`. A call stopped before it answered
/// (cancelled, or past its deadline) records `cancelled` or `deadline_exceeded`. The
/// handler's own events are inside the span.
///
/// ```no_run
/// # #[roam::service] trait Calculator { async fn add(&self, a: i32, b: i32) -> i32; }
/// # struct Calc; impl Calculator for Calc { async fn add(&self, a: i32, b: i32) -> i32 { a + b } }
/// # async fn demo() -> Result<(), roam::ConnectError> {
/// let server = roam::Server::bind("tcp://127.0.0.1:0").await?
///     .intercept(roam::intercept::Trace)
///     .serve(CalculatorDispatcher::new(Calc));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Trace;

/// Records the outcome on the span once, when the call answers or is dropped unanswered.
struct Finish {
    span: tracing::Span,
    cx: Context,
    started: Instant,
    outcome: Option<Outcome>,
}

impl Drop for Finish {
    fn drop(&mut self) {
        let outcome = self
            .outcome
            .unwrap_or_else(|| Outcome::of_stopped(&self.cx));
        self.span.record("outcome", outcome.as_str());
        self.span
            .record("duration_us", self.started.elapsed().as_micros() as u64);
    }
}

impl Interceptor for Trace {
    fn intercept(&self, cx: Context, next: Next) -> BoxFuture<'static, Answer> {
        let span = tracing::info_span!(
            "roam.call",
            service = cx.service().name,
            method = cx.method().name,
            peer = cx.peer(),
            identity = cx.identity().map(|i| i.name()).unwrap_or(""),
            outcome = Empty,
            duration_us = Empty,
        );
        let mut finish = Finish {
            span: span.clone(),
            cx: cx.clone(),
            started: Instant::now(),
            outcome: None,
        };
        let answer = next.run(cx);
        Box::pin(
            async move {
                let answer = answer.await;
                finish.outcome = Some(answer.outcome());
                drop(finish);
                answer
            }
            .instrument(span),
        )
    }
}
