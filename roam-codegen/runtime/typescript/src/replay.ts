/**
 * Resumption's bookkeeping, as in `roam-proto/src/session/replay.rs`: the session frames the
 * peer has not acknowledged (the replay buffer), the acknowledgements this side owes the peer,
 * and the resume secret. Owns sequence arithmetic and the secret's derivations; knows nothing
 * about phases, timers or links (the session decides when to ack, detach and resume). See
 * docs/protocol.md §8.
 *
 * Sequence numbers are `number`s here (a session would have to send 2^53 messages to outgrow
 * one); what arrives on the wire as a `u64` is compared as a `bigint` first.
 *
 * @module
 */

import { Fifo } from "./fifo.js";
import { resumeProof, rotateSecret } from "./resume-crypto.js";

/** Why an acknowledgement (an `Ack`, or a resume answer's `lastReceived`) cannot be right. */
export type AckError =
  /** Fewer frames than an earlier acknowledgement: they are gone, so they cannot be replayed. */
  | "backwards"
  /** Frames never sent. */
  | "ahead";

/**
 * Frames sent (or queued) and not yet acknowledged, oldest first, with the numbering they were
 * sent under: the front frame is number `acked + 1`.
 */
export class ReplayBuffer {
  private readonly frames = new Fifo<Uint8Array>();
  private bytesNow = 0;
  /** Frames the peer has acknowledged (the front frame's number minus one). */
  private acked: number;
  /** Senders of channel items and new requests wait while `bytes` is at or over this. */
  private readonly bound: number;
  /** Whether a sender was told to wait since room was last reported. */
  private waited = false;

  constructor(bound: number, alreadySent: number) {
    this.bound = bound;
    this.acked = alreadySent;
  }

  /** Keeps a frame just numbered `acked + length + 1`. */
  push(frame: Uint8Array): void {
    this.bytesNow += frame.length;
    this.frames.push(frame);
  }

  /**
   * Drops the frames up to number `received`. `true` when that made room for senders that were
   * told to wait, `false` when it did not, or why the acknowledgement is wrong.
   */
  ack(received: bigint): boolean | AckError {
    const sent = this.acked + this.frames.size;
    if (received < BigInt(this.acked)) return "backwards";
    if (received > BigInt(sent)) return "ahead";
    const upTo = Number(received);
    for (; this.acked < upTo; this.acked++) {
      const frame = this.frames.shift();
      if (frame !== undefined) this.bytesNow -= frame.length;
    }
    const room = this.waited && !this.isFull;
    if (room) this.waited = false;
    return room;
  }

  /** Whether senders must wait for acknowledgements (reported as room once they free some). */
  get isFull(): boolean {
    return this.bytesNow >= this.bound;
  }

  /** Records that a sender was told to wait. */
  wait(): void {
    this.waited = true;
  }

  /** The frames after the last acknowledged one, in order: what a resumed peer needs again. */
  unacked(): Iterable<Uint8Array> {
    return this.frames;
  }

  /** Bytes kept. */
  get bytes(): number {
    return this.bytesNow;
  }

  /** Frames kept. */
  get length(): number {
    return this.frames.size;
  }
}

/** What {@link AckDebt.received} asks of the session. */
export type AckDue =
  /** Send an `Ack` now. */
  | "now"
  /** Arm the ack timer. */
  | "later"
  /** The timer is armed already. */
  | "armed";

/**
 * Acknowledgements owed to the peer: an `Ack` goes out once `every` messages or `maxBytes`
 * bytes arrived since the last one, or when the ack timer (armed at the first message after an
 * ack) fires, whichever comes first.
 */
export class AckDebt {
  private messages = 0;
  private bytes = 0;
  private readonly every: number;
  private readonly maxBytes: number;

  constructor(every: number, maxBytes: number) {
    this.every = Math.max(1, every);
    this.maxBytes = Math.max(1, maxBytes);
  }

  /** One more session message of `len` bytes was received and handled. */
  received(len: number): AckDue {
    this.messages++;
    this.bytes += len;
    if (this.messages >= this.every || this.bytes >= this.maxBytes) return "now";
    return this.messages === 1 ? "later" : "armed";
  }

  /** Whether anything is owed. */
  get owed(): boolean {
    return this.messages > 0;
  }

  /** An acknowledgement of everything went out (an `Ack`, or a resume handshake). */
  paid(): void {
    this.messages = 0;
    this.bytes = 0;
  }
}

/**
 * An initiator's ownership of a resumable session: the acceptor's key, the current secret
 * (granted once in the acceptor's `Hello`, rotated by every resume), the nonce of the resume in
 * flight, and the acknowledgements owed. (The acceptor's side of Rust's `Ownership`, which
 * verifies proofs and remembers used nonces, has no counterpart: a TypeScript acceptor does
 * not resume sessions.)
 */
export class Ownership {
  /** The session key, named in `Resume`. */
  readonly key: Uint8Array;
  private secret: Uint8Array;
  /** The nonce of the resume in flight. */
  resuming: Uint8Array | undefined;
  readonly debt: AckDebt;

  constructor(key: Uint8Array, secret: Uint8Array, debt: AckDebt) {
    this.key = key.slice();
    this.secret = secret.slice();
    this.debt = debt;
  }

  /** The proof for a resume from `lastReceived` with `nonce`. */
  proof(lastReceived: number, nonce: Uint8Array): Uint8Array {
    return resumeProof(this.secret, this.key, BigInt(lastReceived), nonce);
  }

  /** The acceptor accepted the resume made with `ours`, answering with `theirs`. */
  rotate(ours: Uint8Array, theirs: Uint8Array): void {
    this.secret = rotateSecret(this.secret, ours, theirs);
  }
}
