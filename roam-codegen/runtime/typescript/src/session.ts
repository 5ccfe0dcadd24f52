/**
 * The session: roam's protocol state machine, free of I/O and of the clock, mirroring
 * `roam-proto/src/session/` (docs/protocol.md §4–§7).
 *
 * A {@link Session} owns the handshake, the phases of a session's life, keepalive, request-ID
 * parity, the calls in flight both ways with their deadlines, the peer's concurrency limit
 * (calls beyond it wait here), overload and drain answers, channel credit, schema
 * announcements and every protocol-violation check. It never touches sockets, timers or
 * clocks: time arrives as the `now` argument of every input (milliseconds on a monotonic
 * clock, e.g. `performance.now()`), and the driver carries out what the session asks for.
 * That makes every edge testable deterministically, and lets one implementation serve Node,
 * browsers and tests alike.
 *
 * Using a session:
 * - Inputs: {@link Session.handleFrame} (one frame body from the link),
 *   {@link Session.handleTimeout} (the time {@link Session.pollTimeout} named has come),
 *   {@link Session.handleLinkClosed}, {@link Session.handleFlushed}, {@link Session.handleOutput}.
 * - Commands: {@link Session.call}, {@link Session.cancel}, {@link Session.respond},
 *   {@link Session.sendData}, {@link Session.closeChannel}, {@link Session.resetChannel},
 *   {@link Session.grantCredit}, {@link Session.announceSchema}, {@link Session.startDrain},
 *   {@link Session.close}.
 * - Outputs, drained after every input or command: {@link Session.pollEvent} (acting on an
 *   event may queue more frames), then {@link Session.pollTransmit} (frame bodies to write, in
 *   order), then {@link Session.pollTimeout}.
 *
 * `now` must never go backwards between calls. Nothing the peer sends makes a method throw: bad
 * input ends the session with a `Goodbye` naming the rule. Methods throw only for the
 * application's own programming errors (a session key that is not 16 bytes, say).
 *
 * Phases: `handshaking` → `established` → (`draining` →) `closing` → `closed`. `closing`
 * means the session has ended for the application (every call failed, a `closed` event was
 * emitted) but its last frames (a `Goodbye`) are still being flushed; the driver reports the
 * flush with {@link Session.handleFlushed}, or the close-linger timer gives up on it.
 *
 * Resumption (docs/protocol.md §8, initiator side): with {@link SessionConfig.resumption} an
 * initiator offers replay; an acceptor's `Grant` makes the session resumable. Every session
 * message is numbered, kept until the peer acknowledges it, and acknowledged in turn with
 * `Ack`. A resumable session whose link is lost (closed, silent past the keepalive timeout,
 * stalled) is *detached* rather than ended (a `detached` event): commands go on, what they send
 * is kept, new requests wait unsent. {@link Session.resume} queues the resume `Hello` for a new
 * link; the acceptor's answer brings a `resumed` event and everything the peer missed is sent
 * again, in order. A refused resume, or none within {@link Resumption.graceMs}, ends it. An
 * acceptor here never grants replay (it answers an offer with `Off`, and a resume with
 * `Goodbye("resume-refused: …")`).
 *
 * Attachments: the application keeps a value of its own with each call it makes (`Call`), each
 * call it serves (`Serve`) and each channel end (`Channel`). The session stores it in the same
 * table entry as the protocol state and hands it back in the event that ends the entry, or in
 * {@link Session.takeReleased} when the whole session ends. `undefined` means "nothing
 * attached".
 *
 * @module
 */

import type { ChannelSendError, Direction } from "./channels.js";
import { Conn } from "./conn.js";
import type { Incoming, WaitingCall } from "./conn.js";
import {
  describeSessionError,
  formatDuration,
  goodbyeReason,
  parseRefusal,
  refusalRule,
  violation,
} from "./errors.js";
import type { ProtocolViolation, SessionError } from "./errors.js";
import { nthId, ownsId, peerRole } from "./ids.js";
import type { Role } from "./ids.js";
import { checkMetadataLimits } from "./metadata.js";
import { RemoteError, remote } from "./response.js";
import type { RemoteErrorCode } from "./response.js";
import type { PeerSchema, SchemaValidator } from "./schemas.js";
import { Deadlines, INCOMING, OUTGOING, Timer, TimerTable, timeAfter } from "./timers.js";
import type { Side, TimerId } from "./timers.js";
import { utf8Prefix } from "./bytes.js";
import { Fifo } from "./fifo.js";
import { AckDebt, Ownership, ReplayBuffer } from "./replay.js";
import {
  DEFAULT_LIMITS,
  PROTOCOL_VERSION,
  REPLAY_OFF,
  RESUME_NONCE_LEN,
  SESSION_KEY_LEN,
  decodeMessage,
  effectiveLimits,
  encodeMessage,
  helloVersion,
  messageClass,
} from "./wire.js";
import type {
  ChannelSpec,
  HelloMessage,
  Limits,
  Message,
  Metadata,
  RequestMessage,
  ResponseMessage,
  SchemaKind,
  SchemaMessage,
} from "./wire.js";

export type { Direction, ChannelSendError } from "./channels.js";
export {
  describeSessionError,
  goodbyeReason,
  parseRefusal,
  refusalRule,
  violation,
} from "./errors.js";
export type { ProtocolViolation, RefusedBy, SessionError, ViolationRule } from "./errors.js";
export { nthId, ownsId } from "./ids.js";
export { MAX_CHANNELS } from "./channels.js";
export type { Role } from "./ids.js";
export type { PeerSchema, SchemaValidator } from "./schemas.js";
export { MAX_REMOTE_SCHEMAS, MAX_SCHEMA_BYTES, MAX_SCHEMA_TABLE_BYTES } from "./schemas.js";

/** The root connection, open for the whole session (the only one in protocol version 3). */
export const ROOT = 0n;

/**
 * Most bytes a driver should let wait in {@link Session.pollTransmit} before it ends the
 * session with {@link Session.handleLinkClosed} and `violation.writeBacklog` (roam's driver
 * does the same). The session does not check it itself, as in Rust: only the driver knows how
 * much of the queue the link has taken.
 */
export const MAX_WRITE_BACKLOG = 64 * 1024 * 1024;

/**
 * Bytes a `Schema` message adds around the schema: tag, `conn` and `method_id` (varints of at
 * most 10 bytes), kind, and the length varint (at most 5).
 */
const SCHEMA_MESSAGE_OVERHEAD = 1 + 10 + 10 + 1 + 5;

/**
 * The smallest `max_frame_size` a side may announce (Rust's `Limits::MIN_FRAME_SIZE`): a
 * `Goodbye` cut to fit, a `Pong`, an `Ack` fit in it. A `Hello` announcing less is a
 * `handshake` violation.
 */
export const MIN_FRAME_SIZE = 64;

/** Bytes a `Goodbye` adds around its reason: the tag and the length varint (at most 5). */
const GOODBYE_OVERHEAD = 1 + 5;


/** Keepalive: a `Ping` every `intervalMs`; its `Pong` must come back within `timeoutMs`. */
export interface Keepalive {
  /** Time from the handshake (or the last `Pong`) to the next `Ping`. */
  intervalMs: number;
  /** How long a `Ping` may go unanswered (with nothing else heard) before the link is dead. */
  timeoutMs: number;
}

/** The shortest keepalive interval: a smaller one is raised to it, so pings never busy-loop. */
export const MIN_KEEPALIVE_INTERVAL_MS = 10;

/** roam's keepalive defaults: a ping every 15 s, answered within 20 s. */
export const DEFAULT_KEEPALIVE: Readonly<Keepalive> = Object.freeze({
  intervalMs: 15_000,
  timeoutMs: 20_000,
});

/** Where the session logs what the application cannot see otherwise (dropped frames, …). */
export type SessionLogger = (level: "debug" | "warn" | "error", message: string) => void;

/**
 * Resumption (docs/protocol.md §8): the session numbers, acknowledges and keeps what it sends
 * until the peer has it, so that it survives a lost link (see {@link Session.resume}). Used only
 * when both `Hello`s agree (our initiator offers, the acceptor grants). As Rust's `Resumption`.
 */
export interface Resumption {
  /**
   * Bytes of unacknowledged messages kept for replay before senders of channel items and new
   * calls wait for acknowledgements (answers and small control messages still go, so the
   * buffer may pass it by what calls in flight answer). A `u32`; default 4 MiB.
   */
  buffer: number;
  /**
   * How long a session whose link was lost is kept for a new link to resume it; after it, the
   * session ends (`timed-out`, `resume-grace`). Default 60 s, counted from the first loss.
   */
  graceMs: number;
  /** Longest an acknowledgement is held back to be coalesced with later ones. Default 10 ms. */
  ackDelayMs: number;
  /**
   * An acknowledgement goes at once after this many messages (or a quarter of the peer's
   * buffer in bytes) since the last one. Default 64.
   */
  ackEvery: number;
}

/** roam's resumption defaults: a 4 MiB buffer, 60 s grace, acks within 10 ms or every 64. */
export const DEFAULT_RESUMPTION: Readonly<Resumption> = Object.freeze({
  buffer: 4 * 1024 * 1024,
  graceMs: 60_000,
  ackDelayMs: 10,
  ackEvery: 64,
});

