// Call outcomes (src/call.ts, src/call-error.ts): settle, err/isErr, user errors, and the
// brand checks that work across copies of the runtime. Some assertions are type-level: this
// file must compile, and the @ts-expect-error lines must stay errors.

import { test } from "node:test";
import assert from "node:assert/strict";

import { RoamError, err, isCancelled, isErr, settle, userError } from "../src/index.js";
import type { Err, RoamCall } from "../src/index.js";

type LookupError = { tag: "NotFound"; value: bigint } | { tag: "Forbidden" };

function call<T, E>(p: Promise<T>): RoamCall<T, E> {
  return p as RoamCall<T, E>;
}

test("settle gives the value of a call that succeeds", async () => {
  const r = await settle(call<number, LookupError>(Promise.resolve(42)));
  assert.deepEqual(r, { ok: true, value: 42 });
});

test("settle gives a user error's typed value, with E inferred from the call", async () => {
  const failing = call<string, LookupError>(
    Promise.reject(userError<LookupError>({ tag: "NotFound", value: 7n })),
  );
  const r = await settle(failing);
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.equal(r.error.code, "user");
  // Type-level: `value` is LookupError | undefined, not unknown.
  const value: LookupError | undefined = r.error.value;
  assert.deepEqual(value, { tag: "NotFound", value: 7n });
  // @ts-expect-error: the inferred error type is LookupError, not a string
  const wrong: string | undefined = r.error.value;
  assert.notEqual(wrong, "anything");
  assert.equal(r.error.retryable, false);
  assert.equal(isCancelled(r.error), false);
});

test("settle passes system errors through and wraps anything else as internal", async () => {
  const cancelled = new RoamError("cancelled", "gave up");
  const r1 = await settle(call<number, never>(Promise.reject(cancelled)));
  assert.ok(!r1.ok && r1.error === cancelled && isCancelled(r1.error));

  const bug = new TypeError("a bug in a callback");
  const r2 = await settle(call<number, never>(Promise.reject(bug)));
  assert.ok(!r2.ok);
  assert.equal(r2.error.code, "internal");
  assert.equal(r2.error.cause, bug);
  assert.equal(r2.error.value, undefined);

  const r3 = await settle(call<number, never>(Promise.reject("a string")));
  assert.ok(!r3.ok && r3.error.code === "internal" && r3.error.cause === "a string");
});

test("a RoamCall is a plain Promise: await gives T, rejects with the RoamError", async () => {
  const ok = call<number, LookupError>(Promise.resolve(1));
  assert.ok(ok instanceof Promise);
  const n: number = await ok;
  assert.equal(n, 1);
  const e = userError<LookupError>({ tag: "Forbidden" }, "no access");
  await assert.rejects(call<number, LookupError>(Promise.reject(e)), (x: unknown) => {
    return RoamError.is(x) && x.code === "user" && x.message === "no access";
  });
});

test("RoamError carries a value only for code user", () => {
  const user = userError(5);
  assert.equal(user.value, 5);
  assert.equal(user.name, "RoamError");
  const other = new RoamError<number>("internal", "x", { value: 5 });
  assert.equal(other.value, undefined);
  assert.equal(new RoamError("unavailable", "x").retryable, true);
});

test("RoamError.is recognises errors from any copy of the runtime, and nothing else", () => {
  assert.ok(RoamError.is(new RoamError("internal", "x")));
  assert.ok(RoamError.is(userError("e")));
  assert.equal(RoamError.is(new Error("x")), false);
  assert.equal(RoamError.is(null), false);
  assert.equal(RoamError.is(undefined), false);
  assert.equal(RoamError.is({ code: "internal" }), false);
  // Another copy of the runtime brands its errors with the same registered symbol.
  const foreign = Object.assign(new Error("x"), {
    code: "cancelled",
    [Symbol.for("roam.RoamError")]: true,
  });
  assert.ok(RoamError.is(foreign));
  assert.ok(isCancelled(foreign));
});

test("err wraps a handler's error; isErr tells it from a value", () => {
  const e: Err<LookupError> = err<LookupError>({ tag: "Forbidden" });
  assert.ok(isErr(e));
  assert.deepEqual(e.error, { tag: "Forbidden" });
  assert.ok(Object.isFrozen(e));
  assert.equal(isErr({ error: 1 }), false);
  assert.equal(isErr(null), false);
  assert.equal(isErr(42), false);
  assert.equal(isErr({ tag: "Err", value: 1 }), false);
  // err(undefined) is still an Err: the brand, not the payload, decides.
  assert.ok(isErr(err(undefined)));
  // Made by another copy of the runtime: the same registered symbol.
  assert.ok(isErr({ [Symbol.for("roam.Err")]: true, error: "x" }));
});
