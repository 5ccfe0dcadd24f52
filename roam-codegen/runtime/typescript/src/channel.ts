/**
 * Typed channels: {@link Tx} (send items) and {@link Rx} (receive them, an `AsyncIterable`),
 * the {@link channel} pair a caller makes for a method's channel argument, and the glue that
 * puts typed ends on the untyped {@link ChannelSender} / {@link ChannelReceiver} of
 * `channel-ends.ts` with an item {@link Codec}.
 *
 * This module owns item encoding and decoding, the life of a `channel()` pair before and after
 * it is handed to a call, and pumping a caller's `AsyncIterable` into a channel. Credit, `Close`
 * and `Reset` are the untyped ends' (and the session's) business; which end a call needs is
 * `service.ts`'s.
 *
 * Directions follow the Rust signature. A parameter `Tx<T>` means the handler sends to the
 * caller: the caller passes the pair's `tx` and iterates its `rx`. A parameter `Rx<T>` means
 * the caller sends to the handler: the caller passes the pair's `rx` (or any `AsyncIterable`)
 * and writes on its `tx`.
 *
 * @module
 */

import { RoamError } from "./call-error.js";
import { ChannelReceiver, ChannelSender, MAX_WAITING_SENDS } from "./channel-ends.js";
import type { ChannelEnd } from "./channel-ends.js";
import { decode, encode } from "./codec.js";
import type { Codec } from "./codec.js";
import { Fifo } from "./fifo.js";

/** Which way a channel argument flows, as written in the Rust signature. */
export type ChannelKind =
  /** `Tx<T>`: the handler sends, the caller receives. */
  | "tx"
  /** `Rx<T>`: the caller sends, the handler receives. */
  | "rx";

/** The sending end of a typed channel. */
export interface Tx<T> {
  /**
   * Sends one item; resolves once the peer's credit lets it go out (await each send: that is
   * the backpressure). Rejects with a {@link RoamError}: `channel_reset` when the receiver
   * stopped, `channel_closed` after {@link Tx.close}, `cancelled` / `connection_lost` when the
   * call or the session ended, `invalid_argument` for an item that cannot be encoded.
   */
  send(value: T): Promise<void>;
  /** Ends the stream once the items already sent are out. Idempotent. */
  close(): void;
  /** Whether sends fail now: closed here, or the channel ended under it. */
  readonly closed: boolean;
}

/**
 * The receiving end of a typed channel: `for await (const item of rx)`. Leaving the loop early
 * (`break`, `return`, a throw) resets the channel, which makes the peer's `send` reject.
 */
export interface Rx<T> extends AsyncIterable<T> {
  /**
   * The next item, or `undefined` once the sender closed. For item types that admit
   * `undefined` (`()`, `Option<T>`), iterate instead: the loop tells the two apart.
   */
  recv(): Promise<T | undefined>;
  /** Stops receiving and resets the channel. Idempotent. */
  cancel(): void;
}

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** An async iterator over `src` whose `return()` (leaving a `for await`) cancels it. */
function iterate<T>(src: {
  next(): Promise<IteratorResult<T, undefined>>;
  cancel(): void;
}): AsyncIterator<T, undefined> {
  return {
    next: () => src.next(),
    return: () => {
      src.cancel();
      return Promise.resolve({ done: true, value: undefined });
    },
  };
}

/**
 * `@internal` A {@link Tx} over an untyped sender: items are encoded with `codec`. `close()`
 * waits for sends still waiting for credit, so `tx.send(a); tx.close()` still delivers `a`.
 */
export class SenderTx<T> implements Tx<T> {
  private readonly end: ChannelSender;
  private readonly codec: Codec<T>;
  /** Sends handed to the end and not settled yet. */
  private inFlight = 0;
  private closing = false;

  constructor(end: ChannelSender, codec: Codec<T>) {
    this.end = end;
    this.codec = codec;
  }

