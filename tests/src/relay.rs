//! A fault-injection relay: a TCP proxy on loopback that sits between a roam client and server
//! and can cut, stall or delay the link, on command or at seeded pseudo-random points.
//!
//! The relay works on bytes, not frames: it knows nothing of roam and copies whatever one socket
//! gives it to the other. That is the point. A cut lands wherever the byte count says, so it
//! falls between frames, inside a frame's length prefix, in the middle of a `Hello` or of a
//! WebSocket frame header, as a real network fault would, and each of those states gets
//! exercised instead of only the tidy ones.
//!
//! Because it is byte-level, one relay serves every roam transport that runs over TCP:
//! `tcp://`, `ws://` (a WebSocket is an HTTP upgrade on a TCP connection), and also `tls://` and
//! `wss://` when the server's certificate names the relay's host (the test PKI's names
//! `127.0.0.1`, which the relay binds). Point the client at the relay's address with the same
//! scheme and path as the server's URL ([`Relay::url_for`]). `unix://` and `mem://` cannot be
//! relayed.
//!
//! What each fault looks like to the peers:
//!
//! - [`Relay::cut`]: every relayed connection is dropped at once, both sockets closed; each peer
//!   sees its connection end (EOF, or a reset if unread bytes were pending), like a peer that
//!   crashed. The relay keeps accepting, so a client that reconnects gets through: a session
//!   without resumption ends (its calls fail with `CallError::ConnectionLost`), one with
//!   resumption dials again through the relay and resumes.
//! - [`Relay::stall`]: nothing is forwarded either way, but every socket stays open, like a
//!   network partition: the peers notice only by their own timers (roam's keepalive).
//!   [`Relay::unstall`] resumes forwarding with nothing lost.
//! - [`Relay::set_delay`]: each chunk is held that long before it is written.
//! - [`Relay::refuse`]: new connections are accepted and dropped at once, like a host whose
//!   port is open but whose server is down.
//! - [`Relay::cut_at`] with a [`Plan`] (e.g. [`Plan::random`]): cuts after given numbers of
//!   forwarded bytes; the same seed gives the same cut points.
//!
//! [`Relay::stats`] counts what happened, and [`Relay::wait_until`] waits for a count without
//! sleeping on the wall clock.
//!
//! ```no_run
//! # async fn demo(server: roam::ServerHandle) -> std::io::Result<()> {
//! use roam_tests::relay::Relay;
//!
//! // `server` listens on e.g. "ws://127.0.0.1:4000/roam".
//! let relay = Relay::in_front_of(server.local_url()).await?;
//! let url = relay.url_for(server.local_url()); // "ws://127.0.0.1:<relay port>/roam"
//! let conn = roam::connect(&url).await.expect("connects through the relay");
//! relay.cut(); // drops the link under `conn`
//! relay.wait_until(|s| s.connections_cut == 1).await;
//! // The relay still accepts: a new session (or `conn` resuming) gets through.
//! let again = roam::connect(&url).await.expect("the relay still accepts");
//! # drop((conn, again)); Ok(()) }
//! ```
//!
//! Every buffer is bounded: each direction of each connection copies through one 64 KiB buffer
//! and reads nothing more until that chunk is written, so a stalled or delayed relay holds at
//! most one chunk per direction. I/O errors end the connection they happened on, never the
//! relay. Dropping the [`Relay`] closes its listener and every connection it relays.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{ReadHalf, WriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// The copy buffer of one direction of one connection: the most a relay holds per direction.
pub const CHUNK: usize = 64 * 1024;

