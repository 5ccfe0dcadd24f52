/**
 * The application's ends of untyped channels: {@link ChannelSender} (items go to the peer,
 * `send` waits for credit) and {@link ChannelReceiver} (an `AsyncIterable` of items that
 * grants credit back as they are consumed, and resets the channel when the loop is left
 * early). Typed ends in generated code wrap these with an encoder or a decoder.
 *
 * An end is created unbound, passed to a call (or handed to a handler already bound), and
 * bound by the driver to a channel ID; what it does on the wire goes through a
 * {@link ChannelHost}, so this module knows nothing of sessions or links.
 *
 * @module
 */

import { RoamError } from "./call-error.js";
import type { ChannelSendError } from "./channels.js";
import { Fifo } from "./fifo.js";

/** What an end asks of the driver that bound it. */
export interface ChannelHost {
  /** Sends one item, spending a credit; `undefined` if it went out. */
  sendData(channel: bigint, payload: Uint8Array): ChannelSendError | undefined;
  /** Credit our sender has left on `channel`. */
  credit(channel: bigint): number;
  /** Our sender is done. */
  closeChannel(channel: bigint): void;
  /** Our receiver gives up. */
  resetChannel(channel: bigint): void;
  /** Lets the peer send `n` more items. */
  grantCredit(channel: bigint, n: number): void;
  /**
   * Calls `wake` once the session's replay buffer has room again, after {@link sendData}
   * answered `replay-full` (a resumable session whose peer has not acknowledged enough), or
   * when the session ends.
   */
  waitForRoom(wake: () => void): void;
}

/**
 * Most `send`s that may wait for credit at once on one sender. Every item waiting is held in
 * memory; past this the caller is told to await its sends instead of queueing without bound.
 */
export const MAX_WAITING_SENDS = 1024;

interface WaitingSend {
  readonly payload: Uint8Array;
  readonly resolve: () => void;
  readonly reject: (e: unknown) => void;
}

/** The sending end of a channel: items this side sends to the peer. */
export class ChannelSender {
  private host: ChannelHost | undefined;
  private id: bigint | undefined;
  private readonly waiting = new Fifo<WaitingSend>();
  private failure: RoamError | undefined;
  private closed = false;
  /** Waiting for the replay buffer to have room (the host will wake the sender). */
  private awaitingRoom = false;
  /** The item the replay buffer had no room for: it goes before everything in `waiting`. */
  private front: WaitingSend | undefined;

  /** The channel ID once bound to a call. */
  get channelId(): bigint | undefined {
    return this.id;
  }

  /**
   * Why the channel ended under this sender (the peer reset it, the call or the session
   * ended), once it has; every later `send` rejects with it.
   */
  get failedWith(): RoamError | undefined {
    return this.failure;
  }

