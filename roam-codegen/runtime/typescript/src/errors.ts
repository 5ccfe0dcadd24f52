/**
 * The session's errors, as in `roam-proto/src/error.rs`: which protocol rule a peer broke
 * ({@link ProtocolViolation}, carried in `Goodbye`) and why a session ended
 * ({@link SessionError}).
 *
 * Errors are plain data (discriminated unions), not classes: a session reports them in events,
 * it never throws them, and they survive `structuredClone` and logging unchanged.
 *
 * @module
 */

/**
 * The stable rule names of docs/protocol.md §4 (`ProtocolViolation::rule` in Rust). A
 * `Goodbye` that ends a session because of a violation has the reason `"<rule>: <detail>"`.
 */
export type ViolationRule =
  | "malformed-message"
  | "frame-too-large"
  | "handshake"
  | "unknown-connection"
  | "duplicate-request-id"
  | "wrong-parity"
  | "unknown-response"
  | "metadata-limit"
  | "write-backlog"
  | "duplicate-channel-id"
  | "unknown-channel"
  | "wrong-direction"
  | "credit-exceeded"
  | "bad-schema"
  | "too-many-channels"
  | "too-many-schemas"
  | "replay";

/** A protocol rule a peer broke: the rule's stable name and a human-readable detail. */
export interface ProtocolViolation {
  /** Which rule; callers may branch on it. */
  readonly rule: ViolationRule;
  /** What happened, worded as Rust words it (so both runtimes send the same `Goodbye` text). */
  readonly detail: string;
}

/** The `Goodbye` reason for a violation: `"<rule>: <detail>"`. */
export function goodbyeReason(v: ProtocolViolation): string {
  return `${v.rule}: ${v.detail}`;
}

/** `0x` and 16 hex digits, as Rust's `{:#018x}` prints a method ID. */
function hex64(v: bigint): string {
  return `0x${v.toString(16).padStart(16, "0")}`;
}

const v = (rule: ViolationRule, detail: string): ProtocolViolation =>
  Object.freeze({ rule, detail });

/**
 * Builders for each violation, one per `ProtocolViolation` variant in Rust, with the same
 * detail text as its `Display`.
 */
export const violation = Object.freeze({
  /** A frame that is not exactly one valid message. */
  malformedMessage: (detail: string) => v("malformed-message", `malformed message: ${detail}`),
  /** A frame longer than the current maximum. */
  frameTooLarge: (len: number, max: number) =>
    v("frame-too-large", `frame of ${len} bytes exceeds the maximum of ${max}`),
  /** A message before `Hello`, or `Hello` twice. */
  handshake: (what: string) => v("handshake", `unexpected handshake message: ${what}`),
  /** A `conn` that is not open. */
  unknownConnection: (conn: bigint) => v("unknown-connection", `unknown connection ${conn}`),
  /** A request reusing the ID of one still in flight. */
  duplicateRequestId: (id: bigint) => v("duplicate-request-id", `duplicate request id ${id}`),
  /** A request ID of the receiver's parity, or 0. */
  wrongParity: (id: bigint) => v("wrong-parity", `request id ${id} has the wrong parity`),
  /** A response to no request in flight. */
  unknownResponse: (id: bigint) => v("unknown-response", `response to unknown request ${id}`),
  /** Metadata over the protocol's limits. */
  metadata: (limit: string) => v("metadata-limit", `metadata limit: ${limit}`),
  /** A channel ID of the receiver's parity, or 0. */
  channelWrongParity: (id: bigint) => v("wrong-parity", `channel id ${id} has the wrong parity`),
  /** A request listing a channel ID already open. */
  duplicateChannelId: (id: bigint) => v("duplicate-channel-id", `duplicate channel id ${id}`),
  /** `Data` on a channel never opened or already closed by its sender. */
  unknownChannel: (id: bigint) =>
    v("unknown-channel", `data on unknown channel ${id}`),
  /** `Data` or `Close` from the side that receives on the channel. */
  dataOnWrongChannel: (id: bigint) =>
    v("wrong-direction", `data or close on channel ${id}, which the sender does not send on`),
  /** More `Data` than the receiver granted. */
  creditExceeded: (id: bigint) =>
    v("credit-exceeded", `data on channel ${id} beyond the granted credit`),
  /** A schema over the limits or not a valid canonical schema. */
  badSchema: (methodId: bigint, detail: string) =>
    v("bad-schema", `invalid schema for method ${hex64(methodId)}: ${detail}`),
  /** Schemas for more (method, kind) pairs than a session keeps. */
  tooManySchemas: (max: number) =>
    v("too-many-schemas", `more than ${max} schemas announced on one session`),
  /** More channels on one connection than a session keeps. */
  tooManyChannels: (max: number) =>
    v("too-many-channels", `more than ${max} channels on one connection`),
  /**
   * An acknowledgement that cannot be right: an `Ack` on a session without replay, one going
   * backwards or for messages never sent, or a resume answer from outside what was kept.
   */
  replay: (detail: string) => v("replay", detail),
  /** Output queued beyond the driver's bound. */
  writeBacklog: (queued: number) =>
    v("write-backlog", `${queued} bytes wait to be written; the peer does not read`),
});

/** Which of the session's waits ran out. */
export type TimedOutWhat = "handshake" | "keepalive" | "output-stalled" | "resume-grace";

