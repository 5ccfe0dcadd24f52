//! The driver: the tokio task that runs one [`Session`] over one link.
//!
//! It owns the session (whose entries hold what the runtime keeps per call and channel: the
//! callers waiting for responses, the handler tasks serving the peer, the channel ends) and the
//! link (frames in and out). It feeds the session
//! what arrives (frames, commands from the [inbox](crate::inbox), shutdown, and the time when
//! the session's next timer is due) and carries out what the session asks (write frames,
//! spawn and stop handlers, wake callers). Protocol decisions, timers and deadlines stay in the
//! session; this module only does I/O, tasks and reading the clock.
//!
//! **One sleep.** The driver keeps a single `Sleep`, reset to [`Session::poll_timeout`] after
//! every input; when it fires, [`Session::handle_timeout`] does whatever is due (keepalive,
//! handshake timeout, call deadlines both ways, drain grace, close linger).
//!
//! **Ending.** When the session ends with frames left to say (a `Goodbye`), the driver stops
//! reading, writes its last frames, and closes the link, for at most the close linger; a peer
//! that stopped reading cannot hold the task (or a server's shutdown) forever.
//!
//! **One task.** The driver reads and writes the link itself, beside its other inputs: an
//! incoming frame and an outgoing one each cost no hand-off between tasks. Every frame that is
//! ready when the driver writes is fed to the link before one flush, so a burst of answers
//! leaves in one write.
//!
//! **Backpressure.** Writing never blocks the other inputs: frames wait in the session until
//! the link takes them. Past the session's output bound (or the server's budget) the driver
//! stops reading from the peer until the link has taken enough ([`output`]), like HTTP/2 flow
//! control, and tells the session, whose output-stall timer ends a peer that never drains.
//! [`MAX_WRITE_BACKLOG`] remains as a last resort against local producers: past it the
//! session ends (`write-backlog` rule).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::task::{Wake, Waker};
use std::time::{Duration, Instant};

use futures::{FutureExt, StreamExt};
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use std::fmt;

use crate::auth::Authenticator;
use crate::connection::Connection;
use crate::dispatch::Router;
use crate::error::RefusedBy;
use crate::error::SessionError;
use crate::framing::MaxFrame;
use crate::inbox::{Command, Ended, Submit};
use crate::intercept::{Chain, ClientChain, Metrics};
use crate::session::{Role, Session, SessionConfig};
use crate::transport::{FrameSink, FrameStream, Link};
use resume::{Redial, Resumables};
use roam_proto::session::ResumeRefusal;
use roam_proto::wire::Resume;

pub mod output;
pub(crate) mod resume;
mod state;
#[cfg(test)]
mod tests;

use output::{OutputBudget, OutputQueue};
use state::State;

/// Most bytes queued for writing before the session is ended as unable to keep up.
pub const MAX_WRITE_BACKLOG: usize = 64 * 1024 * 1024;
/// Calls a a `Server` serves at once per session unless told otherwise (the protocol's
/// default, 1024, is what a `Connector` announces). Servers face peers they do not control:
/// this, times the largest answer, is most of what a peer that never reads can make a session
/// hold (answers of handlers already running when reading stops), so it is kept moderate;
/// callers beyond it wait in their own session, nothing is refused.
pub const DEFAULT_SERVER_CONCURRENT_REQUESTS: u32 = 64;

/// Default bound of one session's output queue: past it, the peer is not read until it drains.
pub const DEFAULT_OUTPUT_BOUND: usize = 256 * 1024;

