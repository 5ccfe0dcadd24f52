// The session's behaviour on a deterministic pair (test/session-util.ts): handshake, calls both
// ways, limits, cancellation, deadlines, keepalive, drain and close, attachments. Mirrors
// roam-proto/src/session/tests/{calls,time,attachments}.rs.

import { describe, test } from "node:test";
import assert from "node:assert/strict";

import { ROOT, Session, describeSessionError, parseRefusal, refusalRule } from "../src/session.js";
import type { RefusedBy, SessionError, SessionEvent } from "../src/session.js";
import { RemoteError, remote } from "../src/response.js";
import { DEFAULT_LIMITS } from "../src/wire.js";
import type { Metadata } from "../src/wire.js";
import { fromHex } from "./helpers.js";
import {
  Pair,
  SERVER_KEY,
  call,
  enc,
  establishedServer,
  events,
  goodbyeReason,
  hello,
  ofType,
  oversizedMetadata,
  rawRequest,
  sent,
  start,
} from "./session-util.js";

const SEC = 1000;
const oneSlot = { limits: { maxConcurrentRequests: 1 } };

function requests<C, S, Ch>(list: SessionEvent<C, S, Ch>[]) {
  return ofType(list, "request").map((e) => e.request);
}

describe("handshake", () => {
  test("takes the minimum of both limits and shares the acceptor's key", () => {
    const p = new Pair(
      { limits: { maxFrameSize: 4096, initialCredit: 100, maxConcurrentRequests: 5 } },
      { limits: { maxFrameSize: 1 << 20, initialCredit: 8, maxConcurrentRequests: 50 } },
    );
    const want = { maxFrameSize: 4096, initialCredit: 8, maxConcurrentRequests: 5 };
    for (const s of [p.client, p.server]) {
      const [e] = events(s);
      assert.equal(e?.type, "established");
      assert.deepEqual(e.type === "established" && e.limits, want);
      assert.deepEqual(e.type === "established" && e.sessionKey, SERVER_KEY);
      assert.equal(s.phase, "established");
      assert.deepEqual(s.limits, want);
    }
    // Only the acceptor puts a key in its Hello.
    const [ch, sh] = [p.log.c2s[0], p.log.s2c[0]];
    assert.ok(ch?.type === "hello" && ch.sessionKey === undefined);
    assert.ok(sh?.type === "hello" && sh.sessionKey !== undefined);
  });

  test("a different version is answered with a Goodbye naming both", () => {
    const s = new Session("acceptor", 0);
    sent(s);
    s.handleFrame(0, hello(DEFAULT_LIMITS, { version: 99 } as never));
    const reason = goodbyeReason(s)!;
    assert.equal(
      reason,
      "version-mismatch: peer speaks protocol version 99, this side speaks 3; upgrade the older side",
    );
    const closed = ofType(events(s), "closed")[0]!;
    assert.equal(closed.error.kind, "handshake-failed");
  });

  test("a version-1 Hello, which no longer decodes, is a version mismatch naming 1", () => {
    // Default limits, no session key, no resume, and no metadata field: version 1 had none.
    const v1 = fromHex("00 01 80 80 80 04 40 80 08 00 00");
    for (const role of ["acceptor", "initiator"] as const) {
      const s = new Session(role, 0);
      sent(s);
      s.handleFrame(0, v1);
      const reason =
        "version-mismatch: peer speaks protocol version 1, this side speaks 3; upgrade the older side";
      assert.deepEqual(sent(s), [{ type: "goodbye", reason }], role);
      assert.deepEqual(ofType(events(s), "closed")[0]?.error, {
        kind: "handshake-failed",
        detail: reason,
      });
    }
  });

  test("a version-2 Hello, lacking replay, does not decode: a version mismatch naming 2", () => {
    // Version 2's Hello: default limits, no key, no resume, metadata [], and nothing after.
    const plain = "00 02 80 80 80 04 40 80 08 00 00 00";
    // With a session key (an acceptor's) and with credentials (an initiator's).
    const keyed = "00 02 80 80 80 04 40 80 08 01 " + "09 ".repeat(16) + "00 00";
    const credentials =
      "00 02 80 80 80 04 40 80 08 00 00 01 0d 61 75 74 68 6f 72 69 7a 61 74 69 6f 6e" +
      " 00 08 42 65 61 72 65 72 20 74";
    for (const frame of [plain, keyed, credentials]) {
      for (const role of ["acceptor", "initiator"] as const) {
        const s = new Session(role, 0);
        sent(s);
        s.handleFrame(0, fromHex(frame));
        const reason =
          "version-mismatch: peer speaks protocol version 2, this side speaks 3; upgrade the older side";
        assert.deepEqual(sent(s), [{ type: "goodbye", reason }], `${role}: ${frame}`);
        assert.deepEqual(ofType(events(s), "closed")[0]?.error, {
          kind: "handshake-failed",
          detail: reason,
        });
      }
    }
  });

  test("a frame that does not decode is malformed when its version is ours, or after the handshake", () => {
    // Version 3 bytes without replay (or without metadata and replay), and garbage after a 3:
    // our own version has no excuse.
    for (const frame of [
      "00 03 80 80 80 04 40 80 08 00 00 00",
      "00 03 80 80 80 04 40 80 08 00 00",
      "00 03 80 80 80 04 40 80 08 00 00 00 04",
      "00 03 ff ff",
    ]) {
      const s = new Session("acceptor", 0);
      sent(s);
      s.handleFrame(0, fromHex(frame));
      assert.match(goodbyeReason(s)!, /^malformed-message: /, frame);
      const closed = ofType(events(s), "closed")[0];
      assert.ok(closed?.error.kind === "protocol", frame);
      assert.equal(closed.error.violation.rule, "malformed-message");
    }
    // Once established, a version-1 or version-2 Hello is no handshake: it is a frame that
    // does not decode.
    for (const old of ["00 01 80 80 80 04 40 80 08 00 00", "00 02 80 80 80 04 40 80 08 00 00 00"]) {
      const s = establishedServer();
      s.handleFrame(1, fromHex(old));
      assert.match(goodbyeReason(s)!, /^malformed-message: /, old);
    }
  });

  test("a Hello asking to resume is refused", () => {
    const s = new Session("acceptor", 0);
    sent(s);
    const resume = { sessionKey: new Uint8Array(16), lastReceived: 3n, nonce: new Uint8Array(16), proof: new Uint8Array(32) };
    s.handleFrame(0, hello(DEFAULT_LIMITS, { resume } as never));
    assert.match(goodbyeReason(s)!, /^resume-refused: /);
  });

  test("a resume is refused whatever replay it offers", () => {
    const s = new Session("acceptor", 0);
    sent(s);
    const resume = {
      sessionKey: new Uint8Array(16).fill(1),
      lastReceived: 5n,
      nonce: new Uint8Array(16),
      proof: new Uint8Array(32).fill(2),
    };
    const replay = { type: "offer", buffer: 1 << 20 };
    s.handleFrame(0, hello(DEFAULT_LIMITS, { resume, replay } as never));
    const reason = "resume-refused: this peer does not resume sessions";
    assert.deepEqual(sent(s), [{ type: "goodbye", reason }]);
    assert.deepEqual(ofType(events(s), "closed")[0]?.error, {
      kind: "handshake-failed",
      detail: reason,
    });
  });

  test("both sides' Hellos say replay Off", () => {
    for (const s of [new Session("initiator", 0), new Session("acceptor", 0)]) {
      const [h] = sent(s);
      assert.ok(h?.type === "hello", s.role);
      assert.deepEqual(h.replay, { type: "off" }, s.role);
    }
  });

  test("an initiator's replay Offer is answered with Off: the session is not resumable", () => {
    const s = new Session("acceptor", 0, { sessionKey: SERVER_KEY });
    const [ours] = sent(s);
    assert.ok(ours?.type === "hello");
    assert.deepEqual(ours.replay, { type: "off" });
    const replay = { type: "offer", buffer: 1 << 20 };
    s.handleFrame(0, hello(DEFAULT_LIMITS, { replay } as never));
    assert.equal(s.phase, "established");
    assert.equal(ofType(events(s), "established").length, 1);
    // Nothing more: no Goodbye, no Ack.
    assert.deepEqual(sent(s), []);
    // Calls flow as on any session.
    s.handleFrame(1, rawRequest(1n));
    assert.equal(ofType(events(s), "request").length, 1);
  });

  test("a missing Hello times out with a Goodbye and a typed error", () => {
    const s = new Session("initiator", 0, { handshakeTimeoutMs: 3 * SEC });
    sent(s);
    assert.equal(s.pollTimeout(), 3 * SEC);
    s.handleTimeout(2999);
    assert.equal(s.phase, "handshaking");
    s.handleTimeout(3 * SEC);
    assert.equal(goodbyeReason(s), "handshake-timeout: no Hello within 3s");
    assert.deepEqual(ofType(events(s), "closed")[0]?.error, {
      kind: "timed-out",
      what: "handshake",
      afterMs: 3 * SEC,
    });
    // The Goodbye was taken, so the session may finish now.
    s.handleFlushed();
    assert.equal(s.phase, "closed");
  });

  test("a Goodbye before Hello fails the handshake without an answer", () => {
    const s = new Session("initiator", 0);
    sent(s);
    s.handleFrame(5, enc({ type: "goodbye", reason: "not today" }));
    assert.deepEqual(sent(s), []);
    assert.deepEqual(ofType(events(s), "closed")[0]?.error, {
      kind: "handshake-failed",
      detail: "peer said goodbye: not today",
    });
    assert.equal(s.phase, "closed");
  });

  test("a Goodbye naming a refusal rule instead of the Hello is a typed refusal", () => {
    const refused = (by: RefusedBy, reason: string): SessionError => ({
      kind: "refused",
      by,
      reason,
    });
    const cases: [string, SessionError][] = [
      [
        "unauthenticated: missing or wrong bearer token",
        refused("authentication", "missing or wrong bearer token"),
      ],
      ["session-limit: 100 sessions", refused("session-limit", "100 sessions")],
      // Only the first ": " ends the rule.
      [
        "peer-session-limit: 4 from 10.0.0.1: too many",
        refused("peer-session-limit", "4 from 10.0.0.1: too many"),
      ],
      [
        "handshake-timeout: the session was not admitted within 10s",
        refused("handshake-timeout", "the session was not admitted within 10s"),
      ],
      ["unauthenticated: ", refused("authentication", "")],
    ];
    // Not refusals: no ": " after the rule, another rule, or a longer name.
    for (const reason of [
      "unauthenticated",
      "unauthenticated:no space",
      "version-mismatch: peer speaks 2",
      "session-limits: x",
      "authentication: the variant's name is not the rule",
    ]) {
      cases.push([reason, { kind: "handshake-failed", detail: `peer said goodbye: ${reason}` }]);
    }
    for (const [reason, error] of cases) {
      const s = new Session("initiator", 0);
      sent(s);
      s.handleFrame(5, enc({ type: "goodbye", reason }));
      assert.deepEqual(sent(s), [], reason);
      assert.deepEqual(ofType(events(s), "closed")[0]?.error, error, reason);
      assert.equal(s.phase, "closed");
    }
  });

  test("a refusal reads as Rust's SessionError::Refused does", () => {
    assert.equal(
      describeSessionError({
        kind: "refused",
        by: "authentication",
        reason: "missing or wrong bearer token",
      }),
      "the server refused the session (unauthenticated): missing or wrong bearer token; " +
        "check the credentials this client sends in its Hello",
    );
    assert.equal(
      describeSessionError({ kind: "refused", by: "peer-session-limit", reason: "4 at once" }),
      "the server refused the session (peer-session-limit): 4 at once; " +
        "close sessions this client does not need, or retry later",
    );
    assert.deepEqual(parseRefusal("handshake-timeout: slow"), {
      by: "handshake-timeout",
      reason: "slow",
    });
    assert.equal(refusalRule("authentication"), "unauthenticated");
  });

  test("only an initiator is refused: an acceptor's early Goodbye fails the handshake", () => {
    const s = new Session("acceptor", 0);
    sent(s);
    s.handleFrame(5, enc({ type: "goodbye", reason: "unauthenticated: who are you" }));
    assert.deepEqual(ofType(events(s), "closed")[0]?.error, {
      kind: "handshake-failed",
      detail: "peer said goodbye: unauthenticated: who are you",
    });
  });

  test("a refusal after the handshake is an ordinary Goodbye", () => {
    const s = new Session("initiator", 0);
    s.handleFrame(0, hello(DEFAULT_LIMITS, { sessionKey: SERVER_KEY } as never));
    sent(s);
    events(s);
    s.handleFrame(1, enc({ type: "goodbye", reason: "unauthenticated: token expired" }));
    assert.deepEqual(ofType(events(s), "closed")[0]?.error, {
      kind: "closed-by-peer",
      reason: "unauthenticated: token expired",
    });
  });

  test("our Hello carries the configured metadata, and only within the limits", () => {
    const md: Metadata = [
      ["authorization", "Bearer t"],
      ["n", 7n],
    ];
    const s = new Session("initiator", 0, { metadata: md });
    const [h] = sent(s);
    assert.ok(h?.type === "hello");
    assert.deepEqual(h.metadata, md);
    const plain = sent(new Session("acceptor", 0, { sessionKey: SERVER_KEY }))[0];
    assert.ok(plain?.type === "hello");
    assert.deepEqual(plain.metadata, []);
    assert.throws(
      () => new Session("initiator", 0, { metadata: oversizedMetadata() }),
      (e: unknown) => e instanceof RangeError && /more than 64 entries/.test(e.message),
    );
    assert.throws(
      () => new Session("initiator", 0, { metadata: [["k".repeat(129), "v"]] }),
      RangeError,
    );
  });

  test("calls made before the handshake wait for it", () => {
    const client = new Session("initiator", 0);
    const id = start(client, 0, call(7n), undefined);
    assert.equal(client.waitingCalls, 1);
    assert.deepEqual(
      sent(client).map((m) => m.type),
      ["hello"],
    );
    client.handleFrame(1, hello(DEFAULT_LIMITS, { sessionKey: SERVER_KEY } as never));
    const out = sent(client);
    assert.equal(out.length, 1);
    assert.ok(out[0]?.type === "request" && out[0].id === id);
  });
});

