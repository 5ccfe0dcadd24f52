//! roam next to its peers, in one run, on a current_thread runtime (`ct`) and a 2-worker
//! multi-thread one (`mt`); client and server share the process and talk over loopback TCP.
//!
//! - `peers_rtt/<flavor>/<peer>`: one call with a 32-byte `Vec<u8>` echoed back, awaited,
//!   sequentially. Peers: `roam`, `tarpc`, `tonic`, and `raw` (a tokio TCP ping-pong of
//!   36 bytes: 4-byte length + 32-byte body), the floor.
//! - `peers_pipelined/<flavor>/<peer>`: 4096 echo calls per iteration, 64 kept in flight on one
//!   connection; throughput in calls/s. Peers: `roam`, `tarpc`, `tonic`.
//! - `peers_stream/<flavor>/<peer>`: the server sends 20,000 `u64` items on one stream and the
//!   client reads them all; throughput in items/s. Peers: `roam` (`roam::Tx<u64>`), `tonic`
//!   (server streaming, one `uint64` per message) and `raw` (20,000 length-prefixed 8-byte frames
//!   through a `BufWriter`, read through a `BufReader`), the floor.
//!
//! Every measured loop runs as a task of the runtime (see [`run`]), never on the thread calling
//! `block_on`, for every peer alike. See README.md next to Cargo.toml.

use std::future::{Future, IntoFuture};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{
    BenchmarkGroup, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use tokio::runtime::Runtime;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Res<T> = Result<T, BoxError>;

/// Size of the echoed body.
const BODY: usize = 32;
/// Calls kept in flight by the pipelined benchmark.
const IN_FLIGHT: usize = 64;
/// Calls per iteration of the pipelined benchmark.
const PIPELINED_CALLS: u64 = 4096;
/// Items per stream.
const STREAM_ITEMS: u64 = 20_000;

// ---------------------------------------------------------------------------------------------
// Shared harness
// ---------------------------------------------------------------------------------------------

/// Both runtime flavours: `ct` (client and server on one thread) and `mt` (two workers, like the
/// 2-core machines these numbers come from).
fn flavors() -> Vec<(&'static str, Runtime)> {
    let ct = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("current_thread runtime");
    let mt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("multi_thread runtime");
    vec![("ct", ct), ("mt", mt)]
}

/// Runs `work` as a task of `rt` and waits for it. On the multi-thread runtime the thread that
/// calls `block_on` is not a worker: a loop run there would pay a cross-thread wake-up for
/// every reply. Spawning puts the measured loop on a worker, for every peer alike.
fn run<T: Send + 'static>(
    rt: &Runtime,
    what: &str,
    work: impl Future<Output = Res<T>> + Send + 'static,
) -> T {
    match rt.block_on(async { tokio::spawn(work).await }) {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => panic!("{what}: {e}"),
        Err(e) => panic!("{what}: bench task failed: {e}"),
    }
}

/// Setup of one peer, on `rt`, with a readable failure.
fn setup<T>(rt: &Runtime, what: &str, fut: impl Future<Output = Res<T>>) -> T {
    rt.block_on(fut)
        .unwrap_or_else(|e| panic!("{what} setup: {e}"))
}

fn check_len(what: &str, got: usize, want: usize) -> Res<()> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: got {got}, expected {want}").into())
    }
}

/// Keeps `IN_FLIGHT` calls made by `call` in flight until `PIPELINED_CALLS` have completed.
async fn pipeline<F, Fut>(mut call: F) -> Res<Duration>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Res<()>>,
{
    let start = Instant::now();
    let mut in_flight = FuturesUnordered::new();
    let mut sent = 0;
    let mut done = 0;
    while done < PIPELINED_CALLS {
        while sent < PIPELINED_CALLS && in_flight.len() < IN_FLIGHT {
            in_flight.push(call());
            sent += 1;
        }
        if let Some(r) = in_flight.next().await {
            r?;
            done += 1;
        }
    }
    Ok(start.elapsed())
}

/// ~3 s of measurement, 20 samples per benchmark. Groups whose iteration takes milliseconds
/// (pipelined, stream) use flat sampling: the same iteration count in every sample, so 20
/// samples fit in the measurement time.
fn configure(g: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>, mode: SamplingMode) {
    g.measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_millis(700))
        .sample_size(20)
        .sampling_mode(mode);
}