/// How a session is set up.
#[derive(Clone)]
pub struct SessionOptions {
    /// Limits announced in the handshake, and the session's timers (handshake timeout,
    /// keepalive, drain grace, close linger, output stall).
    pub config: SessionConfig,
    /// Services this side serves to the peer (may be empty: calls get `UnknownMethod`).
    pub router: Arc<Router>,
    /// Bytes of output queued before the driver stops reading from the peer.
    pub output_bound: usize,
    /// The group budget this session's output counts against (a server's), if any.
    pub output_budget: Option<Arc<OutputBudget>>,
    /// Acceptor: decides whether to serve each session (with `config.admission` set).
    pub(crate) authenticator: Option<Arc<dyn Authenticator>>,
    /// Acceptor: refuse this session (a server over its session limits) once the peer's
    /// `Hello` shows it starts one; a resume of a session the server keeps adds none, so it
    /// is let through. Without resumption, at once, before the peer's `Hello`.
    pub(crate) refusal: Option<(RefusedBy, String)>,
    /// Around every call this side serves.
    pub(crate) interceptors: Chain,
    /// Around every call this side makes.
    pub(crate) client_interceptors: ClientChain,
    /// Told about served calls, sessions and channels.
    pub(crate) metrics: Option<Arc<dyn Metrics>>,
    /// Acceptor with `config.resumption`: the server's resumable sessions, where a link asking
    /// to resume finds its session.
    pub(crate) resumables: Option<Arc<Resumables>>,
    /// Initiator with `config.resumption`: how to dial again when the link is lost.
    pub(crate) redial: Option<Arc<Redial>>,
    /// Decides on the virtual connections the peer opens (none: all refused).
    pub(crate) acceptor: Option<Arc<dyn crate::virtuals::AcceptConnections>>,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            config: SessionConfig::default(),
            router: Arc::default(),
            output_bound: DEFAULT_OUTPUT_BOUND,
            output_budget: None,
            authenticator: None,
            refusal: None,
            interceptors: Chain::default(),
            client_interceptors: ClientChain::default(),
            metrics: None,
            resumables: None,
            redial: None,
            acceptor: None,
        }
    }
}

impl fmt::Debug for SessionOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionOptions")
            .field("config", &self.config)
            .field("router", &self.router)
            .field("output_bound", &self.output_bound)
            .field("authenticator", &self.authenticator.is_some())
            .field("interceptors", &self.interceptors)
            .field("client_interceptors", &self.client_interceptors)
            .field("metrics", &self.metrics.is_some())
            .finish_non_exhaustive()
    }
}

impl SessionOptions {
    /// The defaults of a server's sessions: as [`Default`], with
    /// [`DEFAULT_SERVER_CONCURRENT_REQUESTS`].
    pub(crate) fn server() -> Self {
        let mut options = SessionOptions::default();
        options.config.limits.max_concurrent_requests = DEFAULT_SERVER_CONCURRENT_REQUESTS;
        options.config.resumption = Some(crate::session::Resumption::default());
        options
    }

    /// The frame-size limit a link for this session starts with (the session tightens it to
    /// the negotiated one after the handshake).
    pub(crate) fn max_frame(&self) -> MaxFrame {
        MaxFrame::new(self.config.limits.max_frame_size)
    }
}

/// The clock the driver feeds the session: tokio's, so paused time in tests is virtual time
/// for the session too.
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// Handles to a running session kept by its owner (a server, or `connect`).
pub(crate) struct Running {
    pub(crate) connection: Connection,
}

/// Starts a session over `link` and waits for its handshake.
///
/// `shutdown`, when cancelled, makes the session drain: new calls from the peer are answered
/// `Unavailable`, calls in flight finish (for at most the drain grace), then the session says
/// `Goodbye`. The returned join handle ends when the session has ended and its frames are
/// flushed (or the close linger gave up on them).
pub(crate) async fn start(
    link: Link,
    max_frame: MaxFrame,
    role: Role,
    options: SessionOptions,
    shutdown: CancellationToken,
) -> Result<(Running, JoinHandle<()>), SessionError> {
    let (run, established) = prepare(link, max_frame, role, options, shutdown);
    let task = tokio::spawn(run);
    match established.await {
        Ok(Ok(connection)) => Ok((Running { connection }, task)),
        Ok(Err(e)) => {
            let _ = task.await;
            Err(e)
        }
        Err(_) => Err(SessionError::HandshakeFailed(
            "the session task ended during the handshake".into(),
        )),
    }
}