describe("calls", () => {
  test("flow both ways with parity IDs", () => {
    const p = new Pair();
    events(p.client);
    events(p.server);
    const a = start(p.client, p.now, call(1n), undefined);
    const b = start(p.server, p.now, call(2n), undefined);
    const c = start(p.client, p.now, call(3n), undefined);
    assert.deepEqual([a, b, c], [1n, 2n, 3n]);
    p.drive();
    const atServer = requests(events(p.server));
    const atClient = requests(events(p.client));
    assert.deepEqual(
      atServer.map((r) => [r.id, r.methodId]),
      [
        [1n, 1n],
        [3n, 3n],
      ],
    );
    assert.deepEqual(
      atClient.map((r) => [r.id, r.methodId]),
      [[2n, 2n]],
    );
    p.server.respond(p.now, ROOT, 3n, [["k", "v"]], Uint8Array.of(0, 33));
    p.client.respond(p.now, ROOT, 2n, [], Uint8Array.of(0, 22));
    p.server.respond(p.now, ROOT, 1n, [], Uint8Array.of(0, 11));
    p.drive();
    const toClient = ofType(events(p.client), "response");
    assert.deepEqual(
      toClient.map((r) => [r.id, [...r.payload], r.metadata]),
      [
        [3n, [0, 33], [["k", "v"]]],
        [1n, [0, 11], []],
      ],
    );
    assert.deepEqual(
      ofType(events(p.server), "response").map((r) => r.id),
      [2n],
    );
    assert.equal(p.client.outgoingInFlight, 0);
    assert.equal(p.server.incomingInFlight, 0);
  });

  test("nextRequestId is odd for the initiator and even for the acceptor", () => {
    const i = new Session("initiator", 0);
    const a = new Session("acceptor", 0);
    assert.deepEqual([i.nextRequestId(), i.nextRequestId(), i.nextRequestId()], [1n, 3n, 5n]);
    assert.deepEqual([a.nextRequestId(), a.nextRequestId()], [2n, 4n]);
  });

  test("a call needs an unused ID of our parity", () => {
    const p = new Pair();
    for (const id of [0n, 2n]) {
      const r = p.client.call(p.now, ROOT, id, call(1n), "mine" as never);
      assert.ok(!r.ok);
      assert.deepEqual(r.reason, { kind: "id-in-use", id });
      assert.equal(r.call, "mine", "the attachment comes back");
    }
    assert.ok(p.client.call(p.now, ROOT, 7n, call(1n), undefined).ok);
    const again = p.client.call(p.now, ROOT, 7n, call(1n), undefined);
    assert.ok(!again.ok && again.reason.kind === "id-in-use");
    const conn = p.client.call(p.now, 5n, 9n, call(1n), undefined);
    assert.ok(!conn.ok && conn.reason.kind === "unknown-connection");
  });

  test("calls beyond the peer's limit wait in the session, in order", () => {
    const p = new Pair({}, oneSlot);
    events(p.server);
    for (const m of [1n, 2n, 3n]) start(p.client, p.now, call(m), undefined);
    p.drive();
    assert.equal(p.client.outgoingInFlight, 1);
    assert.equal(p.client.waitingCalls, 2);
    assert.deepEqual(
      requests(events(p.server)).map((r) => r.methodId),
      [1n],
    );
    p.server.respond(p.now, ROOT, 1n, [], Uint8Array.of(0));
    p.drive();
    assert.deepEqual(
      requests(events(p.server)).map((r) => r.methodId),
      [2n],
    );
    p.server.respond(p.now, ROOT, 3n, [], Uint8Array.of(0));
    p.drive();
    assert.deepEqual(
      requests(events(p.server)).map((r) => r.methodId),
      [3n],
    );
    assert.equal(p.client.waitingCalls, 0);
  });

  test("a peer over our limit gets Overloaded answers, and the session stays up", () => {
    const s = establishedServer({ limits: { maxConcurrentRequests: 1 } });
    s.handleFrame(1, rawRequest(1n));
    s.handleFrame(1, rawRequest(3n));
    assert.deepEqual(sent(s), [
      { type: "response", conn: 0n, id: 3n, metadata: [], payload: remote(RemoteError.Overloaded) },
    ]);
    assert.deepEqual(
      requests(events(s)).map((r) => r.id),
      [1n],
    );
    assert.equal(s.phase, "established");
  });

  test("the request ID of an answered call may be used again", () => {
    const s = establishedServer();
    s.handleFrame(1, rawRequest(1n));
    s.respond(1, ROOT, 1n, [], Uint8Array.of(0));
    s.handleFrame(2, rawRequest(1n));
    assert.equal(requests(events(s)).length, 2);
    assert.equal(s.phase, "established");
  });

  test("oversize calls are refused by call itself, nothing sent, no event", () => {
    const p = new Pair<string, undefined, undefined>({ limits: { maxFrameSize: 64 } });
    events(p.client);
    const big = p.client.call(p.now, ROOT, 1n, call(1n, { payload: new Uint8Array(65) }), "a");
    assert.ok(!big.ok);
    assert.deepEqual(big.reason, { kind: "too-large", len: 65, max: 64 });
    // 60 payload bytes fit the 64-byte frame; with the request's header they do not.
    const sentBefore = p.log.c2s.length;
    const r = p.client.call(
      p.now,
      ROOT,
      3n,
      call(1n, { payload: new Uint8Array(60), channels: ["outgoing"], timeoutMs: 5 * SEC }),
      "too big",
    );
    assert.ok(!r.ok);
    assert.equal(r.reason.kind, "too-large");
    assert.equal(r.call, "too big");
    assert.deepEqual(events(p.client), [], "no event as well");
    assert.equal(p.client.openChannels, 0, "its channel is gone");
    assert.equal(p.client.pendingDeadlines, 0);
    p.drive();
    assert.equal(p.log.c2s.length, sentBefore);
    assert.ok(p.client.call(p.now, ROOT, 3n, call(1n), "the ID is free again").ok);
  });

  test("a waiting call that turns out too large for the peer fails with an event", () => {
    const client = new Session<string, undefined, string>("initiator", 0);
    const r = client.call(
      0,
      ROOT,
      1n,
      call(1n, { payload: new Uint8Array(60), channels: ["incoming"] }),
      "c",
    );
    assert.ok(r.ok);
    assert.ok(client.attachChannel(ROOT, r.channels[0]!, "rx"));
    client.handleFrame(
      1,
      hello({ ...DEFAULT_LIMITS, maxFrameSize: 64 }, { sessionKey: SERVER_KEY } as never),
    );
    const [failed] = ofType(events(client), "call-failed");
    assert.equal(failed?.reason.kind, "too-large");
    assert.equal(failed?.sent, false);
    assert.equal(failed?.call, "c");
    assert.deepEqual(failed?.channels, ["rx"]);
    assert.equal(client.openChannels, 0);
    assert.equal(client.attachChannel(ROOT, r.channels[0]!, "late"), false, "the channel is gone");
  });

  test("a response too big for a frame becomes Internal", () => {
    const p = new Pair({}, { limits: { maxFrameSize: 64 } });
    start(p.client, p.now, call(1n), undefined);
    p.drive();
    p.server.respond(p.now, ROOT, 1n, [], new Uint8Array(100));
    p.drive();
    const [r] = ofType(events(p.client), "response");
    assert.deepEqual([...r!.payload], [1, RemoteError.Internal]);
  });

  test("a Goodbye from the peer ends the session with its reason", () => {
    const p = new Pair();
    events(p.client);
    p.server.close(p.now, "maintenance");
    p.drive();
    assert.deepEqual(ofType(events(p.client), "closed")[0]?.error, {
      kind: "closed-by-peer",
      reason: "maintenance",
    });
    assert.equal(p.client.phase, "closed");
  });

  test("session messages are numbered and link messages are not", () => {
    const p = new Pair();
    assert.equal(p.client.sentSeq, 0, "Hello is a link message");
    start(p.client, p.now, call(1n), undefined);
    p.drive();
    p.server.respond(p.now, ROOT, 1n, [], Uint8Array.of(0));
    p.drive();
    assert.equal(p.client.sentSeq, 1);
    assert.equal(p.server.receivedSeq, 1);
    assert.equal(p.server.sentSeq, 1);
    assert.equal(p.client.receivedSeq, 1);
  });
});

