//! `Tx<T>`/`Rx<T>` arguments in every position, mixed with the context and wire arguments,
//! streamed for real in both directions.
#![deny(warnings)]

use facet::Facet;
use roam::{Rx, Tx};

#[derive(Facet, Debug, Clone, PartialEq)]
pub struct Item {
    pub n: u32,
}

#[derive(Facet, Debug, Clone, PartialEq)]
#[repr(u8)]
pub enum Stop {
    TooMany,
}

#[roam::service]
pub trait Streams {
    /// The caller streams numbers, the handler answers once.
    async fn sum(&self, numbers: Rx<i32>) -> i64;
    /// The handler streams to the caller.
    async fn count(&self, upto: u32, out: roam::Tx<u32>);
    /// Both directions, with the context and wire arguments around the channels.
    async fn transform(
        &self,
        cx: &roam::Context,
        prefix: &str,
        input: Rx<Item>,
        output: Tx<String>,
        limit: u32,
    ) -> Result<u32, Stop>;
}

struct Impl;

impl Streams for Impl {
    async fn sum(&self, mut numbers: Rx<i32>) -> i64 {
        let mut total = 0i64;
        while let Ok(Some(n)) = numbers.recv().await {
            total += i64::from(n);
        }
        total
    }
    async fn count(&self, upto: u32, out: Tx<u32>) {
        for i in 0..upto {
            if out.send(i).await.is_err() {
                return;
            }
        }
    }
    async fn transform(
        &self,
        cx: &roam::Context,
        prefix: &str,
        mut input: Rx<Item>,
        output: Tx<String>,
        limit: u32,
    ) -> Result<u32, Stop> {
        let mut seen = 0;
        while let Ok(Some(item)) = input.recv().await {
            seen += 1;
            if seen > limit {
                return Err(Stop::TooMany);
            }
            let line = format!("{prefix}{}:{}", item.n, cx.method().name);
            if output.send(line).await.is_err() {
                break;
            }
        }
        Ok(seen)
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let serving = roam::Connector::new().serve(StreamsDispatcher::new(Impl));
    let (conn, _server) = match roam::memory_pair_with(roam::Connector::new(), serving).await {
        Ok(pair) => pair,
        Err(e) => panic!("handshake: {e}"),
    };
    let client = StreamsClient::new(conn);

    let (tx, rx) = roam::channel::<i32>();
    let total = tokio::spawn({
        let client = client.clone();
        async move { client.sum(rx).await }
    });
    for i in 1..=100 {
        tx.send(i).await.unwrap();
    }
    tx.close();
    assert_eq!(total.await.unwrap().unwrap(), 5050);

    let (tx, mut rx) = roam::channel::<u32>();
    let call = tokio::spawn({
        let client = client.clone();
        async move { client.count(5, tx).await }
    });
    let mut got = Vec::new();
    while let Some(n) = rx.recv().await.unwrap() {
        got.push(n);
    }
    assert_eq!(got, [0, 1, 2, 3, 4]);
    call.await.unwrap().unwrap();

    let (in_tx, in_rx) = roam::channel::<Item>();
    let (out_tx, mut out_rx) = roam::channel::<String>();
    let call = tokio::spawn({
        let client = client.clone();
        async move { client.transform("#", in_rx, out_tx, 10).await }
    });
    for n in 0..3 {
        in_tx.send(Item { n }).await.unwrap();
        assert_eq!(out_rx.recv().await.unwrap().as_deref(), Some(format!("#{n}:transform").as_str()));
    }
    in_tx.close();
    assert_eq!(call.await.unwrap().unwrap(), 3);

    let d = &STREAMS_DESCRIPTOR.methods[2];
    let args: Vec<(&str, &str)> = d.args.iter().map(|a| (a.name, a.ty)).collect();
    assert_eq!(args, [("prefix", "&str"), ("input", "Rx<Item>"), ("output", "Tx<String>"), ("limit", "u32")]);
}
