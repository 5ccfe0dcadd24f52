//! Visibility, supertraits and doc comments; generated items cause no warnings, even for
//! private services whose client or dispatcher is never used.
#![deny(warnings)]

mod services {
    /// A public service.
    ///
    /// With a second paragraph.
    #[roam::service]
    pub trait Public: Send + Sync {
        /// Says hi.
        async fn hi(&self) -> String;
    }

    #[doc = "A crate-visible service."]
    #[roam::service]
    pub(crate) trait CrateVisible: Send + Sync + 'static {
        async fn ping(&self);
    }

    pub mod inner {
        /// Visible in `services` only.
        #[roam::service]
        pub(super) trait SuperVisible {
            async fn ping(&self);
        }

        pub(crate) fn dispatcher() -> impl roam::Dispatch {
            struct Impl;
            impl SuperVisible for Impl {
                async fn ping(&self) {}
            }
            SuperVisibleDispatcher::new(Impl)
        }
    }

    /// Private: only the dispatcher is used.
    #[roam::service]
    trait OnlyServed {
        async fn ping(&self);
    }

    /// Private: only the client is used.
    #[roam::service]
    trait OnlyCalled {
        async fn ping(&self);
    }

    /// Private: never used at all.
    #[roam::service]
    trait Unused {
        async fn ping(&self);
    }

    pub(crate) fn only_served() -> impl roam::Dispatch {
        struct Impl;
        impl OnlyServed for Impl {
            async fn ping(&self) {}
        }
        OnlyServedDispatcher::from_arc(std::sync::Arc::new(Impl))
    }

    pub(crate) async fn only_called(conn: roam::Connection) {
        OnlyCalledClient::new(conn).ping().await.unwrap_err();
    }

    pub(crate) fn descriptor_of_inner() -> &'static roam::ServiceDescriptor {
        &inner::SUPER_VISIBLE_DESCRIPTOR
    }
}

use services::{CrateVisible, Public};

struct Impl;

impl Public for Impl {
    async fn hi(&self) -> String {
        "hi".into()
    }
}

impl CrateVisible for Impl {
    async fn ping(&self) {}
}

/// Type-checks the generated clients without running them.
#[allow(dead_code)]
async fn clients(public: &services::PublicClient, visible: &services::CrateVisibleClient) {
    let _: String = public.hi().await.unwrap();
    visible.ping().await.unwrap();
    let _: &roam::Connection = public.connection();
    let _cloned = public.clone();
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let router = roam::Router::new()
        .with(services::PublicDispatcher::new(Impl))
        .with(services::CrateVisibleDispatcher::new(Impl).clone());
    let serving = roam::Connector::new().serve(router);
    let (conn, _server) = match roam::memory_pair_with(roam::Connector::new(), serving).await {
        Ok(pair) => pair,
        Err(e) => panic!("handshake: {e}"),
    };
    let public = services::PublicClient::new(conn.clone());
    assert_eq!(public.hi().await.unwrap(), "hi");
    services::CrateVisibleClient::new(conn.clone()).ping().await.unwrap();
    services::only_called(conn).await;
    let _ = (services::only_served(), services::inner::dispatcher());

    let d = &services::PUBLIC_DESCRIPTOR;
    assert_eq!(d.name, "Public");
    assert_eq!(d.doc, "A public service.\n\nWith a second paragraph.");
    assert_eq!(d.methods[0].doc, "Says hi.");
    assert_eq!(d.methods[0].id, roam::method_id("Public", "hi"));
    assert_eq!(services::CRATE_VISIBLE_DESCRIPTOR.doc, "A crate-visible service.");
    assert_eq!(services::descriptor_of_inner().name, "SuperVisible");
}
