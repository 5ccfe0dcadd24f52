// The retry policy of reconnecting connections (src/retry.ts): its defaults and checks, the
// backoff with its jitter (randomness is an argument), and which session ends are retried.

import { describe, test } from "node:test";
import assert from "node:assert/strict";

import {
  DEFAULT_RETRY,
  recoverable,
  retryDelay,
  retryPolicy,
  retryableHandshake,
} from "../src/retry.js";
import type { SessionError } from "../src/errors.js";

describe("retry policy", () => {
  test("the defaults, and partial policies over them", () => {
    // As Rust's RetryPolicy::default().
    assert.deepEqual(DEFAULT_RETRY, {
      attempts: Infinity,
      initialDelayMs: 50,
      maxDelayMs: 2_000,
      multiplier: 2,
      jitter: 0.2,
      budgetMs: 30_000,
    });
    assert.deepEqual(retryPolicy({ attempts: 3 }), { ...DEFAULT_RETRY, attempts: 3 });
  });

  test("out-of-range fields are refused", () => {
    for (const bad of [
      { attempts: 0 },
      { initialDelayMs: -1 },
      { maxDelayMs: Number.NaN },
      { multiplier: 0.5 },
      { jitter: 1.5 },
      { budgetMs: -5 },
    ]) {
      assert.throws(() => retryPolicy(bad), RangeError, JSON.stringify(bad));
    }
  });

  test("the first attempt goes at once; then delays grow by the multiplier up to the cap", () => {
    // Rust's backoff_grows_to_its_cap_and_jitter_stays_in_range, one attempt later (TS counts
    // the first attempt as 1, Rust as 0).
    const p = retryPolicy({ jitter: 0 });
    const delays = [1, 2, 3, 4, 5, 6, 7].map((n) => retryDelay(p, n, 0.9));
    assert.deepEqual(delays, [0, 50, 100, 200, 400, 800, 1600]);
    assert.equal(retryDelay(p, 31, 0), 2_000, "capped");
    assert.equal(retryDelay(p, 2 ** 32, 0), 2_000);
  });

  test("jitter spreads each delay by at most its fraction, either way, within the cap", () => {
    const p = retryPolicy({});
    for (const unit of [0, 0.25, 0.5, 0.999]) {
      const d = retryDelay(p, 3, unit);
      assert.ok(d >= 80 && d <= 120, `${d}`);
    }
    assert.equal(retryDelay(p, 3, 0), 80);
    assert.equal(retryDelay(p, 3, 0.5), 100);
    assert.equal(retryDelay(retryPolicy({ jitter: 1 }), 3, 0), 0);
    assert.equal(retryDelay(retryPolicy({ jitter: 1 }), 20, 0.99), 2_000, "never past the cap");
  });
});

describe("what is retried", () => {
  const refused = (by: string): SessionError =>
    ({ kind: "refused", by, reason: "r" }) as SessionError;
  test("a handshake: transient failures and server limits, not refused credentials", () => {
    assert.ok(retryableHandshake({ kind: "transport", detail: "reset" }));
    assert.ok(retryableHandshake({ kind: "timed-out", what: "handshake", afterMs: 10 }));
    assert.ok(retryableHandshake(refused("session-limit")));
    assert.ok(retryableHandshake(refused("peer-session-limit")));
    assert.ok(retryableHandshake(refused("handshake-timeout")));
    assert.ok(!retryableHandshake(refused("authentication")));
    assert.ok(!retryableHandshake({ kind: "handshake-failed", detail: "version-mismatch: …" }));
    assert.ok(!retryableHandshake({ kind: "protocol", violation: { rule: "handshake", detail: "x" } }));
  });

  test("a lost session: a lost link, a refused resume, a Goodbye; not a violation or our close", () => {
    assert.ok(recoverable({ kind: "transport", detail: "reset" }));
    assert.ok(recoverable({ kind: "timed-out", what: "resume-grace", afterMs: 60_000 }));
    assert.ok(recoverable({ kind: "closed-by-peer", reason: "shutting down" }));
    assert.ok(recoverable(refused("resume")));
    assert.ok(!recoverable(refused("authentication")));
    assert.ok(!recoverable({ kind: "locally-closed" }));
    assert.ok(!recoverable({ kind: "protocol", violation: { rule: "replay", detail: "x" } }));
  });
});
