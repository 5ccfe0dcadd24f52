//! Schema evolution end to end: two versions of one service compiled side by side, each client
//! version against each server version on one session.
//!
//! `v1` and `v2` declare the same trait name, so their method IDs are equal; only their types
//! differ. Compatible changes (added field with a default, removed field, reordered fields,
//! renamed type, added enum variant) must work both ways; incompatible ones must fail only the
//! call, with an error naming the field and both types, and leave the session usable.

use std::future::IntoFuture;

use roam::{CallError, Connector};

#[path = "evolution/v1.rs"]
mod v1;

#[path = "evolution/v2.rs"]
mod v2;

async fn v1_client_to_v2_server() -> v1::InventoryClient {
    let (conn, _server) = roam::memory_pair_with(
        Connector::new(),
        Connector::new().serve(v2::InventoryDispatcher::new(v2::Server)),
    )
    .await
    .expect("handshake");
    v1::InventoryClient::new(conn)
}

async fn v2_client_to_v1_server() -> v2::InventoryClient {
    let (conn, _server) = roam::memory_pair_with(
        Connector::new(),
        Connector::new().serve(v1::InventoryDispatcher::new(v1::Server)),
    )
    .await
    .expect("handshake");
    v2::InventoryClient::new(conn)
}

fn v1_item() -> v1::Item {
    v1::Item {
        name: "bolt".to_owned(),
        qty: 4,
        legacy: "ignored".to_owned(),
    }
}

#[tokio::test]
async fn the_two_versions_share_method_ids() {
    for (a, b) in v1::INVENTORY_DESCRIPTOR
        .methods
        .iter()
        .zip(v2::INVENTORY_DESCRIPTOR.methods)
    {
        assert_eq!((a.name, a.id), (b.name, b.id));
    }
}

#[tokio::test]
async fn added_removed_and_reordered_fields_work_both_ways() {
    let old = v1_client_to_v2_server().await;
    // v1 args -> v2 handler: `legacy` skipped, `tags` defaulted (empty), order fixed.
    assert_eq!(old.add(v1_item()).await.unwrap(), 4 + 4);
    // v2 response -> v1 client: `tags` skipped, `legacy` defaulted.
    assert_eq!(
        old.get(3).await.unwrap(),
        v1::Item {
            name: "item-3".to_owned(),
            qty: 30,
            legacy: String::new(),
        }
    );

    let new = v2_client_to_v1_server().await;
    let item = v2::Item {
        qty: 4,
        name: "bolt".to_owned(),
        tags: vec!["x".to_owned()],
    };
    // v2 args -> v1 handler: `tags` skipped, `legacy` defaulted.
    assert_eq!(new.add(item).await.unwrap(), 4 + 4);
    // v1 response -> v2 client: `legacy` skipped, `tags` defaulted.
    assert_eq!(
        new.get(3).await.unwrap(),
        v2::Item {
            qty: 30,
            name: "item-3".to_owned(),
            tags: Vec::new(),
        }
    );
}

#[tokio::test]
async fn an_added_variant_fails_only_when_it_is_received() {
    let old = v1_client_to_v2_server().await;
    assert_eq!(old.status(0).await.unwrap(), v1::Status::Active);
    assert_eq!(
        old.status(2).await.unwrap(),
        v1::Status::Retired {
            reason: "#2".to_owned()
        }
    );
    match old.status(1).await {
        Err(CallError::Codec(e)) => {
            let text = e.to_string();
            assert!(text.contains("Archived"), "{text}");
        }
        other => panic!("expected a decode error naming the unknown variant: {other:?}"),
    }
    // The session is still fine.
    assert_eq!(old.status(0).await.unwrap(), v1::Status::Active);

    let new = v2_client_to_v1_server().await;
    assert_eq!(
        new.status(5).await.unwrap(),
        v2::Status::Retired {
            reason: "#5".to_owned()
        }
    );
}

