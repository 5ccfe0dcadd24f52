/**
 * The driver: runs a sans-IO {@link Session} over a {@link Link} with the real clock, as
 * `roam-runtime/src/driver/` does in Rust. It feeds the session what arrives (frames, the
 * link's end, the time its next timer is due, the application's commands) and carries out
 * what the session asks (write frames, start and stop handlers, settle callers, feed channel
 * ends). Protocol decisions, timers and deadlines stay in the session.
 *
 * - **One timer**: a single `setTimeout`, re-armed to {@link Session.pollTimeout} after every
 *   input.
 * - **Events after every frame**: a request's channel ends are attached before the next frame
 *   (an item on one of them) is handled.
 * - **Ending**: when the session ends with a `Goodbye` to say, it is written and the link is
 *   closed; the session's close linger bounds the wait.
 * - **Backpressure**: frames go to the link at once; a link whose unwritten bytes pass
 *   {@link MAX_WRITE_BACKLOG} ends the session (`write-backlog`).
 * - **Schemas** (docs/protocol.md §7, as `roam-runtime` does): a call given
 *   {@link CallOptions.schemas} announces its argument and channel schemas; a response
 *   written with a different announced response schema is translated to ours before the
 *   caller sees it, and so are the items of each channel the callee writes, by the callee's
 *   `channels` announcement as it stands when the channel's first item arrives (looked up
 *   once per channel). A served call whose caller announced different argument schemas has
 *   its arguments (and the items of channels the handler reads) translated before the handler
 *   sees them, or is answered `IncompatibleSchema` without running the handler, which is also
 *   the answer when the caller cannot read the items the handler would write. Before the
 *   handler of a call with channel arguments runs, our channel schema is announced; an answer
 *   carrying a value or user error announces our response schema. Translations are compiled
 *   once per announcement (`translate.ts`). Announcements are checked with
 *   {@link validateSchema} unless the application gives its own validator.
 * - **Reconnecting** ({@link dial}): the connection makes its links itself. A resumable
 *   session that detaches from a lost link gets a new one per the {@link RetryPolicy} and
 *   {@link Session.resume}s over it; a session that cannot be resumed (refused, out of
 *   attempts, past its grace) is replaced by a fresh one on the same handle, which takes the
 *   calls never sent and the idempotent ones. {@link Connection.state} says which is
 *   happening.
 *
 * Nothing the peer sends, and nothing a handler throws, escapes the driver.
 *
 * @example
 * ```ts
 * import { connect } from "./driver.js";
 * import { openWebSocket } from "./transport-ws.js";
 *
 * const conn = await connect(await openWebSocket("ws://127.0.0.1:9000"));
 * const { payload } = await conn.call(0x1234n, argsBytes, { timeoutMs: 5000 });
 * await conn.close();
 * ```
 *
 * @module
 */

import { RoamError, remoteCodeOf, remoteFailure, sessionEnded } from "./call-error.js";
import { ChannelReceiver, ChannelSender } from "./channel-ends.js";
import type { ChannelEnd, ChannelHost } from "./channel-ends.js";
import type { ChannelSendError, Direction } from "./channels.js";
import type { SessionError } from "./errors.js";
import { formatDuration, violation } from "./errors.js";
import type { Link, LinkClosed } from "./link.js";
import type { MethodSchemaBytes } from "./method-schemas.js";
import { metadataEntries } from "./metadata.js";
import type { MetadataInit } from "./metadata.js";
import {
  ERR,
  OK,
  RemoteError,
  USER,
  incompatible,
  permissionDenied,
  remote,
} from "./response.js";
import type { RemoteErrorCode } from "./response.js";
import { validateSchema } from "./schema-model.js";
import type { PeerSchema } from "./schemas.js";
import { retryDelay, retryPolicy, retryableHandshake, recoverable } from "./retry.js";
import type { RetryPolicy } from "./retry.js";
import { DEFAULT_SESSION_CONFIG, MAX_WRITE_BACKLOG, ROOT, Session } from "./session.js";
import type {
  CallRejected,
  IncomingCall,
  Resumption,
  SessionOptions,
  StopReason,
} from "./session.js";
import {
  TranslationError,
  describeProblems,
  sentItemProblem,
  translationFor,
} from "./translate.js";
import type { FieldDefaults } from "./translate.js";
import type { Role } from "./ids.js";
import type { Limits, Metadata } from "./wire.js";

export { ChannelReceiver, ChannelSender } from "./channel-ends.js";
export type { ChannelEnd } from "./channel-ends.js";
export { RoamError, isCancelled } from "./call-error.js";
export type { RoamErrorCode } from "./call-error.js";
export type { MethodSchemaBytes } from "./method-schemas.js";
export type { FieldDefaults } from "./translate.js";
export { DEFAULT_RETRY } from "./retry.js";
export type { RetryPolicy } from "./retry.js";
export { DEFAULT_RESUMPTION } from "./session.js";
export type { Resumption } from "./session.js";

/**
 * Our schemas of one method, as generated code carries them, and the encoded defaults of
 * reader-only fields whose default is not the zero value (see {@link FieldDefaults}).
 */
export interface MethodSchemas extends MethodSchemaBytes {
  readonly defaults?: FieldDefaults | undefined;
}

/** Options of one call. */
export interface CallOptions {
  /** Aborting gives the call up: `Cancel` goes to the peer and the call rejects `cancelled`. */
  signal?: AbortSignal | undefined;
  /** How long to wait for the answer; sent on the wire so the callee knows its deadline. */
  timeoutMs?: number | undefined;
  /** Request metadata. */
  metadata?: Metadata | undefined;
  /**
   * The call's channel arguments in order: a {@link ChannelSender} for a channel this side
   * sends on (caller to callee), a {@link ChannelReceiver} for one it receives on. Each end is
   * bound to the call and can be used before the answer arrives.
   */
  channels?: readonly ChannelEnd[] | undefined;
  /**
   * Our schemas of the method: the argument and channel schemas are announced before the
   * method's first request, and a response (or the items of a channel the callee writes) the
   * peer wrote with a different announced schema is translated to ours. What cannot be read
   * rejects `incompatible_schema`: the call, or that channel's receiver. Without them the
   * peer's types are taken to be ours.
   */
  schemas?: MethodSchemas | undefined;
  /**
   * The method may run twice without harm (Rust's `#[roam(idempotent)]`): on a connection from
   * {@link dial}, if the session is lost while the call is in flight, it is made again on the
   * fresh session instead of failing `connection_lost`. Calls with channels are never made
   * again. Default `false`.
   */
  idempotent?: boolean | undefined;
}

/** A call's answer: the raw `Result` payload (`Ok` or a user error) and its metadata. */
export interface CallResponse {
  /** The encoded `Result<T, RoamError<E>>`: `00`+T or `01 00`+E; decode with generated code. */
  readonly payload: Uint8Array;
  readonly metadata: Metadata;
}

/** A call the peer made, as a handler sees it. */
export interface ServedCall {
  readonly methodId: bigint;
  /** The encoded argument tuple. */
  readonly payload: Uint8Array;
  readonly metadata: Metadata;
  /** Aborted when the caller cancels, its deadline passes, or the session ends. */
  readonly signal: AbortSignal;
  /** When the caller stops waiting, on `performance.now()`'s clock, if it set a deadline. */
  readonly deadline: number | undefined;
  /**
   * The call's channels in argument order, already bound. They are ended when the handler
   * settles (senders closed, receivers reset), as Rust drops them with the handler.
   */
  readonly channels: readonly ChannelEnd[];
}

/** What a handler answers: the encoded `Result` payload, optionally with metadata. */
export type HandlerAnswer =
  | Uint8Array
  | { readonly payload: Uint8Array; readonly metadata: Metadata };

