/**
 * Channel bookkeeping for one connection (`roam-proto/src/session/channels.rs`): which channels
 * are open in which direction and how much credit each has. Pure data; the session turns its
 * verdicts into messages, events and violations.
 *
 * Credit rules (docs/protocol.md §6):
 * - A receiver grants credit; a sender may have at most that many `Data` items unacknowledged.
 *   The effective `initial_credit` is granted implicitly when a channel opens.
 * - `Data` beyond the credit, on a channel the peer itself closed, or on one never opened, is a
 *   violation. `Data` on a channel *we* reset is dropped: it crossed our `Reset` on the wire.
 *   The sender answers `Reset` with `Close`, which ends the channel.
 * - `Credit` and `Reset` for a channel we no longer know are ignored: they crossed our `Close`.
 *
 * @module
 */

import { violation } from "./errors.js";
import type { ProtocolViolation } from "./errors.js";
import { IdAllocator, ownsId, peerRole } from "./ids.js";
import type { Role } from "./ids.js";

/** Which way items flow on a channel, seen from this side: we send, or we receive. */
export type Direction = "outgoing" | "incoming";

/**
 * Most channels one connection keeps at once, open or waiting for the peer's `Close` after our
 * `Reset`. Far above real use; it exists so a peer cannot grow the table without bound (for
 * example with refused requests listing thousands of channels it never closes).
 */
export const MAX_CHANNELS = 16 * 1024;

/** Why an item could not be sent on a channel. */
export type ChannelSendError =
  /** Not open for sending: closed, reset, never opened, or its request is not sent yet. */
  | { readonly kind: "not-open" }
  /** No credit left: wait for a `channel-credit` event. */
  | { readonly kind: "no-credit" }
  /**
   * Resumable session: the replay buffer holds its bound of unacknowledged bytes; wait for a
   * `replay-room` event (the peer's acknowledgements). Nothing was spent.
   */
  | { readonly kind: "replay-full" }
  /** The encoded `Data` message would not fit in one frame. */
  | { readonly kind: "too-large"; readonly len: number; readonly max: number };

/** What opening one of our queued channels means. */
export type Opened =
  | { readonly kind: "sending"; readonly credit: number }
  | { readonly kind: "receiving" }
  /** Our sender finished before the request went out: send `Close` right after it. */
  | { readonly kind: "closed-before-opening" }
  /** Our receiver gave up before the request went out: send `Reset` right after it. */
  | { readonly kind: "reset-before-opening" };

/** How an abandoned channel is ended: `close` if we sent on it, `reset` if we received. */
export type Abandon = "close" | "reset";

// Protocol states of a table entry.
const QUEUED = 0; // allocated for one of our requests not sent yet
const SENDING = 1; // we send; `credit` items may still go out
const RECEIVING = 2; // we receive; the peer may still send `credit` items
const RESET_BY_US = 3; // we received, sent `Reset`, and wait for the peer's `Close`
type State = typeof QUEUED | typeof SENDING | typeof RECEIVING | typeof RESET_BY_US;

/**
 * One channel: its protocol state and the application's end of it, which leaves the entry as
 * soon as the application is done even while the protocol still waits for the peer.
 */
interface Entry<Ch> {
  state: State;
  /** For a queued channel: which way it will flow once open. */
  direction: Direction;
  /**
   * For a queued channel: our end finished before the request went out (our sender: `Close`
   * follows the request; our receiver: `Reset` follows it).
   */
  closed: boolean;
  credit: number;
  hasEnd: boolean;
  end: Ch | undefined;
}

/** Credit is a u64 in Rust; past 2^53 it saturates here, far beyond any real grant. */
function addCredit(a: number, b: number): number {
  return Math.min(a + b, Number.MAX_SAFE_INTEGER);
}

/** The channel table of one connection; `Ch` is what the application keeps per channel. */
export class Channels<Ch> {
  private readonly table = new Map<bigint, Entry<Ch>>();
  private readonly ids: IdAllocator;
  private readonly peer: Role;

