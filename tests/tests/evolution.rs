//! Schema evolution end to end: two versions of one service compiled side by side, each client
//! version against each server version on one session.
//!
//! `v1` and `v2` declare the same trait name, so their method IDs are equal; only their types
//! differ. Compatible changes (added field with a default, removed field, reordered fields,
//! renamed type, added enum variant) must work both ways, for arguments, responses and the
//! items of channels in both directions; incompatible ones must fail only the call, with an
//! error naming the field and both types, and leave the session usable. The last test runs
//! `roam check` on the same two files and holds it to what the runtime did, method by method.

use std::convert::Infallible;
use std::future::IntoFuture;
use std::path::Path;

use roam::facet::Facet;
use roam::{CallError, ChannelError, Connector};
use roam_core::schema::Schema;

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

type Outcome<T> = (
    Result<(), CallError<Infallible>>,
    Vec<Result<T, ChannelError>>,
);

/// Runs a call whose handler writes on the `Tx` it was given, and reads the kept `rx` to its end.
async fn collect<T: Facet<'static>>(
    call: impl IntoFuture<Output = Result<(), CallError<Infallible>>>,
    mut rx: roam::Rx<T>,
) -> Outcome<T> {
    let read = async {
        let mut got = Vec::new();
        while let Some(item) = rx.recv().await.transpose() {
            got.push(item);
        }
        got
    };
    tokio::join!(call.into_future(), read)
}

fn values<T: std::fmt::Debug>(outcome: Outcome<T>) -> Vec<T> {
    let (done, items) = outcome;
    done.expect("the call succeeds");
    items
        .into_iter()
        .map(|i| i.expect("every item reads"))
        .collect()
}

#[tokio::test]
async fn channel_items_written_by_the_handler_are_translated() {
    let old = v1_client_to_v2_server().await;
    // v2 items -> v1 caller: `tags` skipped, `legacy` defaulted, order fixed.
    let (tx, rx) = roam::channel::<v1::Item>();
    assert_eq!(
        values(collect(old.download(2, tx), rx).await),
        (0..2)
            .map(|i| v1::Item {
                name: format!("item-{i}"),
                qty: i,
                legacy: String::new(),
            })
            .collect::<Vec<_>>()
    );
    // A renamed item type.
    let (tx, rx) = roam::channel::<v1::Point>();
    assert_eq!(
        values(collect(old.trail(3, tx), rx).await),
        (0..3)
            .map(|i| v1::Point { x: i, y: -i })
            .collect::<Vec<_>>()
    );
    // The extra `color` is skipped.
    let (tx, rx) = roam::channel::<v1::Label>();
    assert_eq!(
        values(collect(old.labels(tx), rx).await),
        vec![v1::Label {
            text: "tag".to_owned()
        }]
    );
    // An added variant fails only the item that carries it; the stream goes on.
    let (tx, rx) = roam::channel::<v1::Status>();
    let (done, items) = collect(old.watch(tx), rx).await;
    done.unwrap();
    assert_eq!(items.len(), 3, "{items:?}");
    assert_eq!(items[0].as_ref().unwrap(), &v1::Status::Active);
    match &items[1] {
        Err(ChannelError::Codec(e)) => assert!(e.to_string().contains("Archived"), "{e}"),
        other => panic!("expected a decode error naming the unknown variant: {other:?}"),
    }
    assert_eq!(
        items[2].as_ref().unwrap(),
        &v1::Status::Retired {
            reason: "done".to_owned()
        }
    );

    let new = v2_client_to_v1_server().await;
    // v1 items -> v2 caller: `legacy` skipped, `tags` defaulted.
    let (tx, rx) = roam::channel::<v2::Item>();
    assert_eq!(
        values(collect(new.download(2, tx), rx).await),
        (0..2)
            .map(|i| v2::Item {
                qty: i,
                name: format!("item-{i}"),
                tags: Vec::new(),
            })
            .collect::<Vec<_>>()
    );
    let (tx, rx) = roam::channel::<v2::Position>();
    assert_eq!(
        values(collect(new.trail(2, tx), rx).await),
        vec![v2::Position { x: 0, y: 0 }, v2::Position { x: 1, y: -1 }]
    );
    let (tx, rx) = roam::channel::<v2::Status>();
    assert_eq!(
        values(collect(new.watch(tx), rx).await),
        vec![
            v2::Status::Active,
            v2::Status::Retired {
                reason: "done".to_owned()
            }
        ]
    );
}

