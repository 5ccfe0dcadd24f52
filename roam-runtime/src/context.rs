//! The call context a handler can ask for by taking `cx: &roam::Context` as its first
//! argument: metadata (the request's, and the response's to set), deadline, peer, and a
//! [`Connection`] to call the peer back on the same session.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use roam_core::{MethodDescriptor, ServiceDescriptor};

use crate::auth::Identity;
use crate::connection::Connection;
use crate::inbox::{Command, WireRx, WireTx};
use crate::metadata::{Metadata, MetadataValue};
use crate::schemas::{LocalSchema, RemoteSchema};
use crate::transport::tls::TlsPeer;

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
    /// The caller's schema of the arguments, if it announced one.
    args_schema: Option<Arc<RemoteSchema>>,
    /// The caller's schema of the channel arguments' items, if it announced one.
    channels_schema: Option<Arc<RemoteSchema>>,
    /// What travels with the response besides the payload, read by the driver after the
    /// handler returns.
    reply: Arc<ReplyParts>,
}

/// The parts of a response a handler sets through its context.
#[derive(Debug, Default)]
pub(crate) struct ReplyParts {
    /// Our schema of the response, set by the dispatcher when it encodes the answer; the
    /// driver announces it before the response.
    pub(crate) schema: OnceLock<&'static LocalSchema>,
    /// Response metadata the handler set.
    pub(crate) metadata: Mutex<Metadata>,
}

impl ReplyParts {
    pub(crate) fn take_metadata(&self) -> Metadata {
        self.metadata
            .lock()
            .map(|mut m| std::mem::take(&mut *m))
            .unwrap_or_default()
    }
}

/// A channel end bound to one of the call's channel arguments.
#[derive(Debug)]
pub(crate) enum ChannelEnd {
    /// The handler sends (`Tx<T>` argument).
    Tx(WireTx),
    /// The handler receives (`Rx<T>` argument).
    Rx(WireRx),
}

/// What the driver knows about a call when it hands it to a handler.
pub(crate) struct CallParts {
    pub service: &'static ServiceDescriptor,
    pub method: &'static MethodDescriptor,
    pub request_id: u64,
    pub metadata: Metadata,
    pub deadline: Option<Instant>,
    pub connection: Connection,
    pub channels: Vec<ChannelEnd>,
    pub args_schema: Option<Arc<RemoteSchema>>,
    pub channels_schema: Option<Arc<RemoteSchema>>,
}

impl Context {
    pub(crate) fn new(parts: CallParts) -> Self {
        Context {
            inner: Arc::new(Inner {
                service: parts.service,
                method: parts.method,
                request_id: parts.request_id,
                metadata: parts.metadata,
                deadline: parts.deadline,
                connection: parts.connection,
                channels: Mutex::new(parts.channels.into_iter().map(Some).collect()),
                args_schema: parts.args_schema,
                channels_schema: parts.channels_schema,
                reply: Arc::default(),
            }),
        }
    }

    /// Takes the end bound to the `index`-th channel argument.
    pub(crate) fn take_channel(&self, index: usize) -> Option<ChannelEnd> {
        self.inner.channels.lock().ok()?.get_mut(index)?.take()
    }

    /// The caller's schema of the argument tuple, if it announced one.
    pub(crate) fn args_schema(&self) -> Option<&RemoteSchema> {
        self.inner.args_schema.as_deref()
    }

    /// The caller's schema of the channel arguments' item types, if it announced one.
    pub(crate) fn channels_schema(&self) -> Option<&RemoteSchema> {
        self.inner.channels_schema.as_deref()
    }

    /// Announces our channel signature for this method to the caller (see
    /// `__private::announce_channels`). Submitted before the handler's `Tx` ends exist, so it
    /// precedes every item they send.
    pub(crate) fn announce_channels(&self, schema: Option<&'static LocalSchema>) {
        let _ = self
            .inner
            .connection
            .shared
            .commands
            .send(Command::AnnounceChannels {
                conn: self.inner.connection.shared.conn,
                method_id: self.inner.method.id,
                schema,
            });
    }

    /// Records our schema of the response (first writer wins; it is the same for every answer
    /// of one method).
    pub(crate) fn set_reply_schema(&self, schema: Option<&'static LocalSchema>) {
        if let Some(schema) = schema {
            let _ = self.inner.reply.schema.set(schema);
        }
    }

    /// What [`Context::set_reply_schema`] and [`Context::insert_response_metadata`] fill, for
    /// the driver to read after the handler.
    pub(crate) fn reply_parts(&self) -> Arc<ReplyParts> {
        Arc::clone(&self.inner.reply)
    }

    /// Adds an entry to the response's metadata; the caller reads it with
    /// [`Call::with_response_metadata`](crate::Call::with_response_metadata). The protocol's
    /// limits apply ([`Metadata::MAX_ENTRIES`] entries, keys of [`Metadata::MAX_KEY_LEN`]
    /// bytes): a response over them is answered `Internal` instead.
    ///
    /// ```
    /// #[roam::service]
    /// trait Greeter {
    ///     async fn hello(&self, cx: &roam::Context) -> String;
    /// }
    /// struct G;
    /// impl Greeter for G {
    ///     async fn hello(&self, cx: &roam::Context) -> String {
    ///         cx.insert_response_metadata("served-by", "node-3");
    ///         "hello".into()
    ///     }
    /// }
    /// ```
    pub fn insert_response_metadata(
        &self,
        key: impl Into<String>,
        value: impl Into<MetadataValue>,
    ) {
        if let Ok(mut metadata) = self.inner.reply.metadata.lock() {
            metadata.insert(key, value);
        }
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

    /// Who the server's authenticator said the caller is (`None` without an authenticator).
    pub fn identity(&self) -> Option<&Identity> {
        self.inner.connection.identity()
    }

    /// Over TLS, the certificate chain the caller presented (mutual TLS).
    pub fn tls_peer(&self) -> Option<&TlsPeer> {
        self.inner.connection.tls_peer()
    }

    /// The session this call arrived on: use it with a generated client to call the peer back.
    pub fn connection(&self) -> &Connection {
        &self.inner.connection
    }
}