  /** An empty table for a side of `role`. */
  constructor(role: Role) {
    this.ids = new IdAllocator(role);
    this.peer = peerRole(role);
  }

  /** Channels in the table (open, queued, or reset by us and awaiting `Close`). */
  get size(): number {
    return this.table.size;
  }

  /** Allocates a channel for a request of ours that is not sent yet. */
  allocate(direction: Direction): bigint {
    const id = this.ids.nextId();
    this.insert(id, QUEUED, direction, 0);
    return id;
  }

  private insert(id: bigint, state: State, direction: Direction, credit: number): void {
    this.table.set(id, { state, direction, closed: false, credit, hasEnd: false, end: undefined });
  }

  /** Keeps `end` with channel `id`; false if the channel is gone already (nothing is kept). */
  attach(id: bigint, end: Ch): boolean {
    const e = this.table.get(id);
    if (e === undefined) return false;
    e.end = end;
    e.hasEnd = true;
    return true;
  }

  /** Whether channel `id` is in the table (in any state). */
  has(id: bigint): boolean {
    return this.table.has(id);
  }

  /** The application's end of channel `id`, if it still has one. */
  end(id: bigint): Ch | undefined {
    return this.table.get(id)?.end;
  }

  /** Takes the application's end of channel `id` out (the protocol state stays). */
  detach(id: bigint): Ch | undefined {
    const e = this.table.get(id);
    if (e === undefined || !e.hasEnd) return undefined;
    const end = e.end;
    e.end = undefined;
    e.hasEnd = false;
    return end;
  }

  private remove(id: bigint): Ch | undefined {
    const e = this.table.get(id);
    this.table.delete(id);
    return e?.end;
  }

  /** Our request carrying `id` was sent: the channel opens with `initialCredit`. */
  openQueued(id: bigint, initialCredit: number): Opened | undefined {
    const e = this.table.get(id);
    if (e === undefined || e.state !== QUEUED) return undefined;
    if (e.closed && e.direction === "outgoing") {
      this.table.delete(id);
      return { kind: "closed-before-opening" };
    }
    if (e.closed) {
      // Our receiver is gone: the peer's items in flight are dropped until its `Close`.
      e.state = RESET_BY_US;
      return { kind: "reset-before-opening" };
    }
    e.credit = initialCredit;
    if (e.direction === "outgoing") {
      e.state = SENDING;
      return { kind: "sending", credit: initialCredit };
    }
    e.state = RECEIVING;
    return { kind: "receiving" };
  }

  /** Our request carrying `id` was dropped before it was sent; hands back the channel's end. */
  forgetQueued(id: bigint): Ch | undefined {
    const e = this.table.get(id);
    if (e === undefined || e.state !== QUEUED) return undefined;
    this.table.delete(id);
    return e.end;
  }

  /**
   * The peer listed `id` in a request, flowing `direction` as seen from this side. Returns the
   * credit our sender may use at once (0 for a channel we receive on), or the violation.
   */
  registerRemote(
    id: bigint,
    direction: Direction,
    initialCredit: number,
  ): number | ProtocolViolation {
    if (!ownsId(this.peer, id)) return violation.channelWrongParity(id);
    if (this.table.has(id)) return violation.duplicateChannelId(id);
    if (this.table.size >= MAX_CHANNELS) return violation.tooManyChannels(MAX_CHANNELS);
    if (direction === "outgoing") {
      this.insert(id, SENDING, direction, initialCredit);
      return initialCredit;
    }
    this.insert(id, RECEIVING, direction, initialCredit);
    return 0;
  }

  /**
   * Ends a channel nobody will use (its call failed): closes it if we send, resets it if we
   * receive. Returns the message to send, if any, and the channel's end.
   */
  abandon(id: bigint): [Abandon | undefined, Ch | undefined] {
    const end = this.detach(id);
    if (this.close(id)) return ["close", end];
    if (this.reset(id)) return ["reset", end];
    return [undefined, this.forgetQueued(id) ?? end];
  }