/** Configuration of one side of a session; every duration is in milliseconds. */
export interface SessionConfig {
  /** The limits this side announces. */
  limits: Limits;
  /** The peer's `Hello` must arrive within this long (default 10 s). */
  handshakeTimeoutMs: number;
  /** Keepalive pings, or `false` for none (this side still answers the peer's). */
  keepalive: Keepalive | false;
  /** Draining: how long calls in flight may keep running before they are stopped (30 s). */
  drainGraceMs: number;
  /** Closing: how long the final frames may take to reach the peer (2 s). */
  closeLingerMs: number;
  /** How long output may stay blocked with no progress before the session ends (30 s). */
  outputStallTimeoutMs: number;
  /** Checks the peer's schemas beyond the size bounds (see {@link SchemaValidator}). */
  validateSchema: SchemaValidator | undefined;
  /** Where diagnostics go; nowhere by default. */
  log: SessionLogger | undefined;
  /**
   * What our `Hello` says about us: an initiator's credentials (`authorization`, say), which
   * the acceptor checks before it answers. Held to the limits of call metadata.
   */
  metadata: Metadata;
  /**
   * Initiator: offer resumption with these settings; `undefined` (the default) makes the
   * session end with its link. An acceptor here never grants it, whatever this says.
   */
  resumption: Readonly<Resumption> | undefined;
}

/** roam's defaults. `Infinity` for a duration means "never". */
export const DEFAULT_SESSION_CONFIG: Readonly<SessionConfig> = Object.freeze({
  limits: DEFAULT_LIMITS,
  handshakeTimeoutMs: 10_000,
  keepalive: DEFAULT_KEEPALIVE,
  drainGraceMs: 30_000,
  closeLingerMs: 2_000,
  outputStallTimeoutMs: 30_000,
  validateSchema: undefined,
  log: undefined,
  metadata: Object.freeze([]),
  resumption: undefined,
});

/** What {@link Session} is created with: any part of the config, and the acceptor's key. */
export interface SessionOptions extends Partial<Omit<SessionConfig, "limits" | "resumption">> {
  /** The limits to announce; missing fields take roam's defaults. */
  limits?: Partial<Limits> | undefined;
  /**
   * Offer resumption (initiator): any part of {@link Resumption}, the rest from
   * {@link DEFAULT_RESUMPTION} (`{}` takes them all). `undefined`: no resumption.
   */
  resumption?: Partial<Resumption> | undefined;
  /**
   * The acceptor's 16 random bytes naming the session (the session never draws randomness;
   * use `crypto.getRandomValues`). Ignored for an initiator.
   */
  sessionKey?: Uint8Array | undefined;
}

/** A call this side wants to make. */
export interface OutgoingCall {
  /** The method to call. */
  methodId: bigint;
  /** The encoded argument tuple. */
  payload: Uint8Array;
  /** Metadata sent with the request. */
  metadata?: Metadata | undefined;
  /**
   * How long the caller waits, in ms. Then the session fails the call (sending `Cancel` if it
   * went out), and the request tells the callee how much of it is left.
   */
  timeoutMs?: number | undefined;
  /** One entry per channel argument, in order: `outgoing` if this side (the caller) sends. */
  channels?: readonly Direction[] | undefined;
  /** Our schema of the argument tuple, announced before the method's first request. */
  argsSchema?: Uint8Array | undefined;
  /** Our schema of the channel arguments' item types, likewise. */
  channelsSchema?: Uint8Array | undefined;
}

/** Why a call of ours failed without a response from the peer. */
export type CallRejected =
  /** The request would not fit in one frame. */
  | { readonly kind: "too-large"; readonly len: number; readonly max: number }
  /** The request's metadata breaks the protocol's limits, so the peer would end the session. */
  | { readonly kind: "metadata"; readonly detail: string }
  /** The call's timeout passed before its response arrived. */
  | { readonly kind: "deadline-exceeded" }
  /** The connection is not open. */
  | { readonly kind: "unknown-connection"; readonly conn: bigint }
  /** The request ID is not this side's to use, or a call of ours still holds it. */
  | { readonly kind: "id-in-use"; readonly id: bigint }
  /** A field is outside its wire type's range (a method ID above 2^64 - 1, say). */
  | { readonly kind: "unencodable"; readonly detail: string }
  /** The session has ended. */
  | { readonly kind: "closed"; readonly error: SessionError };

/** The result of {@link Session.call}: started, or refused with the attachment handed back. */
export type CallStart<Call> =
  | {
      readonly ok: true;
      /** The request ID. */
      readonly id: bigint;
      /** The channel IDs allocated for the call's channel arguments, in order. */
      readonly channels: readonly bigint[];
    }
  | { readonly ok: false; readonly reason: CallRejected; readonly call: Call };

/** Why the session stopped a call we serve. It has answered the caller already. */
export type StopReason =
  /** The caller sent `Cancel` (answered `Cancelled`). */
  | "cancelled"
  /** The caller's deadline passed (answered `DeadlineExceeded`). */
  | "deadline-exceeded"
  /** The drain grace ran out (answered `Unavailable`). */
  | "shutdown";

/** A call the peer made that the application must serve. */
export interface IncomingCall {
  /** The connection it arrived on. */
  readonly conn: bigint;
  /** Request ID, for {@link Session.respond}. */
  readonly id: bigint;
  /** The method. */
  readonly methodId: bigint;
  /** Request metadata (within the protocol limits). */
  readonly metadata: Metadata;
  /**
   * When the caller stops waiting, on this side's clock, if it set a deadline. The session
   * answers `DeadlineExceeded` then and emits a `stop-handler` event.
   */
  readonly deadline: number | undefined;
  /** The encoded argument tuple (a view of the frame it arrived in). */
  readonly payload: Uint8Array;
  /** The call's channels in argument order, with the direction seen from this side. */
  readonly channels: readonly { readonly id: bigint; readonly direction: Direction }[];
  /** The peer's schema of the argument tuple, if it announced one. */
  readonly argsSchema: PeerSchema | undefined;
  /** The peer's schema of the channel arguments' item types, if it announced one. */
  readonly channelsSchema: PeerSchema | undefined;
}

/**
 * Something the application must act on. Events that end a call or a channel hand back what
 * the application attached to it.
 */
export type SessionEvent<Call = undefined, Serve = undefined, Channel = undefined> =
  /** The handshake finished. */
  | {
      readonly type: "established";
      /** The effective limits (minimum of both sides). */
      readonly limits: Limits;
      /** The key the acceptor issued. */
      readonly sessionKey: Uint8Array | undefined;
    }
  /** The peer made a call; answer it with {@link Session.respond}. */
  | { readonly type: "request"; readonly request: IncomingCall }
  /** The peer answered one of our calls. */
  | {
      readonly type: "response";
      readonly conn: bigint;
      readonly id: bigint;
      readonly metadata: Metadata;
      /** The encoded `Result<T, RoamError<E>>`. */
      readonly payload: Uint8Array;
      /** The peer's schema of the method's response, if it announced one. */
      readonly schema: PeerSchema | undefined;
      /** What {@link Session.call} attached. */
      readonly call: Call;
    }
  /**
   * One of our calls failed without a response after {@link Session.call} accepted it: too
   * large once the handshake set the limits (a call that cannot be sent at once is refused by
   * `call` itself instead), or its deadline passed.
   */
  | {
      readonly type: "call-failed";
      readonly conn: bigint;
      readonly id: bigint;
      readonly reason: CallRejected;
      /**
       * Whether the request (and so its channels) reached the peer: if not, the channels never
       * opened and their ends come back in `channels`; if so, they end when the peer's handler
       * stops.
       */
      readonly sent: boolean;
      readonly call: Call;
      readonly channels: readonly Channel[];
    }
  /** Stop the handler serving this call: the session answered it already. */
  | {
      readonly type: "stop-handler";
      readonly conn: bigint;
      readonly id: bigint;
      readonly reason: StopReason;
      /** What {@link Session.serving} attached, if anything. */
      readonly serve: Serve | undefined;
    }
  /** An item arrived on a channel we receive on. */
  | {
      readonly type: "channel-data";
      readonly conn: bigint;
      readonly channel: bigint;
      readonly payload: Uint8Array;
    }
  /** The peer's sender on a channel is done: no more items follow. */
  | {
      readonly type: "channel-closed";
      readonly conn: bigint;
      readonly channel: bigint;
      readonly end: Channel | undefined;
    }
  /** The peer's receiver gave up: our sender must stop (the session already sent `Close`). */
  | {
      readonly type: "channel-reset";
      readonly conn: bigint;
      readonly channel: bigint;
      readonly end: Channel | undefined;
    }
  /** Our sender on `channel` may send `n` more items (initial credit included). */
  | {
      readonly type: "channel-credit";
      readonly conn: bigint;
      readonly channel: bigint;
      readonly n: number;
    }
  /**
   * The session has ended; every call still pending failed with `error` (what was attached to
   * them is in {@link Session.takeReleased}).
   */
  | { readonly type: "closed"; readonly error: SessionError }
  /**
   * Resumable session: the link was lost (`error` says how), but the session lives on: calls,
   * handlers, channels and deadlines continue, and what they send waits for a new link. Get
   * one and call {@link Session.resume}; without one within the grace period the session ends.
   */
  | { readonly type: "detached"; readonly error: SessionError }
  /**
   * A new link resumed the session: everything the peer had not received was queued again
   * (`replayed` messages), in order, and the session goes on where it was.
   */
  | { readonly type: "resumed"; readonly replayed: number }
  /**
   * Acknowledgements made room in the replay buffer after a sender was told to wait
   * (`replay-full`); waiting calls were sent already. Channel senders may try again.
   */
  | { readonly type: "replay-room" };

/** What was attached to the calls and channels still open when the session ended. */
export interface Released<Call, Serve, Channel> {
  /** Our calls (waiting or sent) that got no answer. */
  calls: Call[];
  /**
   * Those of `calls` that were never sent (still waiting for the handshake, a slot under the
   * peer's limit, room in the replay buffer, or a link): the peer never saw them, so they may
   * be made again on another session.
   */
  unsent: Call[];
  /** The peer's calls we were serving. */
  serving: Serve[];
  /** Channel ends. */
  channels: Channel[];
}