  send(value: T): Promise<void> {
    if (this.closing) return Promise.reject(new RoamError("channel_closed", "the Tx is closed"));
    let bytes: Uint8Array;
    try {
      bytes = encode(this.codec, value);
    } catch (e) {
      return Promise.reject(
        new RoamError("invalid_argument", `the item cannot be encoded: ${describe(e)}`, {
          cause: e,
        }),
      );
    }
    this.inFlight++;
    const sent = this.end.send(bytes);
    // Registered before the caller's own reaction, so an `await send(); close()` sees the
    // count at zero and closes at once.
    const settled = () => {
      this.inFlight--;
      if (this.closing && this.inFlight === 0) this.end.close();
    };
    sent.then(settled, settled);
    return sent;
  }

  close(): void {
    if (this.closing) return;
    this.closing = true;
    if (this.inFlight === 0) this.end.close();
  }

  get closed(): boolean {
    return this.closing || this.end.failedWith !== undefined;
  }
}

/**
 * `@internal` An {@link Rx} over an untyped receiver: items are decoded with `codec`. An item
 * that does not decode fails the Rx with `invalid_argument` (this and every later `recv`) and
 * resets the channel: the stream cannot be trusted past it.
 */
export class ReceiverRx<T> implements Rx<T> {
  private readonly end: ChannelReceiver;
  private readonly codec: Codec<T>;
  private failure: RoamError | undefined;

  constructor(end: ChannelReceiver, codec: Codec<T>) {
    this.end = end;
    this.codec = codec;
  }

  /** The next item as an iterator result. */
  async next(): Promise<IteratorResult<T, undefined>> {
    if (this.failure !== undefined) throw this.failure;
    const r = await this.end.next();
    if (r.done === true) return { done: true, value: undefined };
    // Another pending next may have failed the stream while this one waited.
    if (this.failure !== undefined) throw this.failure;
    try {
      return { done: false, value: decode(this.codec, r.value) };
    } catch (e) {
      this.failure = new RoamError(
        "invalid_argument",
        `a channel item could not be decoded: ${describe(e)}`,
        { cause: e },
      );
      this.end.cancel();
      throw this.failure;
    }
  }

  async recv(): Promise<T | undefined> {
    const r = await this.next();
    return r.done === true ? undefined : r.value;
  }

  cancel(): void {
    this.end.cancel();
  }

  [Symbol.asyncIterator](): AsyncIterator<T, undefined> {
    return iterate(this);
  }
}

interface QueuedSend<T> {
  readonly value: T;
  readonly resolve: () => void;
  readonly reject: (e: unknown) => void;
}

interface WaitingRecv<T> {
  readonly resolve: (r: IteratorResult<T, undefined>) => void;
  readonly reject: (e: unknown) => void;
}

const HANDED_TX = "this Tx was passed to a call: the handler sends on it";
const HANDED_RX = "this Rx was passed to a call: the handler receives from it";

/**
 * The shared state of a {@link channel} pair. Until it is handed to a call it is an in-memory
 * channel (a send resolves when the item is received, so a handler can be tested without a
 * connection). Handed to a call it becomes one side of a wire channel:
 *
 * - `receiving`: the caller passed `tx` (a `Tx<T>` parameter). `rx` reads the wire; sends
 *   queued on `tx` before are refused, since the handler is the sender now.
 * - `sending`: the caller passed `rx` (an `Rx<T>` parameter). `tx` writes the wire; sends
 *   queued before go out first, in order, and a `close()` made before follows them.
 */
class Pair<T> {
  mode: "local" | "receiving" | "sending" = "local";
  /** Local mode: sends nobody received yet (at most MAX_WAITING_SENDS). */
  private readonly queue = new Fifo<QueuedSend<T>>();
  /** Local mode: receives waiting for a send. Never non-empty together with `queue`. */
  private readonly waiting = new Fifo<WaitingRecv<T>>();
  private txClosed = false;
  private rxCancelled = false;
  private wireTx: SenderTx<T> | undefined;
  private wireRx: ReceiverRx<T> | undefined;

