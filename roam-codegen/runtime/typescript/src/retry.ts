/**
 * How a reconnecting {@link Connection} retries: the policy ({@link RetryPolicy}: how many
 * attempts, how far apart, within what budget), the delay before each attempt, and which
 * session ends are worth another attempt. Plain functions of their inputs (randomness comes in
 * as an argument), so the driver only sleeps and dials.
 *
 * @module
 */

import type { SessionError } from "./errors.js";

/**
 * When and how often a reconnecting connection tries again, as Rust's `RetryPolicy` (same
 * fields, same defaults, same backoff). Each phase of a recovery (resuming the lost session,
 * then, if that fails, starting a fresh one) and the first connection each get `attempts`
 * attempts within `budgetMs`, the first at once and each further one after
 * `initialDelayMs × multiplier^(n-1)` (at most `maxDelayMs`), spread by ± `jitter`.
 */
export interface RetryPolicy {
  /** Attempts per phase, the first included (default `Infinity`: as many as the budget allows). */
  attempts: number;
  /** The delay before the second attempt, in ms (default 50). */
  initialDelayMs: number;
  /** The longest delay between two attempts, in ms (default 2 000). */
  maxDelayMs: number;
  /** How much each delay grows over the one before (default 2). */
  multiplier: number;
  /**
   * How much a delay may vary, as a fraction of it, from 0 (exact) to 1 (anything from 0 to
   * twice it); default 0.2. Spreads out the clients of a server that came back.
   */
  jitter: number;
  /**
   * How long a phase may take, from its start, in ms (default 30 000: below a server's default
   * 60 s grace period, so a server that still has the session never frees it first). No
   * attempt starts after it.
   */
  budgetMs: number;
}

/** The defaults: as many attempts as fit in 30 s, 50 ms apart at first, doubling up to 2 s. */
export const DEFAULT_RETRY: Readonly<RetryPolicy> = Object.freeze({
  attempts: Infinity,
  initialDelayMs: 50,
  maxDelayMs: 2_000,
  multiplier: 2,
  jitter: 0.2,
  budgetMs: 30_000,
});

/**
 * The policy with `given`'s fields over the defaults. Throws a `RangeError` for a field out of
 * range (a negative delay, a jitter outside 0..1, fewer than one attempt, a multiplier below 1).
 */
export function retryPolicy(given: Partial<RetryPolicy> = {}): RetryPolicy {
  const p: RetryPolicy = { ...DEFAULT_RETRY };
  for (const [k, v] of Object.entries(given)) {
    if (v !== undefined) (p as unknown as Record<string, unknown>)[k] = v;
  }
  const bad = (field: string, want: string, v: number) =>
    new RangeError(`retry.${field} must be ${want}, not ${v}`);
  if (!(p.attempts >= 1)) throw bad("attempts", "at least 1 (Infinity for no limit)", p.attempts);
  if (!(p.initialDelayMs >= 0)) {
    throw bad("initialDelayMs", "a number of ms ≥ 0", p.initialDelayMs);
  }
  if (!(p.maxDelayMs >= 0)) throw bad("maxDelayMs", "a number of ms ≥ 0", p.maxDelayMs);
  if (!(p.multiplier >= 1)) throw bad("multiplier", "at least 1", p.multiplier);
  if (!(p.jitter >= 0 && p.jitter <= 1)) throw bad("jitter", "from 0 to 1", p.jitter);
  if (!(p.budgetMs >= 0)) throw bad("budgetMs", "a number of ms ≥ 0", p.budgetMs);
  return Object.freeze(p);
}

/**
 * The wait before attempt `attempt` (1 is the first, which goes at once), with `random` a
 * number in [0, 1) (`Math.random()`): `initialDelayMs × multiplier^(attempt-2)`, capped at
 * `maxDelayMs`, times a factor in `[1 - jitter, 1 + jitter)`, and capped again (Rust's
 * `RetryPolicy::delay(attempt - 1, random)`).
 */
export function retryDelay(p: Readonly<RetryPolicy>, attempt: number, random: number): number {
  if (attempt <= 1) return 0;
  const base = Math.min(p.maxDelayMs, p.initialDelayMs * p.multiplier ** (attempt - 2));
  const jitter = Math.min(1, Math.max(0, p.jitter));
  const unit = Math.min(1, Math.max(0, random));
  return Math.max(0, Math.min(p.maxDelayMs, base * (1 - jitter + 2 * jitter * unit)));
}

/**
 * Whether a session that ended before it was established (or a link that could not carry a
 * handshake) may succeed on another attempt: a lost or silent link, a handshake that took too
 * long, a server at its session limits. Not: refused credentials, another protocol version, a
 * protocol violation, or our own close.
 */
export function retryableHandshake(e: SessionError): boolean {
  switch (e.kind) {
    case "transport":
    case "timed-out":
      return true;
    case "refused":
      return (
        e.by === "session-limit" || e.by === "peer-session-limit" || e.by === "handshake-timeout"
      );
    case "closed-by-peer":
    case "protocol":
    case "locally-closed":
    case "handshake-failed":
      return false;
  }
}

/**
 * Whether an established session that ended this way is worth a fresh one: the link was lost
 * or went silent (and could not be resumed), the server refused the resume or said `Goodbye`
 * (shutting down, say). Not a protocol violation (it would recur) nor our own close.
 */
export function recoverable(e: SessionError): boolean {
  switch (e.kind) {
    case "transport":
    case "timed-out":
    case "closed-by-peer":
      return true;
    case "refused":
      return e.by === "resume";
    case "protocol":
    case "locally-closed":
    case "handshake-failed":
      return false;
  }
}