/** A call given up with {@link Session.cancel}. */
export interface Cancelled<Call, Channel> {
  /** What {@link Session.call} attached. */
  readonly call: Call;
  /** Whether the request had gone out (a `Cancel` follows it). */
  readonly sent: boolean;
  /** The ends attached to the call's channels when it was never sent. */
  readonly channels: readonly Channel[];
}

/** What the driver's output queue is doing (see {@link Session.handleOutput}). */
export type OutputState =
  /** The queue passed its bound: the driver stopped reading from the peer. */
  | "blocked"
  /** Frames left the queue while it was blocked: the peer is reading. */
  | "progress"
  /** The queue is back under its bound: the driver reads again. */
  | "flowing";

/** Where a session is in its life. */
export type Phase = "handshaking" | "established" | "draining" | "closing" | "closed";

/**
 * Whether a session has a link to send on: `attached` (frames go out), `resuming` (the
 * initiator sent a resume `Hello` and waits for the answer: only link messages go out, session
 * ones wait in the replay buffer and follow the answer), `detached` (no link: session messages
 * wait for the replay, link messages are dropped).
 */
export type LinkState = "attached" | "resuming" | "detached";

type Encoded =
  | Uint8Array
  | { readonly kind: "too-large"; len: number; max: number }
  | {
      readonly kind: "unencodable";
      detail: string;
    };

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function checkU32(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) {
    throw new RangeError(`${name} must be an integer from 0 to 2^32 - 1, not ${v}`);
  }
}

/**
 * The protocol state of one session. See the module docs. `Call`, `Serve` and `Channel` are
 * what the application keeps with its calls, the calls it serves, and its channel ends.
 */
export class Session<Call = undefined, Serve = undefined, Channel = undefined> {
  /** This side's role. */
  readonly role: Role;
  /** The configuration in force (defaults filled in). */
  readonly config: Readonly<SessionConfig>;
  private phaseNow: Phase = "handshaking";
  /** The `Goodbye` reason a drain ends with. */
  private drainReason = "";
  private key: Uint8Array | undefined;
  /** Effective limits, once the handshake is done. */
  private effective: Limits | undefined;
  private readonly root: Conn<Call, Serve, Channel>;
  private released: Released<Call, Serve, Channel> = {
    calls: [],
    unsent: [],
    serving: [],
    channels: [],
  };
  private requestsAllocated = 0n;
  private readonly timers = new TimerTable();
  private readonly deadlines = new Deadlines();
  /** The nonce of the `Ping` waiting for its `Pong`. */
  private pingOutstanding: bigint | undefined;
  private pingSentAt: number;
  private lastHeard: number;
  private nextNonce = 1n;
  private receivedSeqNow = 0;
  private sentSeqNow = 0;
  private readonly transmit = new Fifo<Uint8Array>();
  private transmitBytesNow = 0;
  private readonly events = new Fifo<SessionEvent<Call, Serve, Channel>>();
  /** Session messages kept until the peer acknowledges them, on a resumable session. */
  private replay: ReplayBuffer | undefined;
  /** Resumable session (both `Hello`s agreed): its key, secret and acknowledgements owed. */
  private ownership: Ownership | undefined;
  /** Which frames reach `transmit` (see {@link LinkState}). */
  private linkNow: LinkState = "attached";

  /**
   * A new session started at `now`; its `Hello` is queued at once. Throws a `RangeError` for a
   * configuration that cannot be sent (limits outside `u32`, a session key not 16 bytes,
   * `Hello` metadata over the protocol's limits, which the peer would end the session for).
   */
  constructor(role: Role, now: number, options: SessionOptions = {}) {
    const { limits, sessionKey, resumption, ...rest } = options;
    const config: SessionConfig = { ...DEFAULT_SESSION_CONFIG };
    for (const [k, value] of Object.entries(rest)) {
      // A key given as `undefined` keeps the default, as an absent one does.
      if (value !== undefined) (config as unknown as Record<string, unknown>)[k] = value;
    }
    config.limits = Object.freeze({ ...DEFAULT_LIMITS, ...stripUndefined(limits) });
    if (resumption !== undefined) {
      const r: Resumption = { ...DEFAULT_RESUMPTION, ...stripUndefined(resumption) };
      checkU32("resumption.buffer", r.buffer);
      config.resumption = Object.freeze(r);
    }
    checkU32("limits.maxFrameSize", config.limits.maxFrameSize);
    checkU32("limits.initialCredit", config.limits.initialCredit);
    checkU32("limits.maxConcurrentRequests", config.limits.maxConcurrentRequests);
    if (role === "acceptor" && sessionKey !== undefined && sessionKey.length !== SESSION_KEY_LEN) {
      throw new RangeError(`a session key is ${SESSION_KEY_LEN} bytes, not ${sessionKey.length}`);
    }
    // A copy, as for the limits: the application's array may change after the Hello is sent.
    config.metadata = Object.freeze([...config.metadata]);
    const overLimit = checkMetadataLimits(config.metadata);
    if (overLimit !== undefined) throw new RangeError(`Hello metadata: ${overLimit}`);
    this.role = role;
    this.config = Object.freeze(config);
    this.key = role === "acceptor" && sessionKey !== undefined ? sessionKey.slice() : undefined;
    this.root = new Conn(role);
    this.pingSentAt = now;
    this.lastHeard = now;
    this.timers.setAfter(Timer.Handshake, now, config.handshakeTimeoutMs);
    const hello: HelloMessage = {
      type: "hello",
      version: PROTOCOL_VERSION,
      limits: { ...config.limits },
      sessionKey: this.key,
      resume: undefined,
      metadata: config.metadata,
      // Only an initiator offers; this runtime's acceptor never grants (nor resumes).
      replay:
        role === "initiator" && config.resumption !== undefined
          ? { type: "offer", buffer: config.resumption.buffer }
          : REPLAY_OFF,
    };
    this.sendSmall(hello);
  }

  // ----- getters -----

  /** Where the session is in its life. */
  get phase(): Phase {
    return this.phaseNow;
  }

  /** The effective limits once established. */
  get limits(): Limits | undefined {
    return this.effective === undefined ? undefined : { ...this.effective };
  }

  /** The session key (the acceptor's own, or the one the initiator received). */
  get sessionKey(): Uint8Array | undefined {
    return this.key;
  }

  /** Whether the session has ended for the application: commands are refused, inputs ignored. */
  get isClosed(): boolean {
    return this.phaseNow === "closing" || this.phaseNow === "closed";
  }

  /** Whether nothing is left to do, not even flushing: the driver can drop the link. */
  get isFinished(): boolean {
    return this.phaseNow === "closed";
  }

  /** Number of the peer's calls being served. */
  get incomingInFlight(): number {
    return this.root.incoming.size;
  }

  /** Number of our calls sent and not yet answered. */
  get outgoingInFlight(): number {
    return this.root.sent;
  }

  /** Number of channels in the table (both directions). */
  get openChannels(): number {
    return this.root.channels.size;
  }

  /** Number of our calls waiting for a slot under the peer's limit (or for the handshake). */
  get waitingCalls(): number {
    return this.root.waiting.length;
  }

  /** Call deadlines being tracked (both directions). */
  get pendingDeadlines(): number {
    return this.deadlines.size;
  }

  /** Session-level messages sent so far (the last one's sequence number). */
  get sentSeq(): number {
    return this.sentSeqNow;
  }

  /** Session-level messages received so far. */
  get receivedSeq(): number {
    return this.receivedSeqNow;
  }

  /** Schemas the peer has announced on the root connection (and not withdrawn). */
  get remoteSchemas(): number {
    return this.root.schemas.remoteCount;
  }

  /** Whether both sides agreed on replay, so the session can survive a lost link. */
  get isResumable(): boolean {
    return this.ownership !== undefined;
  }

  /** Whether the session has no link now (it waits to be resumed). */
  get isDetached(): boolean {
    return this.linkNow === "detached";
  }

  /** Whether the session has a link, waits for a resume's answer on one, or has none. */
  get link(): LinkState {
    return this.linkNow;
  }

  /** Bytes and number of sent messages the peer has not acknowledged yet (kept for replay). */
  get replayBuffered(): { readonly bytes: number; readonly frames: number } {
    return { bytes: this.replay?.bytes ?? 0, frames: this.replay?.length ?? 0 };
  }

  /** Bytes of frames queued for {@link Session.pollTransmit}: output not written yet. */
  get transmitBytes(): number {
    return this.transmitBytesNow;
  }

  // ----- outputs -----

  /** The next frame body to write, in order. */
  pollTransmit(): Uint8Array | undefined {
    const frame = this.transmit.shift();
    if (frame !== undefined) this.transmitBytesNow -= frame.length;
    return frame;
  }

  /** The next event for the application. */
  pollEvent(): SessionEvent<Call, Serve, Channel> | undefined {
    return this.events.shift();
  }

  /** When {@link Session.handleTimeout} must be called next, if any timer is armed. */
  pollTimeout(): number | undefined {
    const a = this.timers.next();
    const b = this.deadlines.next();
    if (a === undefined) return b;
    if (b === undefined) return a;
    return Math.min(a, b);
  }

  // ----- inputs -----

  /**
   * Handles one frame body received from the link at `now`. A body over the current maximum
   * frame size is refused here too (the link should have refused it from its header already).
   */
  handleFrame(now: number, body: Uint8Array): void {
    // Detached, a frame can only come from a link already given up on.
    if (this.isClosed || this.linkNow === "detached") return;
    this.lastHeard = now;
    const max = this.maxFrameSize();
    if (body.length > max) {
      this.violate(now, violation.frameTooLarge(body.length, max));
      return;
    }
    let msg: Message;
    try {
      msg = decodeMessage(body);
    } catch (e) {
      // Another version's `Hello` may not decode as ours (version 1's had no metadata): its
      // version, the first field, still says which, so the peer hears the rule it can act on.
      const version = this.phaseNow === "handshaking" ? helloVersion(body) : undefined;
      if (version !== undefined && version !== PROTOCOL_VERSION) {
        return this.refuseVersion(now, version);
      }
      this.violate(now, violation.malformedMessage(errorText(e)));
      return;
    }
    this.handleMessage(now, msg);
    if (this.ownership !== undefined && messageClass(msg) === "session") {
      this.oweAck(now, body.length);
    }
  }

