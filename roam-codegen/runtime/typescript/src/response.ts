/**
 * Response payload framing: the leading bytes of `Result<T, RoamError<E>>` (docs/protocol.md
 * §5), as in `roam-proto/src/response.rs`.
 *
 * `Result` and `RoamError` are postcard enums, so a payload starts with their variant numbers;
 * both are below 128, so each takes one byte:
 *
 * | bytes              | meaning                                   |
 * |--------------------|-------------------------------------------|
 * | `00` + `T`         | `Ok(value)`                               |
 * | `01 00` + `E`      | `Err(User(error))`                        |
 * | `01 <code>`        | a runtime failure, code 1..=7 ({@link RemoteError}) |
 * | `01 08` + `String` | `Err(IncompatibleSchema(detail))`         |
 * | `01 09` + `String` | `Err(PermissionDenied(reason))`           |
 *
 * This module owns the codes and the payloads that carry no user type (what a session answers
 * by itself); encoding `T` and `E` is the generated code's.
 *
 * @module
 */

import { Writer } from "./postcard.js";

/** `Result::Ok`. */
export const OK = 0;
/** `Result::Err`. */
export const ERR = 1;
/** `RoamError::User`: the handler's own error follows. */
export const USER = 0;
/**
 * `RoamError` variant for arguments whose announced schema the callee cannot read; a `String`
 * follows.
 */
export const INCOMPATIBLE = 8;
/**
 * `RoamError` variant for a call the callee refused before its handler ran (a Rust server's
 * interceptor); the reason, a `String`, follows.
 */
export const PERMISSION_DENIED = 9;

/**
 * The runtime-level failures a callee reports instead of a value, by their wire code (the
 * variant number inside `RoamError<E>`; 0 is the user error). The numbers are protocol and
 * never change.
 */
export const RemoteError = Object.freeze({
  /** The callee has no method with this ID. */
  UnknownMethod: 1,
  /** The callee could not decode the arguments. */
  InvalidPayload: 2,
  /** The call was cancelled before the handler finished. */
  Cancelled: 3,
  /** The call's deadline passed before the handler finished. */
  DeadlineExceeded: 4,
  /** The callee is at its concurrent-request limit; retry later. */
  Overloaded: 5,
  /** The callee is shutting down; retry on a new session. */
  Unavailable: 6,
  /** The handler failed or its answer did not fit a frame. */
  Internal: 7,
} as const);

/** One of the {@link RemoteError} codes. */
export type RemoteErrorCode = (typeof RemoteError)[keyof typeof RemoteError];

/** Name of a {@link RemoteError} code, `undefined` for a code roam does not define. */
export function remoteErrorName(code: number): keyof typeof RemoteError | undefined {
  for (const [name, value] of Object.entries(RemoteError)) {
    if (value === code) return name as keyof typeof RemoteError;
  }
  return undefined;
}

/**
 * Longest text (a schema error, a refusal's reason) sent to a peer, in Unicode scalar values;
 * the rest is cut so one bad call cannot produce an arbitrarily large answer (the callee's
 * logs keep it all).
 */
export const MAX_INCOMPATIBLE_TEXT = 4096;

/** `Err(<runtime failure>)`: the two bytes a session or dispatcher answers by itself. */
export function remote(code: RemoteErrorCode): Uint8Array {
  return Uint8Array.of(ERR, code);
}

/**
 * `Err(IncompatibleSchema(detail))`: the caller's announced argument schema cannot be read as
 * the callee's type. Texts over {@link MAX_INCOMPATIBLE_TEXT} characters are cut with the same
 * marker Rust appends, so both runtimes send the same bytes for the same text.
 */
export function incompatible(detail: string): Uint8Array {
  return withText(INCOMPATIBLE, detail);
}

/**
 * `Err(PermissionDenied(reason))`: the call is refused before any handler runs, with a reason
 * the caller may see (cut as {@link incompatible} cuts its text).
 */
export function permissionDenied(reason: string): Uint8Array {
  return withText(PERMISSION_DENIED, reason);
}

/** `Err(<code>(text))` for the variants that carry a `String`, cut as Rust cuts it. */
function withText(code: number, detail: string): Uint8Array {
  let text = detail;
  // Cheap bound first: a string of at most MAX UTF-16 units has at most MAX scalar values.
  if (detail.length > MAX_INCOMPATIBLE_TEXT) {
    let chars = 0;
    let cut = -1;
    // Counting scalar values, not UTF-16 units, matches Rust's `char_indices`.
    for (let i = 0; i < detail.length;) {
      if (chars === MAX_INCOMPATIBLE_TEXT) {
        cut = i;
        break;
      }
      const cp = detail.codePointAt(i)!;
      i += cp > 0xffff ? 2 : 1;
      chars++;
    }
    if (cut >= 0) text = `${detail.slice(0, cut)} … (cut; see the callee's logs)`;
  }
  const w = new Writer(text.length + 8);
  w.u8(ERR);
  w.u8(code);
  w.string(text);
  return w.finish();
}