#[tokio::test]
async fn a_renamed_type_is_compatible() {
    let old = v1_client_to_v2_server().await;
    assert_eq!(
        old.locate(v1::Point { x: 1, y: 2 }).await.unwrap(),
        v1::Point { x: 2, y: 3 }
    );
    let new = v2_client_to_v1_server().await;
    assert_eq!(
        new.locate(v2::Position { x: -1, y: 0 }).await.unwrap(),
        v2::Position { x: 0, y: 1 }
    );
}

#[tokio::test]
async fn incompatible_changes_fail_the_call_and_name_field_and_types() {
    let old = v1_client_to_v2_server().await;
    match old.weigh(5).await {
        Err(CallError::IncompatibleSchema(text)) => {
            assert!(text.contains("u32") && text.contains("String"), "{text}");
        }
        other => panic!("expected a schema error: {other:?}"),
    }
    match old
        .label(v1::Label {
            text: "hi".to_owned(),
        })
        .await
    {
        Err(CallError::IncompatibleSchema(text)) => {
            assert!(text.contains("color") && text.contains("Label"), "{text}");
        }
        other => panic!("expected a schema error naming `color`: {other:?}"),
    }
    // The session stays usable, for compatible methods and for the same method again.
    assert_eq!(old.add(v1_item()).await.unwrap(), 8);
    assert!(matches!(
        old.weigh(5).await,
        Err(CallError::IncompatibleSchema(_))
    ));

    // v2 -> v1: the extra `color` is simply skipped.
    let new = v2_client_to_v1_server().await;
    let label = v2::Label {
        text: "hey".to_owned(),
        color: "red".to_owned(),
    };
    assert_eq!(new.label(label).await.unwrap(), 3);
}

#[tokio::test]
async fn evolution_works_over_tcp_too() {
    let server = roam::Server::bind("tcp://127.0.0.1:0")
        .await
        .expect("bind")
        .serve(v2::InventoryDispatcher::new(v2::Server));
    let conn = roam::connect(server.local_url()).await.expect("connect");
    let old = v1::InventoryClient::new(conn);
    assert_eq!(old.add(v1_item()).await.unwrap(), 8);
    assert_eq!(
        old.locate(v1::Point { x: 0, y: 0 }).await.unwrap(),
        v1::Point { x: 1, y: 1 }
    );
    server.shutdown().await;
}

#[tokio::test]
async fn channel_items_sent_by_the_caller_are_translated() {
    let old = v1_client_to_v2_server().await;
    let (tx, rx) = roam::channel::<v1::Item>();
    let call = tokio::spawn({
        let old = old.clone();
        async move { old.upload(rx).await }
    });
    for qty in 1..=10 {
        tx.send(v1::Item {
            name: "bolt".to_owned(),
            qty,
            legacy: "x".to_owned(),
        })
        .await
        .unwrap();
    }
    drop(tx);
    assert_eq!(call.await.unwrap().unwrap(), 55);

    let new = v2_client_to_v1_server().await;
    let (tx, rx) = roam::channel::<v2::Item>();
    let call = tokio::spawn({
        let new = new.clone();
        async move { new.upload(rx).await }
    });
    for qty in 1..=3 {
        tx.send(v2::Item {
            qty,
            name: "nut".to_owned(),
            tags: vec!["t".to_owned()],
        })
        .await
        .unwrap();
    }
    drop(tx);
    assert_eq!(call.await.unwrap().unwrap(), 6);

    // Same item type both ways: the handler-written channel works across versions.
    let (tx, mut rx) = roam::channel::<u64>();
    let (done, items) = tokio::join!(old.countdown(3, tx).into_future(), async {
        let mut got = Vec::new();
        while let Some(i) = rx.recv().await.unwrap() {
            got.push(i);
        }
        got
    });
    done.unwrap();
    assert_eq!(items, vec![2, 1, 0]);
}
