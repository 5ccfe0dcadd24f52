//! Typed streams: [`Tx<T>`] sends items, [`Rx<T>`] receives them, [`channel`] makes a pair.
//!
//! A method that takes `Rx<T>` receives a stream from its caller; one that takes `Tx<T>` sends a
//! stream to its caller. The caller makes a pair with [`channel`], passes one end to the call
//! and keeps the other:
//!
//! ```no_run
//! # #[roam::service] trait Calculator { async fn sum(&self, numbers: roam::Rx<i32>) -> i64; }
//! # async fn demo(calc: CalculatorClient) -> Result<(), Box<dyn std::error::Error>> {
//! let (tx, rx) = roam::channel::<i32>();
//! let total = tokio::spawn({ let calc = calc.clone(); async move { calc.sum(rx).await } });
//! for i in 0..1000 { tx.send(i).await?; }
//! tx.close();
//! assert_eq!(total.await??, 499_500);
//! # Ok(()) }
//! ```
//!
//! **Flow control.** A sender never has more items in flight than the receiver granted
//! ([`crate::Limits::initial_credit`] at first); `send` waits for credit, and the receiver grants
//! more as its consumer drains, so a slow consumer slows the producer and memory stays bounded.
//!
//! **Ends.** Closing or dropping a `Tx` ends the stream: the receiver gets `Ok(None)` after the
//! items already sent. Dropping an `Rx` before the end resets the channel: the sender's next
//! `send` fails with [`ChannelError::Reset`]. Channels live as long as their ends, not as long as
//! the call: when a handler returns, the ends it still owns are dropped by that rule (its `Tx`
//! closes, its `Rx` resets), while an end it moved into a spawned task stays open. If the
//! session ends, both ends fail with [`ChannelError::ConnectionLost`].
//!
//! This module owns the user-facing ends and their binding to wire channels (the untyped ends
//! are `inbox.rs`'s); credit accounting and violations are the session's, moving bytes is the
//! driver's.

use std::fmt;
use std::future::{Future, poll_fn};
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context as TaskContext, Poll};

use bytes::Bytes;
use facet::{Facet, Shape};
use roam_codec::Translation;
use tokio::sync::{Notify, oneshot};

use crate::codec;
use crate::error::ChannelError;
use crate::inbox::{WireRx, WireTx};
use crate::schemas::{self, RemoteSchemaExt};

/// Where a kept `Tx` finds the wire channel once its `Rx` was passed to a call. (A kept `Rx`
/// gets its wire channel through a oneshot instead, since only one task reads it.)
#[derive(Debug, Default)]
pub(crate) struct Pairing {
    tx_end: OnceLock<WireTx>,
    /// An end was dropped without being bound.
    gone: Mutex<bool>,
    changed: Notify,
}

impl Pairing {
    fn mark_gone(&self) {
        if let Ok(mut g) = self.gone.lock() {
            *g = true;
        }
        self.changed.notify_waiters();
    }

    fn is_gone(&self) -> bool {
        self.gone.lock().map(|g| *g).unwrap_or(true)
    }

    async fn wire_tx(&self) -> Result<&WireTx, ChannelError> {
        loop {
            let changed = self.changed.notified();
            if let Some(w) = self.tx_end.get() {
                return Ok(w);
            }
            if self.is_gone() {
                return Err(ChannelError::Unbound);
            }
            changed.await;
        }
    }
}

/// One end of an unbound pair. Dropping it unbound tells the other end.
#[derive(Debug)]
struct Half {
    pairing: Arc<Pairing>,
    bound: bool,
}

impl Drop for Half {
    fn drop(&mut self) {
        if !self.bound {
            self.pairing.mark_gone();
        }
    }
}

