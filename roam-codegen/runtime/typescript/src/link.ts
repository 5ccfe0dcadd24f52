/**
 * A link: whatever carries whole frame bodies between two peers (a WebSocket, a TCP socket
 * with length prefixes, an in-memory pipe). The driver (`driver.ts`) runs a session over any
 * {@link Link}; transports live in their own modules (`transport-ws.ts`, `transport-tcp.ts`,
 * `transport-tls.ts`) so that a browser bundle pulls in only the one it uses.
 *
 * The interface is callback-based rather than an async iterator on purpose: the driver must
 * route the session's events after every frame, before the next one (a request's channel ends
 * must exist before an item on them arrives), which a synchronous callback gives for free.
 *
 * @module
 */

import type { ProtocolViolation } from "./errors.js";

/** Why a link stopped delivering frames. */
export interface LinkClosed {
  /** What happened, for logs and `transport` session errors. */
  readonly detail: string;
  /**
   * Set when the peer broke a link-level rule (a frame over the limit, a stream cut inside a
   * frame, a text WebSocket message): the session then says `Goodbye` naming it.
   */
  readonly violation?: ProtocolViolation | undefined;
}

/** Where a link delivers what it receives; set once with {@link Link.start}. */
export interface LinkReceiver {
  /** One whole frame body (a view the receiver may keep). */
  frame(body: Uint8Array): void;
  /** The link ended; no frame follows. Called at most once. */
  closed(why: LinkClosed): void;
}

/** A bidirectional carrier of frame bodies. */
export interface Link {
  /**
   * Starts delivering to `receiver`. Frames that arrived before are delivered first; a link
   * keeps only a few of them (a well-behaved peer sends only its `Hello` before hearing ours).
   */
  start(receiver: LinkReceiver): void;
  /** Queues one frame body for the peer. Never throws; a failed link reports `closed`. */
  send(frame: Uint8Array): void;
  /**
   * Bytes handed to {@link Link.send} and not yet written out, so the driver can bound the
   * backlog of a peer that does not read.
   */
  readonly bufferedAmount: number;
  /**
   * Largest frame body accepted from the peer; a larger one is a `frame-too-large` violation
   * reported through `closed`. The driver lowers it to the effective limit after the
   * handshake.
   */
  maxFrameSize: number;
  /** Writes what is queued, then ends the link. `closed` follows. Idempotent. */
  close(): void;
}

/** Most frames a link keeps for a receiver that has not started yet. */
export const MAX_EARLY_FRAMES = 64;

/**
 * The part every link shares: frames and the end are held until {@link Link.start}, then
 * handed on; `closed` is reported once. Transports feed it from their sockets.
 */
export class LinkInbox {
  private receiver: LinkReceiver | undefined;
  private early: Uint8Array[] = [];
  private ended: LinkClosed | undefined;
  private reported = false;

  /** Whether the link has ended (reported or not). */
  get isEnded(): boolean {
    return this.ended !== undefined;
  }

  /** Starts delivering to `receiver`; what arrived before goes first. */
  start(receiver: LinkReceiver): void {
    if (this.receiver !== undefined) return;
    this.receiver = receiver;
    const early = this.early;
    this.early = [];
    for (const f of early) {
      if (this.reported) return;
      receiver.frame(f);
    }
    if (this.ended !== undefined) this.report();
  }

  /** A frame from the peer. Returns false once nothing more is taken. */
  frame(body: Uint8Array): boolean {
    if (this.ended !== undefined) return false;
    if (this.receiver !== undefined) {
      this.receiver.frame(body);
      return true;
    }
    if (this.early.length >= MAX_EARLY_FRAMES) {
      this.end({
        detail: `the peer sent more than ${MAX_EARLY_FRAMES} frames before the session started`,
      });
      return false;
    }
    this.early.push(body);
    return true;
  }

  /** The link ended (the first reason wins). */
  end(why: LinkClosed): void {
    if (this.ended !== undefined) return;
    this.ended = why;
    if (this.receiver !== undefined) this.report();
  }

  private report(): void {
    if (this.reported || this.ended === undefined || this.receiver === undefined) return;
    this.reported = true;
    this.receiver.closed(this.ended);
  }
}

/** One end of {@link linkPair}. */
class MemoryLink implements Link {
  readonly inbox = new LinkInbox();
  peer: MemoryLink | undefined;
  maxFrameSize = Number.MAX_SAFE_INTEGER;
  private closing = false;

  get bufferedAmount(): number {
    return 0;
  }

  start(receiver: LinkReceiver): void {
    this.inbox.start(receiver);
  }

  send(frame: Uint8Array): void {
    const peer = this.peer;
    if (this.closing || peer === undefined) return;
    // Delivered on a later microtask, as a socket would: never inside the sender's call.
    queueMicrotask(() => peer.receive(frame));
  }

  private receive(frame: Uint8Array): void {
    if (frame.length > this.maxFrameSize) {
      this.inbox.end({
        detail: "frame too large",
        violation: {
          rule: "frame-too-large",
          detail: `frame of ${frame.length} bytes exceeds the maximum of ${this.maxFrameSize}`,
        },
      });
      return;
    }
    this.inbox.frame(frame);
  }

  close(): void {
    if (this.closing) return;
    this.closing = true;
    const peer = this.peer;
    // After the frames already queued, like a socket's FIN.
    queueMicrotask(() => {
      this.inbox.end({ detail: "the link was closed locally" });
      peer?.inbox.end({ detail: "the peer closed the connection" });
    });
  }
}

/**
 * Two links connected to each other in memory: what one sends, the other receives, in order,
 * on a later microtask. For tests and for running a client and a server side by side.
 */
export function linkPair(): [Link, Link] {
  const a = new MemoryLink();
  const b = new MemoryLink();
  a.peer = b;
  b.peer = a;
  return [a, b];
}