/**
 * Serves the peer's calls. Return the encoded `Result` (a user error is an `Err(User)`
 * payload). Throw a {@link RoamError} to answer with its code (for the codes the wire has);
 * `permission_denied` denies the call, and its message goes to the caller as the reason.
 * Anything else thrown answers `Internal`, without leaking the message. Methods it does not
 * know should be answered with `remote(RemoteError.UnknownMethod)`.
 */
export type Handler = (call: ServedCall) => Promise<HandlerAnswer> | HandlerAnswer;

/** How {@link connect} sets a session up. */
export interface ConnectOptions extends Omit<SessionOptions, "metadata" | "resumption"> {
  /** `initiator` (the default: this side dialed) or `acceptor` (it accepted the link). */
  role?: Role | undefined;
  /**
   * What our `Hello` carries: an initiator's credentials, checked by the server before the
   * session begins (e.g. `{ authorization: "Bearer <token>" }`). Written as call metadata is
   * (a record or an iterable of pairs, lower-case keys) and held to the same limits; a bad key
   * or value rejects with a `TypeError` and metadata over the limits with a `RangeError`, both
   * before anything is sent. A server that does not accept it ends the handshake with a
   * `refused` session error (`handshake_failed`). Sent once per link: a connection from
   * {@link dial} sends it again on every link it makes (a resume included).
   */
  metadata?: MetadataInit | undefined;
  /** Serves the peer's calls; without one every call is answered `UnknownMethod`. */
  handler?: Handler | undefined;
  /**
   * Our schemas of the methods the handler serves, by method ID: the peer's arguments (and the
   * items of channels the handler reads) are translated to them when its announced schemas
   * differ, a call whose caller cannot read the items the handler writes is refused, and our
   * channel and response schemas are announced. Without them (or for a method it answers
   * `undefined` for) payloads are passed as they are and nothing is announced.
   */
  schemas?: ((methodId: bigint) => MethodSchemas | undefined) | undefined;
}

/** What a {@link Connection} is doing (see {@link Connection.state}). */
export type ConnectionState =
  /** Making a link and a session's handshake: the first one, or a fresh one after a loss. */
  | "connecting"
  /** The first session is established. */
  | "connected"
  /** The session lost its link and waits, calls and all, while a new link resumes it. */
  | "reconnecting"
  /** A new link resumed the session: nothing was lost. */
  | "resumed"
  /**
   * The session was lost (its resume refused, or none in time) and a fresh one replaced it:
   * calls in flight on the old one failed (`connection_lost`), except idempotent ones and
   * calls never sent, which went to the new session.
   */
  | "fresh"
  /** Closed by the application, or no session could be had within the retry policy. */
  | "closed";

/** A change of {@link Connection.state}, as {@link Connection.onStateChange} reports it. */
export interface StateChange {
  /** The new state. */
  readonly state: ConnectionState;
  /** The state before. */
  readonly previous: ConnectionState;
  /**
   * Why, where something was lost: how the link was lost (`reconnecting`), how the previous
   * session ended (`connecting` after a loss, `fresh`), why the connection ended (`closed`).
   */
  readonly error: SessionError | undefined;
}

/**
 * How {@link dial} connects and reconnects: everything {@link connect} takes (but the role: it
 * is the initiator), and what to do when the link is lost.
 */
export interface DialOptions extends Omit<ConnectOptions, "role"> {
  /**
   * How often and for how long to try a link: for the first connection, to resume a session
   * whose link was lost, and to start a fresh one if that fails (see {@link RetryPolicy};
   * missing fields take {@link DEFAULT_RETRY}). `false`: one attempt to connect, and a lost
   * link ends the connection (`closed`), as with {@link connect}.
   */
  retry?: Partial<RetryPolicy> | false | undefined;
  /**
   * Offer the server resumption (docs/protocol.md §8), so that a lost link loses nothing: the
   * session waits and a new link resumes it (default `true`; ignored with `retry: false`). A
   * server that does not grant it answers `Off`, and a lost link then means a fresh session.
   */
  resumable?: boolean | undefined;
  /** The replay buffer, grace period and acknowledgement rhythm (Rust's defaults). */
  resumption?: Partial<Resumption> | undefined;
  /** Called with every change of {@link Connection.state}, from the first `connecting` on. */
  onStateChange?: ((change: StateChange) => void) | undefined;
}

/**
 * Makes one link for {@link dial}: `openWebSocket(url, …)`, `connectTcp(port, host)`,
 * `connectTls(port, host, { ca, signal })`, … `signal` aborts when the attempt is given up
 * (it took longer than the handshake timeout, or the connection was closed meanwhile). A
 * failure is tried again per the retry policy, unless the error it rejects with has
 * `retryable: false` (as a `TlsConnectError` for a refused certificate has).
 */
export type LinkOpener = (signal: AbortSignal) => Promise<Link>;

interface PendingCall {
  readonly resolve: (r: CallResponse) => void;
  readonly reject: (e: unknown) => void;
  /** Removes the abort listener and the backlog timer. */
  cleanup: () => void;
  /** Our schemas of the method, to read the response with. */
  readonly schemas: MethodSchemas | undefined;
  readonly methodId: bigint;
  readonly args: Uint8Array;
  readonly metadata: Metadata | undefined;
  readonly timeoutMs: number | undefined;
  /** When the call was made: its timeout counts from here, on every session it goes to. */
  readonly startedAt: number;
  /** The call may be made again on a fresh session even if it had been sent. */
  readonly idempotent: boolean;
  readonly channels: readonly ChannelEnd[];
  /** The session the call is on, with its request ID there; `undefined` in the backlog. */
  run: Run | undefined;
  id: bigint;
  /** In the backlog: the timer that fails it at its deadline. */
  timer: ReturnType<typeof setTimeout> | undefined;
}

interface Serving {
  readonly run: Run;
  readonly controller: AbortController;
  readonly channels: readonly ChannelEnd[];
  /** Our response schema, announced with an answer that carries a value or user error. */
  readonly responseSchema: Uint8Array | undefined;
}

/** One session of a connection, and what its channel ends reach it through. */
interface Run {
  readonly session: Session<PendingCall, Serving, ChannelEnd>;
  host: ChannelHost;
  /** Channel senders told `replay-full`, woken by the next `replay-room` (or the end). */
  roomWaiters: (() => void)[];
  established: boolean;
  /** The session is done and its link closed. */
  finished: boolean;
}

/** One link the current session runs over. */
interface LinkSlot {
  readonly link: Link;
  /** The link can carry nothing more (it failed, or the peer hung up). */
  dead: boolean;
  /** {@link Link.close} was called. */
  closed: boolean;
}

/** Where a reconnecting connection gets its links. */
interface Dialer {
  readonly open: LinkOpener;
  readonly policy: RetryPolicy;
  /** Whether a lost session is resumed or replaced (not with `retry: false`). */
  readonly reconnect: boolean;
}

/** What the current session did next, for the loop waiting on it. */
type Outcome =
  | { readonly kind: "established" }
  | { readonly kind: "resumed" }
  | { readonly kind: "detached"; readonly error: SessionError }
  | { readonly kind: "closed"; readonly error: SessionError };

/** Why no session could be had: the last session's end, or the last link that failed. */
type Failure = { readonly session: SessionError } | { readonly dial: unknown };

function now(): number {
  return performance.now();
}

/** setTimeout's delay is a 32-bit signed count of ms; beyond it fires at once. */
const MAX_TIMER_DELAY = 0x7fffffff;

function timerDelay(ms: number): number {
  return Math.min(MAX_TIMER_DELAY, Math.max(0, Math.ceil(ms)));
}

