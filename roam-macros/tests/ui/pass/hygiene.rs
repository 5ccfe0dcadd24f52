//! Names the generated code uses internally (`handler`, `payload`, `cx`, `H`, ...) can be used
//! by the service too, and method names may match the dispatcher's own or be keywords.
#![deny(warnings)]

use facet::Facet;

#[derive(Facet, Debug, Clone, PartialEq)]
pub struct H(pub u8);

#[roam::service]
pub trait Hygiene {
    async fn locals(
        &self,
        handler: u8,
        payload: u8,
        cx: u8,
        method_id: u8,
        value: u8,
        response: u8,
        arg0: u8,
        conn: u8,
    ) -> u64;
    async fn generic_name(&self, h: H) -> H;
    async fn dispatch(&self) -> u8;
    async fn descriptor(&self) -> u8;
    async fn r#type(&self, r#in: u8) -> u8;
}

struct Impl;

impl Hygiene for Impl {
    async fn locals(&self, handler: u8, payload: u8, cx: u8, method_id: u8, value: u8, response: u8, arg0: u8, conn: u8) -> u64 {
        [handler, payload, cx, method_id, value, response, arg0, conn].iter().map(|&b| u64::from(b)).sum()
    }
    async fn generic_name(&self, h: H) -> H {
        H(h.0 + 1)
    }
    async fn dispatch(&self) -> u8 {
        1
    }
    async fn descriptor(&self) -> u8 {
        2
    }
    async fn r#type(&self, r#in: u8) -> u8 {
        r#in
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let serving = roam::Connector::new().serve(HygieneDispatcher::new(Impl));
    let (conn, _server) = match roam::memory_pair_with(roam::Connector::new(), serving).await {
        Ok(pair) => pair,
        Err(e) => panic!("handshake: {e}"),
    };
    let client = HygieneClient::new(conn);
    assert_eq!(client.locals(1, 2, 3, 4, 5, 6, 7, 8).await.unwrap(), 36);
    assert_eq!(client.generic_name(H(1)).await.unwrap(), H(2));
    assert_eq!(client.dispatch().await.unwrap(), 1);
    assert_eq!(client.descriptor().await.unwrap(), 2);
    assert_eq!(client.r#type(9).await.unwrap(), 9);
    assert_eq!(HYGIENE_DESCRIPTOR.methods[4].name, "type");
    assert_eq!(HYGIENE_DESCRIPTOR.methods[4].id, roam::method_id("Hygiene", "type"));
}
