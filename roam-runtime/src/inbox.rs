//! The session's inbox: the [`Command`]s handles give a session, the [`Inbox`] they give them
//! to, and the untyped wire ends of channels ([`WireTx`], [`WireRx`]) built on it.
//!
//! This is the one interface between the handles application code holds (`Connection`, `Tx`,
//! `Rx`, handler contexts) and the driver that owns the session: handles submit commands, the
//! driver's side applies them (at once, on the handle's thread, when the session is free; else
//! in order on the driver's next turn). It sits below both, so neither imports the other.

use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context as TaskContext, Poll};

use bytes::Bytes;
use tokio::sync::{Semaphore, mpsc, oneshot};

/// What takes a session's commands: implemented by the driver, so this layer needs no
/// knowledge of it.
pub(crate) trait Submit: Send + Sync {
    /// Applies `cmd` (now, or in order once the session is free). `Err` when the session's
    /// driver has ended and nothing will take it.
    fn submit(&self, cmd: Command) -> Result<(), Ended>;
}

/// The session's driver has ended; the command was dropped.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ended;

/// Where handles put commands for one session. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Inbox(pub(crate) Arc<dyn Submit>);

impl std::fmt::Debug for Inbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Inbox")
    }
}

impl Inbox {
    /// Submits `cmd`; `Err` when the session's driver has ended.
    pub(crate) fn send(&self, cmd: Command) -> Result<(), Ended> {
        self.0.submit(cmd)
    }
}

use crate::auth::{Identity, Refusal};
use crate::codec::CodecError;
use crate::error::{CallError, ChannelError, SessionError};
use crate::metadata::Metadata;
use crate::schemas::{LocalSchema, RemoteSchema};
use crate::session::{CallRejected, ConnId, OutgoingCall};
use crate::transport::tls::TlsPeer;
use crate::wire::Limits;

/// Connects the caller's kept end of a channel argument to the wire once the session has
/// allocated its ID.
pub(crate) enum ChannelBind {
    /// The caller sends on the channel.
    Send(Box<dyn FnOnce(WireTx) + Send>),
    /// The caller receives on the channel.
    Receive(Box<dyn FnOnce(WireRx) + Send>),
}

impl std::fmt::Debug for ChannelBind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ChannelBind::Send(_) => "ChannelBind::Send",
            ChannelBind::Receive(_) => "ChannelBind::Receive",
        })
    }
}

/// What a handle asks the driver to do.
#[derive(Debug)]
pub(crate) enum Command {
    Call {
        /// The connection of the call (the root or a virtual one).
        conn: ConnId,
        /// The request ID, allocated by the handle (see `Connection::raw_call`).
        id: u64,
        call: OutgoingCall,
        channels: Vec<ChannelBind>,
        reply: oneshot::Sender<Result<RawResponse, CallFailure>>,
    },
    Cancel {
        conn: ConnId,
        /// The request ID of the call given up.
        id: u64,
    },
    /// A handler finished (sent through this queue, after its channel commands, so a call's
    /// last items and `Close` always precede its `Response`).
    Finished {
        conn: ConnId,
        id: u64,
        /// Which spawn of a handler for `id` finished (IDs may be reused once answered).
        handler: u64,
        /// Response metadata the handler set.
        metadata: Metadata,
        payload: Vec<u8>,
        /// Our schema of the method's response, when the handler produced a typed answer.
        schema: Option<&'static LocalSchema>,
    },
    ChannelData {
        conn: ConnId,
        channel: u64,
        payload: Vec<u8>,
    },
    ChannelClose {
        conn: ConnId,
        channel: u64,
    },
    ChannelReset {
        conn: ConnId,
        channel: u64,
    },
    ChannelCredit {
        conn: ConnId,
        channel: u64,
        n: u32,
    },
    /// A handler's channel signature, announced before the handler runs (and so before the
    /// first item it writes).
    AnnounceChannels {
        conn: ConnId,
        method_id: u64,
        schema: Option<&'static LocalSchema>,
    },
    /// The authenticator's verdict on the session's peer.
    Admitted(Result<Identity, Refusal>),
    /// The last user handle was dropped (the driver re-checks, a new one may exist).
    HandlesDropped,
    /// Open a virtual connection. Type-erased because this layer sits below the handles and
    /// the services it names (`connection::OpenRequest`, which only the driver unpacks).
    Open(Box<dyn std::any::Any + Send>),
    /// Close virtual connection `conn`.
    CloseConnection {
        conn: ConnId,
        reason: String,
    },
    /// The last handle of virtual connection `conn` was dropped.
    ConnectionDropped {
        conn: ConnId,
    },
    /// Close the session now.
    Close,
}