// ---------------------------------------------------------------------------------------------
// roam
// ---------------------------------------------------------------------------------------------

mod roam_peer {
    use super::*;

    #[roam::service]
    pub trait Echo {
        async fn echo(&self, data: Vec<u8>) -> Vec<u8>;
    }

    #[roam::service]
    pub trait Feed {
        async fn numbers(&self, n: u64, out: roam::Tx<u64>);
    }

    pub struct E;
    impl Echo for E {
        async fn echo(&self, data: Vec<u8>) -> Vec<u8> {
            data
        }
    }

    pub struct F;
    impl Feed for F {
        async fn numbers(&self, n: u64, out: roam::Tx<u64>) {
            for i in 0..n {
                if out.send(i).await.is_err() {
                    return;
                }
            }
        }
    }

    /// One TCP server serving both services, and a session to it.
    pub struct Peer {
        pub server: roam::ServerHandle,
        pub echo: EchoClient,
        pub feed: FeedClient,
    }

    pub async fn start() -> Res<Peer> {
        let mut router = roam::Router::new();
        router
            .add(EchoDispatcher::new(E))?
            .add(FeedDispatcher::new(F))?;
        let server = roam::Server::bind("tcp://127.0.0.1:0").await?.serve(router);
        let conn = roam::connect(server.local_url()).await?;
        Ok(Peer {
            server,
            echo: EchoClient::new(conn.clone()),
            feed: FeedClient::new(conn),
        })
    }

    pub async fn round_trips(client: EchoClient, iters: u64) -> Res<Duration> {
        let data = vec![7u8; BODY];
        let start = Instant::now();
        for _ in 0..iters {
            let back = client.echo(data.clone()).await?;
            check_len("roam echo", back.len(), BODY)?;
        }
        Ok(start.elapsed())
    }

    pub async fn pipelined(client: EchoClient, iters: u64) -> Res<Duration> {
        let data = vec![7u8; BODY];
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            total += pipeline(|| {
                let call = client.echo(data.clone()).into_future();
                async move { check_len("roam echo", call.await?.len(), BODY) }
            })
            .await?;
        }
        Ok(total)
    }

    pub async fn streams(client: FeedClient, iters: u64) -> Res<Duration> {
        let start = Instant::now();
        for _ in 0..iters {
            let (tx, mut rx) = roam::channel::<u64>();
            let call = client.numbers(STREAM_ITEMS, tx);
            let read = async {
                let mut n = 0u64;
                while rx.recv().await?.is_some() {
                    n += 1;
                }
                Ok::<u64, BoxError>(n)
            };
            let (r, n) = tokio::join!(call.into_future(), read);
            r?;
            check_len("roam stream items", n? as usize, STREAM_ITEMS as usize)?;
        }
        Ok(start.elapsed())
    }
}

// ---------------------------------------------------------------------------------------------
// tarpc: bincode (tokio-serde) over length-delimited frames on TCP
// ---------------------------------------------------------------------------------------------

mod tarpc_peer {
    use super::*;
    use futures::future;
    use tarpc::server::{BaseChannel, Channel};
    use tarpc::tokio_serde::formats::Bincode;
    use tarpc::tokio_util::codec::LengthDelimitedCodec;
    use tarpc::{client, context};

    #[tarpc::service]
    pub trait Echo {
        async fn echo(data: Vec<u8>) -> Vec<u8>;
    }

    #[derive(Clone)]
    struct E;
    impl Echo for E {
        async fn echo(self, _: context::Context, data: Vec<u8>) -> Vec<u8> {
            data
        }
    }