  /** Checks an incoming `Data`: deliver it, drop it, or end the session. */
  onData(id: bigint): "deliver" | "drop" | ProtocolViolation {
    const e = this.table.get(id);
    if (e === undefined) return violation.unknownChannel(id);
    switch (e.state) {
      case RECEIVING:
        if (e.credit > 0) {
          e.credit--;
          return "deliver";
        }
        return violation.creditExceeded(id);
      case RESET_BY_US:
        return "drop";
      default:
        return violation.dataOnWrongChannel(id);
    }
  }

  /**
   * Checks an incoming `Close` (the peer's sender is done): whether a local receiver must be
   * told the stream ended, with its end.
   */
  onClose(id: bigint): { notify: boolean; end: Ch | undefined } | ProtocolViolation {
    const e = this.table.get(id);
    // A Close for a channel we no longer know crossed something of ours: harmless.
    if (e === undefined) return { notify: false, end: undefined };
    switch (e.state) {
      case RECEIVING:
        return { notify: true, end: this.remove(id) };
      case RESET_BY_US:
        return { notify: false, end: this.remove(id) };
      default:
        return violation.dataOnWrongChannel(id);
    }
  }

  /** Checks an incoming `Reset`: a sender that must stop comes back with its end. */
  onReset(id: bigint): { stop: boolean; end: Ch | undefined } {
    const e = this.table.get(id);
    if (e !== undefined && e.state === SENDING) return { stop: true, end: this.remove(id) };
    return { stop: false, end: undefined };
  }

  /** Checks an incoming `Credit`; returns the credit added to our sender (0 if ignored). */
  onCredit(id: bigint, n: number): number {
    const e = this.table.get(id);
    if (e === undefined || e.state !== SENDING) return 0;
    e.credit = addCredit(e.credit, n);
    return n;
  }

  /** Spends one credit for a `Data` of ours; `undefined` if it may be sent. */
  sendData(id: bigint): ChannelSendError | undefined {
    const e = this.table.get(id);
    if (e === undefined || e.state !== SENDING) return { kind: "not-open" };
    if (e.credit <= 0) return { kind: "no-credit" };
    e.credit--;
    return undefined;
  }

  /** Credit our sender has left on `id` (0 if it is not sending). */
  credit(id: bigint): number {
    const e = this.table.get(id);
    return e !== undefined && e.state === SENDING ? e.credit : 0;
  }

  /** Our sender is done. Returns whether a `Close` must be sent now. */
  close(id: bigint): boolean {
    const e = this.table.get(id);
    if (e === undefined) return false;
    if (e.state === SENDING) {
      this.table.delete(id);
      return true;
    }
    if (e.state === QUEUED && e.direction === "outgoing") {
      // The request is not sent yet: the Close follows it.
      e.closed = true;
    }
    return false;
  }

  /** Our receiver gave up. Returns whether a `Reset` must be sent now. */
  reset(id: bigint): boolean {
    const e = this.table.get(id);
    if (e === undefined) return false;
    if (e.state === QUEUED && e.direction === "incoming") {
      // The request is not sent yet: send `Reset` right after it, or the peer's sender would
      // wait for credit nobody grants.
      e.closed = true;
      return false;
    }
    if (e.state !== RECEIVING) return false;
    e.state = RESET_BY_US;
    return true;
  }

  /** Grants `n` more items to the peer's sender. Returns whether a `Credit` must be sent. */
  grant(id: bigint, n: number): boolean {
    const e = this.table.get(id);
    if (e === undefined || e.state !== RECEIVING) return false;
    e.credit = addCredit(e.credit, n);
    return true;
  }

  /** Drops every channel (the session ended), handing back the ends still attached. */
  drainEnds(): Ch[] {
    const ends: Ch[] = [];
    for (const e of this.table.values()) if (e.hasEnd) ends.push(e.end as Ch);
    this.table.clear();
    return ends;
  }
}