/**
 * Which of an acceptor's rules refused a session (`RefusedBy` in Rust): its credentials
 * (`authentication`, rule `unauthenticated`), how many sessions it serves in all or from this
 * peer's address (`session-limit`, `peer-session-limit`), a handshake that took longer than its
 * budget (`handshake-timeout`), or a resume it cannot honour (`resume`, rule `resume-refused`:
 * it does not know the session, the proof is wrong, or it cannot replay what was missed).
 */
export type RefusedBy =
  | "authentication"
  | "session-limit"
  | "peer-session-limit"
  | "handshake-timeout"
  | "resume";

/**
 * The rule that starts a refusal's `Goodbye` reason, and what the refused side can do about
 * it, worded as Rust's `RefusedBy::rule` and `RefusedBy::advice`.
 */
const REFUSALS: Readonly<Record<RefusedBy, { readonly rule: string; readonly advice: string }>> =
  Object.freeze({
    authentication: {
      rule: "unauthenticated",
      advice: "check the credentials this client sends in its Hello",
    },
    "session-limit": {
      rule: "session-limit",
      advice: "close sessions this client does not need, or retry later",
    },
    "peer-session-limit": {
      rule: "peer-session-limit",
      advice: "close sessions this client does not need, or retry later",
    },
    "handshake-timeout": {
      rule: "handshake-timeout",
      advice:
        "the link or the server's authentication is too slow; " +
        "retry, or ask the operator to raise the budget",
    },
    resume: {
      rule: "resume-refused",
      advice: "start a fresh session; calls that were in flight did not complete",
    },
  });

/** The stable rule name a refusal's `Goodbye` reason starts with (`unauthenticated`, …). */
export function refusalRule(by: RefusedBy): string {
  return REFUSALS[by].rule;
}

/**
 * Splits a `Goodbye` reason `"<rule>: <reason>"` whose rule is one of the refusals (Rust's
 * `RefusedBy::parse_goodbye`); `undefined` for any other reason. Only the text before the first
 * `": "` is the rule, so a reason may itself contain `": "`.
 */
export function parseRefusal(goodbye: string): { by: RefusedBy; reason: string } | undefined {
  const at = goodbye.indexOf(": ");
  if (at < 0) return undefined;
  const rule = goodbye.slice(0, at);
  for (const by of Object.keys(REFUSALS) as RefusedBy[]) {
    if (REFUSALS[by].rule === rule) return { by, reason: goodbye.slice(at + 2) };
  }
  return undefined;
}

/** Why a session ended. */
export type SessionError =
  /** The peer broke a protocol rule; we sent `Goodbye` naming it. */
  | { readonly kind: "protocol"; readonly violation: ProtocolViolation }
  /** The peer said `Goodbye`. */
  | { readonly kind: "closed-by-peer"; readonly reason: string }
  /** This side closed the session ({@link Session.close} or a finished drain). */
  | { readonly kind: "locally-closed" }
  /** The handshake failed: versions differ, the peer asked us to resume, or the peer left. */
  | { readonly kind: "handshake-failed"; readonly detail: string }
  /** The link failed or the peer hung up without `Goodbye`. */
  | { readonly kind: "transport"; readonly detail: string }
  /** One of the session's waits ran out after `afterMs` milliseconds. */
  | { readonly kind: "timed-out"; readonly what: TimedOutWhat; readonly afterMs: number }
  /**
   * The acceptor refused the session before it began, or refused to resume it (`by:
   * "resume"`): it said `Goodbye("<rule>: <reason>")` instead of its `Hello` (reported to an
   * initiator only). `reason` is the text after the rule.
   */
  | { readonly kind: "refused"; readonly by: RefusedBy; readonly reason: string };

/**
 * A duration the way Rust's `Duration` debug format prints it (`10s`, `1.5s`, `250ms`), so
 * timeout texts read the same from both runtimes.
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return "forever";
  if (ms >= 1000) return `${+(ms / 1000).toFixed(9)}s`;
  if (ms >= 1) return `${+ms.toFixed(6)}ms`;
  return `${+(ms * 1000).toFixed(3)}µs`;
}

/** A sentence saying why a session ended, worded like Rust's `SessionError` display. */
export function describeSessionError(e: SessionError): string {
  switch (e.kind) {
    case "protocol":
      return `the peer broke the protocol: ${e.violation.detail}`;
    case "closed-by-peer":
      return `the peer closed the session: ${e.reason}`;
    case "locally-closed":
      return "the session was closed locally";
    case "handshake-failed":
      return `handshake failed: ${e.detail}`;
    case "transport":
      return `transport error: ${e.detail}; the peer may have crashed or the network dropped`;
    case "timed-out": {
      const after = formatDuration(e.afterMs);
      switch (e.what) {
        case "handshake":
          return `the peer did not complete the handshake within ${after}; check that it speaks roam on this address`;
        case "keepalive":
          return `the peer did not answer a keepalive ping within ${after}; the link is dead or the peer is stalled`;
        case "output-stalled":
          return `the peer read nothing of this session's queued output for ${after}; it stopped reading`;
        case "resume-grace":
          return `the link was lost and the session was not resumed within its ${after} grace period; start a fresh session`;
      }
    }
    case "refused": {
      const r = REFUSALS[e.by];
      return `the server refused the session (${r.rule}): ${e.reason}; ${r.advice}`;
    }
  }
}