  send(value: T): Promise<void> {
    if (this.mode === "sending") {
      if (this.rxCancelled) {
        return Promise.reject(new RoamError("channel_reset", "the Rx was cancelled"));
      }
      return this.wireTx!.send(value);
    }
    if (this.mode === "receiving") return Promise.reject(new RoamError("channel_closed", HANDED_TX));
    if (this.txClosed) return Promise.reject(new RoamError("channel_closed", "the Tx is closed"));
    if (this.rxCancelled) {
      return Promise.reject(new RoamError("channel_reset", "the Rx was cancelled"));
    }
    const w = this.waiting.shift();
    if (w !== undefined) {
      w.resolve({ done: false, value });
      return Promise.resolve();
    }
    if (this.queue.size >= MAX_WAITING_SENDS) {
      return Promise.reject(
        new RoamError(
          "resource_exhausted",
          `more than ${MAX_WAITING_SENDS} sends wait to be received; await each send`,
        ),
      );
    }
    return new Promise((resolve, reject) => this.queue.push({ value, resolve, reject }));
  }

  close(): void {
    if (this.mode === "sending") this.wireTx!.close();
    if (this.mode !== "local" || this.txClosed) return;
    this.txClosed = true;
    // Items already queued stay receivable; receives waiting now see the end.
    this.endWaiting();
  }

  get txIsClosed(): boolean {
    if (this.mode === "sending") return this.rxCancelled || this.wireTx!.closed;
    if (this.mode === "receiving") return true;
    return this.txClosed || this.rxCancelled;
  }

  next(): Promise<IteratorResult<T, undefined>> {
    if (this.mode === "receiving") return this.wireRx!.next();
    if (this.mode === "sending") return Promise.reject(new RoamError("channel_closed", HANDED_RX));
    const q = this.queue.shift();
    if (q !== undefined) {
      q.resolve();
      return Promise.resolve({ done: false, value: q.value });
    }
    if (this.txClosed || this.rxCancelled) return Promise.resolve({ done: true, value: undefined });
    if (this.waiting.size >= MAX_WAITING_SENDS) {
      return Promise.reject(new RoamError("resource_exhausted", "too many concurrent receives"));
    }
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }

  cancel(): void {
    if (this.mode === "receiving") this.wireRx!.cancel();
    if (this.mode !== "local" || this.rxCancelled) return;
    this.rxCancelled = true;
    const reset = new RoamError("channel_reset", "the Rx was cancelled");
    for (let q = this.queue.shift(); q !== undefined; q = this.queue.shift()) q.reject(reset);
    this.endWaiting();
  }

  /** The caller passed `tx`: the handler sends on `end`, and `rx` reads it. */
  bindReceiving(end: ChannelReceiver, codec: Codec<T>): void {
    this.mode = "receiving";
    const rx = new ReceiverRx(end, codec);
    this.wireRx = rx;
    const refused = new RoamError("channel_closed", HANDED_TX);
    for (let q = this.queue.shift(); q !== undefined; q = this.queue.shift()) q.reject(refused);
    // Not bound yet: the receiver resets the channel as soon as the call binds it.
    if (this.rxCancelled) end.cancel();
    for (let w = this.waiting.shift(); w !== undefined; w = this.waiting.shift()) {
      rx.next().then(w.resolve, w.reject);
    }
  }

  /** The caller passed `rx`: `tx` sends on `end`, after what it queued before. */
  bindSending(end: ChannelSender, codec: Codec<T>): void {
    this.mode = "sending";
    const tx = new SenderTx(end, codec);
    this.wireTx = tx;
    const refused = new RoamError("channel_closed", HANDED_RX);
    for (let w = this.waiting.shift(); w !== undefined; w = this.waiting.shift()) w.reject(refused);
    for (let q = this.queue.shift(); q !== undefined; q = this.queue.shift()) {
      tx.send(q.value).then(q.resolve, q.reject);
    }
    if (this.txClosed || this.rxCancelled) tx.close();
  }

  private endWaiting(): void {
    for (let w = this.waiting.shift(); w !== undefined; w = this.waiting.shift()) {
      w.resolve({ done: true, value: undefined });
    }
  }
}

