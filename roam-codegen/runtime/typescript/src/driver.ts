/**
 * The driver: runs one sans-IO {@link Session} over one {@link Link} with the real clock, as
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
import { violation } from "./errors.js";
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
import { MAX_WRITE_BACKLOG, ROOT, Session } from "./session.js";
import type { CallRejected, IncomingCall, SessionOptions, StopReason } from "./session.js";
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
export interface ConnectOptions extends Omit<SessionOptions, "metadata"> {
  /** `initiator` (the default: this side dialed) or `acceptor` (it accepted the link). */
  role?: Role | undefined;
  /**
   * What our `Hello` carries: an initiator's credentials, checked by the server before the
   * session begins (e.g. `{ authorization: "Bearer <token>" }`). Written as call metadata is
   * (a record or an iterable of pairs, lower-case keys) and held to the same limits; a bad key
   * or value rejects with a `TypeError` and metadata over the limits with a `RangeError`, both
   * before anything is sent. A server that does not accept it ends the handshake with a
   * `refused` session error (`handshake_failed`). Sent once, on this link: a new connection
   * sends it again, so a token that expires is replaced by connecting with the new one.
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

interface PendingCall {
  readonly resolve: (r: CallResponse) => void;
  readonly reject: (e: unknown) => void;
  /** Removes the abort listener. */
  readonly cleanup: () => void;
  /** Our schemas of the method, to read the response with. */
  readonly schemas: MethodSchemas | undefined;
}

interface Serving {
  readonly controller: AbortController;
  readonly channels: readonly ChannelEnd[];
  /** Our response schema, announced with an answer that carries a value or user error. */
  readonly responseSchema: Uint8Array | undefined;
}

function now(): number {
  return performance.now();
}

/** setTimeout's delay is a 32-bit signed count of ms; beyond it fires at once. */
const MAX_TIMER_DELAY = 0x7fffffff;

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
 * One session over one link: make calls, serve the peer's, and end it. Created by
 * {@link connect}.
 */
export class Connection {
  private readonly session: Session<PendingCall, Serving, ChannelEnd>;
  private readonly link: Link;
  private readonly handler: Handler | undefined;
  private readonly schemas: ((methodId: bigint) => MethodSchemas | undefined) | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private armedAt: number | undefined;
  private settling = false;
  private again = false;
  /** The link can carry nothing more (it failed, or the peer hung up). */
  private linkDead = false;
  /** {@link Link.close} was called. */
  private linkClosed = false;
  private finishedNow = false;
  private established: ((limits: Limits) => void) | undefined;
  private failedEarly: ((e: RoamError) => void) | undefined;
  private readonly closedPromise: Promise<SessionError>;
  private resolveClosed!: (e: SessionError) => void;
  private readonly donePromise: Promise<void>;
  private resolveDone!: () => void;
  private ended: SessionError | undefined;
  private readonly host: ChannelHost;

  /** @internal Use {@link connect}. */
  constructor(link: Link, options: ConnectOptions) {
    const { role = "initiator", handler, schemas, metadata, ...rest } = options;
    const sessionOptions: SessionOptions = rest;
    if (role === "acceptor" && sessionOptions.sessionKey === undefined) {
      sessionOptions.sessionKey = crypto.getRandomValues(new Uint8Array(16));
    }
    if (metadata !== undefined) sessionOptions.metadata = metadataEntries(metadata);
    // As the Rust session: an announcement that is not a canonical schema ends the session.
    sessionOptions.validateSchema ??= validateSchema;
    this.session = new Session(role, now(), sessionOptions);
    this.link = link;
    this.handler = handler;
    this.schemas = schemas;
    this.link.maxFrameSize = this.session.config.limits.maxFrameSize;
    this.closedPromise = new Promise((resolve) => (this.resolveClosed = resolve));
    this.donePromise = new Promise((resolve) => (this.resolveDone = resolve));
    const s = this.session;
    const settle = () => this.settle();
    this.host = {
      sendData: (ch: bigint, payload: Uint8Array): ChannelSendError | undefined => {
        const r = s.sendData(ROOT, ch, payload);
        settle();
        return r;
      },
      credit: (ch: bigint) => s.channelCredit(ROOT, ch),
      closeChannel: (ch: bigint) => {
        s.closeChannel(ROOT, ch);
        settle();
      },
      resetChannel: (ch: bigint) => {
        s.resetChannel(ROOT, ch);
        settle();
      },
      grantCredit: (ch: bigint, n: number) => {
        s.grantCredit(ROOT, ch, n);
        settle();
      },
    };
  }

