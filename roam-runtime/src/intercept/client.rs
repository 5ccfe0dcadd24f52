//! The calling side's interceptors: [`ClientInterceptor`] around each call a connection makes.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use roam_core::MethodDescriptor;

use super::{Layers, Outcome};
use crate::BoxFuture;
use crate::connection::{Connection, SendCall};
use crate::error::RemoteError;
use crate::inbox::{CallFailure, ChannelBind, RawResponse};
use crate::metadata::Metadata;
use crate::session::{CallRejected, OutgoingCall};

/// What a client interceptor may see and change about a call before it is sent.
#[derive(Debug, Clone)]
pub struct ClientCall {
    /// The method called.
    pub method: &'static MethodDescriptor,
    /// The request's metadata: add tokens, request IDs, trace context.
    pub metadata: Metadata,
    /// The call's timeout, if it has one.
    pub timeout: Option<Duration>,
}

/// A call's answer (or failure) on its way back through the chain.
pub struct Exchange {
    pub(crate) result: Result<RawResponse, CallFailure>,
}

impl fmt::Debug for Exchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Exchange")
            .field("outcome", &self.outcome())
            .finish_non_exhaustive()
    }
}

impl Exchange {
    /// How the call ended.
    pub fn outcome(&self) -> Outcome {
        match &self.result {
            Ok(raw) => Outcome::of_response(&raw.payload),
            Err(CallFailure::Rejected(CallRejected::DeadlineExceeded)) => {
                Outcome::Failed(RemoteError::DeadlineExceeded)
            }
            Err(CallFailure::Lost(_) | CallFailure::Rejected(CallRejected::Closed(_))) => {
                Outcome::ConnectionLost
            }
            Err(CallFailure::Rejected(_)) => Outcome::Local,
        }
    }

    /// The metadata the handler attached to its response, if a response arrived.
    pub fn response_metadata(&self) -> Option<&Metadata> {
        self.result.as_ref().ok().map(|raw| &raw.metadata)
    }

    /// The encoded response's size in bytes (0 without a response).
    pub fn response_len(&self) -> usize {
        self.result.as_ref().map_or(0, |raw| raw.payload.len())
    }
}

/// Runs around every call a connection makes. Any `Fn(ClientCall, ClientNext) -> impl
/// Future<Output = Exchange>` is one.
///
/// ```no_run
/// # async fn demo() -> Result<(), roam::ConnectError> {
/// use roam::intercept::{ClientCall, ClientNext};
/// let conn = roam::Connector::new()
///     .intercept(|mut call: ClientCall, next: ClientNext| async move {
///         call.metadata.insert("request-id", "r-1");
///         let exchange = next.run(call).await;
///         println!("{}", exchange.outcome());
///         exchange
///     })
///     .connect("tcp://127.0.0.1:4000")
///     .await?;
/// # Ok(()) }
/// ```
pub trait ClientInterceptor: Send + Sync + 'static {
    /// Sends `call` by running `next`, possibly after changing it.
    fn intercept(&self, call: ClientCall, next: ClientNext) -> BoxFuture<'static, Exchange>;
}

impl<F, Fut> ClientInterceptor for F
where
    F: Fn(ClientCall, ClientNext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Exchange> + Send + 'static,
{
    fn intercept(&self, call: ClientCall, next: ClientNext) -> BoxFuture<'static, Exchange> {
        Box::pin(self(call, next))
    }
}

/// The rest of a calling chain: the interceptors after this one, then the session.
pub struct ClientNext {
    chain: Arc<[Arc<dyn ClientInterceptor>]>,
    at: usize,
    conn: Connection,
    /// The request without what [`ClientCall`] carries.
    request: OutgoingCall,
    channels: Vec<ChannelBind>,
}

impl fmt::Debug for ClientNext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientNext")
            .field("remaining", &(self.chain.len() - self.at))
            .field("request_bytes", &self.request.payload.len())
            .finish()
    }
}

impl ClientNext {
    /// The encoded arguments' size in bytes.
    pub fn request_len(&self) -> usize {
        self.request.payload.len()
    }

    /// Runs the rest of the chain and sends the call.
    pub fn run(self, call: ClientCall) -> BoxFuture<'static, Exchange> {
        match self.chain.get(self.at) {
            Some(layer) => {
                let layer = Arc::clone(layer);
                let next = ClientNext {
                    at: self.at + 1,
                    ..self
                };
                layer.intercept(call, next)
            }
            None => {
                let mut request = self.request;
                request.metadata = call.metadata;
                request.timeout = call.timeout;
                let (conn, channels) = (self.conn, self.channels);
                Box::pin(async move {
                    Exchange {
                        result: conn.raw_call(request, channels).await,
                    }
                })
            }
        }
    }
}

/// A connection's client interceptors.
pub(crate) type ClientChain = Layers<dyn ClientInterceptor>;

impl ClientChain {
    /// The chain as a connection runs it, or `None` when it is empty (calls then go straight
    /// to the session).
    pub(crate) fn installed(&self) -> Option<Arc<dyn SendCall>> {
        (!self.is_empty()).then(|| Arc::new(self.clone()) as Arc<dyn SendCall>)
    }
}

impl SendCall for ClientChain {
    fn send(
        &self,
        conn: &Connection,
        method: &'static MethodDescriptor,
        mut request: OutgoingCall,
        channels: Vec<ChannelBind>,
    ) -> BoxFuture<'static, Result<RawResponse, CallFailure>> {
        let call = ClientCall {
            method,
            metadata: std::mem::take(&mut request.metadata),
            timeout: request.timeout,
        };
        let next = ClientNext {
            chain: self.shared(),
            at: 0,
            conn: conn.clone(),
            request,
            channels,
        };
        let exchange = next.run(call);
        Box::pin(async move { exchange.await.result })
    }
}