/// What a relay has done so far (all counts since it started, except `open`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Connections accepted on the relay's address (refused ones included).
    pub accepted: u64,
    /// Accepted connections dropped at once because [`Relay::refuse`] was set.
    pub refused: u64,
    /// Accepted connections closed because the relay could not connect to the target.
    pub unreachable: u64,
    /// Connections being relayed now (connected to the target, not yet ended).
    pub open: u64,
    /// Cuts made: calls of [`Relay::cut`] plus the cuts of a [`Plan`].
    pub cuts: u64,
    /// Of [`cuts`](Self::cuts), those made by a [`Plan`].
    pub planned_cuts: u64,
    /// Connections ended by a cut.
    pub connections_cut: u64,
    /// Bytes forwarded from the accepted side (the client) to the target (the server).
    pub bytes_to_target: u64,
    /// Bytes forwarded from the target (the server) to the accepted side (the client).
    pub bytes_from_target: u64,
    /// Chunks forwarded (one per write, either direction).
    pub chunks: u64,
    /// Of [`chunks`](Self::chunks), those held for a [delay](Relay::set_delay) first.
    pub delayed_chunks: u64,
    /// Chunks that were read while [stalled](Relay::stall) and held until unstalled.
    pub held_chunks: u64,
}

impl Stats {
    /// Bytes forwarded in both directions.
    pub fn bytes(&self) -> u64 {
        self.bytes_to_target + self.bytes_from_target
    }
}

/// Where a relay cuts: after given numbers of bytes forwarded (both directions, all
/// connections, counted from when the plan is given to [`Relay::cut_at`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    offsets: Vec<u64>,
}

impl Plan {
    /// `cuts` cuts, the gap before each drawn from `seed` uniformly in
    /// `[mean_bytes / 2, 3 * mean_bytes / 2]` (at least 1 byte). The same arguments always
    /// give the same plan.
    pub fn random(seed: u64, cuts: usize, mean_bytes: u64) -> Plan {
        let mut rng = SplitMix64(seed);
        let low = mean_bytes / 2;
        let high = mean_bytes.saturating_add(mean_bytes / 2);
        let mut at = 0u64;
        let offsets = (0..cuts)
            .map(|_| {
                let gap = low + rng.below(high - low + 1);
                at = at.saturating_add(gap.max(1));
                at
            })
            .collect();
        Plan { offsets }
    }

    /// Cuts after exactly these byte counts.
    ///
    /// # Panics
    ///
    /// If the offsets are not strictly increasing or the first is 0 (a test's mistake).
    pub fn at(offsets: impl IntoIterator<Item = u64>) -> Plan {
        let offsets: Vec<u64> = offsets.into_iter().collect();
        let mut previous = 0;
        for &at in &offsets {
            assert!(
                at > previous,
                "cut offsets must be positive and strictly increasing: {offsets:?}"
            );
            previous = at;
        }
        Plan { offsets }
    }

    /// The byte counts at which the cuts happen, increasing.
    pub fn offsets(&self) -> &[u64] {
        &self.offsets
    }
}

/// The tiny deterministic PRNG plans are drawn from (SplitMix64).
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (for `n > 0`; 0 gives 0).
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }
}

/// A fault-injecting TCP relay on `127.0.0.1`. See the [module docs](self).
pub struct Relay {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: JoinHandle<()>,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("addr", &self.addr)
            .field("target", &self.target())
            .field("stats", &self.stats())
            .finish()
    }
}

/// State the relay's tasks share with its handle.
struct Shared {
    /// Where new connections go (changed by [`Relay::retarget`]).
    target: Mutex<SocketAddr>,
    control: watch::Sender<Control>,
    /// Bumped by every cut; a connection ends when it changes.
    epoch: watch::Sender<u64>,
    stats: watch::Sender<Stats>,
    plan: Mutex<Armed>,
}

/// The switches a test flips.
#[derive(Debug, Clone, Copy, Default)]
struct Control {
    stalled: bool,
    delay: Duration,
    refuse: bool,
}

/// A plan being carried out.
#[derive(Debug, Default)]
struct Armed {
    /// Counts the plans given, so a cut due under a replaced plan is not made under the new one.
    generation: u64,
    offsets: Vec<u64>,
    /// Index of the next cut in `offsets`.
    next: usize,
    /// Bytes forwarded since the plan was armed.
    forwarded: u64,
    /// The next cut's last bytes are being written; it happens right after.
    due: bool,
    /// `forwarded` at each cut made so far.
    made: Vec<u64>,
}

/// What a direction may write of the chunk it holds.
enum Grant {
    /// This many bytes; when `cut_after`, the plan's next cut follows them.
    Bytes {
        len: usize,
        /// The plan whose cut is due after them, if one is.
        cut_after: Option<u64>,
    },
    /// A planned cut is due: write nothing; the cut ends this connection.
    CutDue,
}