describe("metadata limits", () => {
  test("over-limit metadata is refused at the caller and nothing is sent", () => {
    const p = new Pair();
    const r = p.client.call(
      p.now,
      ROOT,
      1n,
      call(1n, { metadata: oversizedMetadata() }),
      undefined,
    );
    assert.ok(!r.ok);
    assert.deepEqual(r.reason, { kind: "metadata", detail: "metadata has more than 64 entries" });
    const longKey = p.client.call(
      p.now,
      ROOT,
      1n,
      call(1n, { metadata: [["é".repeat(65), "v"]] }),
      undefined,
    );
    assert.ok(!longKey.ok);
    assert.deepEqual(longKey.reason, {
      kind: "metadata",
      detail: "metadata key longer than 128 bytes",
    });
    assert.deepEqual(sent(p.client), []);
    // Exactly at the limits is fine.
    const ok = Array.from({ length: 64 }, (_, i) => [`${i}`.padEnd(128, "k"), 1n] as const);
    assert.ok(p.client.call(p.now, ROOT, 1n, call(1n, { metadata: ok }), undefined).ok);
    assert.equal(p.client.phase, "established");
  });

  test("over-limit response metadata becomes Internal without metadata", () => {
    const p = new Pair();
    start(p.client, p.now, call(1n), undefined);
    p.drive();
    p.server.respond(p.now, ROOT, 1n, oversizedMetadata(), Uint8Array.of(0, 1));
    p.drive();
    const [r] = ofType(events(p.client), "response");
    assert.deepEqual(r?.metadata, []);
    assert.deepEqual([...r!.payload], [1, RemoteError.Internal]);
    assert.ok(!p.client.isClosed && !p.server.isClosed);
  });
});

