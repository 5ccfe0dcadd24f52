//! The call context as first parameter, written `&roam::Context` or `&Context`: the handler
//! gets it, the client does not send it.
#![deny(warnings)]

use roam::Context;

#[roam::service]
pub trait Greeter {
    async fn whoami(&self, cx: &roam::Context) -> String;
    async fn greet(&self, ctx: &Context, name: &str, excited: bool) -> String;
    async fn plain(&self, name: String) -> String;
}

struct Impl;

impl Greeter for Impl {
    async fn whoami(&self, cx: &Context) -> String {
        format!("{}.{}", cx.service().name, cx.method().name)
    }
    async fn greet(&self, ctx: &roam::Context, name: &str, excited: bool) -> String {
        let user = ctx.metadata().get_str("user").unwrap_or("nobody");
        format!("hello {name} from {user}{}", if excited { "!" } else { "" })
    }
    async fn plain(&self, name: String) -> String {
        name
    }
}

/// The client's methods leave the context out.
fn client_signatures(client: &GreeterClient) {
    let _whoami: roam::Call<String, std::convert::Infallible> = client.whoami();
    let _greet: roam::Call<String, std::convert::Infallible> = client.greet("ada", true);
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let serving = roam::Connector::new().serve(GreeterDispatcher::new(Impl));
    let (conn, _server) = match roam::memory_pair_with(roam::Connector::new(), serving).await {
        Ok(pair) => pair,
        Err(e) => panic!("handshake: {e}"),
    };
    let client = GreeterClient::new(conn);
    client_signatures(&client);
    assert_eq!(client.whoami().await.unwrap(), "Greeter.whoami");
    assert_eq!(client.greet("ada", true).with_metadata("user", "bob").await.unwrap(), "hello ada from bob!");
    assert_eq!(client.plain("x".into()).await.unwrap(), "x");
    // The context is not a wire argument.
    assert!(GREETER_DESCRIPTOR.methods[0].args.is_empty());
    assert_eq!(GREETER_DESCRIPTOR.methods[1].args.len(), 2);
}