  /** Handles every timer and call deadline due at `now`. */
  handleTimeout(now: number): void {
    for (let t = this.timers.takeExpired(now); t !== undefined; t = this.timers.takeExpired(now)) {
      this.onTimer(now, t);
    }
    for (
      let d = this.deadlines.popExpired(now);
      d !== undefined;
      d = this.deadlines.popExpired(now)
    ) {
      this.onDeadline(now, d.side, d.conn, d.id);
    }
  }

  /**
   * The link failed or hit a framing error; `violation` is set when the peer caused it (a
   * frame over the limit, the stream ending inside a frame, a write backlog), and the session
   * then says `Goodbye` naming it. A resumable session that loses its link otherwise is
   * detached (a `detached` event), not ended.
   */
  handleLinkClosed(now: number, cause?: ProtocolViolation, detail = ""): void {
    if (this.phaseNow === "closed") return;
    // The link was given up already (its other half, or the keepalive, told first).
    if (this.linkNow === "detached") return;
    // Nothing more can be flushed.
    if (this.phaseNow === "closing") return this.finish();
    if (cause !== undefined) return this.violate(now, cause);
    if (this.canDetach()) return this.detach(now, { kind: "transport", detail });
    this.end(now, { kind: "transport", detail }, false);
  }

  /**
   * What the driver's output is doing, when that changes and whenever frames leave while it is
   * blocked. Output blocked with no progress for the output-stall timeout ends the session
   * with a `Goodbye`. Progress also counts as life for keepalive: while the driver has stopped
   * reading, the peer's `Pong`s wait unread, but a peer that takes our bytes is there.
   */
  handleOutput(now: number, output: OutputState): void {
    if (this.isClosed) return;
    switch (output) {
      case "blocked":
        if (this.timers.get(Timer.OutputStall) === undefined) {
          this.timers.setAfter(Timer.OutputStall, now, this.config.outputStallTimeoutMs);
        }
        return;
      case "progress":
        this.lastHeard = now;
        this.timers.setAfter(Timer.OutputStall, now, this.config.outputStallTimeoutMs);
        return;
      case "flowing":
        this.timers.clear(Timer.OutputStall);
        return;
    }
  }

  /** The driver wrote every frame it was given: a closing session is done. */
  handleFlushed(): void {
    if (this.phaseNow === "closing" && this.transmit.size === 0) this.finish();
  }

  // ----- commands -----

  /**
   * A fresh request ID of this side's for {@link Session.call}. Code that hands out IDs itself
   * uses {@link nthId} with a counter of its own instead (never both on one session).
   */
  nextRequestId(): bigint {
    const id = nthId(this.role, this.requestsAllocated);
    this.requestsAllocated++;
    return id;
  }

  /**
   * Starts call `id` (an unused ID of this side's) on connection `conn` at `now`, keeping
   * `attach` with it until its answer or failure. The call waits inside the session while the
   * handshake runs or the effective concurrency limit is reached; its deadline counts from
   * `now`. A refused call hands `attach` back and nothing is sent for it; that includes a call
   * that would be sent at once but does not fit in a frame.
   */
  call(now: number, conn: bigint, id: bigint, call: OutgoingCall, attach: Call): CallStart<Call> {
    if (this.isClosed) {
      return {
        ok: false,
        reason: { kind: "closed", error: { kind: "locally-closed" } },
        call: attach,
      };
    }
    const metadata = call.metadata ?? [];
    // Refused here rather than sent: the peer would end the whole session.
    const limit = checkMetadataLimits(metadata);
    if (limit !== undefined)
      return { ok: false, reason: { kind: "metadata", detail: limit }, call: attach };
    const max = this.maxFrameSize();
    // Every other field is bounded by the metadata limits: what cannot possibly fit is
    // refused at once, so the caller gets the error without waiting for a slot.
    if (call.payload.length > max) {
      return {
        ok: false,
        reason: { kind: "too-large", len: call.payload.length, max },
        call: attach,
      };
    }
    const c = this.conn(conn);
    if (c === undefined)
      return { ok: false, reason: { kind: "unknown-connection", conn }, call: attach };
    if (!ownsId(this.role, id) || c.outgoing.has(id)) {
      return { ok: false, reason: { kind: "id-in-use", id }, call: attach };
    }
    const directions = call.channels ?? [];
    const channels = directions.map((d) => c.channels.allocate(d));
    const at = call.timeoutMs === undefined ? undefined : timeAfter(now, call.timeoutMs);
    const deadline = at === undefined ? undefined : this.deadlines.insert(at, OUTGOING, conn, id);
    const waiting: WaitingCall = {
      methodId: call.methodId,
      metadata,
      payload: call.payload,
      directions,
      channels,
      argsSchema: call.argsSchema,
      channelsSchema: call.channelsSchema,
    };
    c.outgoing.set(id, { methodId: call.methodId, deadline, waiting, live: true, attach });
    c.waiting.push(id);
    // If this very call cannot be sent (too large once its header is counted), the caller
    // hears it here rather than through an event: its channel ends are not attached yet, so
    // an event could not hand them back.
    const refused = this.pumpWaiting(now, conn, id);
    if (refused !== undefined) return { ok: false, reason: refused.reason, call: refused.call };
    return { ok: true, id, channels };
  }

  /**
   * Gives up on a call and hands back what was attached to it. A call still waiting is dropped
   * silently (it was never sent, nor were its channels, whose ends come back too); a call
   * already sent gets a `Cancel`, and its late `Response` is dropped. `undefined` if the call
   * is no longer pending.
   */
  cancel(conn: bigint, id: bigint): Cancelled<Call, Channel> | undefined {
    if (this.isClosed) return undefined;
    const c = this.conn(conn);
    const given = c?.giveUp(id);
    if (given === undefined) return undefined;
    if (given.deadline !== undefined) this.deadlines.remove(given.deadline);
    if (given.sent) this.sendSmall({ type: "cancel", conn, id });
    return { call: given.call, sent: given.sent, channels: given.channels };
  }

  /**
   * Keeps `serve` with the peer's call `id` (its handler) until it is answered or stopped.
   * Returns false if the call is no longer being served (then nothing is kept).
   */
  serving(conn: bigint, id: bigint, serve: Serve): boolean {
    const entry = this.conn(conn)?.incoming.get(id);
    if (entry === undefined) return false;
    entry.serve = serve;
    entry.hasServe = true;
    return true;
  }

  /** What {@link Session.serving} attached to the peer's call `id`, while it is served. */
  served(conn: bigint, id: bigint): Serve | undefined {
    return this.conn(conn)?.incoming.get(id)?.serve;
  }

  /**
   * Keeps `end` with channel `id` until the channel ends or the application lets go of it.
   * Returns false if the channel is gone already: nothing is kept, and the application must
   * end `end` itself.
   */
  attachChannel(conn: bigint, id: bigint, end: Channel): boolean {
    return this.conn(conn)?.channels.attach(id, end) ?? false;
  }

  /** The end attached to channel `id`, while the channel is open. */
  channelEnd(conn: bigint, id: bigint): Channel | undefined {
    return this.conn(conn)?.channels.end(id);
  }

  /** Takes the end attached to channel `id` out (the protocol state stays). */
  detachChannel(conn: bigint, id: bigint): Channel | undefined {
    return this.conn(conn)?.channels.detach(id);
  }

  /**
   * Announces our schema of the `kind` payloads of `methodId`, unless the peer has it already
   * (or withdraws the one announced before when `schema` is `undefined`), as
   * {@link Session.call} and {@link Session.respond} do for the payloads they carry. A callee
   * calls it with its channel signature (`channels`) before the handler of a call with
   * channel arguments writes any item, so the caller has it before the first `Data`
   * (docs/protocol.md §7).
   */
  announceSchema(
    conn: bigint,
    methodId: bigint,
    kind: SchemaKind,
    schema: Uint8Array | undefined,
  ): void {
    if (this.isClosed) return;
    this.announce(conn, methodId, kind, schema);
  }

  /**
   * The peer's latest announcement for the `kind` payloads of `methodId`: what applies to the
   * next message of that method it sends (a callee's `channels` for the items of a call's
   * channels it writes, say).
   */
  peerSchema(conn: bigint, methodId: bigint, kind: SchemaKind): PeerSchema | undefined {
    return this.conn(conn)?.schemas.remote(methodId, kind);
  }

  /** Credit our sender has left on channel `id` (0 if we do not send on it). */
  channelCredit(conn: bigint, id: bigint): number {
    return this.conn(conn)?.channels.credit(id) ?? 0;
  }

  /**
   * Takes what was attached to the calls and channels still open when the session ended
   * (empty before the `closed` event).
   */
  takeReleased(): Released<Call, Serve, Channel> {
    const r = this.released;
    this.released = { calls: [], unsent: [], serving: [], channels: [] };
    return r;
  }