/// A channel end passed as a call argument, before binding. Generated clients make these.
#[derive(Debug)]
pub enum ChannelArg {
    /// The caller sends (the argument is an `Rx<T>` the callee reads); with `T`'s shape.
    CallerSends(SendBinding, &'static Shape),
    /// The caller receives (the argument is a `Tx<T>` the callee writes); with `T`'s shape.
    CallerReceives(ReceiveBinding, &'static Shape),
    /// An end that cannot be passed (already bound to a call).
    Invalid,
}

/// Connects a kept `Tx` to the wire once the call is sent.
#[derive(Debug)]
pub struct SendBinding(Half);

impl SendBinding {
    pub(crate) fn bind(mut self, wire: WireTx) {
        self.0.bound = true;
        // If the kept `Tx` is already gone, dropping `wire` here closes the channel at once.
        if !self.0.pairing.is_gone() {
            let _ = self.0.pairing.tx_end.set(wire);
        }
        self.0.pairing.changed.notify_waiters();
    }
}

/// Connects a kept `Rx` to the wire once the call is sent.
#[derive(Debug)]
pub struct ReceiveBinding(oneshot::Sender<WireRx>);

impl ReceiveBinding {
    pub(crate) fn bind(self, wire: WireRx) {
        // If the kept `Rx` is already gone, the returned `wire` is dropped: that resets the channel.
        let _ = self.0.send(wire);
    }
}

enum TxInner {
    Paired {
        half: Half,
        rx_slot: oneshot::Sender<WireRx>,
    },
    Wire(WireTx),
}

/// The sending end of a typed stream. See the [module docs](self).
pub struct Tx<T> {
    inner: Option<TxInner>,
    _item: PhantomData<fn(T)>,
}

impl<T> fmt::Debug for Tx<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.inner {
            Some(TxInner::Paired { .. }) => "unbound",
            Some(TxInner::Wire(_)) => "bound",
            None => "moved",
        };
        f.debug_struct("Tx").field("state", &state).finish()
    }
}

impl<T> Tx<T> {
    pub(crate) fn from_wire(wire: WireTx) -> Self {
        Tx {
            inner: Some(TxInner::Wire(wire)),
            _item: PhantomData,
        }
    }

    /// Sends one item, waiting for credit if the receiver has not granted any (and, for a
    /// kept end, until its other end has been passed to a call).
    pub async fn send(&self, item: T) -> Result<(), ChannelError>
    where
        T: Facet<'static>,
    {
        let payload = codec::encode(&item)?;
        match &self.inner {
            Some(TxInner::Wire(w)) => w.send(payload).await,
            Some(TxInner::Paired { half, .. }) => half.pairing.wire_tx().await?.send(payload).await,
            None => Err(ChannelError::AlreadyBound),
        }
    }

    /// Ends the stream: the receiver sees the end after the items already sent. Same as drop.
    pub fn close(self) {}

    /// Items that may be sent now without waiting (0 before the channel is bound to a call).
    pub fn credit(&self) -> usize {
        match &self.inner {
            Some(TxInner::Wire(w)) => w.credit(),
            Some(TxInner::Paired { half, .. }) => {
                half.pairing.tx_end.get().map_or(0, WireTx::credit)
            }
            None => 0,
        }
    }
}

enum RxInner {
    Paired {
        _half: Half,
        wire: oneshot::Receiver<WireRx>,
    },
    Wire(WireRx),
}

/// How an [`Rx`] turns the writer's item bytes into `T`.
#[derive(Debug)]
enum Reading {
    /// The writer uses our item type (or announced none): decode directly.
    Direct,
    /// The writer's item type differs compatibly: decode through this translation.
    Translated(Arc<Translation>),
    /// Known at the first item: the caller's end of a channel the callee writes, whose item
    /// type the callee announces before its handler runs.
    AtFirstItem,
    /// The writer's item type cannot be read as `T` (why, naming the field and both types).
    Incompatible(String),
}

/// The receiving end of a typed stream. See the [module docs](self). Also a
/// [`futures::Stream`] of `Result<T, ChannelError>`.
pub struct Rx<T> {
    inner: Option<RxInner>,
    reading: Reading,
    _item: PhantomData<fn() -> T>,
}

impl<T> fmt::Debug for Rx<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.inner {
            Some(RxInner::Paired { .. }) => "unbound",
            Some(RxInner::Wire(_)) => "bound",
            None => "moved",
        };
        f.debug_struct("Rx").field("state", &state).finish()
    }
}

impl<T> Rx<T> {
    /// A handler's `Rx`: the caller announced its item type with the request, so how to read
    /// the items is known now (`translation` is `None` when they decode directly).
    pub(crate) fn from_wire(wire: WireRx, translation: Option<Arc<Translation>>) -> Self {
        Rx {
            inner: Some(RxInner::Wire(wire)),
            reading: translation.map_or(Reading::Direct, Reading::Translated),
            _item: PhantomData,
        }
    }

    /// Items received and not yet consumed. Never more than the credit granted to the sender.
    pub fn buffered(&self) -> usize {
        match &self.inner {
            Some(RxInner::Wire(w)) => w.buffered(),
            _ => 0,
        }
    }