describe("cancellation", () => {
  test("Cancel stops the handler, and the late answer is dropped quietly", () => {
    const p = new Pair<string, string, undefined>();
    events(p.client);
    const id = start(p.client, p.now, call(1n), "caller");
    p.drive();
    events(p.server);
    assert.ok(p.server.serving(ROOT, id, "handler"));
    assert.equal(p.server.served(ROOT, id), "handler");
    p.hold("s2c");
    const cancelled = p.client.cancel(ROOT, id);
    assert.deepEqual(cancelled, { call: "caller", sent: true, channels: [] });
    assert.equal(p.client.cancel(ROOT, id), undefined, "only once");
    p.drive();
    assert.deepEqual(p.log.c2s.at(-1), { type: "cancel", conn: 0n, id });
    const stops = ofType(events(p.server), "stop-handler");
    assert.deepEqual(stops, [
      { type: "stop-handler", conn: 0n, id, reason: "cancelled", serve: "handler" },
    ]);
    // The handler answers anyway: ignored, the call was answered `Cancelled` already.
    p.server.respond(p.now, ROOT, id, [], Uint8Array.of(0, 9));
    p.release("s2c");
    p.drive();
    const answers = p.log.s2c.filter((m) => m.type === "response");
    assert.equal(answers.length, 1);
    assert.deepEqual(answers[0]?.type === "response" && [...answers[0].payload], [1, 3]);
    assert.deepEqual(events(p.client), []);
    assert.ok(!p.client.isClosed && !p.server.isClosed);
    assert.equal(p.client.outgoingInFlight, 0);
  });

  test("cancelling a waiting call never sends it and frees nothing it did not hold", () => {
    const p = new Pair({}, oneSlot);
    start(p.client, p.now, call(1n), undefined);
    const waiting = start(p.client, p.now, call(2n), undefined);
    p.drive();
    const before = p.log.c2s.length;
    assert.deepEqual(p.client.cancel(ROOT, waiting), {
      call: undefined,
      sent: false,
      channels: [],
    });
    p.drive();
    assert.equal(p.log.c2s.length, before, "no Cancel for a call never sent");
    assert.equal(p.client.waitingCalls, 0);
    p.server.respond(p.now, ROOT, 1n, [], Uint8Array.of(0));
    p.drive();
    assert.equal(p.log.c2s.filter((m) => m.type === "request").length, 1);
  });

  test("a Cancel for an unknown or answered call is ignored", () => {
    const s = establishedServer();
    s.handleFrame(1, rawRequest(1n));
    s.respond(1, ROOT, 1n, [], Uint8Array.of(0));
    sent(s);
    s.handleFrame(2, enc({ type: "cancel", conn: 0n, id: 1n }));
    s.handleFrame(2, enc({ type: "cancel", conn: 0n, id: 99n }));
    assert.deepEqual(sent(s), []);
    assert.equal(s.phase, "established");
  });
});