    /// Accepts connections on loopback (TCP_NODELAY, like roam's and tonic's) and serves each
    /// with tarpc's usual shape: one task per connection, one spawned task per request.
    pub async fn start() -> Res<EchoClient> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                if stream.set_nodelay(true).is_err() {
                    continue;
                }
                let framed = LengthDelimitedCodec::builder().new_framed(stream);
                let transport = tarpc::serde_transport::new(framed, Bincode::default());
                let served = BaseChannel::with_defaults(transport)
                    .execute(E.serve())
                    .for_each(|response| {
                        tokio::spawn(response);
                        future::ready(())
                    });
                tokio::spawn(served);
            }
        });
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let framed = LengthDelimitedCodec::builder().new_framed(stream);
        let transport = tarpc::serde_transport::new(framed, Bincode::default());
        Ok(EchoClient::new(client::Config::default(), transport).spawn())
    }

    pub async fn round_trips(client: EchoClient, iters: u64) -> Res<Duration> {
        let data = vec![7u8; BODY];
        let start = Instant::now();
        for _ in 0..iters {
            let back = client.echo(context::current(), data.clone()).await?;
            check_len("tarpc echo", back.len(), BODY)?;
        }
        Ok(start.elapsed())
    }

    pub async fn pipelined(client: EchoClient, iters: u64) -> Res<Duration> {
        let data = vec![7u8; BODY];
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            total += pipeline(|| {
                let call = client.echo(context::current(), data.clone());
                async move { check_len("tarpc echo", call.await?.len(), BODY) }
            })
            .await?;
        }
        Ok(total)
    }
}

// ---------------------------------------------------------------------------------------------
// tonic: gRPC over HTTP/2 (hyper/h2), prost messages generated by build.rs
// ---------------------------------------------------------------------------------------------

mod tonic_peer {
    use super::*;
    use std::pin::Pin;
    use tonic::transport::server::TcpIncoming;
    use tonic::transport::{Channel, Endpoint, Server};
    use tonic::{Request, Response, Status};

    pub mod pb {
        tonic::include_proto!("peers");
    }
    use pb::echo_client::EchoClient;
    use pb::echo_server::{Echo, EchoServer};
    use pb::feed_client::FeedClient;
    use pb::feed_server::{Feed, FeedServer};
    use pb::{Blob, Count, Number};

    struct E;
    #[tonic::async_trait]
    impl Echo for E {
        async fn echo(&self, request: Request<Blob>) -> Result<Response<Blob>, Status> {
            Ok(Response::new(request.into_inner()))
        }
    }

    struct F;
    #[tonic::async_trait]
    impl Feed for F {
        type NumbersStream =
            Pin<Box<dyn futures::Stream<Item = Result<Number, Status>> + Send + 'static>>;

        async fn numbers(
            &self,
            request: Request<Count>,
        ) -> Result<Response<Self::NumbersStream>, Status> {
            // Items straight from an iterator: no channel or extra task between the handler and
            // the HTTP/2 body.
            let n = request.into_inner().n;
            let items = futures::stream::iter((0..n).map(|value| Ok(Number { value })));
            Ok(Response::new(Box::pin(items)))
        }
    }

    pub struct Peer {
        pub echo: EchoClient<Channel>,
        pub feed: FeedClient<Channel>,
    }

    /// One server with both services on loopback, and one HTTP/2 connection (a `Channel`)
    /// shared by both clients. TCP_NODELAY on both ends; everything else is tonic's defaults.
    pub async fn start() -> Res<Peer> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
        tokio::spawn(
            Server::builder()
                .add_service(EchoServer::new(E))
                .add_service(FeedServer::new(F))
                .serve_with_incoming(incoming),
        );
        let channel = Endpoint::from_shared(format!("http://{addr}"))?
            .tcp_nodelay(true)
            .connect()
            .await?;
        Ok(Peer {
            echo: EchoClient::new(channel.clone()),
            feed: FeedClient::new(channel),
        })
    }

    pub async fn round_trips(mut client: EchoClient<Channel>, iters: u64) -> Res<Duration> {
        let data = vec![7u8; BODY];
        let start = Instant::now();
        for _ in 0..iters {
            let back = client.echo(Blob { data: data.clone() }).await?.into_inner();
            check_len("tonic echo", back.data.len(), BODY)?;
        }
        Ok(start.elapsed())
    }

    /// 64 requests in flight as HTTP/2 streams of the one connection (each call clones the
    /// client, which shares the `Channel`).
    pub async fn pipelined(client: EchoClient<Channel>, iters: u64) -> Res<Duration> {
        let data = vec![7u8; BODY];
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            total += pipeline(|| {
                let mut client = client.clone();
                let data = data.clone();
                async move {
                    let back = client.echo(Blob { data }).await?.into_inner();
                    check_len("tonic echo", back.data.len(), BODY)
                }
            })
            .await?;
        }
        Ok(total)
    }

    pub async fn streams(mut client: FeedClient<Channel>, iters: u64) -> Res<Duration> {
        let start = Instant::now();
        for _ in 0..iters {
            let mut stream = client
                .numbers(Count { n: STREAM_ITEMS })
                .await?
                .into_inner();
            let mut n = 0u64;
            while stream.message().await?.is_some() {
                n += 1;
            }
            check_len("tonic stream items", n as usize, STREAM_ITEMS as usize)?;
        }
        Ok(start.elapsed())
    }
}