    fn poll_recv_bytes(
        &mut self,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Result<Option<Bytes>, ChannelError>> {
        loop {
            match &mut self.inner {
                Some(RxInner::Wire(w)) => return w.poll_recv(cx),
                Some(RxInner::Paired { wire, .. }) => match Pin::new(wire).poll(cx) {
                    Poll::Ready(Ok(wire)) => {
                        if wire.peer_items.is_some() {
                            self.reading = Reading::AtFirstItem;
                        }
                        self.inner = Some(RxInner::Wire(wire));
                    }
                    Poll::Ready(Err(_)) => return Poll::Ready(Err(ChannelError::Unbound)),
                    Poll::Pending => return Poll::Pending,
                },
                None => return Poll::Ready(Err(ChannelError::AlreadyBound)),
            }
        }
    }
}

impl<T: Facet<'static>> Rx<T> {
    /// The next item; `Ok(None)` once the sender closed the stream.
    pub async fn recv(&mut self) -> Result<Option<T>, ChannelError> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    fn poll_recv(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<Option<T>, ChannelError>> {
        match self.poll_recv_bytes(cx) {
            Poll::Ready(Ok(Some(bytes))) => {
                if let Reading::AtFirstItem = self.reading {
                    self.reading = self.writers_reading();
                }
                let item = match &self.reading {
                    Reading::Direct | Reading::AtFirstItem => codec::decode(&bytes),
                    Reading::Translated(t) => schemas::decode_translated(t, &bytes),
                    Reading::Incompatible(why) => {
                        return Poll::Ready(Err(ChannelError::IncompatibleSchema(why.clone())));
                    }
                };
                Poll::Ready(item.map(Some).map_err(ChannelError::from))
            }
            Poll::Ready(Ok(None)) => Poll::Ready(Ok(None)),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: Facet<'static>> Rx<T> {
    /// How to read the callee's items, from the channel signature it announced (the driver
    /// recorded it when the first item arrived).
    fn writers_reading(&self) -> Reading {
        let Some(RxInner::Wire(wire)) = &self.inner else {
            return Reading::Direct;
        };
        let Some((peer, index)) = &wire.peer_items else {
            return Reading::Direct;
        };
        let Some(Some(announced)) = peer.get() else {
            return Reading::Direct;
        };
        match announced.reader_for(schemas::Part::Item(*index), T::SHAPE) {
            Ok(None) => Reading::Direct,
            Ok(Some(t)) => Reading::Translated(t),
            Err(e) => Reading::Incompatible(format!("channel argument {index}: {e}")),
        }
    }
}

impl<T: Facet<'static>> futures::Stream for Rx<T> {
    type Item = Result<T, ChannelError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        // `Rx` holds no self-references, so it is `Unpin` and can be used through `get_mut`.
        self.get_mut().poll_recv(cx).map(Result::transpose)
    }
}

/// A connected `(Tx, Rx)` pair: pass one end to a call and keep the other.
pub fn channel<T>() -> (Tx<T>, Rx<T>) {
    let pairing = Arc::new(Pairing::default());
    let (rx_slot, wire) = oneshot::channel();
    let tx = Tx {
        inner: Some(TxInner::Paired {
            half: Half {
                pairing: Arc::clone(&pairing),
                bound: false,
            },
            rx_slot,
        }),
        _item: PhantomData,
    };
    let rx = Rx {
        inner: Some(RxInner::Paired {
            _half: Half {
                pairing,
                bound: false,
            },
            wire,
        }),
        reading: Reading::Direct,
        _item: PhantomData,
    };
    (tx, rx)
}

impl<T: Facet<'static>> From<Rx<T>> for ChannelArg {
    /// The caller passes an `Rx`: the callee reads, the caller writes through the kept `Tx`.
    fn from(mut rx: Rx<T>) -> Self {
        match rx.inner.take() {
            Some(RxInner::Paired { _half, .. }) => {
                ChannelArg::CallerSends(SendBinding(_half), T::SHAPE)
            }
            Some(RxInner::Wire(wire)) => {
                rx.inner = Some(RxInner::Wire(wire));
                ChannelArg::Invalid
            }
            None => ChannelArg::Invalid,
        }
    }
}

impl<T: Facet<'static>> From<Tx<T>> for ChannelArg {
    /// The caller passes a `Tx`: the callee writes, the caller reads through the kept `Rx`.
    fn from(mut tx: Tx<T>) -> Self {
        match tx.inner.take() {
            Some(TxInner::Paired { rx_slot, .. }) => {
                ChannelArg::CallerReceives(ReceiveBinding(rx_slot), T::SHAPE)
            }
            Some(TxInner::Wire(wire)) => {
                tx.inner = Some(TxInner::Wire(wire));
                ChannelArg::Invalid
            }
            None => ChannelArg::Invalid,
        }
    }
}