/// A response before decoding.
#[derive(Debug)]
pub(crate) struct RawResponse {
    pub(crate) metadata: Metadata,
    pub(crate) payload: Bytes,
    /// The peer's schema of the response, if it announced one.
    pub(crate) schema: Option<Arc<RemoteSchema>>,
}

/// Why a call produced no response.
#[derive(Debug)]
pub(crate) enum CallFailure {
    Rejected(CallRejected),
    Lost(SessionError),
}

impl<E> From<CallFailure> for CallError<E> {
    fn from(f: CallFailure) -> Self {
        match f {
            CallFailure::Rejected(CallRejected::TooLarge { len, max }) => {
                CallError::Codec(CodecError::Encode(format!(
                    "the request is {len} bytes, over the session's {max}-byte frame limit"
                )))
            }
            CallFailure::Rejected(CallRejected::Metadata(limit)) => CallError::Metadata(limit),
            CallFailure::Rejected(CallRejected::DeadlineExceeded) => CallError::DeadlineExceeded,
            // Neither happens through the runtime: it only uses the root connection, and its
            // handles take request IDs from one counter per session.
            CallFailure::Rejected(
                CallRejected::UnknownConnection(_) | CallRejected::IdInUse(_),
            ) => CallError::ConnectionLost(SessionError::LocallyClosed),
            CallFailure::Rejected(CallRejected::Closed(e)) | CallFailure::Lost(e) => {
                CallError::ConnectionLost(e)
            }
        }
    }
}

/// Facts about a session fixed at the handshake.
#[derive(Debug, Clone)]
pub(crate) struct SessionInfo {
    pub(crate) limits: Limits,
    pub(crate) session_key: Option<[u8; 16]>,
    pub(crate) peer: String,
    /// Who the authenticator said the peer is (acceptor only).
    pub(crate) identity: Option<Identity>,
    /// The certificate the peer presented over TLS.
    pub(crate) tls: Option<TlsPeer>,
}

/// Bytes of a `Data` message besides the payload: tag, conn, channel and length varints.
const DATA_OVERHEAD: usize = 1 + 10 + 10 + 5;

/// Shared between a bound sender and the driver: the credit and why the channel failed.
#[derive(Debug)]
pub(crate) struct SenderState {
    pub(crate) credit: Semaphore,
    failure: Mutex<Option<ChannelError>>,
}

impl SenderState {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(SenderState {
            credit: Semaphore::new(0),
            failure: Mutex::new(None),
        })
    }

    /// Ends the channel for the sender: pending and future sends fail with `error`.
    pub(crate) fn fail(&self, error: ChannelError) {
        if let Ok(mut f) = self.failure.lock() {
            f.get_or_insert(error);
        }
        self.credit.close();
    }

    pub(crate) fn add_credit(&self, n: u64) {
        let n = usize::try_from(n)
            .unwrap_or(usize::MAX)
            .min(Semaphore::MAX_PERMITS - self.credit.available_permits());
        self.credit.add_permits(n);
    }

    fn failure(&self) -> ChannelError {
        self.failure
            .lock()
            .ok()
            .and_then(|f| f.clone())
            .unwrap_or(ChannelError::ConnectionLost(SessionError::LocallyClosed))
    }
}

/// Whether channel items may go now, shared by a session's senders: closed while the
/// session's replay buffer is full (the peer has not acknowledged enough), so that senders
/// wait for its acknowledgements instead of queueing items in the driver. At most one item per
/// sender passes a closing gate.
#[derive(Debug, Default)]
pub(crate) struct ReplayGate {
    closed: std::sync::atomic::AtomicBool,
    opened: tokio::sync::Notify,
}

impl ReplayGate {
    pub(crate) fn close(&self) {
        self.closed.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    pub(crate) fn open(&self) {
        self.closed
            .store(false, std::sync::atomic::Ordering::SeqCst);
        self.opened.notify_waiters();
    }

    async fn wait(&self) {
        loop {
            let opened = self.opened.notified();
            tokio::pin!(opened);
            // Registered before the check, so an `open` in between is not missed.
            opened.as_mut().enable();
            if !self.closed.load(std::sync::atomic::Ordering::SeqCst) {
                return;
            }
            opened.await;
        }
    }
}

/// The sending side of a wire channel (untyped).
#[derive(Debug)]
pub(crate) struct WireTx {
    conn: ConnId,
    channel: u64,
    commands: Inbox,
    state: Arc<SenderState>,
    max_frame: u32,
    gate: Arc<ReplayGate>,
}

impl WireTx {
    pub(crate) fn new(
        conn: ConnId,
        channel: u64,
        commands: Inbox,
        state: Arc<SenderState>,
        max_frame: u32,
        gate: Arc<ReplayGate>,
    ) -> Self {
        WireTx {
            conn,
            channel,
            commands,
            state,
            max_frame,
            gate,
        }
    }

