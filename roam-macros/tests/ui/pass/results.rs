//! Return shapes: values, `Result<T, E>` (user errors reach the caller as
//! `CallError::User`), `()` and no return type.
#![deny(warnings)]

use facet::Facet;
use roam::CallError;

#[derive(Facet, Debug, Clone, PartialEq)]
#[repr(u8)]
pub enum MathError {
    DivisionByZero,
    Overflow { limit: i64 },
}

#[derive(Facet, Debug, Clone, PartialEq)]
pub struct Note(pub String);

#[roam::service]
pub trait Results {
    async fn value(&self) -> u64;
    async fn divide(&self, a: i32, b: i32) -> Result<i32, MathError>;
    async fn checked(&self, a: i64) -> std::result::Result<(), MathError>;
    async fn string_error(&self, fail: bool) -> ::core::result::Result<Vec<Note>, String>;
    async fn unit(&self) -> ();
    async fn nothing(&self, note: Note);
}

struct Impl;

impl Results for Impl {
    async fn value(&self) -> u64 {
        42
    }
    async fn divide(&self, a: i32, b: i32) -> Result<i32, MathError> {
        a.checked_div(b).ok_or(MathError::DivisionByZero)
    }
    async fn checked(&self, a: i64) -> Result<(), MathError> {
        if a > 10 { Err(MathError::Overflow { limit: 10 }) } else { Ok(()) }
    }
    async fn string_error(&self, fail: bool) -> Result<Vec<Note>, String> {
        if fail { Err("failed".into()) } else { Ok(vec![Note("ok".into())]) }
    }
    async fn unit(&self) {}
    async fn nothing(&self, _note: Note) {}
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let serving = roam::Connector::new().serve(ResultsDispatcher::new(Impl));
    let (conn, _server) = match roam::memory_pair_with(roam::Connector::new(), serving).await {
        Ok(pair) => pair,
        Err(e) => panic!("handshake: {e}"),
    };
    let client = ResultsClient::new(conn);
    assert_eq!(client.value().await.unwrap(), 42);
    assert_eq!(client.divide(7, 2).await.unwrap(), 3);
    assert!(matches!(client.divide(1, 0).await, Err(CallError::User(MathError::DivisionByZero))));
    client.checked(1).await.unwrap();
    assert!(matches!(client.checked(11).await, Err(CallError::User(MathError::Overflow { limit: 10 }))));
    assert_eq!(client.string_error(false).await.unwrap(), [Note("ok".into())]);
    assert!(matches!(client.string_error(true).await, Err(CallError::User(e)) if e == "failed"));
    client.unit().await.unwrap();
    client.nothing(Note("n".into())).await.unwrap();

    let d = &RESULTS_DESCRIPTOR.methods;
    assert_eq!((d[1].returns, d[1].error), ("i32", Some("MathError")));
    assert_eq!((d[2].returns, d[2].error), ("()", Some("MathError")));
    assert_eq!((d[3].returns, d[3].error), ("Vec<Note>", Some("String")));
    assert_eq!((d[4].returns, d[4].error), ("()", None));
    assert_eq!((d[5].returns, d[5].error), ("()", None));
}