/** The RoamError for a call the session failed. */
function rejection(reason: CallRejected): RoamError {
  switch (reason.kind) {
    case "deadline-exceeded":
      return new RoamError("deadline_exceeded", "the call's deadline passed");
    case "too-large":
      return new RoamError(
        "too_large",
        `the request of ${reason.len} bytes exceeds the frame limit of ${reason.max}`,
      );
    case "metadata":
      return new RoamError("too_large", `request metadata over the limits: ${reason.detail}`);
    case "closed":
      return sessionEnded(reason.error);
    case "unknown-connection":
    case "id-in-use":
      return new RoamError("internal", `the call could not start (${reason.kind})`);
    case "unencodable":
      return new RoamError("invalid_argument", `the request cannot be encoded: ${reason.detail}`);
  }
}

function stopError(reason: StopReason): RoamError {
  switch (reason) {
    case "cancelled":
      return new RoamError("cancelled", "the caller cancelled the call");
    case "deadline-exceeded":
      return new RoamError("deadline_exceeded", "the caller's deadline passed");
    case "shutdown":
      return new RoamError("unavailable", "the session is shutting down");
  }
}

/** Ends a channel end the application will not use any more, as Rust's drop would. */
function endChannel(end: ChannelEnd): void {
  if (end instanceof ChannelSender) end.close();
  else end.cancel();
}

/**
 * Whether a link's failure will recur however often it is tried: the opener threw an error
 * whose `retryable` is `false` (a `TlsConnectError` for a refused certificate, say).
 */
function permanent(e: unknown): boolean {
  return typeof e === "object" && e !== null && (e as { retryable?: unknown }).retryable === false;
}

/** The session error a connection ends with when no link could be made. */
function dialFailed(e: unknown): SessionError {
  return { kind: "transport", detail: `no link could be made: ${errorText(e)}` };
}

/**
 * A connection to a peer: make calls, serve the peer's, and end it. Created by {@link connect}
 * (one session over the link it is given) or {@link dial} (which makes links itself, and
 * reconnects: a lost link is resumed, or replaced by a fresh session, on the same handle).
 * Watch {@link Connection.state} with {@link Connection.onStateChange}.
 */
export class Connection {
  private readonly role: Role;
  private readonly sessionOptions: SessionOptions;
  private readonly handler: Handler | undefined;
  private readonly schemas: ((methodId: bigint) => MethodSchemas | undefined) | undefined;
  private readonly dialer: Dialer | undefined;
  /** The current session, if one was made. */
  private run: Run | undefined;
  /** The current session's link, if it has one. */
  private slot: LinkSlot | undefined;
  /** {@link connect}'s link, until {@link Connection.start} starts it. */
  private pending: Link | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private armedAt: number | undefined;
  private settling = false;
  private again = false;
  private stateNow: ConnectionState = "connecting";
  private readonly listeners = new Set<(change: StateChange) => void>();
  /** Calls waiting for a session to be established (made between sessions, or carried over). */
  private readonly backlog = new Set<PendingCall>();
  /** Resolved by the next outcome of the current session, for the loop waiting on it. */
  private outcome: ((o: Outcome) => void) | undefined;
  private closeRequested = false;
  private drainRequested = false;
  private recovering = false;
  private recoverAgain = false;
  /** Cuts the retry loop's sleep short (on close). */
  private wake: (() => void) | undefined;
  /** Gives up the link being made (on close). */
  private dialAbort: AbortController | undefined;
  private lastDialError: unknown;
  /** How the previous session was lost, for the states that follow. */
  private lost: SessionError | undefined;
  private everEstablished = false;
  private finalError: SessionError | undefined;
  private readonly closedPromise: Promise<SessionError>;
  private resolveClosed!: (e: SessionError) => void;
  private readonly donePromise: Promise<void>;
  private resolveDone!: () => void;
  private doneResolved = false;

  /** @internal Use {@link connect} or {@link dial}. */
  constructor(link: Link | undefined, options: ConnectOptions, dialer?: Dialer) {
    const { role = "initiator", handler, schemas, metadata, ...rest } = options;
    const sessionOptions: SessionOptions = rest;
    // Only a connection that can make new links resumes: one over a given link would wait
    // out the grace period for a link that never comes.
    if (dialer === undefined || !dialer.reconnect) delete sessionOptions.resumption;
    if (metadata !== undefined) sessionOptions.metadata = metadataEntries(metadata);
    // As the Rust session: an announcement that is not a canonical schema ends the session.
    sessionOptions.validateSchema ??= validateSchema;
    this.role = role;
    this.sessionOptions = sessionOptions;
    this.handler = handler;
    this.schemas = schemas;
    this.dialer = dialer;
    this.closedPromise = new Promise((resolve) => (this.resolveClosed = resolve));
    this.donePromise = new Promise((resolve) => (this.resolveDone = resolve));
    if (link === undefined) {
      // Checks the options now (a bad limit or metadata throws), before any link is made.
      void new Session(role, now(), this.runOptions());
    } else {
      this.newRun();
      this.pending = link;
      link.maxFrameSize = this.run!.session.config.limits.maxFrameSize;
    }
  }

  /** @internal Starts {@link connect}'s link and resolves once the handshake is done. */
  async start(): Promise<void> {
    const link = this.pending;
    this.pending = undefined;
    if (link === undefined) return;
    const outcome = this.expect();
    this.attach(link);
    this.settle();
    const o = await outcome;
    if (o.kind === "established") return;
    const error = o.kind === "closed" ? o.error : { kind: "locally-closed" as const };
    this.finalize(error);
    // Whatever ended it, a session that never got going failed its handshake.
    throw new RoamError("handshake_failed", sessionEnded(error).message, { sessionError: error });
  }

  /**
   * @internal {@link dial}'s first connection: tries links per the retry policy until a
   * session is established. Rejects with the last link's error when none could be made, or
   * with a `handshake_failed` RoamError when a session was refused (or kept failing).
   */
  async connectFirst(): Promise<void> {
    const failure = await this.freshPhase();
    if (failure === undefined) return;
    if ("dial" in failure) {
      this.finalize(dialFailed(failure.dial));
      throw failure.dial;
    }
    const error = failure.session;
    this.finalize(error);
    throw new RoamError("handshake_failed", sessionEnded(error).message, { sessionError: error });
  }

  /** The effective limits (minimum of both sides' announcements). */
  get limits(): Limits {
    const s = this.run?.session;
    if (s === undefined) return new Session(this.role, 0, this.runOptions()).config.limits;
    return s.limits ?? s.config.limits;
  }

  /** The session key the acceptor issued (of the current session). */
  get sessionKey(): Uint8Array | undefined {
    return this.run?.session.sessionKey;
  }

  /** Whether the connection has ended: calls are refused. */
  get isClosed(): boolean {
    return this.finalError !== undefined;
  }

  /**
   * What the connection is doing: `connecting`, `connected`, `reconnecting` (the link was
   * lost; calls wait), `resumed` (a new link resumed the session), `fresh` (the session was
   * lost and replaced), or `closed`. See {@link ConnectionState}.
   */
  get state(): ConnectionState {
    return this.stateNow;
  }

  /**
   * Calls `listener` with every later change of {@link Connection.state}; returns the function
   * that stops it. Called synchronously, in order; what it throws is ignored.
   *
   * @example
   * ```ts
   * const stop = conn.onStateChange(({ state, error }) => {
   *   banner.textContent = state === "reconnecting" ? "Reconnecting…" : "";
   * });
   * ```
   */
  onStateChange(listener: (change: StateChange) => void): () => void {
    const l = (c: StateChange) => listener(c);
    this.listeners.add(l);
    return () => {
      this.listeners.delete(l);
    };
  }

  /** Resolves with why the connection ended (its last session's end), once it has. */
  get closed(): Promise<SessionError> {
    return this.closedPromise;
  }

  /** Resolves once the connection has ended and its last link is closed. */
  get done(): Promise<void> {
    return this.donePromise;
  }