impl Shared {
    fn control(&self) -> Control {
        *self.control.borrow()
    }

    /// Takes up to `len` bytes from the plan's budget.
    fn grant(&self, len: usize) -> Grant {
        let mut plan = self.plan.lock().unwrap_or_else(PoisonError::into_inner);
        if plan.due {
            return Grant::CutDue;
        }
        let Some(&at) = plan.offsets.get(plan.next) else {
            plan.forwarded = plan.forwarded.saturating_add(len as u64);
            return Grant::Bytes {
                len,
                cut_after: None,
            };
        };
        let left = at - plan.forwarded;
        let len = len.min(usize::try_from(left).unwrap_or(usize::MAX));
        plan.forwarded += len as u64;
        plan.due = plan.forwarded == at;
        Grant::Bytes {
            len,
            cut_after: plan.due.then_some(plan.generation),
        }
    }

    /// Makes the cut due under plan `generation`, if it is still due.
    fn planned_cut(&self, generation: u64) {
        let mut plan = self.plan.lock().unwrap_or_else(PoisonError::into_inner);
        if plan.generation != generation || !plan.due {
            return;
        }
        plan.due = false;
        plan.next += 1;
        let at = plan.forwarded;
        plan.made.push(at);
        drop(plan);
        self.cut(true);
    }

    fn cut(&self, planned: bool) {
        self.epoch.send_modify(|e| *e += 1);
        self.stats.send_modify(|s| {
            s.cuts += 1;
            s.planned_cuts += u64::from(planned);
        });
    }
}

/// Makes a due planned cut when dropped: after its last bytes are written, or when the
/// connection that was writing them ends first (so a due cut is never lost).
struct DueCut<'a>(&'a Shared, u64);

impl Drop for DueCut<'_> {
    fn drop(&mut self) {
        self.0.planned_cut(self.1);
    }
}

/// Counts a relayed connection in `Stats::open` while it lives.
struct Open<'a>(&'a Shared);

impl<'a> Open<'a> {
    fn new(shared: &'a Shared) -> Self {
        shared.stats.send_modify(|s| s.open += 1);
        Open(shared)
    }
}

impl Drop for Open<'_> {
    fn drop(&mut self) {
        self.0
            .stats
            .send_modify(|s| s.open = s.open.saturating_sub(1));
    }
}

