//! Cancellation, deadlines and concurrency limits, end to end with generated code.

use std::sync::atomic::Ordering;
use std::time::Duration;

use roam::{CallError, Limits};
use roam_tests::{CalculatorClient, StreamerClient, Transport, stream_fixture};

#[tokio::test]
async fn dropping_a_call_stops_the_handler() {
    for transport in [
        Transport::Memory,
        Transport::Tcp,
        Transport::Unix,
        Transport::WebSocket,
    ] {
        let (streams, conn, _server) = stream_fixture(transport, Limits::default()).await;
        let client = StreamerClient::new(conn);
        let call = tokio::spawn({
            let client = client.clone();
            async move { client.hang().await }
        });
        assert!(streams.hanging.reaches(1).await, "handler started");
        call.abort();
        assert!(
            streams.hanging.reaches(0).await,
            "handler stopped after cancel"
        );
        // The session is unaffected.
        let (tx, rx) = roam::channel::<u64>();
        let sum = tokio::spawn({
            let client = client.clone();
            async move { client.sum(rx).await }
        });
        tx.send(41).await.unwrap();
        tx.send(1).await.unwrap();
        tx.close();
        assert_eq!(sum.await.unwrap().unwrap(), 42);
    }
}

#[tokio::test]
async fn a_deadline_fails_the_call_and_stops_the_handler() {
    for transport in [
        Transport::Memory,
        Transport::Tcp,
        Transport::Unix,
        Transport::WebSocket,
    ] {
        let (streams, conn, _server) = stream_fixture(transport, Limits::default()).await;
        let client = StreamerClient::new(conn);
        let got = client.hang().with_timeout(Duration::from_millis(50)).await;
        assert!(matches!(got, Err(CallError::DeadlineExceeded)), "{got:?}");
        assert!(
            streams.hanging.reaches(0).await,
            "handler stopped at the deadline"
        );
    }
}

async fn at_most_the_limit_runs_at_once_and_everything_completes(transport: Transport) {
    let limits = Limits {
        max_concurrent_requests: 4,
        ..Limits::default()
    };
    let f = fixture_with_limits(transport, limits).await;
    let calc = CalculatorClient::new(f.conn.clone());
    let calls: Vec<_> = (0..100)
        .map(|_| {
            let calc = calc.clone();
            tokio::spawn(async move { calc.slow(5).await })
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap().unwrap(), 5);
    }
    let peak = f.calc.peak.load(Ordering::SeqCst);
    assert!(peak <= 4, "peak concurrency at the server was {peak}");
    assert!(peak >= 1);
}

async fn fixture_with_limits(transport: Transport, limits: Limits) -> roam_tests::Fixture {
    // The server announces the limit; the client queues calls beyond it.
    let calc = std::sync::Arc::new(roam_tests::Calc::default());
    let server = transport
        .bind()
        .await
        .limits(limits)
        .serve(roam_tests::CalculatorDispatcher::new(calc.clone()));
    let conn = transport
        .client(roam::Connector::new())
        .connect(server.local_url())
        .await
        .unwrap();
    roam_tests::Fixture { calc, conn, server }
}

roam_tests::per_transport!(at_most_the_limit_runs_at_once_and_everything_completes);