  /**
   * Sends one item, resolving once it is handed to the session: at once while there is
   * credit, otherwise when the peer grants more (on a resumable session, also once the replay
   * buffer has room: the peer acknowledged what was sent). Rejects with a {@link RoamError}:
   * `channel_reset` when the peer's receiver stopped, `channel_closed` after
   * {@link ChannelSender.close}, `too_large` for an item over the frame limit,
   * `connection_lost` when the session ended.
   */
  send(payload: Uint8Array): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new RoamError("channel_closed", "the sender is closed"));
    if (this.waiting.size + (this.front === undefined ? 0 : 1) >= MAX_WAITING_SENDS) {
      return Promise.reject(
        new RoamError(
          "resource_exhausted",
          `more than ${MAX_WAITING_SENDS} sends wait for credit; await each send`,
        ),
      );
    }
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({ payload, resolve, reject });
      this.pump();
    });
  }

  /** Ends the channel: the peer's receiver sees the end after the items sent. Idempotent. */
  close(): void {
    if (this.closed || this.failure !== undefined) return;
    this.closed = true;
    // Items still waiting for credit would never go out after a Close.
    this.rejectWaiting(
      new RoamError("channel_closed", "the sender was closed before this item had credit"),
    );
    if (this.host !== undefined && this.id !== undefined) this.host.closeChannel(this.id);
  }

  /** @internal Binds the end to channel `id` of `host` (the driver does this). */
  bind(host: ChannelHost, id: bigint): void {
    if (this.host !== undefined) throw new Error("a channel end can be used in one call only");
    this.host = host;
    this.id = id;
    if (this.closed) host.closeChannel(id);
    else this.pump();
  }

  /** @internal Whether the end was bound already. */
  get isBound(): boolean {
    return this.host !== undefined;
  }

  /** @internal Credit arrived. */
  onCredit(): void {
    this.pump();
  }

  /** @internal The channel ended under the sender (reset, or the session ended). */
  fail(error: RoamError): void {
    if (this.failure !== undefined) return;
    this.failure = error;
    this.rejectWaiting(error);
  }

  private pump(): void {
    const host = this.host;
    const id = this.id;
    if (host === undefined || id === undefined || this.awaitingRoom) return;
    while (
      (this.front !== undefined || this.waiting.size > 0) &&
      this.failure === undefined &&
      host.credit(id) > 0
    ) {
      const w = this.front ?? this.waiting.shift()!;
      this.front = undefined;
      const refused = host.sendData(id, w.payload);
      if (refused?.kind === "replay-full") {
        // Failed meanwhile (the host settles the session as it sends): nothing goes out.
        if (this.failure !== undefined) return w.reject(this.failure);
        // Nothing was spent: the item stays first in line until acknowledgements make room.
        this.front = w;
        this.awaitingRoom = true;
        host.waitForRoom(() => {
          this.awaitingRoom = false;
          this.pump();
        });
        return;
      }
      if (refused === undefined) w.resolve();
      else if (refused.kind === "too-large") {
        w.reject(
          new RoamError(
            "too_large",
            `an item of ${refused.len} bytes exceeds the frame limit of ${refused.max}`,
          ),
        );
      } else {
        this.fail(new RoamError("channel_closed", "the channel is no longer open"));
        w.reject(this.failure);
      }
    }
  }

  private rejectWaiting(error: RoamError): void {
    const front = this.front;
    this.front = undefined;
    front?.reject(error);
    for (let w = this.waiting.shift(); w !== undefined; w = this.waiting.shift()) w.reject(error);
  }
}

interface WaitingNext {
  readonly resolve: (r: IteratorResult<Uint8Array, undefined>) => void;
  readonly reject: (e: unknown) => void;
}

/**
 * The receiving end of a channel: iterate it with `for await`. Credit goes back to the peer
 * every half window of consumed items (as Rust's `WireRx`), so at most the initial credit is
 * ever queued here. Leaving the loop early (`break`, `return`, a throw) resets the channel,
 * which tells the peer's sender to stop.
 */
export class ChannelReceiver implements AsyncIterable<Uint8Array> {
  private host: ChannelHost | undefined;
  private id: bigint | undefined;
  private readonly items = new Fifo<Uint8Array>();
  private readonly waiting = new Fifo<WaitingNext>();
  private window = 0;
  private grantEvery = 1;
  private consumed = 0;
  /** The peer's sender closed: once `items` is empty, iteration is done. */
  private ended = false;
  /** This side gave up (reset): iteration is done at once. */
  private stopped = false;
  private failure: RoamError | undefined;
  /**
   * @internal Set by the driver when the peer writes items with another type than ours: turns
   * an arriving item into our type's bytes, or throws (a {@link RoamError} to fail the
   * channel with). `undefined` hands items over as they are. Kept on the end itself so an
   * item costs no lookup; the driver may replace it after the first item.
   */
  itemReader: ((item: Uint8Array) => Uint8Array) | undefined = undefined;

  /** The channel ID once bound to a call. */
  get channelId(): bigint | undefined {
    return this.id;
  }