describe("deadlines", () => {
  test("our deadline fails the call and cancels it; the callee stops its handler", () => {
    const p = new Pair();
    events(p.client);
    events(p.server);
    const id = start(p.client, p.now, call(1n, { timeoutMs: 2 * SEC }), undefined);
    p.drive();
    const [req] = requests(events(p.server));
    assert.equal(req?.deadline, p.now + 2 * SEC);
    const wire = p.log.c2s.at(-1);
    assert.ok(wire?.type === "request" && wire.timeoutMicros === 2_000_000n);
    // Hold the server's answer back so the client's own deadline is what fails the call.
    p.hold("s2c");
    p.advance(2 * SEC);
    assert.deepEqual(events(p.client), [
      {
        type: "call-failed",
        conn: 0n,
        id,
        reason: { kind: "deadline-exceeded" },
        sent: true,
        call: undefined,
        channels: [],
      },
    ]);
    assert.deepEqual(events(p.server), [
      { type: "stop-handler", conn: 0n, id, reason: "deadline-exceeded", serve: undefined },
    ]);
    const answer = p.log.s2c.at(-1);
    assert.ok(answer?.type === "response");
    assert.deepEqual([...answer.payload], [1, RemoteError.DeadlineExceeded]);
    assert.deepEqual(p.log.c2s.at(-1), { type: "cancel", conn: 0n, id });
    // The late DeadlineExceeded answer: dropped, not a violation.
    p.release("s2c");
    p.advance(SEC);
    assert.deepEqual(events(p.client), []);
    assert.ok(!p.client.isClosed && !p.server.isClosed);
    assert.equal(p.client.pendingDeadlines, 0);
    assert.equal(p.server.pendingDeadlines, 0);
  });

  test("a call that waited for a slot sends only the time left", () => {
    const p = new Pair({}, oneSlot);
    start(p.client, p.now, call(1n), undefined);
    start(p.client, p.now, call(2n, { timeoutMs: 10 * SEC }), undefined);
    p.drive();
    events(p.server);
    p.advance(3 * SEC);
    p.server.respond(p.now, ROOT, 1n, [], Uint8Array.of(0));
    p.drive();
    const [second] = requests(events(p.server));
    assert.equal(second?.deadline, p.now + 7 * SEC);
    const wire = p.log.c2s.filter((m) => m.type === "request").at(-1);
    assert.ok(wire?.type === "request" && wire.timeoutMicros === 7_000_000n);
  });

  test("a waiting call whose deadline passes is never sent", () => {
    const p = new Pair({}, oneSlot);
    start(p.client, p.now, call(1n), undefined);
    const waiting = start(p.client, p.now, call(2n, { timeoutMs: SEC }), undefined);
    p.advance(SEC);
    const [failed] = ofType(events(p.client), "call-failed");
    assert.equal(failed?.id, waiting);
    assert.equal(failed?.sent, false);
    assert.equal(p.client.waitingCalls, 0);
    p.server.respond(p.now, ROOT, 1n, [], Uint8Array.of(0));
    p.drive();
    assert.equal(p.log.c2s.filter((m) => m.type === "request").length, 1);
    assert.equal(p.log.c2s.filter((m) => m.type === "cancel").length, 0);
  });

  test("completed calls leave no deadline behind", () => {
    const p = new Pair();
    for (let i = 0; i < 50; i++)
      start(p.client, p.now, call(1n, { timeoutMs: 60 * SEC }), undefined);
    p.drive();
    assert.equal(p.client.pendingDeadlines, 50);
    assert.equal(p.server.pendingDeadlines, 50);
    for (const r of requests(events(p.server)))
      p.server.respond(p.now, ROOT, r.id, [], Uint8Array.of(0));
    p.drive();
    assert.equal(p.client.pendingDeadlines, 0);
    assert.equal(p.server.pendingDeadlines, 0);
  });

  test("a timeout_micros too large for the clock means no deadline", () => {
    const s = establishedServer();
    s.handleFrame(1, rawRequest(1n, { timeoutMicros: 2n ** 64n - 1n }));
    const [req] = requests(events(s));
    assert.equal(req?.deadline, undefined);
    assert.equal(s.pendingDeadlines, 0);
  });
});

