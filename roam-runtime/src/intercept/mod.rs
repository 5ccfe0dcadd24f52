//! Interceptors: code that runs around every call, on either side, composed like tower layers
//! (each gets the call and a `next` to run the rest of the chain with).
//!
//! - Serving side: [`Interceptor`] wraps the dispatch of each call: it can read the
//!   [`Context`] (method, metadata, peer, [identity](crate::Context::identity)), refuse the call
//!   before its handler runs ([`Answer::deny`], `PermissionDenied` on the wire), and observe the
//!   answer ([`Answer::outcome`]) and how long it took. [`Server::intercept`](crate::Server::intercept)
//!   adds one; the first added is the outermost.
//! - Calling side: [`ClientInterceptor`] wraps each call a [`Connection`](crate::Connection)
//!   makes: it can add metadata (tokens, request IDs) and observe the [`Outcome`].
//!   [`Connector::intercept`](crate::Connector::intercept) adds one.
//! - Everyday ones: [`Trace`] (a `tracing` span per served call) and [`Metrics`] hooks
//!   ([`Server::metrics`](crate::Server::metrics); an adapter for the `metrics` crate with the
//!   `metrics` feature).
//!
//! With no interceptor configured a call takes the same path as before: no box, no lookup.
//! Calls the session answers by itself before any handler (`Overloaded` over the concurrency
//! limit, `Unavailable` while draining, `UnknownMethod`) do not pass through interceptors.
//!
//! Owns the chain types and running them; the driver calls [`Chain::dispatch`] where it used
//! to call the dispatcher.

mod client;
mod metrics;
#[cfg(feature = "metrics")]
mod metrics_crate;
mod trace;

use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;

use bytes::Bytes;
use roam_proto::response::{ERR, INCOMPATIBLE, OK, PERMISSION_DENIED, USER};

use crate::BoxFuture;
use crate::context::Context;
use crate::dispatch::Dispatch;
use crate::error::RemoteError;

pub(crate) use client::ClientChain;
pub use client::{ClientCall, ClientInterceptor, ClientNext, Exchange};
pub(crate) use metrics::MetricsLayer;
pub use metrics::{CallRecord, Metrics};
#[cfg(feature = "metrics")]
pub use metrics_crate::MetricsCrate;
pub use trace::Trace;

/// How a call ended, as both sides' interceptors, spans and metrics name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Outcome {
    /// The handler returned a value.
    Ok,
    /// The handler returned its user error.
    UserError,
    /// A runtime-level failure the callee reported (or, for `DeadlineExceeded` and
    /// `Cancelled`, that either side decided).
    Failed(RemoteError),
    /// The callee could not read the caller's arguments' schema (or the reverse).
    IncompatibleSchema,
    /// An interceptor refused the call.
    PermissionDenied,
    /// The session ended before the answer.
    ConnectionLost,
    /// The call failed on the calling side before or after the wire (encoding, limits, a
    /// malformed answer).
    Local,
}

