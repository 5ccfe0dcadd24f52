/**
 * The typed outcome of a call: {@link RoamCall} (a `Promise` that also names the method's
 * error type), {@link settle} (the outcome as a value instead of a rejection), and the
 * {@link Err} wrapper a handler returns its method's error in.
 *
 * This module owns only these types and helpers. Making calls is `service.ts`'s; what a
 * {@link RoamError} is, and its codes, is `call-error.ts`'s.
 *
 * @module
 */

import { RoamError } from "./call-error.js";

// Type-only: the key of RoamCall's phantom property. Nothing exists at run time, so a
// RoamCall is a plain Promise and no copy of the runtime has to agree on a value.
declare const errorType: unique symbol;

/**
 * A call in flight. Awaiting it gives `T`; it rejects with a `RoamError<E>` whose `value` is
 * the method's decoded error when `code === "user"`, and a system code otherwise. `E` is a
 * phantom (no such property exists), there so {@link settle} can infer it.
 */
export type RoamCall<T, E> = Promise<T> & { readonly [errorType]?: E };

/** What {@link settle} resolves to. */
export type Settled<T, E> = { ok: true; value: T } | { ok: false; error: RoamError<E> };

/**
 * Waits for `call` and gives its outcome as a value, with `E` inferred from the call. Never
 * rejects: a rejection that is not a {@link RoamError} (a bug in a callback, say) becomes
 * `internal` with the original as `cause`.
 *
 * @example
 * ```ts
 * const r = await settle(client.divide(1, 0));
 * if (!r.ok && r.error.code === "user") show(r.error.value); // a MathError
 * ```
 */
export async function settle<T, E>(call: RoamCall<T, E>): Promise<Settled<T, E>> {
  try {
    return { ok: true, value: await call };
  } catch (e) {
    if (RoamError.is(e)) return { ok: false, error: e as RoamError<E> };
    return {
      ok: false,
      error: new RoamError<E>("internal", "the call failed with a non-roam error", { cause: e }),
    };
  }
}

/** A user error: what a call rejects with when the handler answered its method's error. */
export function userError<E>(
  value: E,
  message = "the callee answered its method's error",
): RoamError<E> {
  return new RoamError<E>("user", message, { value });
}

// A registered symbol, so values made by one copy of the runtime are recognised by another.
const brand: unique symbol = Symbol.for("roam.Err");

/**
 * A method's error, as a handler returns it: `return err({ tag: "NotFound" })`. Returning
 * (rather than throwing) keeps `E` checked against the method's declared error type.
 */
export interface Err<E> {
  readonly [brand]: true;
  readonly error: E;
}

/** Wraps `e` as the method's error for a handler to return. */
export function err<E>(e: E): Err<E> {
  return Object.freeze({ [brand]: true as const, error: e });
}

/** Whether `v` was made by {@link err} (in any copy of the runtime). */
export function isErr(v: unknown): v is Err<unknown> {
  return typeof v === "object" && v !== null && (v as Record<symbol, unknown>)[brand] === true;
}