impl Relay {
    /// Binds `127.0.0.1:0` and relays every connection made to it to `target`.
    pub async fn start(target: SocketAddr) -> io::Result<Relay> {
        let listener = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            target: Mutex::new(target),
            control: watch::Sender::new(Control::default()),
            epoch: watch::Sender::new(0),
            stats: watch::Sender::new(Stats::default()),
            plan: Mutex::new(Armed::default()),
        });
        let accept = tokio::spawn(accept_loop(listener, shared.clone()));
        Ok(Relay {
            addr,
            shared,
            accept,
        })
    }

    /// [`start`](Self::start)s a relay to the host and port of a `tcp://`, `ws://`, `tls://`
    /// or `wss://` URL (the host an IP address, as a bound server's URL has).
    pub async fn in_front_of(url: &str) -> io::Result<Relay> {
        let target = split_url(url)
            .and_then(|(_, authority, _)| authority.parse().ok())
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("not a `scheme://ip:port[/path]` URL: {url}"),
                )
            })?;
        Relay::start(target).await
    }

    /// The address the relay listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address connections are relayed to.
    pub fn target(&self) -> SocketAddr {
        *self
            .shared
            .target
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Relays connections made from now on to `target` (connections relayed already keep
    /// theirs): a server that restarted elsewhere, as far as a client can tell.
    pub fn retarget(&self, target: SocketAddr) {
        *self
            .shared
            .target
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = target;
    }

    /// `url` with its `host:port` replaced by the relay's: the URL to give a client. A URL
    /// that is not `scheme://authority[/path]` is returned unchanged.
    pub fn url_for(&self, url: &str) -> String {
        match split_url(url) {
            Some((scheme, _, rest)) => format!("{scheme}{}{rest}", self.addr),
            None => url.to_owned(),
        }
    }

    /// Drops every connection relayed now (both sockets of each). The relay keeps accepting.
    pub fn cut(&self) {
        self.shared.cut(false);
    }

    /// Stops forwarding in both directions, keeping every socket open. A chunk already being
    /// written when this is called is finished; anything read afterwards is held (at most
    /// [`CHUNK`] bytes per direction; then nothing more is read) until [`unstall`](Self::unstall).
    pub fn stall(&self) {
        self.shared.control.send_modify(|c| c.stalled = true);
    }

    /// Resumes forwarding after [`stall`](Self::stall), held bytes first.
    pub fn unstall(&self) {
        self.shared.control.send_modify(|c| c.stalled = false);
    }

    /// Holds each chunk read for `delay` before writing it (`Duration::ZERO`: no delay). Each
    /// direction holds one chunk at a time, so a delay also bounds throughput to one chunk per
    /// `delay` per direction.
    pub fn set_delay(&self, delay: Duration) {
        self.shared.control.send_modify(|c| c.delay = delay);
    }

    /// While `true`, new connections are accepted and dropped at once; connections relayed
    /// already are not touched.
    pub fn refuse(&self, refuse: bool) {
        self.shared.control.send_modify(|c| c.refuse = refuse);
    }

    /// Cuts at the plan's offsets, counting bytes forwarded (both directions, all connections)
    /// from now. The chunk that reaches an offset is written only up to it; the cut follows at
    /// once and the rest of that chunk is lost with the connection. Replaces any earlier plan.
    pub fn cut_at(&self, plan: Plan) {
        let mut armed = self
            .shared
            .plan
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let was_due = armed.due;
        *armed = Armed {
            generation: armed.generation + 1,
            offsets: plan.offsets,
            ..Armed::default()
        };
        drop(armed);
        // A cut due under the old plan is made now (connections may be waiting on it); its
        // `DueCut` then finds the plan replaced and does nothing.
        if was_due {
            self.shared.cut(true);
        }
    }

    /// [`cut_at`](Self::cut_at) a [`Plan::random`]; returns the plan.
    pub fn cut_at_random(&self, seed: u64, cuts: usize, mean_bytes: u64) -> Plan {
        let plan = Plan::random(seed, cuts, mean_bytes);
        self.cut_at(plan.clone());
        plan
    }

    /// The byte counts (since the plan was armed) at which the current plan's cuts were made so
    /// far: a prefix of its [`offsets`](Plan::offsets) when the relay works.
    pub fn planned_cuts_made(&self) -> Vec<u64> {
        let plan = self
            .shared
            .plan
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        plan.made.clone()
    }

    /// What the relay has done so far.
    pub fn stats(&self) -> Stats {
        *self.shared.stats.borrow()
    }

    /// Cuts made so far (manual and planned).
    pub fn cuts_made(&self) -> u64 {
        self.stats().cuts
    }

    /// Waits until `done` holds for the stats, and returns them. Does not time out; bound it
    /// with `tokio::time::timeout` to turn a hang into a failure.
    pub async fn wait_until(&self, mut done: impl FnMut(&Stats) -> bool) -> Stats {
        let mut rx = self.shared.stats.subscribe();
        // The sender lives in `shared`, which `self` holds: `wait_for` cannot see it closed.
        if let Ok(stats) = rx.wait_for(|s| done(s)).await {
            return *stats;
        }
        *rx.borrow()
    }

    /// Waits until at least `n` cuts have been made.
    pub async fn wait_for_cuts(&self, n: u64) -> Stats {
        self.wait_until(|s| s.cuts >= n).await
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        // The accept task owns the `JoinSet` of connections: aborting it closes the listener
        // and aborts every connection task, which drops their sockets.
        self.accept.abort();
    }
}

/// `scheme://authority/rest` as (`"scheme://"`, `"authority"`, `"/rest"`).
fn split_url(url: &str) -> Option<(&str, &str, &str)> {
    let start = url.find("://")? + 3;
    let end = url[start..].find('/').map_or(url.len(), |i| start + i);
    (end > start).then(|| (&url[..start], &url[start..end], &url[end..]))
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((socket, _)) => {
                    shared.stats.send_modify(|s| s.accepted += 1);
                    if shared.control().refuse {
                        shared.stats.send_modify(|s| s.refused += 1);
                        drop(socket);
                        continue;
                    }
                    // Subscribing here marks the current epoch seen: only a later cut ends it.
                    let epoch = shared.epoch.subscribe();
                    connections.spawn(relay_connection(shared.clone(), socket, epoch));
                }
                // E.g. out of file descriptors, or a connection reset before it was accepted:
                // the listener is still good; back off a little so a persistent error does not
                // spin.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn relay_connection(
    shared: Arc<Shared>,
    mut client: TcpStream,
    mut epoch: watch::Receiver<u64>,
) {
    let at_start = *epoch.borrow();
    let relay = async {
        let target = *shared.target.lock().unwrap_or_else(PoisonError::into_inner);
        let Ok(mut server) = TcpStream::connect(target).await else {
            shared.stats.send_modify(|s| s.unreachable += 1);
            return;
        };
        let _open = Open::new(&shared);
        // Best effort: a socket that refuses the option still relays.
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        let (mut client_read, mut client_write) = client.split();
        let (mut server_read, mut server_write) = server.split();
        // Either direction failing ends both (the sockets drop together).
        let _ = tokio::try_join!(
            pump(
                &shared,
                &mut client_read,
                &mut server_write,
                ToTarget(true),
                at_start
            ),
            pump(
                &shared,
                &mut server_read,
                &mut client_write,
                ToTarget(false),
                at_start
            ),
        );
    };
    tokio::select! {
        biased;
        _ = epoch.changed() => {}
        () = relay => {}
    }
    if *epoch.borrow() != at_start {
        shared.stats.send_modify(|s| s.connections_cut += 1);
    }
}

/// Which way a pump copies: `true` from the accepted side to the target.
#[derive(Clone, Copy)]
struct ToTarget(bool);

/// Copies `from` to `to` until EOF (then shuts `to`'s write side, passing the half-close on)
/// or an error, a chunk at a time, honouring the stall, the delay and the plan.
async fn pump(
    shared: &Shared,
    from: &mut ReadHalf<'_>,
    to: &mut WriteHalf<'_>,
    direction: ToTarget,
    epoch: u64,
) -> io::Result<()> {
    let mut control = shared.control.subscribe();
    let mut buf = vec![0u8; CHUNK].into_boxed_slice();
    loop {
        let read = from.read(&mut buf).await?;
        let delayed = read > 0 && !shared.control().delay.is_zero();
        if delayed {
            tokio::time::sleep(shared.control().delay).await;
        }
        // A stall that began while the chunk was read or delayed holds it too.
        if control.borrow_and_update().stalled {
            if read > 0 {
                shared.stats.send_modify(|s| s.held_chunks += 1);
            }
            // The sender lives in `shared`: this only returns once unstalled.
            let _ = control.wait_for(|c| !c.stalled).await;
        }
        // A cut made since the read: the connection is ending; write nothing more.
        if *shared.epoch.borrow() != epoch {
            return Err(io::ErrorKind::ConnectionAborted.into());
        }
        if read == 0 {
            return to.shutdown().await;
        }
        let (len, due) = match shared.grant(read) {
            Grant::Bytes { len, cut_after } => (len, cut_after.map(|g| DueCut(shared, g))),
            // The cut follows at once and ends this connection; nothing more is written.
            Grant::CutDue => std::future::pending().await,
        };
        // Counted before the write, so a peer never sees bytes the stats do not include.
        shared.stats.send_modify(|s| {
            if direction.0 {
                s.bytes_to_target += len as u64;
            } else {
                s.bytes_from_target += len as u64;
            }
            s.chunks += 1;
            s.delayed_chunks += u64::from(delayed);
        });
        let written = to.write_all(&buf[..len]).await;
        if let Some(cut) = due {
            // Dropping it makes the cut, which ends this connection (and every other).
            drop(cut);
            return Err(io::ErrorKind::ConnectionAborted.into());
        }
        written?;
    }
}