describe("keepalive", () => {
  const ka = (intervalMs: number, timeoutMs: number) => ({ keepalive: { intervalMs, timeoutMs } });

  test("a peer that answers pings is never dropped", () => {
    const p = new Pair(ka(5 * SEC, 3 * SEC), ka(7 * SEC, 3 * SEC));
    p.latency = 800;
    events(p.client);
    events(p.server);
    const before = p.client.receivedSeq;
    p.advance(3600 * SEC);
    assert.ok(!p.client.isClosed && !p.server.isClosed);
    assert.deepEqual(events(p.client), []);
    assert.deepEqual(events(p.server), []);
    assert.equal(p.client.receivedSeq, before, "Ping and Pong are not numbered");
    assert.ok(p.log.c2s.filter((m) => m.type === "ping").length > 500);
  });

  test("pings are answered with the same nonce", () => {
    const s = establishedServer();
    s.handleFrame(1, enc({ type: "ping", nonce: 77n }));
    assert.deepEqual(sent(s), [{ type: "pong", nonce: 77n }]);
  });

  test("a silent peer is detected within interval + timeout, without a Goodbye", () => {
    const p = new Pair(ka(5 * SEC, 3 * SEC), { keepalive: false });
    events(p.client);
    p.advance(12_345);
    assert.ok(!p.client.isClosed);
    p.blackhole("s2c");
    const took = p.advanceUntil(60 * SEC, (q) => q.client.isClosed);
    assert.ok(took !== undefined && took <= 8 * SEC, `took ${took}`);
    assert.deepEqual(ofType(events(p.client), "closed")[0]?.error, {
      kind: "timed-out",
      what: "keepalive",
      afterMs: 3 * SEC,
    });
    assert.equal(p.log.c2s.filter((m) => m.type === "goodbye").length, 0);
    assert.equal(p.client.phase, "closed");
  });

  test("any frame heard while a ping is outstanding extends the wait", () => {
    const s = new Session("initiator", 0, ka(SEC, 2 * SEC));
    s.handleFrame(0, hello(DEFAULT_LIMITS, { sessionKey: SERVER_KEY } as never));
    sent(s);
    s.handleTimeout(SEC);
    assert.deepEqual(sent(s), [{ type: "ping", nonce: 1n }]);
    // The Pong is stuck behind bulk data: other frames arrive meanwhile.
    s.handleFrame(2500, enc({ type: "ping", nonce: 5n }));
    s.handleTimeout(3 * SEC);
    assert.ok(!s.isClosed, "heard from the peer 0.5 s ago");
    assert.equal(s.pollTimeout(), 4500);
    s.handleTimeout(4500);
    assert.ok(s.isClosed, "silent for a whole timeout since the last frame");
  });

  test("a Pong with another nonce is ignored; the right one re-arms the next ping", () => {
    const s = new Session("initiator", 0, ka(SEC, 2 * SEC));
    s.handleFrame(0, hello(DEFAULT_LIMITS, { sessionKey: SERVER_KEY } as never));
    s.handleTimeout(SEC);
    sent(s);
    // The wrong nonce does not answer the ping, though like any frame it shows life.
    s.handleFrame(1100, enc({ type: "pong", nonce: 42n }));
    s.handleTimeout(3 * SEC);
    assert.ok(!s.isClosed);
    assert.equal(s.pollTimeout(), 3100, "still waiting for Pong 1, no new Ping armed");
    s.handleTimeout(3100);
    assert.ok(s.isClosed);
    const t = new Session("initiator", 0, ka(SEC, 2 * SEC));
    t.handleFrame(0, hello(DEFAULT_LIMITS, { sessionKey: SERVER_KEY } as never));
    t.handleTimeout(SEC);
    t.handleFrame(1100, enc({ type: "pong", nonce: 1n }));
    assert.equal(t.pollTimeout(), 2100, "next ping one interval after the Pong");
  });

  test("keepalive can be turned off, and a tiny interval is raised to 10 ms", () => {
    const off = new Pair({ keepalive: false }, { keepalive: false });
    off.advance(3600 * SEC);
    assert.equal(off.log.c2s.filter((m) => m.type === "ping").length, 0);
    assert.ok(!off.client.isClosed);
    const fast = new Pair(ka(0, SEC));
    fast.advance(SEC);
    const pings = fast.log.c2s.filter((m) => m.type === "ping").length;
    assert.ok(pings <= 100, `${pings} pings in a second`);
  });
});

