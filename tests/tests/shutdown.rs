//! Graceful shutdown: calls in flight complete, new calls are refused with a clear error, new
//! sessions are refused, and `shutdown()` returns once every session has ended. On every
//! transport.

use std::time::Duration;

use roam::CallError;
use roam_tests::{CalculatorClient, Transport, fixture};

async fn in_flight_calls_finish_and_new_calls_are_refused(transport: Transport) {
    let f = fixture(transport).await;
    let server = f.server;
    let url = server.local_url().to_owned();
    let calc = CalculatorClient::new(f.conn.clone());

    let in_flight: Vec<_> = (0..5)
        .map(|_| {
            let calc = calc.clone();
            tokio::spawn(async move { calc.slow(400).await })
        })
        .collect();
    assert!(
        f.calc.running.reaches(5).await,
        "all five handlers run on the server"
    );

    let shutdown = tokio::spawn(server.shutdown());
    // Once draining has begun, new calls on the open session are refused. Each attempt is a
    // round trip, so the loop waits on the server, not on a clock.
    let mut refused = None;
    for _ in 0..100_000 {
        if let Err(e) = calc.add(1, 1).await {
            refused = Some(e);
            break;
        }
    }
    let refused = refused.expect("a call during shutdown was refused");
    assert!(matches!(refused, CallError::Unavailable), "{refused:?}");
    assert!(refused.to_string().contains("shutting down"), "{refused}");

    for call in in_flight {
        assert_eq!(
            call.await.unwrap().unwrap(),
            400,
            "in-flight call completed"
        );
    }
    tokio::time::timeout(Duration::from_secs(10), shutdown)
        .await
        .expect("shutdown finished")
        .unwrap();
    // The session ended with Goodbye, and the listener is gone.
    assert!(matches!(
        f.conn.closed().await,
        roam::SessionError::ClosedByPeer { .. }
    ));
    assert!(
        roam::connect(&url).await.is_err(),
        "new sessions are refused after shutdown"
    );
}

roam_tests::per_transport!(in_flight_calls_finish_and_new_calls_are_refused);