  /** @internal Starts the link and resolves once the handshake is done. */
  start(): Promise<void> {
    const ready = new Promise<void>((resolve, reject) => {
      this.established = () => resolve();
      this.failedEarly = reject;
    });
    this.link.start({
      frame: (body) => {
        this.session.handleFrame(now(), body);
        this.settle();
      },
      closed: (why: LinkClosed) => {
        // A peer that broke a link rule is still there to hear the Goodbye naming it.
        if (why.violation === undefined) this.linkDead = true;
        this.session.handleLinkClosed(now(), why.violation, why.detail);
        this.settle();
      },
    });
    this.settle();
    return ready;
  }

  /** The effective limits (minimum of both sides' announcements). */
  get limits(): Limits {
    return this.session.limits ?? this.session.config.limits;
  }

  /** The session key the acceptor issued. */
  get sessionKey(): Uint8Array | undefined {
    return this.session.sessionKey;
  }

  /** Whether the session has ended: calls are refused. */
  get isClosed(): boolean {
    return this.session.isClosed;
  }

  /** Resolves with why the session ended, once it has. */
  get closed(): Promise<SessionError> {
    return this.closedPromise;
  }

  /** Resolves once the session's last frames are written and the link is closed. */
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
   */
  call(methodId: bigint, args: Uint8Array, options: CallOptions = {}): Promise<CallResponse> {
    const { signal, timeoutMs, metadata, channels = [], schemas } = options;
    const fail = (e: RoamError): Promise<CallResponse> => {
      for (const end of channels) end.fail(e);
      return Promise.reject(e);
    };
    for (const end of channels) {
      if (end.isBound) {
        return Promise.reject(new Error("a channel end can be used in one call only"));
      }
    }
    if (this.ended !== undefined) return fail(sessionEnded(this.ended));
    if (signal?.aborted === true) {
      const cause = signal.reason;
      return fail(new RoamError("cancelled", "the call was aborted before it started", { cause }));
    }
    return new Promise<CallResponse>((resolve, reject) => {
      const id = this.session.nextRequestId();
      let onAbort: (() => void) | undefined;
      const cleanup = () => {
        if (onAbort !== undefined) signal?.removeEventListener("abort", onAbort);
      };
      const pending: PendingCall = { resolve, reject, cleanup, schemas };
      if (schemas !== undefined) {
        channels.forEach((end, i) => {
          if (end instanceof ChannelReceiver) {
            end.itemReader = this.firstItemReader(end, methodId, i, schemas);
          }
        });
      }
      const directions: Direction[] = channels.map((end) =>
        end instanceof ChannelSender ? "outgoing" : "incoming",
      );
      const started = this.session.call(
        now(),
        ROOT,
        id,
        {
          methodId,
          payload: args,
          metadata,
          timeoutMs,
          channels: directions,
          argsSchema: schemas?.args,
          channelsSchema: schemas?.channels,
        },
        pending,
      );
      if (!started.ok) {
        const e = rejection(started.reason);
        for (const end of channels) end.fail(e);
        reject(e);
        this.settle();
        return;
      }
      // Established already: `connect` hands out a Connection only after the handshake, so
      // this is the effective credit the channel opens with.
      const credit = this.limits.initialCredit;
      channels.forEach((end, i) => {
        const chId = started.channels[i]!;
        if (end instanceof ChannelSender) end.bind(this.host, chId);
        else end.bind(this.host, chId, credit);
        if (!this.session.attachChannel(ROOT, chId, end)) {
          end.fail(new RoamError("cancelled", "the channel ended before it opened"));
        }
      });
      if (signal !== undefined) {
        onAbort = () => {
          const given = this.session.cancel(ROOT, id);
          if (given === undefined) return;
          const e = new RoamError("cancelled", "the call was aborted", { cause: signal.reason });
          for (const end of given.channels) end.fail(e);
          reject(e);
          this.settle();
        };
        signal.addEventListener("abort", onAbort, { once: true });
      }
      this.settle();
    });
  }

  /**
   * Stops taking new calls from the peer and closes the session once the calls being served
   * are answered (or the drain grace runs out). Resolves when the link is closed.
   */
  drain(reason = "draining"): Promise<void> {
    this.session.startDrain(now(), reason);
    this.settle();
    return this.donePromise;
  }

