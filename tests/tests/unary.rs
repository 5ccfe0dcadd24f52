//! Unary calls end to end over every transport: results, user errors, metadata, borrowed
//! arguments, unknown methods, undecodable payloads, pipelining, and call-backs.

use std::convert::Infallible;

use roam::CallError;
use roam_tests::{CalculatorClient, MathError, Point, Transport, fixture};

/// A different `Calculator` whose `add` takes other argument types: same method ID, payload the
/// real server cannot decode.
mod wrong_types {
    use facet::Facet;

    /// The server's `MathError` plus a variant it has never heard of.
    #[derive(Facet, Debug)]
    #[repr(u8)]
    pub enum MathError {
        DivisionByZero,
        Overflow,
        Underflow,
    }

    #[roam::service]
    pub trait Calculator {
        async fn add(&self, a: bool) -> i32;
        async fn classify(&self, e: MathError) -> String;
    }
}

/// A service the server does not serve.
mod unknown {
    #[roam::service]
    pub trait Stranger {
        async fn hello(&self) -> String;
    }
}

async fn every_unary_method(transport: Transport) {
    let f = fixture(transport).await;
    let calc = CalculatorClient::new(f.conn.clone());
    assert_eq!(calc.add(2, 3).await.unwrap(), 5);
    assert_eq!(calc.add(i32::MAX, 1).await.unwrap(), i32::MIN);
    assert_eq!(calc.divide(7, 2).await.unwrap(), 3);
    match calc.divide(1, 0).await {
        Err(CallError::User(MathError::DivisionByZero)) => {}
        other => panic!("expected DivisionByZero, got {other:?}"),
    }
    match calc.divide(i32::MIN, -1).await {
        Err(CallError::User(MathError::Overflow)) => {}
        other => panic!("expected Overflow, got {other:?}"),
    }
    assert_eq!(
        calc.whoami().with_metadata("user", "ada").await.unwrap(),
        "Calculator.whoami user=ada"
    );
    assert_eq!(calc.whoami().await.unwrap(), "Calculator.whoami user=-");
    assert_eq!(
        calc.describe("blob", &[1, 2, 3, 4]).await.unwrap(),
        "blob:4"
    );
    assert_eq!(
        calc.mirror(Point { x: 1, y: -9 }).await.unwrap(),
        Point { x: -9, y: 1 }
    );
    calc.ping().await.unwrap();
}

async fn unknown_method_and_invalid_payload(transport: Transport) {
    let f = fixture(transport).await;
    let stranger = unknown::StrangerClient::new(f.conn.clone());
    assert!(matches!(
        stranger.hello().await,
        Err(CallError::UnknownMethod)
    ));
    let wrong = wrong_types::CalculatorClient::new(f.conn.clone());
    // The schemas are compatible (the server lacks one variant), so the call goes out; the
    // server cannot decode the variant it lacks.
    let got = wrong.classify(wrong_types::MathError::Underflow).await;
    assert!(matches!(got, Err(CallError::InvalidPayload)), "{got:?}");
    assert_eq!(
        wrong
            .classify(wrong_types::MathError::Overflow)
            .await
            .unwrap(),
        "Overflow"
    );
    // Incompatible argument types are caught by the schema exchange and named.
    let got: Result<i32, CallError<Infallible>> = wrong.add(true).await;
    match got {
        Err(CallError::IncompatibleSchema(text)) => {
            assert!(text.contains("bool") && text.contains("i32"), "{text}")
        }
        other => panic!("expected IncompatibleSchema, got {other:?}"),
    }
    // The session survives both.
    let calc = CalculatorClient::new(f.conn.clone());
    assert_eq!(calc.add(1, 1).await.unwrap(), 2);
}

async fn ten_thousand_pipelined_calls(transport: Transport) {
    let f = fixture(transport).await;
    let calc = CalculatorClient::new(f.conn.clone());
    let calls = (0..10_000i32).map(|i| {
        let calc = calc.clone();
        tokio::spawn(async move { (i, calc.add(i, i).await) })
    });
    let results = futures::future::join_all(calls).await;
    assert_eq!(results.len(), 10_000);
    for r in results {
        let (i, sum) = r.unwrap();
        assert_eq!(sum.unwrap(), 2 * i);
    }
}

async fn server_calls_back_into_the_client(transport: Transport) {
    let f = fixture(transport).await;
    let calc = CalculatorClient::new(f.conn.clone());
    assert_eq!(
        calc.ask_back("why?".to_owned()).await.unwrap(),
        "client says: WHY?"
    );
}

roam_tests::per_transport!(
    every_unary_method,
    unknown_method_and_invalid_payload,
    ten_thousand_pipelined_calls,
    server_calls_back_into_the_client,
);