describe("drain and close", () => {
  test("draining answers new calls Unavailable and says Goodbye after the last answer", () => {
    const p = new Pair();
    start(p.client, p.now, call(1n), undefined);
    p.drive();
    events(p.server);
    p.server.startDrain(p.now, "shutting down");
    assert.equal(p.server.phase, "draining");
    start(p.client, p.now, call(2n), undefined);
    p.drive();
    const early = ofType(events(p.client), "response");
    assert.deepEqual(
      early.map((r) => [r.id, [...r.payload]]),
      [[3n, [1, RemoteError.Unavailable]]],
    );
    p.server.respond(p.now, ROOT, 1n, [], Uint8Array.of(0));
    p.drive();
    assert.deepEqual(p.log.s2c.at(-1), { type: "goodbye", reason: "shutting down" });
    assert.deepEqual(ofType(events(p.client), "closed")[0]?.error, {
      kind: "closed-by-peer",
      reason: "shutting down",
    });
    assert.deepEqual(ofType(events(p.server), "closed")[0]?.error, { kind: "locally-closed" });
  });

  test("the drain grace stops handlers that never return", () => {
    const p = new Pair<undefined, string, undefined>({}, { drainGraceMs: 5 * SEC });
    const id = start(p.client, p.now, call(1n), undefined);
    p.drive();
    p.server.serving(ROOT, id, "h");
    events(p.server);
    p.server.startDrain(p.now, "bye");
    p.advance(5 * SEC);
    const evs = events(p.server);
    assert.deepEqual(evs[0], {
      type: "stop-handler",
      conn: 0n,
      id,
      reason: "shutdown",
      serve: "h",
    });
    assert.equal(evs[1]?.type, "closed");
    const [r] = ofType(events(p.client), "response");
    assert.deepEqual([...r!.payload], [1, RemoteError.Unavailable]);
    assert.deepEqual(p.log.s2c.at(-1), { type: "goodbye", reason: "bye" });
  });

  test("draining with nothing in flight closes at once; a handshaking one too", () => {
    const s = establishedServer();
    s.startDrain(1, "bye");
    assert.equal(goodbyeReason(s), "bye");
    const h = new Session("initiator", 0);
    sent(h);
    h.startDrain(0, "never mind");
    assert.equal(goodbyeReason(h), "never mind");
  });

  test("closing lingers for the flush, but not forever", () => {
    const s = establishedServer({ closeLingerMs: 2 * SEC });
    s.close(10, "done");
    assert.equal(s.phase, "closing");
    assert.ok(s.isClosed && !s.isFinished);
    assert.equal(s.pollTimeout(), 10 + 2 * SEC);
    s.handleTimeout(10 + 2 * SEC);
    assert.equal(s.phase, "closed");
    assert.equal(s.pollTransmit(), undefined, "the unread Goodbye is dropped");

    const t = establishedServer();
    t.close(10, "done");
    assert.equal(goodbyeReason(t), "done");
    t.handleFlushed();
    assert.equal(t.phase, "closed");
    assert.equal(t.pollTimeout(), undefined);
  });

  test("a dead link fails the calls in flight on both sides", () => {
    const p = new Pair<string, undefined, undefined>();
    start(p.client, p.now, call(1n), "a");
    start(p.client, p.now, call(2n, { timeoutMs: SEC }), "b");
    p.drive();
    p.disconnect();
    for (const s of [p.client, p.server]) {
      assert.deepEqual(ofType(events(s), "closed")[0]?.error, {
        kind: "transport",
        detail: "link died",
      });
      assert.equal(s.phase, "closed");
    }
    assert.deepEqual(p.client.takeReleased().calls.sort(), ["a", "b"]);
    assert.equal(p.client.pendingDeadlines, 0);
  });

  test("output blocked without progress ends the session with output-stalled", () => {
    const s = establishedServer({ keepalive: false, outputStallTimeoutMs: 5 * SEC });
    s.handleOutput(0, "blocked");
    s.handleOutput(3 * SEC, "progress");
    s.handleTimeout(5 * SEC);
    assert.ok(!s.isClosed, "progress re-armed the timer");
    s.handleTimeout(8 * SEC);
    assert.match(goodbyeReason(s)!, /^output-stalled: nothing was read for 5s/);
    const u = establishedServer({ keepalive: false, outputStallTimeoutMs: 5 * SEC });
    u.handleOutput(0, "blocked");
    u.handleOutput(1, "flowing");
    assert.equal(u.pollTimeout(), undefined);
  });
});

