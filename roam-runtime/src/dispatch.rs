//! Serving: the [`Dispatch`] trait the generated `<Service>Dispatcher` implements, and the
//! [`Router`] that puts several services behind one session.
//!
//! Owns method lookup only; running handlers (spawning, deadlines, cancellation) is the
//! driver's job.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use roam_core::{MethodDescriptor, ServiceDescriptor};

use crate::BoxFuture;
use crate::context::Context;

/// A service implementation the runtime can call into. `#[roam::service]` implements it for
/// `<Service>Dispatcher<H>`; you rarely implement it by hand.
pub trait Dispatch: Send + Sync + 'static {
    /// The service this dispatcher serves.
    fn descriptor(&self) -> &'static ServiceDescriptor;

    /// Runs the method `cx.method_id()` on `payload` (the encoded argument tuple) and returns the
    /// encoded response payload (`Result<T, RoamError<E>>`).
    fn dispatch(&self, cx: Context, payload: Bytes) -> BoxFuture<'static, Vec<u8>>;
}

/// Two services declare the same method ID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "method ID {id:#018x} is declared by both {first} and {second}; rename one of the methods or services"
)]
pub struct DuplicateMethod {
    /// The clashing ID.
    pub id: u64,
    /// `Service.method` registered first.
    pub first: String,
    /// `Service.method` registered second.
    pub second: String,
}

#[derive(Clone)]
pub(crate) struct Route {
    pub(crate) service: Arc<dyn Dispatch>,
    pub(crate) method: &'static MethodDescriptor,
}

/// Routes requests to the services registered on it by method ID.
///
/// ```
/// # use roam::Router;
/// let router = Router::new(); // add services with `.with(FooDispatcher::new(foo))`
/// assert_eq!(router.services().count(), 0);
/// ```
#[derive(Clone, Default)]
pub struct Router {
    routes: HashMap<u64, Route>,
    services: Vec<&'static ServiceDescriptor>,
}

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Router")
            .field(
                "services",
                &self.services.iter().map(|s| s.name).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Router {
    /// A router with no services.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a service; fails if one of its method IDs is already taken.
    pub fn add<D: Dispatch>(&mut self, service: D) -> Result<&mut Self, DuplicateMethod> {
        let descriptor = service.descriptor();
        let service: Arc<dyn Dispatch> = Arc::new(service);
        for method in descriptor.methods {
            if let Some(existing) = self.routes.get(&method.id) {
                return Err(DuplicateMethod {
                    id: method.id,
                    first: format!(
                        "{}.{}",
                        existing.service.descriptor().name,
                        existing.method.name
                    ),
                    second: format!("{}.{}", descriptor.name, method.name),
                });
            }
        }
        for method in descriptor.methods {
            self.routes.insert(
                method.id,
                Route {
                    service: Arc::clone(&service),
                    method,
                },
            );
        }
        self.services.push(descriptor);
        Ok(self)
    }

    /// Adds a service, builder style.
    ///
    /// # Panics
    /// If a method ID clashes with one already registered: that is a programming error in the
    /// server's setup, found at startup. Use [`Router::add`] to handle it instead.
    #[must_use]
    pub fn with<D: Dispatch>(mut self, service: D) -> Self {
        if let Err(e) = self.add(service) {
            panic!("{e}");
        }
        self
    }

    /// The registered services.
    pub fn services(&self) -> impl Iterator<Item = &'static ServiceDescriptor> + '_ {
        self.services.iter().copied()
    }

    pub(crate) fn route(&self, method_id: u64) -> Option<&Route> {
        self.routes.get(&method_id)
    }
}

impl<D: Dispatch> From<D> for Router {
    fn from(service: D) -> Self {
        Router::new().with(service)
    }
}