impl Outcome {
    /// A stable lower-case name: `ok`, `user_error`, `unknown_method`, `invalid_payload`,
    /// `cancelled`, `deadline_exceeded`, `overloaded`, `unavailable`, `internal`,
    /// `incompatible_schema`, `permission_denied`, `connection_lost`, `local`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::UserError => "user_error",
            Outcome::Failed(e) => match e {
                RemoteError::UnknownMethod => "unknown_method",
                RemoteError::InvalidPayload => "invalid_payload",
                RemoteError::Cancelled => "cancelled",
                RemoteError::DeadlineExceeded => "deadline_exceeded",
                RemoteError::Overloaded => "overloaded",
                RemoteError::Unavailable => "unavailable",
                RemoteError::Internal => "internal",
                _ => "unknown_error",
            },
            Outcome::IncompatibleSchema => "incompatible_schema",
            Outcome::PermissionDenied => "permission_denied",
            Outcome::ConnectionLost => "connection_lost",
            Outcome::Local => "local",
        }
    }

    /// Whether the handler returned a value.
    pub fn is_ok(self) -> bool {
        self == Outcome::Ok
    }

    /// Reads the outcome from an encoded response (its first two bytes).
    pub(crate) fn of_response(payload: &[u8]) -> Outcome {
        match payload {
            [OK, ..] => Outcome::Ok,
            [ERR, USER, ..] => Outcome::UserError,
            [ERR, INCOMPATIBLE, ..] => Outcome::IncompatibleSchema,
            [ERR, PERMISSION_DENIED, ..] => Outcome::PermissionDenied,
            [ERR, code, ..] => {
                RemoteError::from_code(*code).map_or(Outcome::Local, Outcome::Failed)
            }
            [] | [_, ..] => Outcome::Local,
        }
    }

    /// What a handler stopped before it answered was stopped for: its deadline if that has
    /// passed, otherwise a cancel (or the server's shutdown grace running out).
    pub(crate) fn of_stopped(cx: &Context) -> Outcome {
        let late = cx
            .deadline()
            .is_some_and(|d| tokio::time::Instant::now().into_std() >= d);
        Outcome::Failed(if late {
            RemoteError::DeadlineExceeded
        } else {
            RemoteError::Cancelled
        })
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A served call's encoded answer, as it leaves the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    payload: Vec<u8>,
}

impl Answer {
    /// Refuses the call: the caller gets `PermissionDenied` with `reason` (its
    /// [`CallError::PermissionDenied`](crate::CallError::PermissionDenied)), and the handler
    /// never runs.
    pub fn deny(reason: &str) -> Answer {
        Answer {
            payload: roam_proto::response::permission_denied(reason),
        }
    }

    /// How the call ended.
    pub fn outcome(&self) -> Outcome {
        Outcome::of_response(&self.payload)
    }

    /// The encoded response's size in bytes.
    pub fn len(&self) -> usize {
        self.payload.len()
    }

    /// Whether the encoded response is empty (it never is for a well-formed answer).
    pub fn is_empty(&self) -> bool {
        self.payload.is_empty()
    }

    pub(crate) fn into_payload(self) -> Vec<u8> {
        self.payload
    }
}

/// Runs around every call this side serves. Any `Fn(Context, Next) -> impl Future<Output =
/// Answer>` is one.
///
/// ```
/// # #[roam::service] trait Calculator { async fn add(&self, a: i32, b: i32) -> i32; }
/// # struct Calc; impl Calculator for Calc { async fn add(&self, a: i32, b: i32) -> i32 { a + b } }
/// # async fn demo() -> Result<(), roam::ConnectError> {
/// use roam::intercept::{Answer, Next};
/// let server = roam::Server::bind("tcp://127.0.0.1:0").await?
///     .intercept(|cx: roam::Context, next: Next| async move {
///         if cx.identity().is_none() && cx.method().name == "add" {
///             return Answer::deny("sign in first");
///         }
///         next.run(cx).await
///     })
///     .serve(CalculatorDispatcher::new(Calc));
/// # Ok(()) }
/// ```
pub trait Interceptor: Send + Sync + 'static {
    /// Serves `cx` by running `next` (or not: return an [`Answer::deny`] instead).
    fn intercept(&self, cx: Context, next: Next) -> BoxFuture<'static, Answer>;
}

impl<F, Fut> Interceptor for F
where
    F: Fn(Context, Next) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Answer> + Send + 'static,
{
    fn intercept(&self, cx: Context, next: Next) -> BoxFuture<'static, Answer> {
        Box::pin(self(cx, next))
    }
}

/// The rest of a serving chain: the interceptors after this one, then the handler.
pub struct Next {
    chain: Arc<[Arc<dyn Interceptor>]>,
    at: usize,
    service: Arc<dyn Dispatch>,
    payload: Bytes,
}

impl fmt::Debug for Next {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Next")
            .field("remaining", &(self.chain.len() - self.at))
            .field("request_bytes", &self.payload.len())
            .finish()
    }
}

