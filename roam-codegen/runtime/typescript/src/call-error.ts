/**
 * The error a call, a channel or a connection rejects with ({@link RoamError}), as thrown at
 * the application: one class with a string {@link RoamError.code}, so callers branch on the
 * code rather than on a class hierarchy. The codes follow gRPC/Connect's names where one fits
 * (BINDINGS.md §1.2). The session's own errors stay plain data (`errors.ts`); this module is
 * where they become throwables.
 *
 * @module
 */

import { describeSessionError } from "./errors.js";
import type { SessionError } from "./errors.js";
import { Reader } from "./postcard.js";
import { INCOMPATIBLE, PERMISSION_DENIED, RemoteError } from "./response.js";

/** What went wrong. */
export type RoamErrorCode =
  /** The handler answered its method's own error type: see {@link RoamError.value}. */
  | "user"
  /** The caller gave up (its `AbortSignal`), or the callee reported the call cancelled. */
  | "cancelled"
  /** The call's deadline passed. */
  | "deadline_exceeded"
  /** The session ended before the call was answered (link lost, `Goodbye`, timeout). */
  | "connection_lost"
  /** The session could not be set up. */
  | "handshake_failed"
  /** The callee has no such method. */
  | "unimplemented"
  /** The callee could not decode the arguments. */
  | "invalid_argument"
  /** The callee is at its concurrency limit; retry later. */
  | "resource_exhausted"
  /** The callee is shutting down; retry on a new session. */
  | "unavailable"
  /** The handler failed, or its answer could not be sent. */
  | "internal"
  /** The callee cannot read the arguments' announced schema. */
  | "incompatible_schema"
  /** The callee refused the call before its handler ran (a server's interceptor said no). */
  | "permission_denied"
  /** The request, item or metadata is over the protocol's limits; nothing was sent. */
  | "too_large"
  /** The peer's receiver stopped the channel (`Reset`). */
  | "channel_reset"
  /** The channel is closed on this side. */
  | "channel_closed";

const BRAND = Symbol.for("roam.RoamError");

/**
 * A failed call or channel operation. Check with {@link RoamError.is} rather than
 * `instanceof`, which breaks when two copies of the runtime are loaded.
 *
 * `E` is the method's own error type (the `E` of a Rust `Result<T, E>`): a call rejects with
 * `code === "user"` and the decoded error in {@link RoamError.value} when the handler answered
 * one. It is `unknown` where nothing says which method failed.
 */
export class RoamError<E = unknown> extends Error {
  override readonly name = "RoamError";
  /** What went wrong. */
  readonly code: RoamErrorCode;
  /** The method's error value when {@link RoamError.code} is `"user"`, else `undefined`. */
  readonly value: E | undefined;
  /**
   * Why the session ended, for `connection_lost` and `handshake_failed` (a server that
   * refused the session is `{ kind: "refused", by, reason }` here).
   */
  readonly sessionError: SessionError | undefined;
  /** Whether the same call may succeed if tried again (on this or a new session). */
  readonly retryable: boolean;

  constructor(
    code: RoamErrorCode,
    message: string,
    options: { cause?: unknown; sessionError?: SessionError | undefined; value?: E | undefined } = {},
  ) {
    super(message, "cause" in options ? { cause: options.cause } : undefined);
    this.code = code;
    // Only a user error carries a value; anything else would make `value` mean two things.
    this.value = code === "user" ? options.value : undefined;
    this.sessionError = options.sessionError;
    this.retryable =
      code === "unavailable" || code === "resource_exhausted" || code === "connection_lost";
    (this as Record<symbol, unknown>)[BRAND] = true;
  }

  /** Whether `e` is a {@link RoamError} from any copy of the runtime. */
  static is(e: unknown): e is RoamError<unknown> {
    return typeof e === "object" && e !== null && (e as Record<symbol, unknown>)[BRAND] === true;
  }
}

/** Whether `e` says the call was cancelled: the one-line check for a normal outcome. */
export function isCancelled(e: unknown): boolean {
  return RoamError.is(e) && e.code === "cancelled";
}

/** The error for everything a session's end leaves unanswered. */
export function sessionEnded(error: SessionError): RoamError {
  // A refusal replaces the acceptor's Hello, so the session it ends never began; but a refused
  // resume ends one that did, and its calls in flight were lost with it.
  const code =
    error.kind === "handshake-failed" || (error.kind === "refused" && error.by !== "resume")
      ? "handshake_failed"
      : "connection_lost";
  return new RoamError(code, describeSessionError(error), { sessionError: error });
}

/** The runtime-failure codes a callee answers with, and what each becomes here. */
const REMOTE_CODES: ReadonlyMap<number, RoamErrorCode> = new Map<number, RoamErrorCode>([
  [RemoteError.UnknownMethod, "unimplemented"],
  [RemoteError.InvalidPayload, "invalid_argument"],
  [RemoteError.Cancelled, "cancelled"],
  [RemoteError.DeadlineExceeded, "deadline_exceeded"],
  [RemoteError.Overloaded, "resource_exhausted"],
  [RemoteError.Unavailable, "unavailable"],
  [RemoteError.Internal, "internal"],
]);

/**
 * The wire code for a {@link RoamErrorCode} a handler throws, if it is one of the bare codes
 * (`01 <code>`, nothing after it). `permission_denied` is not: its answer carries the reason.
 */
export function remoteCodeOf(code: RoamErrorCode): number | undefined {
  for (const [wire, c] of REMOTE_CODES) if (c === code) return wire;
  return undefined;
}

/**
 * The error for an answer that is not a valid `Result<T, RoamError<E>>`, worded as Rust's
 * `CallError::MalformedResponse`. `internal`, as for any other answer that does not decode:
 * the callee sent something no roam runtime should, so there is nothing to retry.
 */
function malformedResponse(what: string): RoamError {
  return new RoamError("internal", `the peer sent a malformed response: ${what}`);
}

/**
 * The runtime failure a response payload reports (`Err` with a code other than `User`), or
 * `undefined` for `Ok` and user errors, which are the generated code's to decode. The codes
 * that carry a text (8 and 9) are read as Rust's `response::decode` reads them: the text in
 * the message, or, when it is not exactly one postcard string, a malformed response rather
 * than a generic failure (a denial without its reason is not one roam ever sends).
 */
export function remoteFailure(payload: Uint8Array): RoamError | undefined {
  if (payload.length < 2 || payload[0] !== 1) return undefined;
  const code = payload[1]!;
  if (code === INCOMPATIBLE || code === PERMISSION_DENIED) {
    let text: string;
    try {
      const r = new Reader(payload, 2);
      text = r.string();
      r.finish();
    } catch {
      return malformedResponse(
        code === INCOMPATIBLE ? "invalid schema error text" : "invalid permission-denied text",
      );
    }
    return code === INCOMPATIBLE
      ? new RoamError("incompatible_schema", `the peer cannot read our arguments: ${text}`)
      : new RoamError("permission_denied", `permission denied: ${text}`);
  }
  const mapped = REMOTE_CODES.get(code);
  if (mapped === undefined || payload.length !== 2) return undefined;
  return new RoamError(mapped, `the callee answered ${mapped}`);
}