#[tokio::test]
async fn an_incompatible_handler_item_type_fails_the_call_naming_field_and_types() {
    let new = v2_client_to_v1_server().await;
    // The v1 handler writes `Label { text }`; the v2 caller needs `color`, which has no default.
    let (tx, rx) = roam::channel::<v2::Label>();
    let (done, items) = collect(new.labels(tx), rx).await;
    match done {
        Err(CallError::IncompatibleSchema(text)) => {
            assert!(
                text.contains("color") && text.contains("Label") && text.contains("channel"),
                "{text}"
            );
        }
        other => panic!("expected a schema error naming `color`: {other:?}"),
    }
    assert!(items.is_empty(), "the handler never ran: {items:?}");
    // The session stays usable, for the compatible channel methods too.
    let (tx, rx) = roam::channel::<v2::Position>();
    assert_eq!(values(collect(new.trail(1, tx), rx).await).len(), 1);
}

/// Whether the runtime refuses `method` in either direction (v1 caller with a v2 handler, v2
/// caller with a v1 handler) with `IncompatibleSchema`, for the call or for its items. Values
/// a reader cannot know (an added variant that actually arrives) are not refusals: the schemas
/// are compatible and only that value fails, as `roam check` says.
async fn runtime_refuses(method: &str) -> bool {
    fn refused<T, E>(r: &Result<T, CallError<E>>) -> bool {
        matches!(r, Err(CallError::IncompatibleSchema(_)))
    }
    fn refused_stream<T>((done, items): &Outcome<T>) -> bool {
        refused(done)
            || items
                .iter()
                .any(|i| matches!(i, Err(ChannelError::IncompatibleSchema(_))))
    }
    let old = v1_client_to_v2_server().await;
    let new = v2_client_to_v1_server().await;
    let v2_item = || v2::Item {
        qty: 1,
        name: "x".to_owned(),
        tags: Vec::new(),
    };
    match method {
        "add" => refused(&old.add(v1_item()).await) || refused(&new.add(v2_item()).await),
        "get" => refused(&old.get(1).await) || refused(&new.get(1).await),
        "status" => {
            // 0 and 2 are known to both; 1 is v2's added variant (a value failure).
            refused(&old.status(0).await)
                || refused(&old.status(1).await)
                || refused(&new.status(2).await)
        }
        "locate" => {
            refused(&old.locate(v1::Point { x: 0, y: 0 }).await)
                || refused(&new.locate(v2::Position { x: 0, y: 0 }).await)
        }
        "weigh" => refused(&old.weigh(1).await) || refused(&new.weigh("g".to_owned()).await),
        "label" => {
            let label = v2::Label {
                text: "t".to_owned(),
                color: "c".to_owned(),
            };
            refused(
                &old.label(v1::Label {
                    text: "t".to_owned(),
                })
                .await,
            ) || refused(&new.label(label).await)
        }
        "upload" => {
            let (tx, rx) = roam::channel::<v1::Item>();
            let (a, sent) = tokio::join!(old.upload(rx).into_future(), async move {
                tx.send(v1_item()).await
            });
            let (tx, rx) = roam::channel::<v2::Item>();
            let (b, _) = tokio::join!(new.upload(rx).into_future(), async move {
                tx.send(v2_item()).await
            });
            sent.expect("the item is sent");
            refused(&a) || refused(&b)
        }
        "countdown" => {
            let (tx, rx) = roam::channel::<u64>();
            let a = collect(old.countdown(2, tx), rx).await;
            let (tx, rx) = roam::channel::<u64>();
            let b = collect(new.countdown(2, tx), rx).await;
            refused_stream(&a) || refused_stream(&b)
        }
        "download" => {
            let (tx, rx) = roam::channel::<v1::Item>();
            let a = collect(old.download(2, tx), rx).await;
            let (tx, rx) = roam::channel::<v2::Item>();
            let b = collect(new.download(2, tx), rx).await;
            refused_stream(&a) || refused_stream(&b)
        }
        "watch" => {
            let (tx, rx) = roam::channel::<v1::Status>();
            let a = collect(old.watch(tx), rx).await;
            let (tx, rx) = roam::channel::<v2::Status>();
            let b = collect(new.watch(tx), rx).await;
            refused_stream(&a) || refused_stream(&b)
        }
        "trail" => {
            let (tx, rx) = roam::channel::<v1::Point>();
            let a = collect(old.trail(2, tx), rx).await;
            let (tx, rx) = roam::channel::<v2::Position>();
            let b = collect(new.trail(2, tx), rx).await;
            refused_stream(&a) || refused_stream(&b)
        }
        "labels" => {
            let (tx, rx) = roam::channel::<v1::Label>();
            let a = collect(old.labels(tx), rx).await;
            let (tx, rx) = roam::channel::<v2::Label>();
            let b = collect(new.labels(tx), rx).await;
            refused_stream(&a) || refused_stream(&b)
        }
        other => panic!("no runtime case for `{other}`: add one when the suite grows"),
    }
}