  /**
   * Answers the peer's call `id`; ignored if it was answered (or stopped) already. `schema` is
   * our schema of the method's response, announced before its first response on this
   * connection (omit it for runtime-level answers, whose bytes do not depend on it). Metadata
   * over the protocol limits is not sent: the caller gets `Internal` instead.
   */
  respond(
    now: number,
    conn: bigint,
    id: bigint,
    metadata: Metadata,
    payload: Uint8Array,
    schema?: Uint8Array,
  ): void {
    if (this.isClosed) return;
    const c = this.conn(conn);
    const call = c?.incoming.get(id);
    if (c === undefined || call === undefined) return;
    c.incoming.delete(id);
    if (call.deadline !== undefined) this.deadlines.remove(call.deadline);
    const limit = checkMetadataLimits(metadata);
    if (limit !== undefined) {
      this.log(
        "error",
        `response ${id}: metadata over the protocol limits (${limit}); answering Internal`,
      );
      this.sendResponse(conn, id, [], remote(RemoteError.Internal));
    } else {
      // No schema means a runtime-level answer, which needs none (not a withdrawal).
      if (schema !== undefined) this.announce(conn, call.methodId, "response", schema);
      this.sendResponse(conn, id, metadata, payload);
    }
    this.checkDrained(now);
  }

  /** Sends one item on a channel we send on, spending one credit; `undefined` if sent. */
  sendData(conn: bigint, channel: bigint, payload: Uint8Array): ChannelSendError | undefined {
    if (this.isClosed) return { kind: "not-open" };
    if (this.mustWaitForReplay()) return { kind: "replay-full" };
    const c = this.conn(conn);
    if (c === undefined) return { kind: "not-open" };
    // Encoded before credit is spent, so a refused item costs the sender nothing.
    const bytes = this.encode({ type: "data", conn, channel, payload }, this.maxFrameSize());
    if (!(bytes instanceof Uint8Array)) {
      return bytes.kind === "too-large" ? bytes : { kind: "not-open" };
    }
    const refused = c.channels.sendData(channel);
    if (refused !== undefined) return refused;
    this.push("session", bytes);
    return undefined;
  }

  /** Our sender on `channel` is done (its attached end is let go). */
  closeChannel(conn: bigint, channel: bigint): void {
    const c = this.conn(conn);
    if (this.isClosed || c === undefined) return;
    c.channels.detach(channel);
    if (c.channels.close(channel)) this.sendSmall({ type: "close", conn, channel });
  }

  /** Our receiver on `channel` gives up (its attached end is let go). */
  resetChannel(conn: bigint, channel: bigint): void {
    const c = this.conn(conn);
    if (this.isClosed || c === undefined) return;
    c.channels.detach(channel);
    if (c.channels.reset(channel)) this.sendSmall({ type: "reset", conn, channel });
  }

  /**
   * Lets the peer send `n` more items on `channel` (ignored unless we receive on it). `n` must
   * be a `u32`; anything else is a programming error and throws a `RangeError`.
   */
  grantCredit(conn: bigint, channel: bigint, n: number): void {
    checkU32("credit", n);
    const c = this.conn(conn);
    if (this.isClosed || n === 0 || c === undefined) return;
    if (c.channels.grant(channel, n)) this.sendSmall({ type: "credit", conn, channel, n });
  }

  /** Ends channels whose call failed before anything used them (`Close` or `Reset` each). */
  abandonChannels(conn: bigint, channels: Iterable<bigint>): void {
    const c = this.conn(conn);
    if (c === undefined) return;
    for (const channel of channels) {
      const [how] = c.channels.abandon(channel);
      if (how !== undefined) this.sendSmall({ type: how, conn, channel });
    }
  }

  /**
   * Stops taking new calls from the peer (they are answered `Unavailable`) and closes the
   * session with `Goodbye{reason}` once the calls in flight are answered, or when the drain
   * grace runs out (their handlers are then stopped and they are answered `Unavailable`). A
   * session still handshaking closes at once.
   */
  startDrain(now: number, reason: string): void {
    if (this.phaseNow === "handshaking") return this.close(now, reason);
    if (this.phaseNow !== "established") return;
    this.phaseNow = "draining";
    this.drainReason = reason;
    this.timers.setAfter(Timer.DrainGrace, now, this.config.drainGraceMs);
    this.checkDrained(now);
  }

  /** Ends the session now, telling the peer why. */
  close(now: number, reason: string): void {
    if (this.isClosed) return;
    this.sendSmall({ type: "goodbye", reason });
    this.end(now, { kind: "locally-closed" }, true);
  }

  /**
   * Ends a session that could not be kept, with `error` as the reason every call in flight
   * fails with (an initiator whose reconnect attempts ran out, say). Says `Goodbye` (the
   * error's description) only if it has a link. Does nothing once ended.
   */
  giveUp(now: number, error: SessionError): void {
    if (this.isClosed) return;
    const linked = this.linkNow !== "detached";
    if (linked) this.sendSmall({ type: "goodbye", reason: describeSessionError(error) });
    this.end(now, error, linked);
  }

  /**
   * Whether channel items must wait for room in the replay buffer now (the peer has not
   * acknowledged enough); if so, a `replay-room` event follows once it has, and
   * {@link Session.sendData} refuses items meanwhile with `replay-full`.
   */
  mustWaitForReplay(): boolean {
    if (this.replay?.isFull !== true) return false;
    this.replay.wait();
    return true;
  }

  /**
   * Initiator, resumable session without a link (after a `detached` event): resumes it over a
   * new link. Queues the resume `Hello` (with `nonce`, 16 fresh random bytes of the caller's
   * — `crypto.getRandomValues` — and the proof of ownership) as the new link's first frame;
   * session messages wait until the answer. The acceptor's answer brings a `resumed` event; a
   * refusal ends the session (`refused` by `resume`); a link lost again, or no answer within
   * the handshake timeout, brings another `detached` event. Returns whether a resume was
   * started (not on an acceptor, an attached, ended or non-resumable session). Throws a
   * `RangeError` for a nonce that is not 16 bytes.
   */
  resume(now: number, nonce: Uint8Array): boolean {
    if (nonce.length !== RESUME_NONCE_LEN) {
      throw new RangeError(`a resume nonce is ${RESUME_NONCE_LEN} bytes, not ${nonce.length}`);
    }
    if (this.role !== "initiator" || this.isClosed || this.linkNow !== "detached") return false;
    const owner = this.ownership;
    if (owner === undefined) return false;
    const lastReceived = this.receivedSeqNow;
    const ours = nonce.slice();
    const proof = owner.proof(lastReceived, ours);
    owner.resuming = ours;
    this.linkNow = "resuming";
    this.sendSmall({
      type: "hello",
      version: PROTOCOL_VERSION,
      limits: { ...this.config.limits },
      sessionKey: undefined,
      resume: { sessionKey: owner.key, lastReceived: BigInt(lastReceived), nonce: ours, proof },
      metadata: this.config.metadata,
      replay: { type: "offer", buffer: this.config.resumption?.buffer ?? 0 },
    });
    this.lastHeard = now;
    this.timers.setAfter(Timer.Handshake, now, this.config.handshakeTimeoutMs);
    return true;
  }

  // ----- internals: inputs -----

  private onTimer(now: number, timer: TimerId): void {
    const cfg = this.config;
    switch (timer) {
      case Timer.Handshake:
        if (this.linkNow === "resuming") {
          // The resume got no answer: the new link is as good as lost.
          const afterMs = cfg.handshakeTimeoutMs;
          return this.detach(now, { kind: "timed-out", what: "handshake", afterMs });
        }
        if (this.phaseNow === "handshaking") {
          const after = cfg.handshakeTimeoutMs;
          this.sendSmall({
            type: "goodbye",
            reason: `handshake-timeout: no Hello within ${formatDuration(after)}`,
          });
          this.end(now, { kind: "timed-out", what: "handshake", afterMs: after }, true);
        }
        return;
      case Timer.KeepAliveSend:
        if (cfg.keepalive !== false && !this.isClosed) {
          const nonce = this.nextNonce;
          this.nextNonce = BigInt.asUintN(64, nonce + 1n);
          this.pingOutstanding = nonce;
          this.sendSmall({ type: "ping", nonce });
          this.pingSentAt = now;
          this.timers.setAfter(Timer.PongTimeout, now, cfg.keepalive.timeoutMs);
        }
        return;
      case Timer.PongTimeout: {
        if (cfg.keepalive === false || this.isClosed) return;
        // While our output is blocked the driver reads nothing, so no Pong can be heard: the
        // output-stall timer decides (and says Goodbye) instead.
        const stall = this.timers.get(Timer.OutputStall);
        if (stall !== undefined) {
          this.timers.set(Timer.PongTimeout, Math.max(stall, now));
          return;
        }
        // Any frame heard since the Ping proves the link carries bytes: its Pong may be queued
        // behind bulk data on either side. Only silence for a whole timeout means it is dead.
        const until = timeAfter(this.lastHeard, cfg.keepalive.timeoutMs);
        if (this.lastHeard > this.pingSentAt && until !== undefined && until > now) {
          this.timers.set(Timer.PongTimeout, until);
          return;
        }
        this.log("warn", "keepalive: the peer went silent; the link is dead");
        // Presumed dead: no Goodbye, nothing to flush.
        const error: SessionError = {
          kind: "timed-out",
          what: "keepalive",
          afterMs: cfg.keepalive.timeoutMs,
        };
        if (this.canDetach()) this.detach(now, error);
        else this.end(now, error, false);
        return;
      }
      case Timer.DrainGrace:
        if (this.phaseNow === "draining") {
          this.stopAllHandlers(now, "shutdown", RemoteError.Unavailable);
          this.closeDrained(now);
        }
        return;
      case Timer.OutputStall: {
        const after = cfg.outputStallTimeoutMs;
        // A resumable session gives the link up, not the session: the peer gets what it did
        // not read on the next link.
        if (this.canDetach()) {
          this.log("warn", "the peer stopped reading; dropping the link");
          return this.detach(now, { kind: "timed-out", what: "output-stalled", afterMs: after });
        }
        this.log("warn", "the peer stopped reading; ending the session");
        this.sendSmall({
          type: "goodbye",
          reason: `output-stalled: nothing was read for ${formatDuration(after)}`,
        });
        this.end(now, { kind: "timed-out", what: "output-stalled", afterMs: after }, true);
        return;
      }
      case Timer.CloseLinger:
        if (this.phaseNow === "closing") {
          this.log("debug", "close linger over; dropping frames the peer did not read");
          this.clearTransmit();
          this.finish();
        }
        return;
      case Timer.Ack:
        if (this.ownership?.debt.owed === true) this.sendAck();
        return;
      case Timer.Grace: {
        const r = cfg.resumption;
        if (this.linkNow !== "attached" && r !== undefined) {
          this.log("debug", "the session was not resumed in time; ending it");
          this.end(now, { kind: "timed-out", what: "resume-grace", afterMs: r.graceMs }, false);
        }
        return;
      }
    }
  }

