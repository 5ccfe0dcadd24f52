//! In-memory links: a bounded channel of frames each way, so a session inside one process pays
//! no framing and no copies, while the size limit and backpressure behave as on a socket (a
//! peer that stops taking frames leaves the sender's queue full).
//!
//! `mem://name` listeners live in a process-wide registry, so `Server::bind("mem://name")` and
//! `roam::connect("mem://name")` work like any other transport.

use std::collections::HashMap;
use std::io;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use futures::SinkExt;
use tokio::sync::mpsc;
use tokio_util::sync::PollSender;

use super::Link;
use crate::framing::{LinkError, MaxFrame};

/// Frames in flight each way before the sender waits.
const QUEUE_FRAMES: usize = 64;
/// Connections waiting to be accepted before `connect` waits.
const ACCEPT_BACKLOG: usize = 128;

/// One direction's ends.
struct Half {
    tx: mpsc::Sender<Bytes>,
    rx: mpsc::Receiver<Bytes>,
}

fn link(half: Half, peer: String, max: &MaxFrame) -> Link {
    let Half { tx, mut rx } = half;
    let max = max.clone();
    let incoming = futures::stream::poll_fn(move |cx| {
        rx.poll_recv(cx)
            .map(|frame| frame.map(|frame| max.check(frame)))
    });
    let outgoing = PollSender::new(tx).sink_map_err(|_| {
        LinkError::Io(io::Error::new(
            io::ErrorKind::BrokenPipe,
            "the in-memory peer is gone",
        ))
    });
    Link {
        incoming: Box::pin(incoming),
        outgoing: Box::pin(outgoing),
        peer,
        tls: None,
        tls_failure: None,
    }
}

fn halves() -> (Half, Half) {
    let (a_tx, b_rx) = mpsc::channel(QUEUE_FRAMES);
    let (b_tx, a_rx) = mpsc::channel(QUEUE_FRAMES);
    (Half { tx: a_tx, rx: a_rx }, Half { tx: b_tx, rx: b_rx })
}

/// Two connected in-memory links, each refusing frames over its own limit.
pub(crate) fn memory_link_pair(a_max: &MaxFrame, b_max: &MaxFrame) -> (Link, Link) {
    let (a, b) = halves();
    (
        link(a, "mem://b".to_owned(), a_max),
        link(b, "mem://a".to_owned(), b_max),
    )
}

/// A connection on its way to a listener: the listener's half, and who connected.
struct Pending {
    half: Half,
    peer: String,
}

static REGISTRY: Mutex<Option<HashMap<String, mpsc::Sender<Pending>>>> = Mutex::new(None);
static NEXT: AtomicU64 = AtomicU64::new(0);

fn registry<T>(f: impl FnOnce(&mut HashMap<String, mpsc::Sender<Pending>>) -> T) -> T {
    // A panic elsewhere while holding the lock leaves the map itself intact.
    let mut guard = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
    f(guard.get_or_insert_with(HashMap::new))
}

/// A bound `mem://` name.
#[derive(Debug)]
pub struct MemoryListener {
    name: String,
    incoming: mpsc::Receiver<Pending>,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending").field("peer", &self.peer).finish()
    }
}

/// Binds `name` (an empty name binds a fresh one).
pub(super) fn bind(name: &str) -> io::Result<MemoryListener> {
    let name = if name.is_empty() {
        format!("anon-{}", NEXT.fetch_add(1, Ordering::Relaxed))
    } else {
        name.to_owned()
    };
    let (tx, rx) = mpsc::channel(ACCEPT_BACKLOG);
    registry(|map| {
        if map.get(&name).is_some_and(|l| !l.is_closed()) {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("mem://{name} is already bound in this process"),
            ));
        }
        map.insert(name.clone(), tx);
        Ok(())
    })?;
    Ok(MemoryListener { name, incoming: rx })
}

impl MemoryListener {
    pub(super) fn name(&self) -> &str {
        &self.name
    }

    pub(super) async fn accept(&mut self, max: &MaxFrame) -> io::Result<Link> {
        match self.incoming.recv().await {
            Some(p) => Ok(link(p.half, p.peer, max)),
            // Cannot happen while `self` is registered: the registry holds a sender.
            None => Err(io::Error::from(io::ErrorKind::NotConnected)),
        }
    }

    pub(super) fn unregister(&self) {
        registry(|map| map.remove(&self.name));
    }
}

/// Connects to the listener bound at `mem://name`.
pub(super) async fn connect(name: &str, max: &MaxFrame) -> io::Result<Link> {
    let refused = || {
        io::Error::new(
            io::ErrorKind::ConnectionRefused,
            format!("nothing is listening on mem://{name} in this process"),
        )
    };
    let listener = registry(|map| map.get(name).cloned()).ok_or_else(refused)?;
    let (ours, theirs) = halves();
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    listener
        .send(Pending {
            half: theirs,
            peer: format!("mem://{name}/peer-{n}"),
        })
        .await
        .map_err(|_| refused())?;
    Ok(link(ours, format!("mem://{name}"), max))
}