#[tokio::test]
async fn roam_check_agrees_with_the_runtime_on_every_method() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/evolution");
    let model = |file: &str| {
        let sources = roam_cli::load::load(&[dir.join(file)]).expect("the suite loads");
        roam_cli::model::build(&sources).expect("the CLI models it")
    };
    let (old, new) = (model("v1.rs"), model("v2.rs"));
    let baseline: Vec<(String, String, [Schema; 4])> = old
        .services
        .iter()
        .flat_map(|service| {
            service.methods().map(|(method, s)| {
                (
                    service.def.name.clone(),
                    method.name.clone(),
                    [
                        s.args.clone(),
                        s.channels.clone(),
                        s.ok.clone(),
                        s.err.clone(),
                    ],
                )
            })
        })
        .collect();
    let report = roam_cli::check::check(&baseline, &new);
    let rendered = report.render();

    let mut verdicts = Vec::new();
    for method in v1::INVENTORY_DESCRIPTOR.methods {
        let prefix = format!("Inventory.{}:", method.name);
        let reported = report.breaking.iter().any(|l| l.starts_with(&prefix));
        let refused = runtime_refuses(method.name).await;
        assert_eq!(
            reported, refused,
            "{}: roam check says breaking={reported}, the runtime refused={refused}\n{rendered}",
            method.name
        );
        verdicts.push((method.name, refused));
    }
    // Both kinds of case are in the suite, so agreement is not vacuous.
    let refused: Vec<&str> = verdicts.iter().filter(|v| v.1).map(|v| v.0).collect();
    assert_eq!(refused, ["weigh", "label", "labels"], "{rendered}");
    assert_eq!(verdicts.len(), 12);
}

/// A callee that announces an item type its caller cannot read and writes anyway (it skips
/// the check a roam handler makes): the caller fails each item with `IncompatibleSchema`
/// instead of misreading it, and the call itself completes.
struct MisannouncingServer;

impl roam::Dispatch for MisannouncingServer {
    fn descriptor(&self) -> &'static roam::ServiceDescriptor {
        &v1::INVENTORY_DESCRIPTOR
    }

    fn dispatch(
        &self,
        cx: roam::Context,
        payload: roam::Bytes,
    ) -> roam::BoxFuture<'static, Vec<u8>> {
        Box::pin(async move {
            let (from,) = match roam::__private::decode_args::<(u64,)>(&cx, &payload) {
                Ok(args) => args,
                Err(response) => return response,
            };
            // Says it writes `String` items, then writes `u64`s.
            roam::__private::announce_channels(
                &cx,
                &[(roam::__private::ChannelDirection::Tx, String::SHAPE)],
            );
            let out = match roam::__private::take_tx::<u64>(&cx, 0) {
                Ok(out) => out,
                Err(response) => return response,
            };
            for i in 0..from {
                let _ = out.send(i).await;
            }
            drop(out);
            roam::__private::ok_response(&cx, &())
        })
    }
}

#[tokio::test]
async fn items_announced_with_an_unreadable_type_fail_one_by_one_and_are_never_misread() {
    let (conn, _server) = roam::memory_pair_with(
        Connector::new(),
        Connector::new().serve(MisannouncingServer),
    )
    .await
    .expect("handshake");
    let client = v1::InventoryClient::new(conn);
    let (tx, rx) = roam::channel::<u64>();
    let (done, items) = collect(client.countdown(3, tx), rx).await;
    done.expect("the call itself completes");
    assert_eq!(items.len(), 3, "{items:?}");
    for item in &items {
        match item {
            Err(ChannelError::IncompatibleSchema(text)) => {
                assert!(
                    text.contains("channel argument 0")
                        && text.contains("String")
                        && text.contains("u64"),
                    "{text}"
                );
            }
            other => panic!("expected IncompatibleSchema, got {other:?}"),
        }
    }
}