  private onDeadline(now: number, side: Side, conn: bigint, id: bigint): void {
    const c = this.conn(conn);
    if (c === undefined) return;
    if (side === OUTGOING) {
      const given = c.giveUp(id);
      if (given === undefined) return;
      if (given.sent) this.sendSmall({ type: "cancel", conn, id });
      this.event({
        type: "call-failed",
        conn,
        id,
        reason: { kind: "deadline-exceeded" },
        sent: given.sent,
        call: given.call,
        channels: given.channels,
      });
    } else if (c.incoming.has(id)) {
      this.stopHandler(now, conn, id, "deadline-exceeded", RemoteError.DeadlineExceeded);
    }
  }

  private handleMessage(now: number, msg: Message): void {
    if (this.linkNow === "resuming") return this.handleResumeAnswer(now, msg);
    if (messageClass(msg) === "session") this.receivedSeqNow++;
    switch (this.phaseNow) {
      case "closing":
      case "closed":
        return;
      case "handshaking":
        if (msg.type === "hello") return this.handleHello(now, msg);
        if (msg.type === "goodbye") return this.handleEarlyGoodbye(now, msg.reason);
        return this.violate(now, violation.handshake("the first message must be Hello"));
      case "established":
      case "draining":
        break;
    }
    switch (msg.type) {
      case "hello":
        return this.violate(now, violation.handshake("Hello sent twice"));
      case "goodbye":
        return this.end(now, { kind: "closed-by-peer", reason: msg.reason }, false);
      case "request":
        return this.handleRequest(now, msg);
      case "response":
        return this.handleResponse(now, msg);
      case "cancel": {
        const c = this.conn(msg.conn);
        if (c === undefined) return this.violate(now, violation.unknownConnection(msg.conn));
        // A Cancel for a call already answered crossed our response on the wire: not an error.
        if (c.incoming.has(msg.id)) {
          this.stopHandler(now, msg.conn, msg.id, "cancelled", RemoteError.Cancelled);
        }
        return;
      }
      case "ping":
        return this.sendSmall({ type: "pong", nonce: msg.nonce });
      case "pong":
        return this.handlePong(now, msg.nonce);
      case "data": {
        const c = this.conn(msg.conn);
        if (c === undefined) return this.violate(now, violation.unknownConnection(msg.conn));
        const verdict = c.channels.onData(msg.channel);
        if (verdict === "deliver") {
          this.event({
            type: "channel-data",
            conn: msg.conn,
            channel: msg.channel,
            payload: msg.payload,
          });
        } else if (verdict !== "drop") {
          this.violate(now, verdict);
        }
        return;
      }
      case "close": {
        const c = this.conn(msg.conn);
        if (c === undefined) return this.violate(now, violation.unknownConnection(msg.conn));
        const verdict = c.channels.onClose(msg.channel);
        if ("rule" in verdict) return this.violate(now, verdict);
        if (verdict.notify) {
          this.event({
            type: "channel-closed",
            conn: msg.conn,
            channel: msg.channel,
            end: verdict.end,
          });
        }
        return;
      }
      case "reset": {
        const c = this.conn(msg.conn);
        if (c === undefined) return this.violate(now, violation.unknownConnection(msg.conn));
        const verdict = c.channels.onReset(msg.channel);
        if (verdict.stop) {
          this.sendSmall({ type: "close", conn: msg.conn, channel: msg.channel });
          this.event({
            type: "channel-reset",
            conn: msg.conn,
            channel: msg.channel,
            end: verdict.end,
          });
        }
        return;
      }
      case "credit": {
        const c = this.conn(msg.conn);
        if (c === undefined) return this.violate(now, violation.unknownConnection(msg.conn));
        const added = c.channels.onCredit(msg.channel, msg.n);
        if (added > 0) {
          this.event({ type: "channel-credit", conn: msg.conn, channel: msg.channel, n: added });
        }
        return;
      }
      case "schema":
        return this.handleSchema(now, msg);
      case "ack":
        return this.handleAck(now, msg.received);
    }
  }

  /**
   * A `Goodbye` instead of the peer's `Hello`. An acceptor that checks who may connect sends
   * one naming the rule that refused us (`"unauthenticated: …"`, …) in place of its `Hello`.
   * Only an initiator is ever refused: to an acceptor, any early `Goodbye` is a failed
   * handshake, and so is one to an initiator that names no refusal rule.
   */
  private handleEarlyGoodbye(now: number, reason: string): void {
    const refusal = this.role === "initiator" ? parseRefusal(reason) : undefined;
    const error: SessionError =
      refusal === undefined
        ? { kind: "handshake-failed", detail: `peer said goodbye: ${reason}` }
        : { kind: "refused", by: refusal.by, reason: refusal.reason };
    this.end(now, error, false);
  }

  /** The peer's `Hello` names another protocol version: say which, and end the session. */
  private refuseVersion(now: number, version: number): void {
    const reason =
      `version-mismatch: peer speaks protocol version ${version}, this side speaks ` +
      `${PROTOCOL_VERSION}; upgrade the older side`;
    this.sendSmall({ type: "goodbye", reason });
    this.end(now, { kind: "handshake-failed", detail: reason }, true);
  }

  /** The peer's first `Hello` (in the order of Rust's `Session::handle_hello`). */
  private handleHello(now: number, hello: HelloMessage): void {
    if (hello.version !== PROTOCOL_VERSION) return this.refuseVersion(now, hello.version);
    // The same limits as a request's metadata: credentials are no excuse for an unbounded
    // Hello.
    const limit = checkMetadataLimits(hello.metadata);
    if (limit !== undefined) return this.violate(now, violation.metadata(limit));
    if (hello.limits.maxFrameSize < MIN_FRAME_SIZE) {
      return this.violate(now, violation.handshake("a max_frame_size below 64 bytes"));
    }
    if (hello.resume !== undefined) {
      if (this.role === "initiator") {
        return this.violate(now, violation.handshake("an acceptor's Hello cannot resume"));
      }
      const reason = `${refusalRule("resume")}: this peer does not resume sessions`;
      this.sendSmall({ type: "goodbye", reason });
      return this.end(now, { kind: "handshake-failed", detail: reason }, true);
    }
    // An acceptor here never grants: an initiator's `Offer` is answered by the `Off` our Hello
    // already said. An initiator takes up a `Grant` of what it offered.
    const replay = hello.replay;
    if (replay.type !== "off") {
      if (this.role === "acceptor" && replay.type !== "offer") {
        return this.violate(now, violation.handshake("an initiator's Hello may only offer replay"));
      }
      if (this.role === "initiator") {
        if (replay.type !== "grant") {
          return this.violate(
            now,
            violation.handshake("an acceptor's Hello may only grant replay"),
          );
        }
        const r = this.config.resumption;
        if (r === undefined) {
          return this.violate(now, violation.handshake("replay granted but not offered"));
        }
        if (hello.sessionKey === undefined) {
          return this.violate(
            now,
            violation.handshake("replay granted without a session key"),
          );
        }
        const debt = new AckDebt(r.ackEvery, Math.floor(replay.buffer / 4));
        this.ownership = new Ownership(hello.sessionKey, replay.secret, debt);
      }
    }
    // A copy: the frame the key arrived in is not kept alive for it.
    if (this.role === "initiator") this.key = hello.sessionKey?.slice();
    const limits = effectiveLimits(this.config.limits, hello.limits);
    this.effective = limits;
    this.phaseNow = "established";
    if (this.ownership !== undefined && this.config.resumption !== undefined) {
      this.replay = new ReplayBuffer(this.config.resumption.buffer, this.sentSeqNow);
    }
    this.timers.clear(Timer.Handshake);
    if (this.config.keepalive !== false) {
      this.timers.setAfter(Timer.KeepAliveSend, now, keepaliveInterval(this.config.keepalive));
    }
    this.event({ type: "established", limits: { ...limits }, sessionKey: this.key });
    this.pumpWaiting(now, ROOT);
  }

  // ----- internals: resumption -----

  /** Initiator, resuming: the first frame on the new link must be the acceptor's answer. */
  private handleResumeAnswer(now: number, msg: Message): void {
    if (msg.type === "hello") {
      if (msg.version !== PROTOCOL_VERSION) return this.refuseVersion(now, msg.version);
      if (msg.replay.type !== "resumed" || msg.resume !== undefined) {
        return this.violate(
          now,
          violation.handshake("the answer to a resume must resume the session"),
        );
      }
      const owner = this.ownership;
      if (owner === undefined) return;
      const ours = owner.resuming;
      owner.resuming = undefined;
      if (ours === undefined || !sameKey(msg.sessionKey, owner.key)) {
        return this.violate(now, violation.handshake("the answer resumed another session"));
      }
      const room = this.replay?.ack(msg.replay.lastReceived);
      if (typeof room !== "boolean") {
        return this.violate(
          now,
          violation.replay("the peer resumed from messages never sent or already acknowledged"),
        );
      }
      owner.rotate(ours, msg.replay.nonce);
      this.reattach(now, room);
      // Tells the acceptor at once that its answer (and so the new secret) arrived.
      this.sendAck();
      return;
    }
    if (msg.type === "goodbye") {
      const refusal = parseRefusal(msg.reason);
      const error: SessionError =
        refusal === undefined
          ? { kind: "closed-by-peer", reason: msg.reason }
          : { kind: "refused", by: refusal.by, reason: refusal.reason };
      return this.end(now, error, false);
    }
    this.violate(now, violation.handshake("a message before the resume was answered"));
  }