impl Next {
    /// The encoded arguments' size in bytes.
    pub fn request_len(&self) -> usize {
        self.payload.len()
    }

    /// Runs the rest of the chain and the handler.
    pub fn run(self, cx: Context) -> BoxFuture<'static, Answer> {
        match self.chain.get(self.at) {
            Some(layer) => {
                let layer = Arc::clone(layer);
                let next = Next {
                    at: self.at + 1,
                    ..self
                };
                layer.intercept(cx, next)
            }
            None => {
                let service = self.service;
                let payload = self.payload;
                Box::pin(async move {
                    // A handler that panics is answered `Internal` here, inside the chain, so
                    // the interceptors see the answer the caller gets (not a call that
                    // vanished).
                    let handler =
                        AssertUnwindSafe(async move { service.dispatch(cx, payload).await });
                    let payload = handler.catch_unwind().await.unwrap_or_else(|_| {
                        tracing::error!("handler panicked; answering Internal");
                        roam_proto::response::remote(RemoteError::Internal)
                    });
                    Answer { payload }
                })
            }
        }
    }
}

/// Interceptors of one kind, outermost first. Built while a server or connector is
/// configured; shared by all its sessions (cloning is one reference count).
pub(crate) struct Layers<L: ?Sized> {
    layers: Arc<[Arc<L>]>,
}

impl<L: ?Sized> Clone for Layers<L> {
    fn clone(&self) -> Self {
        Layers {
            layers: Arc::clone(&self.layers),
        }
    }
}

impl<L: ?Sized> Default for Layers<L> {
    fn default() -> Self {
        Layers {
            layers: Arc::new([]),
        }
    }
}

impl<L: ?Sized> fmt::Debug for Layers<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Layers")
            .field("layers", &self.layers.len())
            .finish()
    }
}

impl<L: ?Sized> Layers<L> {
    /// Adds `layer` inside the ones already there (or outside all of them with `outermost`).
    pub(crate) fn push(&mut self, layer: Arc<L>, outermost: bool) {
        let mut layers = self.layers.to_vec();
        if outermost {
            layers.insert(0, layer);
        } else {
            layers.push(layer);
        }
        self.layers = layers.into();
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    /// The layers, to walk with an index (what `Next` and `ClientNext` keep).
    pub(crate) fn shared(&self) -> Arc<[Arc<L>]> {
        Arc::clone(&self.layers)
    }
}

/// A serving side's interceptors.
pub(crate) type Chain = Layers<dyn Interceptor>;

impl Chain {
    /// Serves `cx` through the chain, or straight to the dispatcher when there is none.
    pub(crate) fn dispatch(
        &self,
        service: &Arc<dyn Dispatch>,
        cx: Context,
        payload: Bytes,
    ) -> BoxFuture<'static, Vec<u8>> {
        if self.is_empty() {
            return service.dispatch(cx, payload);
        }
        let next = Next {
            chain: self.shared(),
            at: 0,
            service: Arc::clone(service),
            payload,
        };
        // Nothing of the chain runs here (under the session's lock, outside the handler
        // task's panic guard): the first layer is called when the task first polls.
        Box::pin(async move { next.run(cx).await.into_payload() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_are_read_from_the_response_bytes() {
        assert_eq!(Outcome::of_response(&[0, 5]), Outcome::Ok);
        assert_eq!(Outcome::of_response(&[1, 0, 1]), Outcome::UserError);
        assert_eq!(
            Outcome::of_response(&[1, 4]),
            Outcome::Failed(RemoteError::DeadlineExceeded)
        );
        assert_eq!(
            Outcome::of_response(&[1, 8, 0]),
            Outcome::IncompatibleSchema
        );
        assert_eq!(Answer::deny("no").outcome(), Outcome::PermissionDenied);
        assert_eq!(Outcome::of_response(&[1, 99]), Outcome::Local);
        assert_eq!(Outcome::of_response(&[]), Outcome::Local);
        assert_eq!(
            Outcome::Failed(RemoteError::Overloaded).as_str(),
            "overloaded"
        );
    }
}
