//! `#[roam(idempotent)]` marks a method safe to run more than once: the flag reaches the
//! descriptor (`true` there, `false` for unmarked methods), and the attribute is not left on
//! the generated trait (an implementation without it compiles, and calls go through).
#![deny(warnings)]

#[roam::service]
pub trait Store {
    /// Reads a key.
    #[roam(idempotent)]
    async fn get(&self, key: String) -> Option<String>;
    /// Appends to a key: running it twice appends twice.
    async fn append(&self, key: String, value: String);
    #[roam(idempotent)]
    async fn ping(&self);
}

struct Impl;

impl Store for Impl {
    async fn get(&self, key: String) -> Option<String> {
        (key == "k").then(|| "v".to_owned())
    }
    async fn append(&self, _key: String, _value: String) {}
    async fn ping(&self) {}
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let flags: Vec<(&str, bool)> = STORE_DESCRIPTOR
        .methods
        .iter()
        .map(|m| (m.name, m.idempotent))
        .collect();
    assert_eq!(flags, [("get", true), ("append", false), ("ping", true)]);
    // The descriptor's doc is the method's own.
    assert_eq!(STORE_DESCRIPTOR.methods[0].doc, "Reads a key.");

    let serving = roam::Connector::new().serve(StoreDispatcher::new(Impl));
    let (conn, _server) = match roam::memory_pair_with(roam::Connector::new(), serving).await {
        Ok(pair) => pair,
        Err(e) => panic!("handshake: {e}"),
    };
    let client = StoreClient::new(conn);
    assert_eq!(client.get("k".into()).await.unwrap().as_deref(), Some("v"));
    client.append("k".into(), "w".into()).await.unwrap();
    client.ping().await.unwrap();
}