  private handleAck(now: number, received: bigint): void {
    const replay = this.replay;
    if (replay === undefined) {
      return this.violate(now, violation.replay("an Ack on a session without replay"));
    }
    const room = replay.ack(received);
    if (room === true) this.room(now);
    else if (room === "backwards") this.violate(now, violation.replay("an Ack going backwards"));
    else if (room === "ahead") {
      this.violate(now, violation.replay("an Ack for messages never sent"));
    }
  }

  /** Acknowledgements freed room in the replay buffer: waiting calls go, senders are told. */
  private room(now: number): void {
    this.event({ type: "replay-room" });
    this.pumpWaiting(now, ROOT);
  }

  /**
   * One session message of `len` bytes was handled: acknowledge it now, or arm the ack timer so
   * it is acknowledged within the ack delay.
   */
  private oweAck(now: number, len: number): void {
    if (this.isClosed || this.linkNow !== "attached") return;
    const owner = this.ownership;
    const r = this.config.resumption;
    if (owner === undefined || r === undefined) return;
    switch (owner.debt.received(len)) {
      case "now":
        return this.sendAck();
      case "later":
        return this.timers.setAfter(Timer.Ack, now, r.ackDelayMs);
      case "armed":
        return;
    }
  }

  private sendAck(): void {
    this.ownership?.debt.paid();
    this.timers.clear(Timer.Ack);
    this.sendSmall({ type: "ack", received: BigInt(this.receivedSeqNow) });
  }

  /** Whether losing the link leaves the session waiting to be resumed (rather than ending it). */
  private canDetach(): boolean {
    return (
      this.ownership !== undefined &&
      (this.phaseNow === "established" || this.phaseNow === "draining") &&
      this.linkNow !== "detached"
    );
  }

  /**
   * The link is gone; the session waits (for at most the grace period, counted from the first
   * loss) for a new one. Calls, handlers, channels and deadlines go on; what they send is kept
   * for replay.
   */
  private detach(now: number, error: SessionError): void {
    this.log("debug", `link lost (${error.kind}); the session waits to be resumed`);
    this.linkNow = "detached";
    // Every session frame queued is in the replay buffer; link frames are for a dead link.
    this.clearTransmit();
    for (const t of [
      Timer.Handshake,
      Timer.KeepAliveSend,
      Timer.PongTimeout,
      Timer.OutputStall,
      Timer.Ack,
    ]) {
      this.timers.clear(t);
    }
    this.pingOutstanding = undefined;
    if (this.ownership !== undefined) this.ownership.resuming = undefined;
    const r = this.config.resumption;
    if (this.timers.get(Timer.Grace) === undefined && r !== undefined) {
      this.timers.setAfter(Timer.Grace, now, r.graceMs);
    }
    this.event({ type: "detached", error });
  }

  /**
   * The resume handshake is done: replay what the peer missed and carry on. `room` says
   * whether the peer's position freed room for waiting senders.
   */
  private reattach(now: number, room: boolean): void {
    this.linkNow = "attached";
    let replayed = 0;
    for (const frame of this.replay?.unacked() ?? []) {
      this.transmitBytesNow += frame.length;
      this.transmit.push(frame);
      replayed++;
    }
    // Each side's resume Hello told the other what it received.
    this.ownership?.debt.paid();
    const stale = [Timer.Grace, Timer.Handshake, Timer.Ack, Timer.PongTimeout, Timer.OutputStall];
    for (const t of stale) {
      this.timers.clear(t);
    }
    this.pingOutstanding = undefined;
    this.lastHeard = now;
    if (this.config.keepalive !== false) {
      this.timers.setAfter(Timer.KeepAliveSend, now, keepaliveInterval(this.config.keepalive));
    }
    this.event({ type: "resumed", replayed });
    if (room) this.room(now);
    else this.pumpWaiting(now, ROOT);
  }

  private handlePong(now: number, nonce: bigint): void {
    // A Pong for an older Ping (or an unsolicited one) proves nothing about the current one.
    if (this.pingOutstanding !== nonce) return;
    this.pingOutstanding = undefined;
    this.timers.clear(Timer.PongTimeout);
    if (this.config.keepalive !== false) {
      this.timers.setAfter(Timer.KeepAliveSend, now, keepaliveInterval(this.config.keepalive));
    }
  }

  private handleRequest(now: number, req: RequestMessage): void {
    const initialCredit = this.effective?.initialCredit ?? 0;
    const maxConcurrent = this.config.limits.maxConcurrentRequests;
    const c = this.conn(req.conn);
    if (c === undefined) return this.violate(now, violation.unknownConnection(req.conn));
    if (!ownsId(peerRole(this.role), req.id))
      return this.violate(now, violation.wrongParity(req.id));
    if (c.incoming.has(req.id)) return this.violate(now, violation.duplicateRequestId(req.id));
    const limit = checkMetadataLimits(req.metadata);
    if (limit !== undefined) return this.violate(now, violation.metadata(limit));
    const channels: { id: bigint; direction: Direction }[] = [];
    const credits: SessionEvent<Call, Serve, Channel>[] = [];
    for (const spec of req.channels) {
      const ours: Direction = spec.direction === "caller-to-callee" ? "incoming" : "outgoing";
      const credit = c.channels.registerRemote(spec.id, ours, initialCredit);
      if (typeof credit !== "number") return this.violate(now, credit);
      channels.push({ id: spec.id, direction: ours });
      if (credit > 0) {
        credits.push({ type: "channel-credit", conn: req.conn, channel: spec.id, n: credit });
      }
    }
    let refusal: RemoteErrorCode | undefined;
    if (this.phaseNow === "draining") refusal = RemoteError.Unavailable;
    else if (c.incoming.size >= maxConcurrent) refusal = RemoteError.Overloaded;
    if (refusal !== undefined) {
      this.abandonChannels(
        req.conn,
        channels.map((ch) => ch.id),
      );
      return this.sendResponse(req.conn, req.id, [], remote(refusal));
    }
    const at =
      req.timeoutMicros === undefined
        ? undefined
        : timeAfter(now, Number(req.timeoutMicros) / 1000);
    const deadline =
      at === undefined ? undefined : this.deadlines.insert(at, INCOMING, req.conn, req.id);
    const entry: Incoming<Serve> = {
      methodId: req.methodId,
      deadline,
      hasServe: false,
      serve: undefined,
    };
    c.incoming.set(req.id, entry);
    this.event({
      type: "request",
      request: {
        conn: req.conn,
        id: req.id,
        methodId: req.methodId,
        metadata: req.metadata,
        deadline: at,
        payload: req.payload,
        channels,
        argsSchema: c.schemas.remote(req.methodId, "args"),
        channelsSchema:
          req.channels.length === 0 ? undefined : c.schemas.remote(req.methodId, "channels"),
      },
    });
    // After the request, so the application has created the channel ends the credit is for.
    for (const e of credits) this.event(e);
  }

  private handleResponse(now: number, resp: ResponseMessage): void {
    const c = this.conn(resp.conn);
    if (c === undefined) return this.violate(now, violation.unknownConnection(resp.conn));
    // Checked first, so the call stays in the table and its attachment is released with the
    // others when the violation ends the session.
    const limit = checkMetadataLimits(resp.metadata);
    if (limit !== undefined) return this.violate(now, violation.metadata(limit));
    // A call still waiting was never sent, so it cannot be answered.
    const call = c.takeSent(resp.id);
    if (call === undefined) return this.violate(now, violation.unknownResponse(resp.id));
    if (call.deadline !== undefined) this.deadlines.remove(call.deadline);
    if (call.live) {
      this.event({
        type: "response",
        conn: resp.conn,
        id: resp.id,
        metadata: resp.metadata,
        payload: resp.payload,
        schema: c.schemas.remote(call.methodId, "response"),
        call: call.attach as Call,
      });
    }
    this.pumpWaiting(now, resp.conn);
  }

  private handleSchema(now: number, msg: SchemaMessage): void {
    const c = this.conn(msg.conn);
    if (c === undefined) return this.violate(now, violation.unknownConnection(msg.conn));
    const v = c.schemas.receive(msg.methodId, msg.kind, msg.schema, this.config.validateSchema);
    if (v !== undefined) this.violate(now, v);
  }

  // ----- internals: sending -----

  private conn(id: bigint): Conn<Call, Serve, Channel> | undefined {
    return id === ROOT ? this.root : undefined;
  }

  private maxFrameSize(): number {
    return (this.effective ?? this.config.limits).maxFrameSize;
  }

  private log(level: "debug" | "warn" | "error", message: string): void {
    this.config.log?.(level, message);
  }

  private event(e: SessionEvent<Call, Serve, Channel>): void {
    this.events.push(e);
  }

  /** Encodes `msg`, refusing what would not fit in `max` bytes. */
  private encode(msg: Message, max: number): Encoded {
    let bytes: Uint8Array;
    try {
      bytes = encodeMessage(msg);
    } catch (e) {
      return { kind: "unencodable", detail: errorText(e) };
    }
    if (bytes.length > max) return { kind: "too-large", len: bytes.length, max };
    return bytes;
  }