  /**
   * Calls method `methodId` with the encoded argument tuple `args`. Resolves with the raw
   * `Result` payload when the answer is `Ok` or a user error; rejects with a
   * {@link RoamError} for everything else: `cancelled` (the signal aborted; `Cancel` is sent),
   * `deadline_exceeded`, `connection_lost`, a runtime failure the callee answered
   * (`unimplemented`, `internal`, …), `incompatible_schema` (the callee cannot read our
   * arguments, or we cannot read its response), `permission_denied` (the callee refused the
   * call before any handler ran; the message carries its reason), or `too_large` when nothing
   * could be sent.
   *
   * On a connection from {@link dial}, a call made while the link is lost waits (unsent) for
   * the resume or for a fresh session; one in flight when the session is lost fails
   * `connection_lost`, unless it is `idempotent` (and has no channels): then it is made again
   * on the fresh session.
   */
  call(methodId: bigint, args: Uint8Array, options: CallOptions = {}): Promise<CallResponse> {
    const { signal, timeoutMs, metadata, channels = [], schemas, idempotent = false } = options;
    const fail = (e: RoamError): Promise<CallResponse> => {
      for (const end of channels) end.fail(e);
      return Promise.reject(e);
    };
    for (const end of channels) {
      if (end.isBound) {
        return Promise.reject(new Error("a channel end can be used in one call only"));
      }
    }
    if (this.finalError !== undefined) return fail(sessionEnded(this.finalError));
    if (signal?.aborted === true) {
      const cause = signal.reason;
      return fail(new RoamError("cancelled", "the call was aborted before it started", { cause }));
    }
    return new Promise<CallResponse>((resolve, reject) => {
      let onAbort: (() => void) | undefined;
      const pending: PendingCall = {
        resolve,
        reject,
        cleanup: () => {
          if (onAbort !== undefined) signal?.removeEventListener("abort", onAbort);
          if (pending.timer !== undefined) clearTimeout(pending.timer);
          pending.timer = undefined;
        },
        schemas,
        methodId,
        args,
        metadata,
        timeoutMs,
        startedAt: now(),
        idempotent,
        channels,
        run: undefined,
        id: 0n,
        timer: undefined,
      };
      if (signal !== undefined) {
        onAbort = () => this.abort(pending, signal.reason);
        signal.addEventListener("abort", onAbort, { once: true });
      }
      const run = this.run;
      if (run !== undefined && run.established && !run.session.isClosed) this.issue(pending, run);
      else this.toBacklog(pending);
      this.settle();
    });
  }

  /**
   * Stops taking new calls from the peer and closes the session once the calls being served
   * are answered (or the drain grace runs out). Resolves when the link is closed. A lost link
   * is still resumed meanwhile, but no fresh session is started.
   */
  drain(reason = "draining"): Promise<void> {
    this.drainRequested = true;
    const run = this.run;
    if (run !== undefined && run.established && !run.session.isClosed) {
      run.session.startDrain(now(), reason);
      this.settle();
    } else {
      this.close(reason);
    }
    return this.donePromise;
  }

  /** Ends the connection now, with a `Goodbye` if it has a link; resolves when it is closed. */
  close(reason = "closed by the application"): Promise<void> {
    this.closeRequested = true;
    this.dialAbort?.abort(new Error("the connection was closed"));
    this.wake?.();
    const run = this.run;
    if (run !== undefined && !run.session.isClosed) {
      run.session.close(now(), reason);
      this.settle();
    }
    this.finalize({ kind: "locally-closed" });
    return this.donePromise;
  }

  // ----- calls -----

  /** Starts `p` on `run`'s (established) session. */
  private issue(p: PendingCall, run: Run): void {
    const s = run.session;
    const elapsed = now() - p.startedAt;
    const timeoutMs = p.timeoutMs === undefined ? undefined : Math.max(0, p.timeoutMs - elapsed);
    const schemas = p.schemas;
    if (schemas !== undefined) {
      p.channels.forEach((end, i) => {
        if (end instanceof ChannelReceiver) {
          end.itemReader = this.firstItemReader(s, end, p.methodId, i, schemas);
        }
      });
    }
    const directions: Direction[] = p.channels.map((end) =>
      end instanceof ChannelSender ? "outgoing" : "incoming",
    );
    const id = s.nextRequestId();
    const started = s.call(
      now(),
      ROOT,
      id,
      {
        methodId: p.methodId,
        payload: p.args,
        metadata: p.metadata,
        timeoutMs,
        channels: directions,
        argsSchema: schemas?.args,
        channelsSchema: schemas?.channels,
      },
      p,
    );
    if (!started.ok) {
      const e = rejection(started.reason);
      for (const end of p.channels) end.fail(e);
      p.cleanup();
      p.reject(e);
      return;
    }
    p.run = run;
    p.id = id;
    // Established: this is the effective credit the channels open with.
    const credit = (s.limits ?? s.config.limits).initialCredit;
    p.channels.forEach((end, i) => {
      const chId = started.channels[i]!;
      if (end instanceof ChannelSender) end.bind(run.host, chId);
      else end.bind(run.host, chId, credit);
      if (!s.attachChannel(ROOT, chId, end)) {
        end.fail(new RoamError("cancelled", "the channel ended before it opened"));
      }
    });
  }

  /** Keeps `p` until a session is established (failing it at its deadline meanwhile). */
  private toBacklog(p: PendingCall): void {
    if (this.finalError !== undefined) {
      const e = sessionEnded(this.finalError);
      for (const end of p.channels) end.fail(e);
      p.cleanup();
      p.reject(e);
      return;
    }
    p.run = undefined;
    this.backlog.add(p);
    if (p.timeoutMs !== undefined && Number.isFinite(p.timeoutMs)) {
      const left = p.timeoutMs - (now() - p.startedAt);
      p.timer = setTimeout(() => {
        p.timer = undefined;
        if (!this.backlog.delete(p)) return;
        const e = new RoamError("deadline_exceeded", "the call's deadline passed");
        for (const end of p.channels) end.fail(e);
        p.cleanup();
        p.reject(e);
      }, timerDelay(left));
    }
  }

  /** The calls waiting for a session go to `run`'s, now established, in the order made. */
  private flushBacklog(run: Run): void {
    const waiting = [...this.backlog];
    this.backlog.clear();
    for (const p of waiting) {
      if (p.timer !== undefined) clearTimeout(p.timer);
      p.timer = undefined;
      this.issue(p, run);
    }
  }

  /** `p`'s signal aborted. */
  private abort(p: PendingCall, cause: unknown): void {
    const e = new RoamError("cancelled", "the call was aborted", { cause });
    if (this.backlog.delete(p)) {
      for (const end of p.channels) end.fail(e);
      p.cleanup();
      p.reject(e);
      return;
    }
    const run = p.run;
    if (run === undefined) return;
    const given = run.session.cancel(ROOT, p.id);
    if (given === undefined) return;
    for (const end of given.channels) end.fail(e);
    p.cleanup();
    p.reject(e);
    this.settle();
  }

  // ----- sessions and links -----

  /** What a new session is made with: an acceptor issues a fresh random key per session. */
  private runOptions(): SessionOptions {
    const o: SessionOptions = { ...this.sessionOptions };
    if (this.role === "acceptor" && o.sessionKey === undefined) {
      o.sessionKey = crypto.getRandomValues(new Uint8Array(16));
    }
    return o;
  }

  /** Makes a new current session (its `Hello` is queued for the link attached next). */
  private newRun(): Run {
    const options = this.runOptions();
    const session = new Session<PendingCall, Serving, ChannelEnd>(this.role, now(), options);
    const run: Run = {
      session,
      host: undefined as unknown as ChannelHost,
      roomWaiters: [],
      established: false,
      finished: false,
    };
    run.host = this.hostFor(run);
    this.run = run;
    this.slot = undefined;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.armedAt = undefined;
    return run;
  }

