//! Typed streams end to end: volume in each direction and both at once, backpressure by credit,
//! and every way a stream can end.

use std::time::Duration;

use roam::{CallError, ChannelError, Limits};
use roam_tests::{StreamerClient, Transport, stream_fixture};

const ITEMS: u64 = 1_000_000;

async fn sum_a_million_from_client(transport: Transport) {
    let (_s, conn, _server) = stream_fixture(transport, Limits::default()).await;
    let client = StreamerClient::new(conn);
    let (tx, rx) = roam::channel::<u64>();
    let total = tokio::spawn({
        let client = client.clone();
        async move { client.sum(rx).await }
    });
    for i in 0..ITEMS {
        tx.send(i).await.unwrap();
    }
    tx.close();
    assert_eq!(total.await.unwrap().unwrap(), ITEMS * (ITEMS - 1) / 2);
}

async fn count_a_million_from_server(transport: Transport) {
    let (_s, conn, _server) = stream_fixture(transport, Limits::default()).await;
    let client = StreamerClient::new(conn);
    let (tx, mut rx) = roam::channel::<u64>();
    let call = tokio::spawn({
        let client = client.clone();
        async move { client.count(ITEMS, tx).await }
    });
    let mut expected = 0;
    while let Some(n) = rx.recv().await.unwrap() {
        assert_eq!(n, expected);
        expected += 1;
    }
    assert_eq!(expected, ITEMS);
    call.await.unwrap().unwrap();
}

async fn transform_both_ways_at_once(transport: Transport) {
    const N: u64 = 200_000;
    let (_s, conn, _server) = stream_fixture(transport, Limits::default()).await;
    let client = StreamerClient::new(conn);
    let (in_tx, in_rx) = roam::channel::<String>();
    let (out_tx, mut out_rx) = roam::channel::<String>();
    let call = tokio::spawn({
        let client = client.clone();
        async move { client.transform(in_rx, out_tx).await }
    });
    let producer = tokio::spawn(async move {
        for i in 0..N {
            in_tx.send(format!("item-{i}")).await.unwrap();
        }
    });
    let mut got = 0;
    while let Some(s) = out_rx.recv().await.unwrap() {
        assert_eq!(s, format!("ITEM-{got}"));
        got += 1;
    }
    assert_eq!(got, N);
    producer.await.unwrap();
    call.await.unwrap().unwrap();
}

async fn a_stalled_consumer_blocks_the_producer_at_exactly_the_credit(transport: Transport) {
    let credit = 16;
    let limits = Limits {
        initial_credit: credit,
        ..Limits::default()
    };
    let (streams, conn, _server) = stream_fixture(transport, limits).await;
    let client = StreamerClient::new(conn);
    let (tx, rx) = roam::channel::<u64>();
    let call = tokio::spawn({
        let client = client.clone();
        async move { client.stall(rx).await }
    });
    for i in 0..u64::from(credit) {
        tx.send(i).await.unwrap();
    }
    assert_eq!(tx.credit(), 0, "all granted credit is spent");
    // The consumer reads nothing, so no credit comes back and the next send cannot complete.
    let blocked = tokio::time::timeout(Duration::from_millis(200), tx.send(99)).await;
    assert!(blocked.is_err(), "send past the credit must wait");
    streams.go.notify_one();
    for i in 0..100 {
        tx.send(i).await.unwrap();
    }
    tx.close();
    let (buffered, read) = call.await.unwrap().unwrap();
    assert!(
        buffered <= u64::from(credit),
        "buffered {buffered} > credit {credit}"
    );
    assert_eq!(
        buffered,
        u64::from(credit),
        "the producer filled exactly the credit"
    );
    assert_eq!(read, u64::from(credit) + 100);
}

async fn receiver_reset_fails_the_senders_next_send(transport: Transport) {
    let (_s, conn, _server) = stream_fixture(transport, Limits::default()).await;
    let client = StreamerClient::new(conn);
    let (tx, mut rx) = roam::channel::<u64>();
    let call = tokio::spawn({
        let client = client.clone();
        async move { client.count(u64::MAX, tx).await }
    });
    assert_eq!(rx.recv().await.unwrap(), Some(0));
    drop(rx);
    // The server's handler sees `Reset` on a send and returns.
    tokio::time::timeout(Duration::from_secs(10), call)
        .await
        .expect("handler stopped after reset")
        .unwrap()
        .unwrap();
}