  /**
   * The one place every outgoing frame passes through: session-level messages are numbered in
   * send order (the numbers resumption acknowledges and replays) and kept while unacknowledged
   * on a resumable session; link-level ones are not. Which of them reach the link now depends
   * on {@link LinkState}.
   */
  private push(cls: "link" | "session", bytes: Uint8Array): void {
    let goes: boolean;
    if (cls === "session") {
      this.sentSeqNow++;
      this.replay?.push(bytes);
      goes = this.linkNow === "attached";
    } else {
      goes = this.linkNow !== "detached";
    }
    if (!goes) return;
    this.transmitBytesNow += bytes.length;
    this.transmit.push(bytes);
  }

  /**
   * Sends a message whose size is bounded by construction (everything but requests, responses
   * and items); one that still does not fit is logged and dropped, never sent cut or empty.
   */
  private sendSmall(msg: Message): void {
    const bytes = this.encode(msg, this.maxFrameSize());
    if (bytes instanceof Uint8Array) return this.push(messageClass(msg), bytes);
    // A `Goodbye` is cut to fit (its rule, at the start, survives: every frame limit is at
    // least MIN_FRAME_SIZE), so the peer always hears why, as in Rust.
    if (msg.type === "goodbye" && bytes.kind === "too-large") {
      const room = this.maxFrameSize() - GOODBYE_OVERHEAD;
      const short = { type: "goodbye", reason: utf8Prefix(msg.reason, room) } as const;
      const cut = this.encode(short, this.maxFrameSize());
      if (cut instanceof Uint8Array) return this.push("link", cut);
    }
    const why = bytes.kind === "too-large" ? `${bytes.len} bytes, over ${bytes.max}` : bytes.detail;
    this.log("error", `${msg.type} not sent: ${why}`);
  }

  private clearTransmit(): void {
    this.transmit.clear();
    this.transmitBytesNow = 0;
  }

  private sendResponse(conn: bigint, id: bigint, metadata: Metadata, payload: Uint8Array): void {
    const msg: ResponseMessage = { type: "response", conn, id, metadata, payload };
    const bytes = this.encode(msg, this.maxFrameSize());
    if (bytes instanceof Uint8Array) return this.push("session", bytes);
    this.log("error", `response ${id} not sendable; answering Internal`);
    this.sendSmall({
      type: "response",
      conn,
      id,
      metadata: [],
      payload: remote(RemoteError.Internal),
    });
  }

  /**
   * Sends our schema for a method payload unless the peer already has it (or withdraws the one
   * sent before, when we have none now).
   */
  private announce(
    conn: bigint,
    methodId: bigint,
    kind: SchemaKind,
    local: Uint8Array | undefined,
  ): void {
    const c = this.conn(conn);
    if (c === undefined) return;
    // A schema the peer's frame limit cannot carry is treated like one we do not have: not
    // sent, and any older one withdrawn.
    const ours =
      local !== undefined && local.length + SCHEMA_MESSAGE_OVERHEAD <= this.maxFrameSize()
        ? local
        : undefined;
    const a = c.schemas.announcement(methodId, kind, ours);
    if (a.kind === "nothing") return;
    const schema = a.kind === "schema" ? a.schema : new Uint8Array(0);
    this.sendSmall({ type: "schema", conn, methodId, kind, schema });
  }

  /** Answers a call we serve and tells the application to stop its handler. */
  private stopHandler(
    now: number,
    conn: bigint,
    id: bigint,
    reason: StopReason,
    answer: RemoteErrorCode,
  ): void {
    // Before the answer: answering the last call of a drain closes the session, and the
    // application should hear about the handler before it hears about the end.
    const entry = this.conn(conn)?.incoming.get(id);
    let serve: Serve | undefined;
    if (entry !== undefined && entry.hasServe) {
      serve = entry.serve;
      entry.serve = undefined;
      entry.hasServe = false;
    }
    this.event({ type: "stop-handler", conn, id, reason, serve });
    this.respond(now, conn, id, [], remote(answer));
  }

  private stopAllHandlers(now: number, reason: StopReason, answer: RemoteErrorCode): void {
    for (const id of [...this.root.incoming.keys()])
      this.stopHandler(now, ROOT, id, reason, answer);
  }

  /** A draining session whose calls are all answered says `Goodbye`. */
  private checkDrained(now: number): void {
    if (this.phaseNow === "draining" && this.incomingInFlight === 0) this.closeDrained(now);
  }

  private closeDrained(now: number): void {
    if (this.phaseNow === "draining") this.close(now, this.drainReason);
  }

  /**
   * Sends waiting calls of `conn` while the peer has free slots. If call `starting` (the one
   * {@link Session.call} is adding) fails to encode, it is returned instead of emitted.
   */
  private pumpWaiting(
    now: number,
    conn: bigint,
    starting?: bigint,
  ): { reason: CallRejected; call: Call } | undefined {
    const limits = this.effective;
    // Without a link a request waits unsent (and unnumbered): if the session cannot be
    // resumed, it is known never to have reached the peer.
    if (limits === undefined || this.isClosed || this.linkNow !== "attached") return undefined;
    if (this.replay?.isFull === true) {
      this.replay.wait();
      return undefined;
    }
    const c = this.conn(conn);
    if (c === undefined) return undefined;
    let refused: { reason: CallRejected; call: Call } | undefined;
    while (c.sent < limits.maxConcurrentRequests && c.waiting.length > 0) {
      const id = c.waiting.shift()!;
      const entry = c.outgoing.get(id);
      const call = entry?.waiting;
      if (entry === undefined || call === undefined) continue;
      entry.waiting = undefined;
      const specs: ChannelSpec[] = call.channels.map((chId, i) => ({
        id: chId,
        direction: call.directions[i] === "outgoing" ? "caller-to-callee" : "callee-to-caller",
      }));
      // What is left of the caller's patience when the request leaves.
      const timeoutMicros =
        entry.deadline === undefined
          ? undefined
          : BigInt(Math.floor(Math.max(0, entry.deadline.at - now) * 1000));
      const request: RequestMessage = {
        type: "request",
        conn,
        id,
        methodId: call.methodId,
        metadata: call.metadata,
        channels: specs,
        timeoutMicros,
        payload: call.payload,
      };
      const bytes = this.encode(request, limits.maxFrameSize);
      if (!(bytes instanceof Uint8Array)) {
        c.outgoing.delete(id);
        const ends: Channel[] = [];
        for (const ch of call.channels) {
          const end = c.channels.forgetQueued(ch);
          if (end !== undefined) ends.push(end);
        }
        if (entry.deadline !== undefined) this.deadlines.remove(entry.deadline);
        // A waiting call given up already left the table with its attachment.
        if (entry.live && id === starting) {
          refused = { reason: bytes, call: entry.attach as Call };
        } else if (entry.live) {
          this.event({
            type: "call-failed",
            conn,
            id,
            reason: bytes,
            sent: false,
            call: entry.attach as Call,
            channels: ends,
          });
        }
        continue;
      }
      c.sent++;
      this.announce(conn, call.methodId, "args", call.argsSchema);
      if (call.channels.length > 0) {
        this.announce(conn, call.methodId, "channels", call.channelsSchema);
      }
      this.push("session", bytes);
      for (const ch of call.channels) {
        const opened = c.channels.openQueued(ch, limits.initialCredit);
        if (opened === undefined) continue;
        if (opened.kind === "sending" && opened.credit > 0) {
          this.event({ type: "channel-credit", conn, channel: ch, n: opened.credit });
        } else if (opened.kind === "closed-before-opening") {
          this.sendSmall({ type: "close", conn, channel: ch });
        } else if (opened.kind === "reset-before-opening") {
          this.sendSmall({ type: "reset", conn, channel: ch });
        }
      }
    }
    return refused;
  }

  // ----- internals: ending -----

  private violate(now: number, v: ProtocolViolation): void {
    this.log("warn", `peer broke the protocol (${v.rule}): ${v.detail}; ending the session`);
    this.sendSmall({ type: "goodbye", reason: goodbyeReason(v) });
    this.end(now, { kind: "protocol", violation: v }, true);
  }

  /**
   * Ends the session for the application. With `flush`, the frames already queued (a
   * `Goodbye`) are still written, for at most the close linger.
   */
  private end(now: number, error: SessionError, flush: boolean): void {
    const c = this.root;
    const r = this.released;
    c.waiting.length = 0;
    c.sent = 0;
    for (const call of c.outgoing.values()) {
      if (!call.live) continue;
      r.calls.push(call.attach as Call);
      if (call.waiting !== undefined) r.unsent.push(call.attach as Call);
    }
    c.outgoing.clear();
    for (const call of c.incoming.values()) if (call.hasServe) r.serving.push(call.serve as Serve);
    c.incoming.clear();
    r.channels.push(...c.channels.drainEnds());
    c.schemas.clear();
    this.deadlines.clear();
    this.timers.clearAll();
    this.pingOutstanding = undefined;
    this.event({ type: "closed", error });
    // Nothing queued can reach the peer any more.
    if (!flush) this.clearTransmit();
    if (flush && this.transmit.size > 0) {
      this.phaseNow = "closing";
      this.timers.setAfter(Timer.CloseLinger, now, this.config.closeLingerMs);
    } else {
      this.finish();
    }
  }

  private finish(): void {
    this.phaseNow = "closed";
    this.timers.clearAll();
  }
}

/** Whether `a` holds exactly the bytes of `b`. */
function sameKey(a: Uint8Array | undefined, b: Uint8Array): boolean {
  if (a === undefined || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function keepaliveInterval(k: Keepalive): number {
  return Math.max(k.intervalMs, MIN_KEEPALIVE_INTERVAL_MS);
}

function stripUndefined<T extends object>(o: T | undefined): Partial<T> {
  const out: Partial<T> = {};
  if (o === undefined) return out;
  for (const [k, v] of Object.entries(o))
    if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}