// ---------------------------------------------------------------------------------------------
// raw tokio TCP: the floors
// ---------------------------------------------------------------------------------------------

mod raw_peer {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
    use tokio::net::{TcpListener, TcpStream};
    use tokio::sync::Mutex;

    /// A connected loopback pair: the accepted end goes to `serve`, the other is returned.
    async fn pair<S, Fut>(serve: S) -> Res<TcpStream>
    where
        S: FnOnce(TcpStream) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let client = TcpStream::connect(addr).await?;
        client.set_nodelay(true)?;
        let (server, _) = listener.accept().await?;
        server.set_nodelay(true)?;
        tokio::spawn(serve(server));
        Ok(client)
    }

    /// Echoes 36-byte frames (4-byte length + 32-byte body) until EOF.
    async fn echo_server(mut s: TcpStream) {
        let mut frame = [0u8; 4 + BODY];
        while s.read_exact(&mut frame).await.is_ok() {
            if s.write_all(&frame).await.is_err() {
                return;
            }
        }
    }

    /// For each 8-byte little-endian count read, writes that many length-prefixed 8-byte frames
    /// through a `BufWriter`, then flushes.
    async fn stream_server(s: TcpStream) {
        let (read, write) = s.into_split();
        let mut read = read;
        let mut w = BufWriter::new(write);
        let mut req = [0u8; 8];
        while read.read_exact(&mut req).await.is_ok() {
            let n = u64::from_le_bytes(req);
            let mut frame = [0u8; 4 + 8];
            frame[..4].copy_from_slice(&8u32.to_le_bytes());
            for i in 0..n {
                frame[4..].copy_from_slice(&i.to_le_bytes());
                if w.write_all(&frame).await.is_err() {
                    return;
                }
            }
            if w.flush().await.is_err() {
                return;
            }
        }
    }

    pub type Shared<T> = Arc<Mutex<T>>;

    pub async fn echo_pair() -> Res<Shared<TcpStream>> {
        Ok(Arc::new(Mutex::new(pair(echo_server).await?)))
    }

    pub async fn stream_pair() -> Res<Shared<BufReader<TcpStream>>> {
        Ok(Arc::new(Mutex::new(BufReader::new(
            pair(stream_server).await?,
        ))))
    }

    pub async fn round_trips(s: Shared<TcpStream>, iters: u64) -> Res<Duration> {
        let mut s = s.lock().await;
        let mut frame = [7u8; 4 + BODY];
        frame[..4].copy_from_slice(&(BODY as u32).to_le_bytes());
        let mut back = [0u8; 4 + BODY];
        let start = Instant::now();
        for _ in 0..iters {
            s.write_all(&frame).await?;
            s.read_exact(&mut back).await?;
        }
        Ok(start.elapsed())
    }

    /// One request (the 8-byte count), then 20,000 frames read through the `BufReader`.
    pub async fn streams(s: Shared<BufReader<TcpStream>>, iters: u64) -> Res<Duration> {
        let mut s = s.lock().await;
        let mut frame = [0u8; 4 + 8];
        let start = Instant::now();
        for _ in 0..iters {
            s.get_mut().write_all(&STREAM_ITEMS.to_le_bytes()).await?;
            for i in 0..STREAM_ITEMS {
                s.read_exact(&mut frame).await?;
                if frame[4..] != i.to_le_bytes() {
                    return Err(format!("raw stream: frame {i} out of order").into());
                }
            }
        }
        Ok(start.elapsed())
    }
}

// ---------------------------------------------------------------------------------------------
// Groups
// ---------------------------------------------------------------------------------------------