/// Sets a session up over `link` without starting it: the future that drives it (to run as a
/// task of the caller's choosing: a server runs it in the task it already has for the link),
/// and where the handshake's outcome arrives (a handle to the session, or why it failed).
pub(crate) fn prepare(
    link: Link,
    max_frame: MaxFrame,
    role: Role,
    options: SessionOptions,
    shutdown: CancellationToken,
) -> (
    impl Future<Output = ()> + Send + 'static,
    oneshot::Receiver<Result<Connection, SessionError>>,
) {
    let session_key = match role {
        Role::Acceptor => Some(rand::random::<[u8; 16]>()),
        Role::Initiator => None,
    };
    let mut session = Session::with_attachments(role, options.config.clone(), session_key, now());
    if role == Role::Acceptor && options.config.resumption.is_some() {
        session = session.with_resume_secret(rand::random());
    }
    if let Some((by, reason)) = &options.refusal
        && options.config.resumption.is_none()
    {
        session.refuse(now(), *by, reason);
    }
    let Link {
        incoming,
        outgoing,
        peer,
        tls,
        tls_failure: _,
    } = link;
    let span = tracing::debug_span!("roam.session", peer = %peer, role = ?role);
    // Only the accepting side stops reading when its output backs up. The initiator always
    // reads (its output comes from its own application, bounded by the write backlog), so two
    // sessions can never both stop reading and wait for each other.
    let bound = match role {
        Role::Acceptor => options.output_bound,
        Role::Initiator => usize::MAX,
    };
    let output = OutputQueue::new(bound, options.output_budget.clone());
    let (established_tx, established_rx) = oneshot::channel();
    let core = Arc::new_cyclic(|me| Core {
        state: Mutex::new(State::new(
            session,
            role,
            options,
            outgoing,
            output,
            max_frame,
            me.clone(),
            (peer, tls),
            established_tx,
        )),
        deferred: Mutex::new(VecDeque::new()),
        has_deferred: std::sync::atomic::AtomicBool::new(false),
        relink: Mutex::new(None),
        notify: Notify::new(),
        ended: std::sync::atomic::AtomicBool::new(false),
        waker: Waker::from(Arc::new(DriverWaker(me.clone()))),
    });
    (
        run(core, incoming, shutdown).instrument(span),
        established_rx,
    )
}

/// What a session's driver task and its handles share: the state behind a lock held only
/// briefly (never across an await), commands that found it busy, and the driver's wake-up.
pub(crate) struct Core {
    state: Mutex<State>,
    /// Commands submitted while `state` was locked, applied in order by the next holder.
    deferred: Mutex<VecDeque<Command>>,
    /// Whether `deferred` may hold commands (checked before taking its lock).
    has_deferred: std::sync::atomic::AtomicBool,
    /// A new link's reading half for the driver task, with the link generation it belongs to
    /// (its writing half is in the state already).
    relink: Mutex<Option<(u64, FrameStream)>>,
    /// Wakes the driver task: a handle left it work, or the link can take more.
    notify: Notify,
    /// The driver task has ended: nothing will apply new commands.
    ended: std::sync::atomic::AtomicBool,
    /// A waker for the driver task, given to the link when it is written from any thread.
    waker: Waker,
}

/// Wakes the driver task (if the session still exists).
struct DriverWaker(std::sync::Weak<Core>);

impl Wake for DriverWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        if let Some(core) = self.0.upgrade() {
            core.notify.notify_one();
        }
    }
}

impl Core {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent across a panic elsewhere: every update is one call.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn deferred(&self) -> MutexGuard<'_, VecDeque<Command>> {
        self.deferred.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies the commands that found the state busy, in the order they were submitted.
    fn apply_deferred(&self, state: &mut State) {
        use std::sync::atomic::Ordering;
        if !self.has_deferred.load(Ordering::SeqCst) {
            return;
        }
        loop {
            let next = {
                let mut queue = self.deferred();
                let next = queue.pop_front();
                if queue.is_empty() {
                    self.has_deferred.store(false, Ordering::SeqCst);
                }
                next
            };
            match next {
                Some(cmd) => state.on_command(cmd),
                None => return,
            }
        }
    }