  /** Ends the session now with a `Goodbye`; resolves when the link is closed. */
  close(reason = "closed by the application"): Promise<void> {
    this.session.close(now(), reason);
    this.settle();
    return this.donePromise;
  }

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
        this.routeEvents();
        this.write();
      } while (this.again);
      this.arm();
    } finally {
      this.settling = false;
    }
  }

  private routeEvents(): void {
    const s = this.session;
    for (let e = s.pollEvent(); e !== undefined; e = s.pollEvent()) {
      switch (e.type) {
        case "established": {
          this.link.maxFrameSize = e.limits.maxFrameSize;
          const done = this.established;
          this.established = undefined;
          this.failedEarly = undefined;
          done?.(e.limits);
          break;
        }
        case "request":
          this.serve(e.request);
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
          if (end instanceof ChannelReceiver) this.deliver(end, e.channel, e.payload);
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
        case "closed":
          this.onClosed(e.error);
          break;
      }
    }
  }

  /** Hands an item to a receiver, translated first if its writer's item type differs. */
  private deliver(end: ChannelReceiver, channel: bigint, item: Uint8Array): void {
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
      this.session.resetChannel(ROOT, channel);
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
    end: ChannelReceiver,
    methodId: bigint,
    index: number,
    ours: MethodSchemas,
  ): (item: Uint8Array) => Uint8Array {
    return (item) => {
      const peer = this.session.peerSchema(ROOT, methodId, "channels");
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

  private onClosed(error: SessionError): void {
    this.ended = error;
    const err = sessionEnded(error);
    const released = this.session.takeReleased();
    for (const call of released.calls) {
      call.cleanup();
      call.reject(err);
    }
    for (const end of released.channels) end.fail(err);
    for (const serve of released.serving) this.stopServing(serve, err);
    const early = this.failedEarly;
    this.failedEarly = undefined;
    this.established = undefined;
    // Whatever ended it, a session that never got going failed its handshake.
    early?.(new RoamError("handshake_failed", err.message, { sessionError: error }));
    this.resolveClosed(error);
  }

  private stopServing(serve: Serving, reason: RoamError): void {
    // As Rust's abort drops the handler's ends: pending operations fail, and the peer hears
    // `Close` or `Reset` (no-ops once the session has ended).
    for (const end of serve.channels) {
      const id = end.channelId;
      end.fail(reason);
      if (id === undefined) continue;
      if (end instanceof ChannelSender) this.session.closeChannel(ROOT, id);
      else this.session.resetChannel(ROOT, id);
    }
    // Abort listeners are the application's code: a throw there must not stop the driver.
    try {
      serve.controller.abort(reason);
    } catch {
      // The signal is aborted all the same.
    }
  }

  private serve(req: IncomingCall): void {
    const s = this.session;
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
    const credit = this.limits.initialCredit;
    const channels: ChannelEnd[] = req.channels.map((c) => {
      if (c.direction === "outgoing") {
        const tx = new ChannelSender();
        tx.bind(this.host, c.id);
        return tx;
      }
      const rx = new ChannelReceiver();
      rx.bind(this.host, c.id, credit);
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
    for (const end of serving.channels) endChannel(end);
    // A stopped handler's late answer must not answer anything: the session has already.
    if (this.session.served(ROOT, id) !== serving) {
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
    this.session.respond(now(), ROOT, id, metadata, payload, schema);
    this.settle();
  }

  private write(): void {
    const s = this.session;
    if (this.finishedNow) return;
    for (let f = s.pollTransmit(); f !== undefined; f = s.pollTransmit()) {
      if (!this.linkDead) this.link.send(f);
    }
    if (!s.isClosed && this.link.bufferedAmount > MAX_WRITE_BACKLOG) {
      s.handleLinkClosed(now(), violation.writeBacklog(this.link.bufferedAmount));
      this.again = true;
      return;
    }
    if (s.isClosed) {
      // Everything queued was handed to the link, which writes it before it closes.
      s.handleFlushed();
      if (!this.linkClosed) {
        this.linkClosed = true;
        this.link.close();
      }
    }
    if (s.isFinished && !this.finishedNow) {
      this.finishedNow = true;
      if (this.timer !== undefined) clearTimeout(this.timer);
      this.timer = undefined;
      this.resolveDone();
    }
  }

  private arm(): void {
    if (this.finishedNow) return;
    const at = this.session.pollTimeout();
    if (at === this.armedAt) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.armedAt = at;
    if (at === undefined) return;
    const delay = Math.min(MAX_TIMER_DELAY, Math.max(0, Math.ceil(at - now())));
    this.timer = setTimeout(() => {
      this.timer = undefined;
      // Cleared so that a timer firing a little early is armed again for the same instant.
      this.armedAt = undefined;
      this.session.handleTimeout(now());
      this.settle();
    }, delay);
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