    pub(crate) async fn send(&self, payload: Vec<u8>) -> Result<(), ChannelError> {
        if payload.len() + DATA_OVERHEAD > self.max_frame as usize {
            return Err(ChannelError::TooLarge {
                len: payload.len() + DATA_OVERHEAD,
                max: self.max_frame,
            });
        }
        self.gate.wait().await;
        match self.state.credit.acquire().await {
            Ok(permit) => permit.forget(),
            Err(_) => return Err(self.state.failure()),
        }
        self.commands
            .send(Command::ChannelData {
                conn: self.conn,
                channel: self.channel,
                payload,
            })
            .map_err(|_| ChannelError::ConnectionLost(SessionError::LocallyClosed))
    }
}

impl WireTx {
    /// Items that may be sent now without waiting.
    pub(crate) fn credit(&self) -> usize {
        self.state.credit.available_permits()
    }
}

impl Drop for WireTx {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::ChannelClose {
            conn: self.conn,
            channel: self.channel,
        });
    }
}

/// Where the caller's end of a channel the callee writes finds the callee's announced channel
/// signature: the driver fills it when the channel's first item arrives, which is after the
/// announcement (the callee sends it before its handler runs, and messages are ordered).
#[derive(Debug, Default)]
pub(crate) struct PeerItems(OnceLock<Option<Arc<RemoteSchema>>>);

impl PeerItems {
    /// Records what the peer had announced when the first item arrived (first call wins).
    pub(crate) fn resolve(&self, schema: impl FnOnce() -> Option<Arc<RemoteSchema>>) {
        if self.0.get().is_none() {
            let _ = self.0.set(schema());
        }
    }

    pub(crate) fn is_resolved(&self) -> bool {
        self.0.get().is_some()
    }

    /// The callee's announcement, once resolved (`None` inside: it announced nothing).
    pub(crate) fn get(&self) -> Option<&Option<Arc<RemoteSchema>>> {
        self.0.get()
    }
}

/// The receiving side of a wire channel (untyped).
#[derive(Debug)]
pub(crate) struct WireRx {
    conn: ConnId,
    channel: u64,
    commands: Inbox,
    items: mpsc::UnboundedReceiver<Result<Bytes, ChannelError>>,
    /// On the caller's end of a channel the callee writes: the callee's announced channel
    /// signature and this channel's index in it.
    pub(crate) peer_items: Option<(Arc<PeerItems>, usize)>,
    /// Items consumed since the last credit grant.
    consumed: u32,
    /// Grant credit back once this many items were consumed.
    grant_every: u32,
    finished: bool,
}

impl WireRx {
    pub(crate) fn new(
        conn: ConnId,
        channel: u64,
        commands: Inbox,
        items: mpsc::UnboundedReceiver<Result<Bytes, ChannelError>>,
        initial_credit: u32,
    ) -> Self {
        // Granting in batches of half the window keeps the producer busy without a Credit per item.
        WireRx {
            conn,
            channel,
            commands,
            items,
            peer_items: None,
            consumed: 0,
            grant_every: (initial_credit / 2).max(1),
            finished: false,
        }
    }

    pub(crate) fn poll_recv(
        &mut self,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Result<Option<Bytes>, ChannelError>> {
        if self.finished {
            return Poll::Ready(Ok(None));
        }
        match self.items.poll_recv(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(item))) => {
                self.consumed += 1;
                if self.consumed >= self.grant_every {
                    let _ = self.commands.send(Command::ChannelCredit {
                        conn: self.conn,
                        channel: self.channel,
                        n: self.consumed,
                    });
                    self.consumed = 0;
                }
                Poll::Ready(Ok(Some(item)))
            }
            Poll::Ready(Some(Err(e))) => {
                self.finished = true;
                Poll::Ready(Err(e))
            }
            Poll::Ready(None) => {
                self.finished = true;
                Poll::Ready(Ok(None))
            }
        }
    }

    pub(crate) fn buffered(&self) -> usize {
        self.items.len()
    }
}

impl Drop for WireRx {
    fn drop(&mut self) {
        if !self.finished {
            let _ = self.commands.send(Command::ChannelReset {
                conn: self.conn,
                channel: self.channel,
            });
        }
    }
}