  /** Items received and not consumed yet (never more than the initial credit). */
  get buffered(): number {
    return this.items.size;
  }

  /** The items, in order. Only one loop should consume a receiver. */
  [Symbol.asyncIterator](): AsyncIterator<Uint8Array, undefined> {
    return {
      next: () => this.next(),
      return: () => {
        this.cancel();
        return Promise.resolve({ done: true, value: undefined });
      },
    };
  }

  /** The next item, or `done` after the sender closed. */
  next(): Promise<IteratorResult<Uint8Array, undefined>> {
    const item = this.take();
    if (item !== undefined) return Promise.resolve({ done: false, value: item });
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.ended || this.stopped) return Promise.resolve({ done: true, value: undefined });
    return new Promise((resolve, reject) => {
      // One waiter per pending `next`; a single loop has one at a time.
      if (this.waiting.size >= MAX_WAITING_SENDS) {
        reject(new RoamError("resource_exhausted", "too many concurrent next() calls"));
        return;
      }
      this.waiting.push({ resolve, reject });
    });
  }

  /** Stops receiving: the peer's sender is reset and buffered items are dropped. Idempotent. */
  cancel(): void {
    if (this.stopped || this.ended || this.failure !== undefined) return;
    this.stopped = true;
    this.items.clear();
    if (this.host !== undefined && this.id !== undefined) this.host.resetChannel(this.id);
    this.settleWaiting();
  }

  /** @internal Binds the end to channel `id` of `host` with the effective initial credit. */
  bind(host: ChannelHost, id: bigint, initialCredit: number): void {
    if (this.host !== undefined) throw new Error("a channel end can be used in one call only");
    this.host = host;
    this.id = id;
    this.window = initialCredit;
    // Half the window per grant keeps the sender busy without one Credit per item.
    this.grantEvery = Math.max(1, Math.floor(initialCredit / 2));
    if (this.stopped) host.resetChannel(id);
  }

  /** @internal Whether the end was bound already. */
  get isBound(): boolean {
    return this.host !== undefined;
  }

  /** @internal An item arrived (the session checked it against our credit). */
  push(item: Uint8Array): void {
    if (this.stopped || this.ended || this.failure !== undefined) return;
    const w = this.waiting.shift();
    if (w !== undefined) {
      this.account();
      w.resolve({ done: false, value: item });
      return;
    }
    // The session refuses data beyond the credit, so this bound holds; checked anyway so a
    // bug elsewhere cannot grow the queue.
    if (this.items.size >= Math.max(this.window, 1)) {
      this.fail(new RoamError("internal", "more items arrived than the credit allows"));
      if (this.host !== undefined && this.id !== undefined) this.host.resetChannel(this.id);
      return;
    }
    this.items.push(item);
  }

  /** @internal The peer's sender closed. */
  finish(): void {
    this.ended = true;
    this.settleWaiting();
  }

  /** @internal The channel failed (the session ended, or the call never started). */
  fail(error: RoamError): void {
    if (this.failure !== undefined || this.stopped || this.ended) return;
    this.failure = error;
    for (let w = this.waiting.shift(); w !== undefined; w = this.waiting.shift()) w.reject(error);
  }

  private take(): Uint8Array | undefined {
    const item = this.items.shift();
    if (item !== undefined) this.account();
    return item;
  }

  private account(): void {
    this.consumed++;
    if (this.consumed >= this.grantEvery && this.host !== undefined && this.id !== undefined) {
      const n = this.consumed;
      this.consumed = 0;
      this.host.grantCredit(this.id, n);
    }
  }

  private settleWaiting(): void {
    for (let w = this.waiting.shift(); w !== undefined; w = this.waiting.shift()) {
      w.resolve({ done: true, value: undefined });
    }
  }
}

/** One channel argument: a sender if this side sends, a receiver if it receives. */
export type ChannelEnd = ChannelSender | ChannelReceiver;