    /// Queues `cmd` for the state's next holder; `Err` once the driver has ended (decided
    /// under the queue's lock, which the driver holds when it marks itself ended, so a command
    /// is either swept by its last pass or refused, never stranded).
    fn defer(&self, cmd: Command) -> Result<(), Ended> {
        let mut queue = self.deferred();
        if self.ended.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(Ended);
        }
        queue.push_back(cmd);
        self.has_deferred
            .store(true, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
}

impl Core {
    /// Gives the session a new link (a reconnect's): resumes a detached session over it, or
    /// lets a fresh session's `Hello` out. `false` if the session has ended meanwhile.
    pub(crate) fn attach_link(&self, link: Link) -> bool {
        let mut state = self.lock();
        if state.session.is_closed() {
            return false;
        }
        let generation = state.install_link(link.outgoing);
        if state.session.is_detached() {
            state.session.resume(now(), rand::random());
        }
        *self.relink.lock().unwrap_or_else(|e| e.into_inner()) = Some((generation, link.incoming));
        drop(state);
        self.notify.notify_one();
        true
    }

    /// Acceptor: resumes this session over another session's link, whose `Hello` asked for it.
    /// On a refusal nothing changed here and the link's halves come back.
    fn accept_link(
        &self,
        resume: &Resume,
        outgoing: FrameSink,
        incoming: FrameStream,
    ) -> Result<(), (ResumeRefusal, FrameSink, FrameStream)> {
        let mut state = self.lock();
        // The new writing half goes in first: the answer and the replay queued by
        // `accept_resume` must go to the new link, never to the old one.
        let old = state.swap_outgoing(outgoing);
        match state.session.accept_resume(now(), resume, rand::random()) {
            Ok(()) => {
                let generation = state.finish_install();
                *self.relink.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some((generation, incoming));
                drop(state);
                drop(old);
                self.notify.notify_one();
                Ok(())
            }
            Err(refusal) => {
                let outgoing = state.swap_outgoing(old);
                Err((refusal, outgoing, incoming))
            }
        }
    }

    /// The reconnect loop is about to stop (the session resumed or started afresh): it may,
    /// unless the link was lost again meanwhile. Decided under the state's lock, which a loss
    /// also takes to start a loop, so a loss is never left without one.
    pub(crate) fn dialer_may_stop(&self) -> bool {
        let mut state = self.lock();
        if state.states().borrow().0 == resume::ConnectionState::Reconnecting {
            return false;
        }
        state.dialer_stopped();
        true
    }