fn rtt(c: &mut Criterion) {
    for (flavor, rt) in flavors() {
        let roam = setup(&rt, "roam", roam_peer::start());
        let tarpc = setup(&rt, "tarpc", tarpc_peer::start());
        let tonic = setup(&rt, "tonic", tonic_peer::start());
        let raw = setup(&rt, "raw", raw_peer::echo_pair());

        let mut g = c.benchmark_group("peers_rtt");
        configure(&mut g, SamplingMode::Auto);
        g.bench_function(format!("{flavor}/roam"), |b| {
            b.iter_custom(|n| {
                run(
                    &rt,
                    "roam rtt",
                    roam_peer::round_trips(roam.echo.clone(), n),
                )
            })
        });
        g.bench_function(format!("{flavor}/tarpc"), |b| {
            b.iter_custom(|n| run(&rt, "tarpc rtt", tarpc_peer::round_trips(tarpc.clone(), n)))
        });
        g.bench_function(format!("{flavor}/tonic"), |b| {
            b.iter_custom(|n| {
                run(
                    &rt,
                    "tonic rtt",
                    tonic_peer::round_trips(tonic.echo.clone(), n),
                )
            })
        });
        g.bench_function(format!("{flavor}/raw"), |b| {
            b.iter_custom(|n| run(&rt, "raw rtt", raw_peer::round_trips(raw.clone(), n)))
        });
        g.finish();

        drop((tarpc, tonic, raw));
        let roam_peer::Peer { server, echo, feed } = roam;
        drop((echo, feed));
        rt.block_on(server.shutdown());
    }
}

fn pipelined(c: &mut Criterion) {
    for (flavor, rt) in flavors() {
        let roam = setup(&rt, "roam", roam_peer::start());
        let tarpc = setup(&rt, "tarpc", tarpc_peer::start());
        let tonic = setup(&rt, "tonic", tonic_peer::start());

        let mut g = c.benchmark_group("peers_pipelined");
        configure(&mut g, SamplingMode::Flat);
        g.throughput(Throughput::Elements(PIPELINED_CALLS));
        g.bench_function(format!("{flavor}/roam"), |b| {
            b.iter_custom(|n| {
                run(
                    &rt,
                    "roam pipelined",
                    roam_peer::pipelined(roam.echo.clone(), n),
                )
            })
        });
        g.bench_function(format!("{flavor}/tarpc"), |b| {
            b.iter_custom(|n| {
                run(
                    &rt,
                    "tarpc pipelined",
                    tarpc_peer::pipelined(tarpc.clone(), n),
                )
            })
        });
        g.bench_function(format!("{flavor}/tonic"), |b| {
            b.iter_custom(|n| {
                run(
                    &rt,
                    "tonic pipelined",
                    tonic_peer::pipelined(tonic.echo.clone(), n),
                )
            })
        });
        g.finish();

        drop((tarpc, tonic));
        let roam_peer::Peer { server, echo, feed } = roam;
        drop((echo, feed));
        rt.block_on(server.shutdown());
    }
}

fn stream(c: &mut Criterion) {
    for (flavor, rt) in flavors() {
        let roam = setup(&rt, "roam", roam_peer::start());
        let tonic = setup(&rt, "tonic", tonic_peer::start());
        let raw = setup(&rt, "raw", raw_peer::stream_pair());

        let mut g = c.benchmark_group("peers_stream");
        configure(&mut g, SamplingMode::Flat);
        g.throughput(Throughput::Elements(STREAM_ITEMS));
        g.bench_function(format!("{flavor}/roam"), |b| {
            b.iter_custom(|n| run(&rt, "roam stream", roam_peer::streams(roam.feed.clone(), n)))
        });
        g.bench_function(format!("{flavor}/tonic"), |b| {
            b.iter_custom(|n| {
                run(
                    &rt,
                    "tonic stream",
                    tonic_peer::streams(tonic.feed.clone(), n),
                )
            })
        });
        g.bench_function(format!("{flavor}/raw"), |b| {
            b.iter_custom(|n| run(&rt, "raw stream", raw_peer::streams(raw.clone(), n)))
        });
        g.finish();

        drop((tonic, raw));
        let roam_peer::Peer { server, echo, feed } = roam;
        drop((echo, feed));
        rt.block_on(server.shutdown());
    }
}

criterion_group!(benches, rtt, pipelined, stream);
criterion_main!(benches);