  /** What the channel ends of `run`'s calls reach its session through. */
  private hostFor(run: Run): ChannelHost {
    const s = run.session;
    return {
      sendData: (ch: bigint, payload: Uint8Array): ChannelSendError | undefined => {
        const r = s.sendData(ROOT, ch, payload);
        this.settle();
        return r;
      },
      credit: (ch: bigint) => s.channelCredit(ROOT, ch),
      closeChannel: (ch: bigint) => {
        s.closeChannel(ROOT, ch);
        this.settle();
      },
      resetChannel: (ch: bigint) => {
        s.resetChannel(ROOT, ch);
        this.settle();
      },
      grantCredit: (ch: bigint, n: number) => {
        s.grantCredit(ROOT, ch, n);
        this.settle();
      },
      waitForRoom: (wake: () => void) => {
        if (s.isClosed) wake();
        else run.roomWaiters.push(wake);
      },
    };
  }

  /** Runs the current session over `link`, which replaces any link it had. */
  private attach(link: Link): void {
    const run = this.run!;
    const slot: LinkSlot = { link, dead: false, closed: false };
    this.slot = slot;
    const s = run.session;
    link.maxFrameSize = (s.limits ?? s.config.limits).maxFrameSize;
    link.start({
      frame: (body) => {
        // A link given up on (lost, replaced) has nothing more to say to the session.
        if (this.slot !== slot) return;
        s.handleFrame(now(), body);
        this.settle();
      },
      closed: (why: LinkClosed) => {
        if (this.slot !== slot) return;
        // A peer that broke a link rule is still there to hear the Goodbye naming it.
        if (why.violation === undefined) slot.dead = true;
        s.handleLinkClosed(now(), why.violation, why.detail);
        this.settle();
      },
    });
  }

  /** Lets the current link go (the session detached from it). */
  private retireLink(): void {
    const slot = this.slot;
    this.slot = undefined;
    if (slot !== undefined && !slot.closed) {
      slot.closed = true;
      slot.link.close();
    }
  }

  /** A promise of the current session's next outcome. */
  private expect(): Promise<Outcome> {
    return new Promise((resolve) => (this.outcome = resolve));
  }

  private report(o: Outcome): void {
    const f = this.outcome;
    this.outcome = undefined;
    f?.(o);
  }

  private setState(state: ConnectionState, error?: SessionError): void {
    if (this.stateNow === state || this.stateNow === "closed") return;
    const change: StateChange = { state, previous: this.stateNow, error };
    this.stateNow = state;
    for (const l of [...this.listeners]) {
      // The application's code must not stop the driver.
      try {
        l(change);
      } catch {
        // Ignored, as documented.
      }
    }
  }

  /** The connection is over: calls waiting for a session fail, and `closed` resolves. */
  private finalize(error: SessionError): void {
    if (this.finalError !== undefined) return;
    this.finalError = error;
    this.dialAbort?.abort(new Error("the connection was closed"));
    this.wake?.();
    const err = sessionEnded(error);
    const waiting = [...this.backlog];
    this.backlog.clear();
    for (const p of waiting) {
      for (const end of p.channels) end.fail(err);
      p.cleanup();
      p.reject(err);
    }
    this.setState("closed", error);
    this.resolveClosed(error);
    if (this.run === undefined || this.run.finished) this.finishDone();
  }

  private finishDone(): void {
    if (this.doneResolved) return;
    this.doneResolved = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.resolveDone();
  }

  // ----- reconnecting -----

  /** Something was lost: runs the recovery (again, if it is running). */
  private kick(): void {
    const d = this.dialer;
    if (d === undefined || !d.reconnect || this.finalError !== undefined) return;
    if (this.recovering) {
      this.recoverAgain = true;
      return;
    }
    this.recovering = true;
    void this.recover();
  }

  private async recover(): Promise<void> {
    try {
      do {
        this.recoverAgain = false;
        await this.recoverOnce();
      } while (this.recoverAgain && this.finalError === undefined);
    } catch (e) {
      // A bug: the connection cannot go on, but nothing may be left unhandled.
      this.finalize({ kind: "transport", detail: `reconnecting failed: ${errorText(e)}` });
    } finally {
      this.recovering = false;
    }
  }

  /** Resumes a detached session, or replaces a lost one, as far as the policy allows. */
  private async recoverOnce(): Promise<void> {
    if (this.finalError !== undefined || this.closeRequested) return;
    const run = this.run;
    if (run !== undefined && !run.session.isClosed && run.session.isDetached) {
      const started = now();
      const tried = await this.resumePhase(run);
      if (tried === "resumed") return;
      if (this.finalError !== undefined || this.closeRequested) return;
      if (!run.session.isClosed && this.run === run) {
        // Out of attempts or budget: the session is given up, and its calls fail (as Rust's
        // runtime says it).
        const elapsed = formatDuration(now() - started);
        run.session.giveUp(now(), {
          kind: "transport",
          detail:
            `the link was lost and no new one could be made (${tried} attempts in ${elapsed}); ` +
            "check that the server is up and reachable",
        });
        this.settle();
      }
    }
    if (this.finalError !== undefined || this.closeRequested || this.drainRequested) return;
    const current = this.run;
    // Only a session that was established and lost is replaced here (the first one is dial's).
    if (!this.everEstablished || (current !== undefined && !current.session.isClosed)) return;
    this.setState("connecting", this.lost);
    const failure = await this.freshPhase();
    if (failure === undefined || this.finalError !== undefined) return;
    this.finalize("dial" in failure ? dialFailed(failure.dial) : failure.session);
  }

  /**
   * Tries new links for `run`'s detached session: `"resumed"` if one resumed it, otherwise the
   * number of links tried.
   */
  private async resumePhase(run: Run): Promise<"resumed" | number> {
    const p = this.dialer!.policy;
    const start = now();
    let tried = 0;
    for (let attempt = 1; attempt <= p.attempts; attempt++) {
      const gone = () => this.closeRequested || run.session.isClosed || this.run !== run;
      if (gone()) return tried;
      if (!(await this.pause(p, attempt, start)) || gone()) return tried;
      tried++;
      const link = await this.openLink();
      if (link === undefined) {
        if (permanent(this.lastDialError)) return tried;
        continue;
      }
      if (gone() || !run.session.isDetached) {
        link.close();
        return tried;
      }
      const outcome = this.expect();
      run.session.resume(now(), crypto.getRandomValues(new Uint8Array(16)));
      this.attach(link);
      this.settle();
      const o = await outcome;
      if (o.kind === "resumed") return "resumed";
      if (o.kind === "closed") return tried;
      // Lost again before the answer, or no answer in time: another link.
    }
    return tried;
  }

  /**
   * Tries new links and sessions until one is established; `undefined` then, otherwise why
   * none could be had.
   */
  private async freshPhase(): Promise<Failure | undefined> {
    const p = this.dialer!.policy;
    const start = now();
    let last: Failure = { session: { kind: "locally-closed" } };
    for (let attempt = 1; attempt <= p.attempts; attempt++) {
      if (this.closeRequested) return last;
      if (!(await this.pause(p, attempt, start)) || this.closeRequested) return last;
      const link = await this.openLink();
      if (link === undefined) {
        last = { dial: this.lastDialError };
        if (permanent(this.lastDialError)) return last;
        continue;
      }
      if (this.closeRequested) {
        link.close();
        return last;
      }
      const outcome = this.expect();
      this.newRun();
      this.attach(link);
      this.settle();
      const o = await outcome;
      if (o.kind === "established") return undefined;
      const error = o.kind === "closed" ? o.error : { kind: "locally-closed" as const };
      last = { session: error };
      if (!retryableHandshake(error)) return last;
    }
    return last;
  }

