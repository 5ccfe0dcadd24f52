/**
 * The state of one connection of a session (`roam-proto/src/session/conn.rs`): the calls in
 * flight both ways, the calls waiting to be sent, its channels and its schema table. Each call
 * and each channel is one entry in one table holding the protocol state and what the
 * application keeps with it, handed back when the entry ends. Plain data; `session.ts` drives
 * it. Only the root connection (0) exists in protocol version 3.
 *
 * @module
 */

import { Channels } from "./channels.js";
import type { Direction } from "./channels.js";
import type { Role } from "./ids.js";
import { SchemaTable } from "./schemas.js";
import type { Deadline } from "./timers.js";
import type { Metadata } from "./wire.js";

/** A call of ours not sent yet: what the request will carry. */
export interface WaitingCall {
  readonly methodId: bigint;
  readonly metadata: Metadata;
  readonly payload: Uint8Array;
  /** Per channel argument, in order: the direction seen from this side (the caller). */
  readonly directions: readonly Direction[];
  /** The channel IDs allocated for them, in the same order. */
  readonly channels: readonly bigint[];
  readonly argsSchema: Uint8Array | undefined;
  readonly channelsSchema: Uint8Array | undefined;
}

/** One of our calls. */
export interface Outgoing<Call> {
  readonly methodId: bigint;
  deadline: Deadline | undefined;
  /** Set while the call waits for the handshake or a slot; `undefined` once sent. */
  waiting: WaitingCall | undefined;
  /**
   * Whether the application still waits for this call: false once given up (cancelled, or its
   * deadline passed), so its late `Response` is dropped.
   */
  live: boolean;
  attach: Call | undefined;
}

/** One of the peer's calls we are serving. */
export interface Incoming<Serve> {
  readonly methodId: bigint;
  deadline: Deadline | undefined;
  hasServe: boolean;
  serve: Serve | undefined;
}

/** A call of ours given up before its answer. */
export interface GivenUp<Call, Ch> {
  readonly call: Call;
  /** Whether it had been sent (then the peer must get a `Cancel`). */
  readonly sent: boolean;
  /** The ends of its channels if it was never sent (they never opened). */
  readonly channels: Ch[];
  readonly deadline: Deadline | undefined;
}

/** One connection's tables. */
export class Conn<Call, Serve, Ch> {
  /** Our calls, waiting or sent, by request ID. */
  readonly outgoing = new Map<bigint, Outgoing<Call>>();
  /** Our calls sent and not answered (the peer's limit counts these). */
  sent = 0;
  /** IDs of the waiting calls in `outgoing`, in call order. */
  waiting: bigint[] = [];
  readonly incoming = new Map<bigint, Incoming<Serve>>();
  readonly channels: Channels<Ch>;
  readonly schemas = new SchemaTable();

  constructor(role: Role) {
    this.channels = new Channels(role);
  }

  /**
   * Gives up on call `id`: a waiting call leaves the table with its queued channels; a sent one
   * stays (without its attachment) until its late answer arrives. `undefined` if it is gone or
   * was given up already.
   */
  giveUp(id: bigint): GivenUp<Call, Ch> | undefined {
    const entry = this.outgoing.get(id);
    if (entry === undefined || !entry.live) return undefined;
    const call = entry.attach as Call;
    entry.live = false;
    entry.attach = undefined;
    const deadline = entry.deadline;
    entry.deadline = undefined;
    const waiting = entry.waiting;
    if (waiting === undefined) return { call, sent: true, channels: [], deadline };
    this.outgoing.delete(id);
    const at = this.waiting.indexOf(id);
    if (at >= 0) this.waiting.splice(at, 1);
    const channels: Ch[] = [];
    for (const c of waiting.channels) {
      const end = this.channels.forgetQueued(c);
      if (end !== undefined) channels.push(end);
    }
    return { call, sent: false, channels, deadline };
  }

  /** Removes call `id` if it was sent, so it can be answered. */
  takeSent(id: bigint): Outgoing<Call> | undefined {
    const entry = this.outgoing.get(id);
    if (entry === undefined || entry.waiting !== undefined) return undefined;
    this.sent--;
    this.outgoing.delete(id);
    return entry;
  }
}