describe("attachments", () => {
  test("an answer hands back the call; the session's end releases everything still attached", () => {
    const p = new Pair<string, string, string>();
    const a = start(p.client, p.now, call(1n), "first");
    start(p.client, p.now, call(2n, { channels: ["outgoing"] }), "second");
    p.drive();
    const reqs = requests(events(p.server));
    p.server.serving(ROOT, reqs[1]!.id, "handler");
    p.server.attachChannel(ROOT, reqs[1]!.channels[0]!.id, "server-end");
    p.client.attachChannel(ROOT, 1n, "client-end");
    assert.equal(p.client.channelEnd(ROOT, 1n), "client-end");
    p.server.respond(p.now, ROOT, a, [], Uint8Array.of(0));
    p.drive();
    const [resp] = ofType(events(p.client), "response");
    assert.equal(resp?.call, "first");
    p.disconnect();
    assert.deepEqual(p.client.takeReleased(), {
      calls: ["second"],
      unsent: [],
      serving: [],
      channels: ["client-end"],
    });
    assert.deepEqual(p.server.takeReleased(), {
      calls: [],
      unsent: [],
      serving: ["handler"],
      channels: ["server-end"],
    });
    assert.deepEqual(p.client.takeReleased(), { calls: [], unsent: [], serving: [], channels: [] });
  });

  test("a waiting call given up hands back its channel ends", () => {
    const p = new Pair<string, undefined, string>({}, oneSlot);
    start(p.client, p.now, call(1n), "busy");
    const r = p.client.call(
      p.now,
      ROOT,
      p.client.nextRequestId(),
      call(2n, { channels: ["outgoing", "incoming"] }),
      "waiting",
    );
    assert.ok(r.ok);
    p.client.attachChannel(ROOT, r.channels[0]!, "tx");
    p.client.attachChannel(ROOT, r.channels[1]!, "rx");
    assert.equal(p.client.openChannels, 2);
    assert.deepEqual(p.client.cancel(ROOT, r.id), {
      call: "waiting",
      sent: false,
      channels: ["tx", "rx"],
    });
    assert.equal(p.client.openChannels, 0);
  });

  test("serving a call no longer served is refused", () => {
    const s = establishedServer();
    assert.equal(s.serving(ROOT, 1n, undefined), false);
  });
});