  /**
   * Waits before attempt `attempt` of a phase that started at `start` (at most until the
   * budget's end); false when the budget is spent (the first attempt always goes, at once).
   * Rust's reconnect loop, step for step.
   */
  private async pause(p: RetryPolicy, attempt: number, start: number): Promise<boolean> {
    const left = p.budgetMs - (now() - start);
    if (attempt > 1 && left <= 0) return false;
    const wait = Math.min(retryDelay(p, attempt, Math.random()), Math.max(0, left));
    if (wait > 0) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, timerDelay(wait));
        const self = this;
        function done(): void {
          clearTimeout(t);
          if (self.wake === done) self.wake = undefined;
          resolve();
        }
        this.wake = done;
      });
    }
    return true;
  }

  /**
   * One link from the dialer, within the handshake timeout (link set-up counts as part of the
   * handshake, docs/protocol.md §3.1); `undefined` if it failed (its error kept in
   * `lastDialError`).
   */
  private async openLink(): Promise<Link | undefined> {
    const within =
      this.sessionOptions.handshakeTimeoutMs ?? DEFAULT_SESSION_CONFIG.handshakeTimeoutMs;
    const abort = new AbortController();
    this.dialAbort = abort;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      return await new Promise<Link>((resolve, reject) => {
        let settled = false;
        const give = (e: unknown) => {
          if (settled) return;
          settled = true;
          reject(e);
        };
        abort.signal.addEventListener("abort", () => give(abort.signal.reason), { once: true });
        if (Number.isFinite(within)) {
          timer = setTimeout(() => {
            const e = new Error(`no link within ${within} ms`);
            abort.abort(e);
            give(e);
          }, timerDelay(within));
        }
        let opening: Promise<Link>;
        try {
          opening = this.dialer!.open(abort.signal);
        } catch (e) {
          give(e);
          return;
        }
        opening.then(
          (link) => {
            if (settled) {
              // Given up on meanwhile: the late link is not ours to keep.
              link.close();
              return;
            }
            settled = true;
            resolve(link);
          },
          (e: unknown) => give(e),
        );
      });
    } catch (e) {
      this.lastDialError = e;
      return undefined;
    } finally {
      if (timer !== undefined) clearTimeout(timer);
      if (this.dialAbort === abort) this.dialAbort = undefined;
    }
  }

  // ----- the session's events -----

  /**
   * Routes events, writes frames and re-arms the timer until the session has nothing more to
   * say. Re-entrant calls (from a callback run while settling) fold into the running one.
   */
  private settle(): void {
    if (this.settling) {
      this.again = true;
      return;
    }
    this.settling = true;
    try {
      do {
        this.again = false;
        const run = this.run;
        if (run === undefined) return;
        this.routeEvents(run);
        this.write(run);
      } while (this.again);
      this.arm();
    } finally {
      this.settling = false;
    }
  }

  private routeEvents(run: Run): void {
    const s = run.session;
    for (let e = s.pollEvent(); e !== undefined; e = s.pollEvent()) {
      switch (e.type) {
        case "established": {
          if (this.slot !== undefined) this.slot.link.maxFrameSize = e.limits.maxFrameSize;
          run.established = true;
          const first = !this.everEstablished;
          this.everEstablished = true;
          this.setState(first ? "connected" : "fresh", this.lost);
          this.report({ kind: "established" });
          this.flushBacklog(run);
          break;
        }
        case "request":
          this.serve(run, e.request);
          break;
        case "response": {
          e.call.cleanup();
          const failure = remoteFailure(e.payload);
          if (failure !== undefined) {
            e.call.reject(failure);
            break;
          }
          const read = readResponse(e.payload, e.schema, e.call.schemas);
          if (read instanceof Uint8Array) e.call.resolve({ payload: read, metadata: e.metadata });
          else e.call.reject(read);
          break;
        }
        case "call-failed": {
          e.call.cleanup();
          const err = rejection(e.reason);
          for (const end of e.channels) end.fail(err);
          e.call.reject(err);
          break;
        }
        case "stop-handler":
          if (e.serve !== undefined) this.stopServing(e.serve, stopError(e.reason));
          break;
        case "channel-data": {
          const end = s.channelEnd(ROOT, e.channel);
          if (end instanceof ChannelReceiver) this.deliver(s, end, e.channel, e.payload);
          break;
        }
        case "channel-closed":
          if (e.end instanceof ChannelReceiver) e.end.finish();
          break;
        case "channel-reset":
          e.end?.fail(new RoamError("channel_reset", "the peer's receiver stopped the channel"));
          break;
        case "channel-credit": {
          const end = s.channelEnd(ROOT, e.channel);
          if (end instanceof ChannelSender) end.onCredit();
          break;
        }
        case "replay-room":
          this.wakeSenders(run);
          break;
        case "detached":
          // The link is given up (closed, if it was not): a new one resumes the session.
          this.retireLink();
          this.setState("reconnecting", e.error);
          this.report({ kind: "detached", error: e.error });
          this.kick();
          break;
        case "resumed":
          this.setState("resumed");
          this.report({ kind: "resumed" });
          break;
        case "closed":
          this.onClosed(run, e.error);
          break;
      }
    }
  }

  private wakeSenders(run: Run): void {
    const waiters = run.roomWaiters;
    run.roomWaiters = [];
    for (const wake of waiters) wake();
  }

  /** Hands an item to a receiver, translated first if its writer's item type differs. */
  private deliver(
    s: Session<PendingCall, Serving, ChannelEnd>,
    end: ChannelReceiver,
    channel: bigint,
    item: Uint8Array,
  ): void {
    const read = end.itemReader;
    if (read === undefined) return end.push(item);
    let ours: Uint8Array;
    try {
      ours = read(item);
    } catch (e) {
      // A receiver has no way to hand over one bad item and go on, so the channel ends: the
      // reading loop fails, and the peer's sender is reset.
      end.fail(
        RoamError.is(e)
          ? e
          : new RoamError("invalid_argument", `cannot read a channel item: ${errorText(e)}`, {
              cause: e,
            }),
      );
      s.resetChannel(ROOT, channel);
      return;
    }
    end.push(ours);
  }

  /**
   * What reads the first item of channel argument `index` of our call to `methodId`, a
   * channel the callee writes: it looks up the callee's latest `channels` announcement (sent
   * before the handler wrote anything, so it is here by now) and leaves in its place what
   * reads every later item: nothing when the item types are the same or unannounced, the
   * compiled translation otherwise, or the failure when ours cannot read the callee's.
   */
  private firstItemReader(
    s: Session<PendingCall, Serving, ChannelEnd>,
    end: ChannelReceiver,
    methodId: bigint,
    index: number,
    ours: MethodSchemas,
  ): (item: Uint8Array) => Uint8Array {
    return (item) => {
      const peer = s.peerSchema(ROOT, methodId, "channels");
      const found = calleeItems(peer, index, ours);
      if (RoamError.is(found)) {
        end.itemReader = () => {
          throw found;
        };
        throw found;
      }
      end.itemReader = found;
      return found === undefined ? item : found(item);
    };
  }

  /**
   * `run`'s session ended. One that never got established was an attempt (its loop decides
   * what next). Otherwise its calls fail, but for those a fresh session may make again (never
   * sent, or idempotent, and without channels) when one will be started.
   */
  private onClosed(run: Run, error: SessionError): void {
    const released = run.session.takeReleased();
    const cause = error;
    const d = this.dialer;
    const again =
      run.established &&
      d !== undefined &&
      d.reconnect &&
      !this.closeRequested &&
      !this.drainRequested &&
      recoverable(cause);
    const err = sessionEnded(cause);
    const unsent = new Set(released.unsent);
    for (const call of released.calls) {
      call.run = undefined;
      if (again && call.channels.length === 0 && (call.idempotent || unsent.has(call))) {
        this.toBacklog(call);
      } else {
        call.cleanup();
        call.reject(err);
      }
    }
    for (const end of released.channels) end.fail(err);
    for (const serve of released.serving) this.stopServing(serve, err);
    this.wakeSenders(run);
    this.report({ kind: "closed", error: cause });
    if (!run.established) return;
    if (again) {
      this.lost = cause;
      this.kick();
    } else {
      this.finalize(cause);
    }
  }

  private stopServing(serve: Serving, reason: RoamError): void {
    const s = serve.run.session;
    // As Rust's abort drops the handler's ends: pending operations fail, and the peer hears
    // `Close` or `Reset` (no-ops once the session has ended).
    for (const end of serve.channels) {
      const id = end.channelId;
      end.fail(reason);
      if (id === undefined) continue;
      if (end instanceof ChannelSender) s.closeChannel(ROOT, id);
      else s.resetChannel(ROOT, id);
    }
    // Abort listeners are the application's code: a throw there must not stop the driver.
    try {
      serve.controller.abort(reason);
    } catch {
      // The signal is aborted all the same.
    }
  }

  private serve(run: Run, req: IncomingCall): void {
    const s = run.session;
    const handler = this.handler;
    if (handler === undefined) {
      s.abandonChannels(ROOT, req.channels.map((c) => c.id));
      s.respond(now(), ROOT, req.id, [], remote(RemoteError.UnknownMethod));
      return;
    }
    let ours: MethodSchemas | undefined;
    try {
      ours = this.schemas?.(req.methodId);
    } catch {
      // The application's lookup failed: serve the call as if it had no schemas.
      ours = undefined;
    }
    const read = readArguments(req, ours);
    if (read instanceof Uint8Array) {
      // Refused before the handler runs: its channels end at once, as in Rust.
      s.abandonChannels(ROOT, req.channels.map((c) => c.id));
      s.respond(now(), ROOT, req.id, [], read);
      return;
    }
    // Our channel signature, before any item the handler writes: the caller reads those
    // items by it (sent only when it differs from what we announced last for the method).
    if (ours !== undefined && req.channels.length > 0) {
      s.announceSchema(ROOT, req.methodId, "channels", ours.channels);
    }
    const credit = (s.limits ?? s.config.limits).initialCredit;
    const channels: ChannelEnd[] = req.channels.map((c) => {
      if (c.direction === "outgoing") {
        const tx = new ChannelSender();
        tx.bind(run.host, c.id);
        return tx;
      }
      const rx = new ChannelReceiver();
      rx.bind(run.host, c.id, credit);
      return rx;
    });
    read.items.forEach((translate, i) => {
      const end = channels[i];
      if (translate !== undefined && end instanceof ChannelReceiver) end.itemReader = translate;
    });
    req.channels.forEach((c, i) => {
      const end = channels[i]!;
      if (!s.attachChannel(ROOT, c.id, end)) {
        end.fail(new RoamError("cancelled", "the channel is gone"));
      }
    });
    const serving: Serving = {
      run,
      controller: new AbortController(),
      channels,
      responseSchema: ours?.response,
    };
    s.serving(ROOT, req.id, serving);
    const call: ServedCall = {
      methodId: req.methodId,
      payload: read.payload,
      metadata: req.metadata,
      signal: serving.controller.signal,
      deadline: req.deadline,
      channels,
    };
    // Run on a later microtask: never inside the frame being handled.
    Promise.resolve()
      .then(() => handler(call))
      .then(
        (answer) => this.finish(req.id, serving, answer),
        (e: unknown) => this.finish(req.id, serving, thrownAnswer(e)),
      )
      .catch(() => {
        // finish() catches everything itself; this only keeps a bug from being unhandled.
      });
  }

  private finish(id: bigint, serving: Serving, answer: HandlerAnswer): void {
    const s = serving.run.session;
    for (const end of serving.channels) endChannel(end);
    // A stopped handler's late answer must not answer anything: the session has already.
    if (s.served(ROOT, id) !== serving) {
      this.settle();
      return;
    }
    let payload: Uint8Array;
    let metadata: Metadata = [];
    if (answer instanceof Uint8Array) payload = answer;
    else if (typeof answer === "object" && answer?.payload instanceof Uint8Array) {
      payload = answer.payload;
      metadata = answer.metadata ?? [];
    } else payload = remote(RemoteError.Internal);
    // Only a value or a user error is laid out by the response schema; runtime-level
    // answers need none (and must not withdraw the one announced).
    const typed = payload[0] === OK || (payload[0] === ERR && payload[1] === USER);
    const schema = typed ? serving.responseSchema : undefined;
    s.respond(now(), ROOT, id, metadata, payload, schema);
    this.settle();
  }

  private write(run: Run): void {
    const s = run.session;
    if (run.finished) return;
    const slot = this.slot;
    const live = slot !== undefined && !slot.dead && !slot.closed;
    for (let f = s.pollTransmit(); f !== undefined; f = s.pollTransmit()) {
      if (live) slot.link.send(f);
    }
    if (!s.isClosed && slot !== undefined && slot.link.bufferedAmount > MAX_WRITE_BACKLOG) {
      s.handleLinkClosed(now(), violation.writeBacklog(slot.link.bufferedAmount));
      this.again = true;
      return;
    }
    if (s.isClosed) {
      // Everything queued was handed to the link, which writes it before it closes.
      s.handleFlushed();
      if (slot !== undefined && !slot.closed) {
        slot.closed = true;
        slot.link.close();
      }
    }
    if (s.isFinished && !run.finished) {
      run.finished = true;
      if (this.run === run) {
        if (this.timer !== undefined) clearTimeout(this.timer);
        this.timer = undefined;
        this.armedAt = undefined;
      }
      if (this.finalError !== undefined && this.run === run) this.finishDone();
    }
  }

  private arm(): void {
    const run = this.run;
    if (run === undefined || run.finished) return;
    const at = run.session.pollTimeout();
    if (at === this.armedAt && (at === undefined || this.timer !== undefined)) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.armedAt = at;
    if (at === undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      // Cleared so that a timer firing a little early is armed again for the same instant.
      this.armedAt = undefined;
      if (this.run !== run) return;
      run.session.handleTimeout(now());
      this.settle();
    }, timerDelay(at - now()));
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * A response payload as our types lay it out (Rust's `response::decode`): the `Ok` value or
 * user error is translated from the peer's announced response schema when it differs from
 * ours; runtime failures carry no typed value and were handled before. Returns the error to
 * reject with when it cannot be read: `incompatible_schema` for an incompatible schema or a
 * variant our type lacks, `internal` for bytes that do not match the peer's own schema.
 */
function readResponse(
  payload: Uint8Array,
  peer: PeerSchema | undefined,
  ours: MethodSchemas | undefined,
): Uint8Array | RoamError {
  if (peer === undefined || ours === undefined || sameBytes(peer.canonical, ours.response)) {
    return payload;
  }
  let part: "ok" | "err";
  let head: number;
  if (payload[0] === OK) {
    part = "ok";
    head = 1;
  } else if (payload[0] === ERR && payload[1] === USER) {
    part = "err";
    head = 2;
  } else {
    return payload;
  }
  const t = translationFor(peer, part, ours.response, ours.defaults);
  if (!t.ok) {
    return new RoamError(
      "incompatible_schema",
      `cannot read the peer's response: ${describeProblems(t.problems)}`,
    );
  }
  if (t.identity) return payload;
  try {
    const body = t.run(payload.subarray(head));
    const out = new Uint8Array(head + body.length);
    out.set(payload.subarray(0, head));
    out.set(body, head);
    return out;
  } catch (e) {
    const unknownVariant = e instanceof TranslationError && e.code === "variant-unknown-to-reader";
    return new RoamError(
      unknownVariant ? "incompatible_schema" : "internal",
      `cannot read the peer's response: ${errorText(e)}`,
      { cause: e },
    );
  }
}

/**
 * How a caller reads the items of channel argument `index`, which the callee writes, given the
 * callee's `channels` announcement `peer` (docs/protocol.md §7): `undefined` to take them as
 * they are (nothing announced, or the same item type), a translation into our item type
 * (rejecting an item it cannot carry over), or the `incompatible_schema` error when our type
 * cannot read the callee's.
 */
function calleeItems(
  peer: PeerSchema | undefined,
  index: number,
  ours: MethodSchemas,
): ((item: Uint8Array) => Uint8Array) | RoamError | undefined {
  if (peer === undefined || sameBytes(peer.canonical, ours.channels)) return undefined;
  const t = translationFor(peer, index, ours.channels, ours.defaults);
  if (!t.ok) {
    return new RoamError(
      "incompatible_schema",
      `cannot read the items of channel argument ${index}: ${describeProblems(t.problems)}`,
    );
  }
  if (t.identity) return undefined;
  const run = t.run;
  return (item) => {
    try {
      return run(item);
    } catch (e) {
      // As for a response: a variant our type lacks is a schema difference, anything else
      // is bytes that do not match the callee's own announced type.
      const unknownVariant =
        e instanceof TranslationError && e.code === "variant-unknown-to-reader";
      throw new RoamError(
        unknownVariant ? "incompatible_schema" : "internal",
        `cannot read an item of channel argument ${index}: ${errorText(e)}`,
        { cause: e },
      );
    }
  };
}

/** A served call's arguments as the handler's types lay them out, and its item translations. */
interface ReadArguments {
  readonly payload: Uint8Array;
  /** By channel index: how to translate the items of a channel the handler reads. */
  readonly items: readonly (((item: Uint8Array) => Uint8Array) | undefined)[];
}

/**
 * What a served call's handler sees, translated from the caller's announced schemas where
 * they differ from ours (Rust's `decode_args`, `take_rx` and `take_tx`, in that order), or the
 * answer to send instead without running it: `IncompatibleSchema` naming the problems (of
 * the arguments, of the items of a channel the handler reads, or of a channel it writes whose
 * items the caller cannot read as its own type), or `InvalidPayload` for arguments that do not
 * match the caller's own schema. A channel the handler writes with a compatible difference
 * needs nothing here: the caller translates its items.
 */
function readArguments(
  req: IncomingCall,
  ours: MethodSchemas | undefined,
): ReadArguments | Uint8Array {
  if (ours === undefined) return { payload: req.payload, items: [] };
  let payload = req.payload;
  const args = req.argsSchema;
  if (args !== undefined && !sameBytes(args.canonical, ours.args)) {
    const t = translationFor(args, "whole", ours.args, ours.defaults);
    if (!t.ok) return incompatible(describeProblems(t.problems));
    if (!t.identity) {
      try {
        payload = t.run(payload);
      } catch {
        return remote(RemoteError.InvalidPayload);
      }
    }
  }
  const items: (((item: Uint8Array) => Uint8Array) | undefined)[] = [];
  const chans = req.channelsSchema;
  if (chans !== undefined && !sameBytes(chans.canonical, ours.channels)) {
    for (let i = 0; i < req.channels.length; i++) {
      if (req.channels[i]!.direction === "incoming") {
        const t = translationFor(chans, i, ours.channels, ours.defaults);
        if (!t.ok) return incompatible(`channel argument ${i}: ${describeProblems(t.problems)}`);
        if (!t.identity) items[i] = t.run;
      } else {
        const problem = sentItemProblem(chans, i, ours.channels);
        if (problem !== undefined) return incompatible(problem);
      }
    }
  }
  return { payload, items };
}

/**
 * What a handler's throw answers: a RoamError's wire code, otherwise `Internal`. A
 * `permission_denied` answers `PermissionDenied` with the error's message as the reason the
 * caller sees, as a Rust interceptor's refusal does: that is how a handler denies a call.
 */
function thrownAnswer(e: unknown): Uint8Array {
  if (RoamError.is(e)) {
    if (e.code === "permission_denied") return permissionDenied(e.message);
    const code = remoteCodeOf(e.code);
    if (code !== undefined) return remote(code as RemoteErrorCode);
  }
  return remote(RemoteError.Internal);
}

/**
 * Runs a roam session over `link` and resolves once the handshake is done. The same call
 * serves both sides: pass `role: "acceptor"` (and usually a `handler`) on the side that
 * accepted the link. Rejects with a {@link RoamError} (`handshake_failed` or
 * `connection_lost`) if the session ends first: a server that refused us (our credentials, its
 * session limits) is `handshake_failed` with a `refused` {@link RoamError.sessionError}. An
 * option that cannot be sent (limits outside `u32`, bad `metadata`) rejects with a
 * `RangeError` or `TypeError` before anything is, and the link is closed.
 *
 * @example
 * ```ts
 * // Server side of an accepted link:
 * const server = await connect(link, {
 *   role: "acceptor",
 *   handler: async (call) => (call.methodId === 1n ? okBytes : remote(RemoteError.UnknownMethod)),
 * });
 * ```
 */
export async function connect(link: Link, options: ConnectOptions = {}): Promise<Connection> {
  let conn: Connection;
  try {
    conn = new Connection(link, options);
  } catch (e) {
    // No session will ever run on it, and the caller handed it over.
    link.close();
    throw e;
  }
  await conn.start();
  return conn;
}

/**
 * Connects with links made by `open`, and keeps the connection going: resolves with the
 * {@link Connection} once a session is established, and when its link is lost later, makes new
 * links itself (per {@link DialOptions.retry}) and feeds them to the same session, which
 * resumes where it was (docs/protocol.md §8) if the server grants resumption. Calls made
 * meanwhile wait; nothing is lost or delivered twice. If the session cannot be resumed (the
 * server refused, or the attempts or budget ran out), its calls in flight fail
 * `connection_lost` and the connection starts a fresh session, on the same handle, for the calls
 * made after (and for idempotent calls, and calls never sent). Watch it with
 * {@link Connection.onStateChange}.
 *
 * The first connection is tried per the policy too: links that fail, and handshakes that fail
 * in ways another attempt may cure (a lost link, a timeout, a server at its session limit), are
 * tried again; it rejects with the last link's error when no link could be made, or a
 * `handshake_failed` {@link RoamError} when the server refused the session. Options are checked
 * before any link is made (a `RangeError` or `TypeError`, as {@link connect}).
 *
 * @example
 * ```ts
 * const conn = await dial(() => openWebSocket("wss://api.example.com/roam"), {
 *   metadata: { authorization: `Bearer ${token}` },
 *   retry: { budgetMs: 30_000 },
 *   onStateChange: ({ state }) => console.log("roam:", state),
 * });
 * ```
 */
export async function dial(open: LinkOpener, options: DialOptions = {}): Promise<Connection> {
  const { retry, resumable = true, resumption, onStateChange, ...rest } = options;
  const reconnect = retry !== false;
  const policy = retryPolicy(retry === false ? { attempts: 1 } : retry);
  const connectOptions: ConnectOptions & { resumption?: Partial<Resumption> | undefined } = {
    ...rest,
    role: "initiator",
  };
  if (reconnect && resumable) connectOptions.resumption = resumption ?? {};
  const conn = new Connection(undefined, connectOptions, { open, policy, reconnect });
  if (onStateChange !== undefined) conn.onStateChange(onStateChange);
  await conn.connectFirst();
  return conn;
}
