//! TypeScript (Node) against Rust, beside Rust against Rust, in the same run: the calculator
//! and numbers services served by the Rust runtime on TCP and WebSocket, called by
//!
//! - `node`: the generated TypeScript client in a Node process (`bench/node-client.ts` of the
//!   TypeScript package), which times what it is asked on stdin and answers in nanoseconds;
//! - `rust`: the Rust client in this process.
//!
//! Groups: `ts_rtt/<flavor>/<transport>/<client>` (one `add` call awaited), and
//! `ts_count` / `ts_sum` (a stream of 10,000 `u64` from the server / to the server; throughput
//! in items/s). `<flavor>` is the server's tokio runtime: `ct` (current_thread) or `mt` (two
//! workers); Node is single-threaded either way. Prepare the Node side first:
//! `bash scripts/bench-typescript.sh` does both.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use roam_examples::numbers::{Counter, NumbersClient, NumbersDispatcher};
use roam_examples::{Calc, CalculatorClient, CalculatorDispatcher};
use tokio::runtime::Runtime;

const ITEMS: u64 = 10_000;
const TRANSPORTS: [(&str, &str); 2] = [("tcp", "tcp://127.0.0.1:0"), ("ws", "ws://127.0.0.1:0/")];

fn flavors() -> Vec<(&'static str, Runtime)> {
    let ct = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    let mt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build();
    vec![("ct", ct.expect("runtime")), ("mt", mt.expect("runtime"))]
}

/// A Node client process, driven one command at a time.
struct Node {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Node {
    /// The Node client on `url`. Under `cargo bench` a missing Node build is an error; under
    /// `cargo test --all-targets`, which runs each bench once as a smoke test before the
    /// TypeScript side is built, only the Rust client runs (said on stderr).
    fn start(url: &str) -> Option<Node> {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../roam-codegen/runtime/typescript/build/bench/node-client.js");
        if !script.exists() {
            let benchmarking = std::env::args().any(|a| a == "--bench");
            assert!(
                !benchmarking,
                "{} is missing: run `bash scripts/bench-typescript.sh` (it builds the Node side)",
                script.display()
            );
            eprintln!("typescript bench: no Node build, measuring the Rust client only");
            return None;
        }
        let mut child = Command::new("node")
            .arg(&script)
            .arg(url)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("node runs");
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        Some(Node {
            child,
            stdin,
            stdout,
        })
    }

    /// Runs `op n` in Node; its own measurement of the elapsed time.
    fn time(&mut self, op: &str, n: u64) -> Duration {
        writeln!(self.stdin, "{op} {n}").expect("write to node");
        self.stdin.flush().expect("flush to node");
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("read from node");
        Duration::from_nanos(line.trim().parse().expect("node answers nanoseconds"))
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `op n` in Node while `rt` keeps driving the server (a current_thread runtime serves
/// only while something blocks on it).
fn node_time(rt: &Runtime, node: &Arc<Mutex<Node>>, op: &'static str, n: u64) -> Duration {
    let node = node.clone();
    rt.block_on(async move {
        tokio::task::spawn_blocking(move || node.lock().expect("node lock").time(op, n))
            .await
            .expect("node task")
    })
}

fn router() -> roam::Router {
    roam::Router::new()
        .with(CalculatorDispatcher::new(Calc))
        .with(NumbersDispatcher::new(Counter))
}

fn on<T: Send + 'static>(rt: &Runtime, work: impl Future<Output = T> + Send + 'static) -> T {
    rt.block_on(async { tokio::spawn(work).await.expect("bench task") })
}

async fn rust_rtt(calc: CalculatorClient, n: u64) -> Duration {
    let start = Instant::now();
    for i in 0..n {
        calc.add(i as i32, 1).await.expect("add");
    }
    start.elapsed()
}

async fn rust_count(numbers: NumbersClient, n: u64) -> Duration {
    let start = Instant::now();
    let (tx, mut rx) = roam::channel::<u64>();
    let call = tokio::spawn(async move { numbers.count(n, tx).await });
    let mut seen = 0;
    while let Some(_item) = rx.recv().await.expect("item") {
        seen += 1;
    }
    call.await.expect("task").expect("count");
    assert_eq!(seen, n);
    start.elapsed()
}

async fn rust_sum(numbers: NumbersClient, n: u64) -> Duration {
    let start = Instant::now();
    let (tx, rx) = roam::channel::<u64>();
    let call = tokio::spawn(async move { numbers.sum(rx).await });
    for _ in 0..n {
        tx.send(1).await.expect("send");
    }
    tx.close();
    assert_eq!(call.await.expect("task").expect("sum"), n);
    start.elapsed()
}

fn typescript(c: &mut Criterion) {
    for (flavor, rt) in flavors() {
        for (transport, url) in TRANSPORTS {
            let server =
                rt.block_on(async { roam::Server::bind(url).await.expect("bind").serve(router()) });
            let url = server.local_url().to_owned();
            let conn = rt.block_on(roam::connect(&url)).expect("connect");
            let (calc, numbers) = (
                CalculatorClient::new(conn.clone()),
                NumbersClient::new(conn),
            );
            let node = Node::start(&url).map(|n| Arc::new(Mutex::new(n)));

            let mut g = c.benchmark_group("ts_rtt");
            g.measurement_time(Duration::from_secs(3)).sample_size(20);
            if let Some(node) = &node {
                g.bench_function(format!("{flavor}/{transport}/node"), |b| {
                    b.iter_custom(|n| node_time(&rt, node, "rtt", n))
                });
            }
            g.bench_function(format!("{flavor}/{transport}/rust"), |b| {
                b.iter_custom(|n| on(&rt, rust_rtt(calc.clone(), n)))
            });
            g.finish();

            for (op, group) in [("count", "ts_count"), ("sum", "ts_sum")] {
                let mut g = c.benchmark_group(group);
                g.measurement_time(Duration::from_secs(4))
                    .sample_size(10)
                    .throughput(Throughput::Elements(ITEMS));
                if let Some(node) = &node {
                    g.bench_function(format!("{flavor}/{transport}/node"), |b| {
                        b.iter_custom(|n| node_time(&rt, node, op, n * ITEMS))
                    });
                }
                g.bench_function(format!("{flavor}/{transport}/rust"), |b| {
                    b.iter_custom(|n| {
                        let numbers = numbers.clone();
                        if op == "count" {
                            on(&rt, rust_count(numbers, n * ITEMS))
                        } else {
                            on(&rt, rust_sum(numbers, n * ITEMS))
                        }
                    })
                });
                g.finish();
            }
            drop(node);
            rt.block_on(server.shutdown());
        }
    }
}

criterion_group!(benches, typescript);
criterion_main!(benches);
