//! The call context a handler can ask for by taking `cx: &roam::Context` as its first
//! argument: metadata, deadline, peer, and a [`Connection`] to call the peer back on the same
//! session.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use roam_core::{MethodDescriptor, ServiceDescriptor};

use crate::channel::{WireRx, WireTx};
use crate::connection::Connection;
use crate::metadata::Metadata;

/// What a handler knows about the call it is serving. Cheap to clone.
///
/// ```
/// #[roam::service]
/// trait Greeter {
///     async fn hello(&self, cx: &roam::Context, name: &str) -> String;
/// }
/// struct G;
/// impl Greeter for G {
///     async fn hello(&self, cx: &roam::Context, name: &str) -> String {
///         let who = cx.metadata().get_str("user").unwrap_or("anonymous");
///         format!("hello {name}, from {who} via {}.{}", cx.service().name, cx.method().name)
///     }
/// }
/// ```
#[derive(Clone, Debug)]
pub struct Context {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    service: &'static ServiceDescriptor,
    method: &'static MethodDescriptor,
    request_id: u64,
    metadata: Metadata,
    deadline: Option<Instant>,
    connection: Connection,
    /// The channel ends of the call's `Tx`/`Rx` arguments, taken by the dispatcher.
    channels: Mutex<Vec<Option<ChannelEnd>>>,
}

/// A channel end bound to one of the call's channel arguments.
#[derive(Debug)]
pub(crate) enum ChannelEnd {
    /// The handler sends (`Tx<T>` argument).
    Tx(WireTx),
    /// The handler receives (`Rx<T>` argument).
    Rx(WireRx),
}

impl Context {
    pub(crate) fn new(
        service: &'static ServiceDescriptor,
        method: &'static MethodDescriptor,
        request_id: u64,
        metadata: Metadata,
        deadline: Option<Instant>,
        connection: Connection,
        channels: Vec<ChannelEnd>,
    ) -> Self {
        let channels = Mutex::new(channels.into_iter().map(Some).collect());
        Context {
            inner: Arc::new(Inner {
                service,
                method,
                request_id,
                metadata,
                deadline,
                connection,
                channels,
            }),
        }
    }

    /// Takes the end bound to the `index`-th channel argument.
    pub(crate) fn take_channel(&self, index: usize) -> Option<ChannelEnd> {
        self.inner.channels.lock().ok()?.get_mut(index)?.take()
    }

    /// The method ID being called.
    pub fn method_id(&self) -> u64 {
        self.inner.method.id
    }

    /// The method being called.
    pub fn method(&self) -> &'static MethodDescriptor {
        self.inner.method
    }

    /// The service being called.
    pub fn service(&self) -> &'static ServiceDescriptor {
        self.inner.service
    }

    /// The request ID (unique among the calls in flight on this session).
    pub fn request_id(&self) -> u64 {
        self.inner.request_id
    }

    /// The metadata the caller sent.
    pub fn metadata(&self) -> &Metadata {
        &self.inner.metadata
    }

    /// When the caller stops waiting, if it set a timeout. The runtime stops the handler then.
    pub fn deadline(&self) -> Option<Instant> {
        self.inner.deadline
    }

    /// The peer's address, e.g. `tcp://127.0.0.1:51234`.
    pub fn peer(&self) -> &str {
        self.inner.connection.peer()
    }

    /// The session this call arrived on: use it with a generated client to call the peer back.
    pub fn connection(&self) -> &Connection {
        &self.inner.connection
    }
}