    /// Initiator: no new link could be made within the retry policy.
    pub(crate) fn give_up(&self, attempts: u32, elapsed: Duration) {
        let mut state = self.lock();
        state.session.give_up(
            now(),
            SessionError::Transport(format!(
                "the link was lost and no new one could be made ({attempts} attempts in {elapsed:?}); check that the server is up and reachable"
            )),
        );
        state.settle(None);
        drop(state);
        self.notify.notify_one();
    }
}

impl Submit for Core {
    fn submit(&self, cmd: Command) -> Result<(), Ended> {
        use std::sync::atomic::Ordering;
        if self.ended.load(Ordering::SeqCst) {
            return Err(Ended);
        }
        let state = match self.state.try_lock() {
            Ok(state) => Some(state),
            Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
            // Busy (elsewhere, or on this thread further up the stack): leave it for the
            // holder's successor, in order.
            Err(TryLockError::WouldBlock) => None,
        };
        let Some(mut state) = state else {
            self.defer(cmd)?;
            self.notify.notify_one();
            return Ok(());
        };
        self.apply_deferred(&mut state);
        // A lone call or answer is written from this thread at once: a round trip then costs
        // no hop through the driver task. When others are in flight, or for anything else
        // (stream items, credit, closes), the frame is left for the driver, which writes all
        // that is ready in one go: many small frames cost one write instead of one each.
        let write_now = state.alone(&cmd);
        state.on_command(cmd);
        let writer = write_now.then_some(&self.waker);
        let wake_driver = state.settle(writer) || !write_now;
        drop(state);
        if wake_driver {
            self.notify.notify_one();
        }
        Ok(())
    }
}

/// The next frame of the link being read (never, without one: the branch is disabled then).
async fn next_frame(
    incoming: &mut Option<FrameStream>,
) -> Option<Result<bytes::Bytes, crate::framing::LinkError>> {
    match incoming {
        Some(stream) => stream.next().await,
        None => std::future::pending().await,
    }
}

/// Most frames read per turn of the driver before it settles (writes, routes events).
const READ_BATCH: usize = 64;

#[cfg(test)]
thread_local! {
    /// Times a driver task running on this thread was woken (turns of its loop), counted in
    /// tests so that the wake-up budget of docs/architecture.md stays checked. Per thread, so
    /// tests running side by side do not count each other's.
    pub(crate) static DRIVER_WAKEUPS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// The driver task: reads the link, runs the timers and shutdown, and settles the state
/// after each; handles wake it through [`Core::notify`].
async fn run(core: Arc<Core>, incoming: FrameStream, shutdown: CancellationToken) {
    let waker = core.waker.clone();
    let sleep = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(sleep);
    let mut armed: Option<Instant> = None;
    // The link being read, and its generation: a frame read from a link the session has
    // since replaced (a resume moved it to a new one) is dropped, never handled twice.
    let mut incoming = Some(incoming);
    let mut generation = 0;
    loop {
        let (reading, closing, draining) = {
            let mut state = core.lock();
            core.apply_deferred(&mut state);
            state.settle(Some(&waker));
            if state.session.is_finished() {
                break;
            }
            if let Some((target, resume)) = state.take_handover() {
                // This link asked to resume another session: move it there.
                let outgoing = state.take_outgoing();
                drop(state);
                let Some(stream) = incoming.take() else {
                    break;
                };
                match target.accept_link(&resume, outgoing, stream) {
                    Ok(()) => {
                        tracing::debug!("link handed to the session it resumed");
                        break;
                    }
                    Err((refusal, outgoing, stream)) => {
                        tracing::debug!(%refusal, "resume refused");
                        incoming = Some(stream);
                        let mut state = core.lock();
                        drop(state.swap_outgoing(outgoing));
                        state.refuse_resume(refusal);
                        continue;
                    }
                }
            }
            if let Some((g, stream)) = core.relink.lock().unwrap_or_else(|e| e.into_inner()).take()
            {
                incoming = Some(stream);
                generation = g;
            }
            if state.linkless() {
                // Dropping the old link's reading half closes it.
                incoming = None;
            }
            state.armed = state.session.poll_timeout();
            if state.armed != armed {
                if let Some(at) = state.armed {
                    sleep.as_mut().reset(tokio::time::Instant::from_std(at));
                }
                armed = state.armed;
            }
            (
                state.reading() && incoming.is_some(),
                state.session.is_closed(),
                state.draining,
            )
        };
        tokio::select! {
            frame = next_frame(&mut incoming), if reading => {
                let mut state = core.lock();
                if state.generation() != generation {
                    // Read from a link replaced meanwhile; the new one is picked up next turn.
                    continue;
                }
                let done = frame.is_none();
                // One reading of the clock per batch: the frames arrived together.
                let now = now();
                state.on_frame(now, frame);
                // Take what else has arrived while the lock is held: one settle per batch.
                let mut n = 1;
                while !done && n < READ_BATCH && state.reading() {
                    let Some(stream) = incoming.as_mut() else {
                        break;
                    };
                    match stream.next().now_or_never() {
                        Some(frame) => {
                            let done = frame.is_none();
                            state.on_frame(now, frame);
                            n += 1;
                            if done {
                                break;
                            }
                        }
                        None => break,
                    }
                }
            }
            _ = core.notify.notified() => {}
            _ = shutdown.cancelled(), if !draining && !closing => {
                let mut state = core.lock();
                state.draining = true;
                state.session.start_drain(now(), "shutting down");
            }
            _ = &mut sleep, if armed.is_some() => {
                armed = None;
                core.lock().session.handle_timeout(now());
            }
        }
        #[cfg(test)]
        DRIVER_WAKEUPS.set(DRIVER_WAKEUPS.get() + 1);
    }
    let mut state = core.lock();
    {
        let _queue = core.deferred();
        core.ended.store(true, std::sync::atomic::Ordering::SeqCst);
    }
    // Commands that arrived at the end are answered by the closed session (calls fail).
    core.apply_deferred(&mut state);
    state.settle(None);
    state.release();
}
