//! Authentication at the door: a server's [`Authenticator`] sees who is connecting
//! ([`PeerHello`]: address, TLS certificate, the credentials in the initiator's `Hello`) and
//! admits the session with an [`Identity`] or refuses it with a [`Refusal`] the client receives
//! as [`SessionError::Refused`](crate::SessionError::Refused).
//!
//! The server holds its own `Hello` until the verdict (docs/protocol.md §4, "Admission"), so
//! a refused client never sees an established session. The identity travels with every call
//! the session serves ([`Context::identity`](crate::Context::identity)).
//!
//! Owns the hook's types; running it (in its own task, bounded by the handshake budget) is the
//! driver's job.

use std::any::Any;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use crate::BoxFuture;
use crate::metadata::Metadata;
use crate::transport::tls::TlsPeer;

/// What a server knows about a peer when it decides whether to serve it.
#[derive(Debug, Clone)]
pub struct PeerHello {
    /// The peer's address as a URL, e.g. `tls://127.0.0.1:51234`.
    pub peer: String,
    /// The peer's IP address, over the network.
    pub ip: Option<IpAddr>,
    /// The certificate the peer presented over TLS, if any (mutual TLS).
    pub tls: Option<TlsPeer>,
    /// The metadata of the peer's `Hello`: its credentials (e.g. `authorization`).
    pub metadata: Metadata,
}

/// Who a peer is, as the authenticator decided: a name (for logs, spans and interceptors) and
/// any data the application wants handlers to have. Cheap to clone.
///
/// ```
/// #[derive(Debug, PartialEq)]
/// struct Tenant(u32);
/// let who = roam::Identity::new("ada").with_data(Tenant(7));
/// assert_eq!(who.name(), "ada");
/// assert_eq!(who.data::<Tenant>(), Some(&Tenant(7)));
/// assert_eq!(who.data::<String>(), None);
/// ```
#[derive(Clone)]
pub struct Identity {
    name: Arc<str>,
    data: Option<Arc<dyn Any + Send + Sync>>,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("name", &self.name)
            .field("data", &self.data.is_some())
            .finish()
    }
}

impl Identity {
    /// An identity named `name`.
    pub fn new(name: impl Into<Arc<str>>) -> Identity {
        Identity {
            name: name.into(),
            data: None,
        }
    }

    /// Attaches `data` (roles, a tenant, a user record) for handlers to read with
    /// [`Identity::data`].
    pub fn with_data<T: Any + Send + Sync>(mut self, data: T) -> Identity {
        self.data = Some(Arc::new(data));
        self
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The attached data, if it is a `T`.
    pub fn data<T: Any>(&self) -> Option<&T> {
        self.data.as_deref()?.downcast_ref()
    }
}

/// An authenticator's refusal: the reason reaches the client (so word it for the client, and
/// keep secrets out of it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    reason: String,
}

impl Refusal {
    /// A refusal saying `reason`.
    pub fn new(reason: impl Into<String>) -> Refusal {
        Refusal {
            reason: reason.into(),
        }
    }

    /// The reason.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

/// Decides whether a server serves a session. Any `Fn(PeerHello) -> impl Future<Output =
/// Result<Identity, Refusal>>` is one.
///
/// ```
/// # #[roam::service] trait Calculator { async fn add(&self, a: i32, b: i32) -> i32; }
/// # struct Calc; impl Calculator for Calc { async fn add(&self, a: i32, b: i32) -> i32 { a + b } }
/// # async fn demo() -> Result<(), roam::ConnectError> {
/// use roam::{Identity, PeerHello, Refusal};
/// let server = roam::Server::bind("tcp://127.0.0.1:0").await?
///     .authenticate(|hello: PeerHello| async move {
///         match hello.metadata.get_str("authorization") {
///             Some("Bearer s3cret") => Ok(Identity::new("ops")),
///             _ => Err(Refusal::new("missing or wrong bearer token")),
///         }
///     })
///     .serve(CalculatorDispatcher::new(Calc));
/// # Ok(()) }
/// ```
pub trait Authenticator: Send + Sync + 'static {
    /// Admits the peer with an identity, or refuses it. It runs within the server's handshake
    /// budget ([`Server::handshake_timeout`](crate::Server::handshake_timeout)): a slower
    /// verdict refuses the session as `handshake-timeout`.
    fn authenticate(&self, hello: PeerHello) -> BoxFuture<'static, Result<Identity, Refusal>>;
}

impl<F, Fut> Authenticator for F
where
    F: Fn(PeerHello) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Identity, Refusal>> + Send + 'static,
{
    fn authenticate(&self, hello: PeerHello) -> BoxFuture<'static, Result<Identity, Refusal>> {
        Box::pin(self(hello))
    }
}