class PairTx<T> implements Tx<T> {
  readonly pair: Pair<T>;
  constructor(pair: Pair<T>) {
    this.pair = pair;
  }
  send(value: T): Promise<void> {
    return this.pair.send(value);
  }
  close(): void {
    this.pair.close();
  }
  get closed(): boolean {
    return this.pair.txIsClosed;
  }
}

class PairRx<T> implements Rx<T> {
  readonly pair: Pair<T>;
  constructor(pair: Pair<T>) {
    this.pair = pair;
  }
  async recv(): Promise<T | undefined> {
    const r = await this.pair.next();
    return r.done === true ? undefined : r.value;
  }
  cancel(): void {
    this.pair.cancel();
  }
  [Symbol.asyncIterator](): AsyncIterator<T, undefined> {
    return iterate(this.pair);
  }
}

/**
 * A linked `[tx, rx]` pair for one channel argument of one call (see the module doc for
 * which end to pass). Sends made before the call wait (at most {@link MAX_WAITING_SENDS} of
 * them) and flow once it starts. Not handed to any call, the pair is an in-memory channel.
 *
 * @example
 * ```ts
 * const [tx, rx] = channel<Event>();
 * const done = client.watch(filter, tx); // Tx<Event> parameter: the handler sends
 * for await (const e of rx) show(e);
 * await done;
 * ```
 */
export function channel<T>(): [Tx<T>, Rx<T>] {
  const pair = new Pair<T>();
  return [new PairTx(pair), new PairRx(pair)];
}

/** `@internal` One channel argument of a call being made, after its checks passed. */
export interface BoundChannel {
  /** The untyped end the call binds. */
  readonly end: ChannelEnd;
  /**
   * Starts moving items, once the call has bound `end`. `sourceFailed` is told when a
   * caller's iterable throws (or yields an item that cannot be encoded).
   */
  start(sourceFailed: (e: unknown) => void): void;
  /** The call ended: stop pulling from a caller's iterable. */
  stop(): void;
}

/** `@internal` Binds a checked argument with its item codec. */
export type ChannelBinder = (item: Codec<unknown>) => BoundChannel;

function isObject(v: unknown): v is Record<PropertyKey, unknown> {
  return (typeof v === "object" && v !== null) || typeof v === "function";
}

function isTxLike(v: unknown): v is Tx<unknown> {
  return isObject(v) && typeof v["send"] === "function" && typeof v["close"] === "function";
}

function isAsyncIterable(v: unknown): v is AsyncIterable<unknown> {
  return isObject(v) && typeof v[Symbol.asyncIterator] === "function";
}

const nothing = (): void => {};

/**
 * `@internal` Checks channel argument `index` of kind `kind` without touching it, and says how
 * to bind it. Throws `TypeError` for a value that cannot be that argument, or for a pair
 * already handed to a call (or to this one twice: `seen` collects pairs across arguments).
 *
 * - `tx`: the `tx` of a {@link channel} pair (bound directly), or any other {@link Tx}, which
 *   receives the handler's items as they arrive (forwarding a handler's own Tx, say).
 * - `rx`: the `rx` of a {@link channel} pair, or any `AsyncIterable` (an `async function*`),
 *   pumped into the channel with each send awaiting credit and closed at its end.
 */