async fn a_handler_returning_closes_its_tx(transport: Transport) {
    let (_s, conn, _server) = stream_fixture(transport, Limits::default()).await;
    let client = StreamerClient::new(conn);
    let (tx, mut rx) = roam::channel::<u64>();
    client.count(3, tx).await.unwrap();
    // The items sent before the handler returned arrive, then the end of the stream.
    assert_eq!(rx.recv().await.unwrap(), Some(0));
    assert_eq!(rx.recv().await.unwrap(), Some(1));
    assert_eq!(rx.recv().await.unwrap(), Some(2));
    assert_eq!(rx.recv().await.unwrap(), None);
}

async fn a_handler_returning_resets_its_rx(transport: Transport) {
    let (_s, conn, _server) = stream_fixture(transport, Limits::default()).await;
    let client = StreamerClient::new(conn);
    // `count` takes no `Rx`, so use `transform` and stop it by closing its input.
    let (in_tx, in_rx) = roam::channel::<String>();
    let (out_tx, mut out_rx) = roam::channel::<String>();
    let call = tokio::spawn({
        let client = client.clone();
        async move { client.transform(in_rx, out_tx).await }
    });
    in_tx.send("a".into()).await.unwrap();
    assert_eq!(out_rx.recv().await.unwrap().as_deref(), Some("A"));
    drop(out_rx);
    // The handler's next send fails (we reset its output), it returns, dropping its input `Rx`,
    // which resets our input: our sends fail with `Reset` from then on. Once the credit is
    // spent a send waits for the `Reset` itself, so this loop never spins on a clock.
    let mut result = Ok(());
    for _ in 0..10_000 {
        result = in_tx.send("b".into()).await;
        if result.is_err() {
            break;
        }
    }
    assert_eq!(result, Err(ChannelError::Reset));
    call.await.unwrap().unwrap();
}

async fn a_connection_drop_fails_both_ends(transport: Transport) {
    let (_s, conn, server) = stream_fixture(transport, Limits::default()).await;
    let client = StreamerClient::new(conn.clone());
    let (tx, mut rx) = roam::channel::<u64>();
    let call = tokio::spawn({
        let client = client.clone();
        async move { client.count(u64::MAX, tx).await }
    });
    assert_eq!(rx.recv().await.unwrap(), Some(0));
    conn.close();
    let err = loop {
        match rx.recv().await {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("a lost connection must not look like a clean end"),
            Err(e) => break e,
        }
    };
    assert!(matches!(err, ChannelError::ConnectionLost(_)), "{err:?}");
    assert!(matches!(
        call.await.unwrap(),
        Err(roam::CallError::ConnectionLost(_))
    ));
    drop(server);
}

roam_tests::per_transport!(
    sum_a_million_from_client,
    count_a_million_from_server,
    transform_both_ways_at_once,
    a_stalled_consumer_blocks_the_producer_at_exactly_the_credit,
    receiver_reset_fails_the_senders_next_send,
    a_handler_returning_closes_its_tx,
    a_handler_returning_resets_its_rx,
    a_connection_drop_fails_both_ends,
);

/// A client whose idea of the `Streamer` item types differs from the server's.
mod wrong_items {
    #[roam::service]
    pub trait Streamer {
        async fn sum(&self, numbers: roam::Rx<String>) -> u64;
        async fn count(&self, upto: u64, out: roam::Tx<u32>);
    }
}

#[tokio::test]
async fn channel_item_types_that_cannot_be_reconciled_fail_the_call_by_name() {
    let (_streams, conn, _server) = stream_fixture(Transport::Memory, Limits::default()).await;
    let wrong = wrong_items::StreamerClient::new(conn.clone());
    let (_tx, rx) = roam::channel::<String>();
    match wrong.sum(rx).await {
        Err(CallError::IncompatibleSchema(text)) => {
            assert!(text.contains("String") && text.contains("u64"), "{text}")
        }
        other => panic!("expected IncompatibleSchema, got {other:?}"),
    }
    let (tx, _rx) = roam::channel::<u32>();
    match wrong.count(3, tx).await {
        Err(CallError::IncompatibleSchema(text)) => {
            assert!(text.contains("u32") && text.contains("u64"), "{text}")
        }
        other => panic!("expected IncompatibleSchema, got {other:?}"),
    }
    // The session is still usable with the right types.
    let right = StreamerClient::new(conn);
    let (tx, rx) = roam::channel::<u64>();
    let call = tokio::spawn(async move { right.sum(rx).await });
    tx.send(5).await.unwrap();
    drop(tx);
    assert_eq!(call.await.unwrap().unwrap(), 5);
}