export function checkChannelArgument(
  kind: ChannelKind,
  value: unknown,
  index: number,
  seen: Set<object>,
): ChannelBinder {
  const claim = (pair: Pair<unknown>): void => {
    if (pair.mode !== "local" || seen.has(pair)) {
      throw new TypeError(`channel argument ${index}: a channel can be passed to one call only`);
    }
    seen.add(pair);
  };
  if (kind === "tx") {
    if (value instanceof PairTx) {
      const pair = value.pair as Pair<unknown>;
      claim(pair);
      return (item) => {
        const end = new ChannelReceiver();
        pair.bindReceiving(end, item);
        return { end, start: nothing, stop: nothing };
      };
    }
    if (value instanceof PairRx || !isTxLike(value)) {
      throw new TypeError(
        `channel argument ${index} is a Tx<T> (the handler sends): pass the tx of channel(), or a Tx`,
      );
    }
    if (seen.has(value)) throw new TypeError(`channel argument ${index} is passed twice`);
    seen.add(value);
    const target = value;
    return (item) => {
      const end = new ChannelReceiver();
      const rx = new ReceiverRx(end, item);
      return { end, start: () => void forward(rx, target), stop: nothing };
    };
  }
  if (value instanceof PairRx) {
    const pair = value.pair as Pair<unknown>;
    claim(pair);
    return (item) => {
      const end = new ChannelSender();
      pair.bindSending(end, item);
      return { end, start: nothing, stop: nothing };
    };
  }
  if (value instanceof PairTx || !isAsyncIterable(value)) {
    throw new TypeError(
      `channel argument ${index} is an Rx<T> (the caller sends): pass the rx of channel(), or an AsyncIterable`,
    );
  }
  if (seen.has(value)) throw new TypeError(`channel argument ${index} is passed twice`);
  seen.add(value);
  const source = value;
  return (item) => {
    const end = new ChannelSender();
    const tx = new SenderTx(end, item);
    let stop = nothing;
    return {
      end,
      start: (sourceFailed) => {
        stop = pump(source, tx, sourceFailed);
      },
      stop: () => stop(),
    };
  };
}

/** Hands every item of `rx` to `target`, then closes it; a refused send resets `rx`. */
async function forward<T>(rx: ReceiverRx<T>, target: Tx<T>): Promise<void> {
  try {
    for (;;) {
      let r: IteratorResult<T, undefined>;
      try {
        r = await rx.next();
      } catch {
        // The channel failed (the call or the session ended): the target sees an end, which
        // is all a Tx can say.
        target.close();
        return;
      }
      if (r.done === true) {
        target.close();
        return;
      }
      try {
        await target.send(r.value);
      } catch {
        rx.cancel();
        return;
      }
    }
  } catch {
    // A target whose close() throws is the application's bug; the channel is done either way.
  }
}

/**
 * Pulls `source` into `tx` until it ends (then closes `tx`), `tx` refuses an item (the channel
 * ended: stop pulling), or the returned stop is called (the call ended). A throw from the
 * source, or an item that cannot be encoded, goes to `sourceFailed`. Pulling stops with the
 * iterator's `return()`, so an `async function*` runs its `finally`.
 */
function pump<T>(
  source: AsyncIterable<T>,
  tx: SenderTx<T>,
  sourceFailed: (e: unknown) => void,
): () => void {
  let iterator: AsyncIterator<T> | undefined;
  let stopped = false;
  /** The iterator ended, threw, or was told to return: never call it again. */
  let finished = false;
  const finish = (): void => {
    if (finished || iterator === undefined) return;
    finished = true;
    try {
      // Queued behind a pending next() for a generator; its outcome is the source's business.
      iterator.return?.().then(nothing, nothing);
    } catch {
      // A throwing return() changes nothing: we stop pulling all the same.
    }
  };
  const failed = (e: unknown): void => {
    if (stopped) return;
    try {
      sourceFailed(e);
    } catch {
      // The caller's reaction failing must not leave the pump running.
    }
  };
  const run = async (): Promise<void> => {
    let it: AsyncIterator<T>;
    try {
      it = source[Symbol.asyncIterator]();
    } catch (e) {
      finished = true;
      failed(e);
      return;
    }
    iterator = it;
    for (;;) {
      let r: IteratorResult<T>;
      try {
        r = await it.next();
      } catch (e) {
        finished = true;
        failed(e);
        return;
      }
      if (r.done === true) {
        finished = true;
        tx.close();
        return;
      }
      if (stopped) {
        finish();
        return;
      }
      try {
        await tx.send(r.value);
      } catch (e) {
        if (RoamError.is(e) && e.code === "invalid_argument") failed(e);
        finish();
        return;
      }
      if (stopped) {
        finish();
        return;
      }
    }
  };
  run().catch(nothing);
  return () => {
    stopped = true;
    finish();
  };
}
