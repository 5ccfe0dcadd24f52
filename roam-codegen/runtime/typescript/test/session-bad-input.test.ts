// Bad input fed raw to a session: each case must end the session with a Goodbye whose reason
// starts with the rule's name (the same text Rust sends where the detail is ours), emit a
// `closed` event naming the violation, and never throw. Then a fuzz loop of mutated frames.

import { describe, test } from "node:test";
import assert from "node:assert/strict";

import type { ViolationRule } from "../src/errors.js";
import { violation } from "../src/errors.js";
import { MAX_CHANNELS, MAX_REMOTE_SCHEMAS, MAX_SCHEMA_BYTES, Session } from "../src/session.js";
import type { SessionOptions } from "../src/session.js";
import { DEFAULT_LIMITS, encodeMessage } from "../src/wire.js";
import type { ChannelSpec, Message, Replay } from "../src/wire.js";
import { Rng, bytes, fromHex } from "./helpers.js";
import {
  enc,
  establishedClient,
  establishedServer,
  events,
  goodbyeReason,
  hello,
  ofType,
  oversizedMetadata,
  rawRequest,
  sent,
} from "./session-util.js";

const RULES: readonly ViolationRule[] = [
  "malformed-message",
  "frame-too-large",
  "handshake",
  "unknown-connection",
  "duplicate-request-id",
  "wrong-parity",
  "unknown-response",
  "metadata-limit",
  "write-backlog",
  "duplicate-channel-id",
  "unknown-channel",
  "wrong-direction",
  "credit-exceeded",
  "bad-schema",
  "too-many-channels",
  "too-many-schemas",
  "replay",
];

/**
 * Feeds `frames` to `s` one by one and checks that the session ended on the last one with
 * `rule`; returns the Goodbye reason. Earlier frames must leave it up.
 */
function expectViolation<C, S, Ch>(
  s: Session<C, S, Ch>,
  rule: ViolationRule,
  frames: readonly Uint8Array[],
): string {
  for (const [i, f] of frames.entries()) {
    assert.equal(s.isClosed, false, `closed before frame ${i}`);
    assert.doesNotThrow(() => s.handleFrame(1, f));
  }
  const reason = goodbyeReason(s);
  assert.ok(reason?.startsWith(`${rule}: `), `expected ${rule}, got ${reason}`);
  const closed = ofType(events(s), "closed");
  assert.equal(closed.length, 1);
  const error = closed[0]!.error;
  assert.ok(error.kind === "protocol" && error.violation.rule === rule);
  assert.ok(s.isClosed);
  // Once closed, input is ignored and nothing more is sent.
  assert.doesNotThrow(() => s.handleFrame(2, bytes(0xff)));
  assert.deepEqual(sent(s), []);
  return reason!;
}

const server = (o: SessionOptions = {}) => establishedServer(o);
const ch = (id: bigint, direction: ChannelSpec["direction"]): ChannelSpec => ({ id, direction });
const data = (channel: bigint, conn = 0n) =>
  enc({ type: "data", conn, channel, payload: bytes(1) });
const schemaFrame = (methodId: bigint, schema: Uint8Array): Uint8Array =>
  enc({ type: "schema", conn: 0n, methodId, kind: "args", schema });

describe("malformed frames", () => {
  test("garbage bytes", () => {
    expectViolation(server(), "malformed-message", [bytes(0xff, 0xff, 0xff, 0xff, 0xff, 0xff)]);
  });

  test("an empty frame", () => {
    expectViolation(server(), "malformed-message", [new Uint8Array(0)]);
  });

  test("a truncated message", () => {
    const full = rawRequest(1n, { payload: bytes(1, 2, 3) });
    expectViolation(server(), "malformed-message", [full.subarray(0, full.length - 1)]);
  });

  test("trailing bytes after a message", () => {
    expectViolation(server(), "malformed-message", [fromHex("05 01 00")]);
  });

  test("a reserved or unknown message tag", () => {
    expectViolation(server(), "malformed-message", [bytes(12, 0, 0)]);
    expectViolation(server(), "malformed-message", [bytes(15, 0, 0)]);
    expectViolation(server(), "malformed-message", [bytes(17, 0)]);
    expectViolation(server(), "malformed-message", [bytes(40)]);
    // 16 is Ack: cut before its field, it is truncated.
    expectViolation(server(), "malformed-message", [bytes(16)]);
  });

  test("an unknown enum variant inside a message (channel direction 2)", () => {
    // Request { conn 0, id 1, method 5, metadata [], channels [(1, direction 2)], … }
    expectViolation(server(), "malformed-message", [fromHex("02 00 01 05 00 01 01 02 00 00")]);
  });

  test("before the handshake too, and the Goodbye says why", () => {
    const s = new Session("acceptor", 0);
    sent(s);
    const reason = expectViolation(s, "malformed-message", [bytes(0)]);
    assert.match(reason, /^malformed-message: malformed message: truncated/);
  });
});

describe("frame size", () => {
  test("a body over the maximum frame size is frame-too-large", () => {
    const s = server({ limits: { maxFrameSize: 64 } });
    const reason = expectViolation(s, "frame-too-large", [new Uint8Array(65)]);
    assert.equal(reason, "frame-too-large: frame of 65 bytes exceeds the maximum of 64");
  });

  test("the link's framing errors and a write backlog end the session with their rule", () => {
    const s = server();
    s.handleLinkClosed(1, violation.frameTooLarge(1 << 30, 1 << 23));
    assert.match(goodbyeReason(s)!, /^frame-too-large: /);
    const t = server();
    t.handleLinkClosed(1, violation.writeBacklog(70_000_000));
    assert.match(goodbyeReason(t)!, /^write-backlog: /);
  });
});

describe("handshake violations", () => {
  test("a message before Hello", () => {
    const s = new Session("acceptor", 0);
    sent(s);
    const reason = expectViolation(s, "handshake", [enc({ type: "ping", nonce: 1n })]);
    assert.equal(
      reason,
      "handshake: unexpected handshake message: the first message must be Hello",
    );
  });

  test("Hello twice", () => {
    const reason = expectViolation(server(), "handshake", [hello()]);
    assert.equal(reason, "handshake: unexpected handshake message: Hello sent twice");
  });

  test("Hello metadata over the limits of call metadata, from either side", () => {
    const acceptor = new Session("acceptor", 0, { sessionKey: new Uint8Array(16) });
    sent(acceptor);
    const reason = expectViolation(acceptor, "metadata-limit", [
      hello(DEFAULT_LIMITS, { metadata: oversizedMetadata() } as Partial<Message>),
    ]);
    assert.equal(reason, "metadata-limit: metadata limit: metadata has more than 64 entries");
    assert.equal(acceptor.phase, "closing", "never established");
    const initiator = new Session("initiator", 0);
    sent(initiator);
    const long = expectViolation(initiator, "metadata-limit", [
      hello(DEFAULT_LIMITS, {
        sessionKey: new Uint8Array(16),
        metadata: [["k".repeat(129), "v"]],
      } as Partial<Message>),
    ]);
    assert.equal(long, "metadata-limit: metadata limit: metadata key longer than 128 bytes");
    assert.equal(initiator.sessionKey, undefined, "the key of a refused Hello is not taken");
  });

  test("a replay the initiator did not offer, or an acceptor's offer, to an initiator", () => {
    const cases: [Replay, string][] = [
      [
        { type: "grant", buffer: 1 << 20, secret: new Uint8Array(32).fill(5) },
        "replay granted but not offered",
      ],
      [
        { type: "resumed", lastReceived: 3n, nonce: new Uint8Array(16).fill(6) },
        "an acceptor's Hello may only grant replay",
      ],
      [{ type: "offer", buffer: 1 << 20 }, "an acceptor's Hello may only grant replay"],
    ];
    for (const [replay, what] of cases) {
      const s = new Session("initiator", 0);
      const [ours] = sent(s);
      assert.ok(ours?.type === "hello");
      assert.deepEqual(ours.replay, { type: "off" }, "we never offer");
      const reason = expectViolation(s, "handshake", [
        hello(DEFAULT_LIMITS, { sessionKey: new Uint8Array(16), replay } as Partial<Message>),
      ]);
      assert.equal(reason, `handshake: unexpected handshake message: ${what}`, replay.type);
      assert.equal(s.phase, "closing", "never established");
      assert.equal(s.sessionKey, undefined, "the key of a refused Hello is not taken");
    }
  });

  test("a Grant or Resumed from an initiator, to an acceptor", () => {
    const cases: [Replay, string][] = [
      [
        { type: "grant", buffer: 64, secret: new Uint8Array(32) },
        "an initiator's Hello may only offer replay",
      ],
      [
        { type: "resumed", lastReceived: 0n, nonce: new Uint8Array(16) },
        "an initiator's Hello may only offer replay",
      ],
    ];
    for (const [replay, what] of cases) {
      const s = new Session("acceptor", 0, { sessionKey: new Uint8Array(16) });
      sent(s);
      const reason = expectViolation(s, "handshake", [
        hello(DEFAULT_LIMITS, { replay } as Partial<Message>),
      ]);
      assert.equal(reason, `handshake: unexpected handshake message: ${what}`, replay.type);
    }
  });

  test("Hello metadata at the limits is accepted", () => {
    const s = new Session("acceptor", 0, { sessionKey: new Uint8Array(16) });
    sent(s);
    // 64 entries, each key exactly 128 bytes.
    const key = (i: number) => `${"k".repeat(126)}${String(i).padStart(2, "0")}`;
    const full = Array.from({ length: 64 }, (_, i) => [key(i), "v"] as const);
    s.handleFrame(0, hello(DEFAULT_LIMITS, { metadata: full } as Partial<Message>));
    assert.equal(s.phase, "established");
    assert.deepEqual(sent(s), []);
  });
});

describe("replay", () => {
  test("an Ack on a session without replay, to either side", () => {
    for (const s of [server(), establishedClient()]) {
      const received = s.receivedSeq;
      const reason = expectViolation(s, "replay", [enc({ type: "ack", received: 5n })]);
      assert.equal(reason, "replay: an Ack on a session without replay", s.role);
      assert.equal(s.receivedSeq, received, "an Ack is link-level: not numbered");
    }
  });

  test("an Ack after calls and with any count is still one", () => {
    const s = server();
    s.handleFrame(1, rawRequest(1n));
    assert.equal(ofType(events(s), "request").length, 1);
    expectViolation(s, "replay", [enc({ type: "ack", received: 2n ** 64n - 1n })]);
  });

  test("an Ack before Hello is a handshake violation", () => {
    const s = new Session("acceptor", 0);
    sent(s);
    const reason = expectViolation(s, "handshake", [enc({ type: "ack", received: 0n })]);
    assert.equal(
      reason,
      "handshake: unexpected handshake message: the first message must be Hello",
    );
  });
});

describe("calls", () => {
  test("an unknown connection, for every message that names one", () => {
    const msgs: Message[] = [
      {
        type: "request",
        conn: 1n,
        id: 1n,
        methodId: 5n,
        metadata: [],
        channels: [],
        payload: bytes(),
      },
      { type: "response", conn: 7n, id: 2n, metadata: [], payload: bytes() },
      { type: "cancel", conn: 7n, id: 1n },
      { type: "data", conn: 7n, channel: 1n, payload: bytes() },
      { type: "close", conn: 7n, channel: 1n },
      { type: "reset", conn: 7n, channel: 1n },
      { type: "credit", conn: 7n, channel: 1n, n: 1 },
      { type: "schema", conn: 7n, methodId: 1n, kind: "args", schema: bytes(1) },
    ];
    for (const m of msgs) expectViolation(server(), "unknown-connection", [encodeMessage(m)]);
  });

  test("a duplicate request ID", () => {
    const reason = expectViolation(server(), "duplicate-request-id", [
      rawRequest(1n),
      rawRequest(1n),
    ]);
    assert.equal(reason, "duplicate-request-id: duplicate request id 1");
  });

  test("a request ID of the receiver's parity, or 0", () => {
    const reason = expectViolation(server(), "wrong-parity", [rawRequest(2n)]);
    assert.equal(reason, "wrong-parity: request id 2 has the wrong parity");
    expectViolation(server(), "wrong-parity", [rawRequest(0n)]);
    expectViolation(establishedClient(), "wrong-parity", [rawRequest(3n)]);
  });

  test("a response to no request in flight", () => {
    const reason = expectViolation(server(), "unknown-response", [
      enc({ type: "response", conn: 0n, id: 2n, metadata: [], payload: bytes(0) }),
    ]);
    assert.equal(reason, "unknown-response: response to unknown request 2");
  });

  test("a response to a call still waiting for a slot is unknown", () => {
    // The server allows no calls at all, so the call waits and was never sent.
    const c = new Session("initiator", 0);
    c.call(0, 0n, 1n, { methodId: 1n, payload: bytes() }, undefined);
    c.handleFrame(0, hello({ maxFrameSize: 1 << 20, initialCredit: 4, maxConcurrentRequests: 0 }));
    sent(c);
    events(c);
    assert.equal(c.waitingCalls, 1);
    expectViolation(c, "unknown-response", [
      enc({ type: "response", conn: 0n, id: 1n, metadata: [], payload: bytes(0) }),
    ]);
  });

  test("metadata over the limits, in a request or a response", () => {
    expectViolation(server(), "metadata-limit", [
      rawRequest(1n, { metadata: oversizedMetadata() }),
    ]);
    const reason = expectViolation(server(), "metadata-limit", [
      rawRequest(1n, { metadata: [["k".repeat(129), 1n]] }),
    ]);
    assert.equal(reason, "metadata-limit: metadata limit: metadata key longer than 128 bytes");
    const c = establishedClient();
    c.call(0, 0n, 1n, { methodId: 1n, payload: bytes() }, undefined);
    sent(c);
    expectViolation(c, "metadata-limit", [
      enc({ type: "response", conn: 0n, id: 1n, metadata: oversizedMetadata(), payload: bytes(0) }),
    ]);
    assert.equal(c.takeReleased().calls.length, 1, "the call is released with the others");
  });
});

describe("channels", () => {
  const withChannel = (credit = 2) => {
    const s = server({ limits: { initialCredit: credit } });
    // Channel 1: the client sends; channel 3: the server sends.
    s.handleFrame(
      1,
      rawRequest(1n, { channels: [ch(1n, "caller-to-callee"), ch(3n, "callee-to-caller")] }),
    );
    events(s);
    sent(s);
    return s;
  };

  test("Data beyond the granted credit", () => {
    const reason = expectViolation(withChannel(2), "credit-exceeded", [
      data(1n),
      data(1n),
      data(1n),
    ]);
    assert.equal(reason, "credit-exceeded: data on channel 1 beyond the granted credit");
  });

  test("credit granted later is honoured exactly", () => {
    const s = withChannel(1);
    s.handleFrame(1, data(1n));
    s.grantCredit(0n, 1n, 2);
    expectViolation(s, "credit-exceeded", [data(1n), data(1n), data(1n)]);
  });

  test("Data on an unknown channel", () => {
    const reason = expectViolation(withChannel(), "unknown-channel", [data(5n)]);
    assert.equal(reason, "unknown-channel: data on unknown channel 5");
  });

  test("Data on a channel its sender closed", () => {
    expectViolation(withChannel(), "unknown-channel", [
      enc({ type: "close", conn: 0n, channel: 1n }),
      data(1n),
    ]);
  });

  test("Data or Close from the side that receives", () => {
    expectViolation(withChannel(), "wrong-direction", [data(3n)]);
    expectViolation(withChannel(), "wrong-direction", [
      enc({ type: "close", conn: 0n, channel: 3n }),
    ]);
  });

  test("a channel ID of the receiver's parity, or 0", () => {
    const reason = expectViolation(server(), "wrong-parity", [
      rawRequest(1n, { channels: [ch(2n, "caller-to-callee")] }),
    ]);
    assert.equal(reason, "wrong-parity: channel id 2 has the wrong parity");
    expectViolation(server(), "wrong-parity", [
      rawRequest(1n, { channels: [ch(0n, "callee-to-caller")] }),
    ]);
  });

  test("a channel ID already open", () => {
    expectViolation(server(), "duplicate-channel-id", [
      rawRequest(1n, { channels: [ch(1n, "caller-to-callee"), ch(1n, "caller-to-callee")] }),
    ]);
    expectViolation(withChannel(), "duplicate-channel-id", [
      rawRequest(3n, { channels: [ch(3n, "callee-to-caller")] }),
    ]);
  });

  test("refused requests cannot pile up channels without bound", () => {
    // Every request is refused (Overloaded); its channels are reset and wait for a Close the
    // peer never sends.
    const s = server({ limits: { maxConcurrentRequests: 0 } });
    const perRequest = 1000;
    let next = 1n;
    const frames: Uint8Array[] = [];
    for (let i = 0; i <= MAX_CHANNELS / perRequest; i++) {
      const channels = Array.from({ length: perRequest }, () =>
        ch((next += 2n), "caller-to-callee"),
      );
      frames.push(rawRequest(BigInt(2 * i + 1), { channels }));
    }
    for (const f of frames.slice(0, -1)) {
      s.handleFrame(1, f);
      assert.ok(s.openChannels <= MAX_CHANNELS);
    }
    sent(s);
    expectViolation(s, "too-many-channels", frames.slice(-1));
  });

  test("Credit, Reset and Close for channels we no longer know are ignored", () => {
    const s = withChannel();
    for (const m of [
      { type: "credit", conn: 0n, channel: 99n, n: 5 },
      { type: "reset", conn: 0n, channel: 99n },
      { type: "close", conn: 0n, channel: 99n },
      { type: "credit", conn: 0n, channel: 1n, n: 5 },
    ] as const) {
      s.handleFrame(1, encodeMessage(m));
    }
    assert.equal(s.phase, "established");
    assert.deepEqual(sent(s), []);
  });
});

describe("schemas", () => {
  test("a schema over MAX_SCHEMA_BYTES", () => {
    const reason = expectViolation(server(), "bad-schema", [
      schemaFrame(1n, new Uint8Array(MAX_SCHEMA_BYTES + 1)),
    ]);
    assert.equal(
      reason,
      "bad-schema: invalid schema for method 0x0000000000000001: 65537 bytes, more than the 65536 a schema may take",
    );
    // Exactly the limit is accepted.
    const s = server();
    s.handleFrame(1, schemaFrame(1n, new Uint8Array(MAX_SCHEMA_BYTES).fill(1)));
    assert.equal(s.phase, "established");
  });

  test("more than MAX_REMOTE_SCHEMAS (method, kind) pairs", () => {
    const s = server();
    for (let m = 0; m < MAX_REMOTE_SCHEMAS; m++) s.handleFrame(1, schemaFrame(BigInt(m), bytes(1)));
    assert.equal(s.remoteSchemas, MAX_REMOTE_SCHEMAS);
    // Re-announcing or replacing one already known is not a new pair.
    s.handleFrame(1, schemaFrame(0n, bytes(1)));
    s.handleFrame(1, schemaFrame(0n, bytes(2)));
    const reason = expectViolation(s, "too-many-schemas", [
      schemaFrame(BigInt(MAX_REMOTE_SCHEMAS), bytes(1)),
    ]);
    assert.equal(reason, "too-many-schemas: more than 4096 schemas announced on one session");
  });

  test("withdrawn schemas free their slot", () => {
    const s = server();
    for (let m = 0; m < MAX_REMOTE_SCHEMAS; m++) s.handleFrame(1, schemaFrame(BigInt(m), bytes(1)));
    s.handleFrame(1, schemaFrame(7n, bytes()));
    s.handleFrame(1, schemaFrame(999_999n, bytes(1)));
    assert.equal(s.phase, "established");
  });

  test("the peer's schemas are bounded in total bytes", () => {
    const s = server();
    const frames = Array.from({ length: 17 }, (_, m) =>
      schemaFrame(BigInt(m), new Uint8Array(MAX_SCHEMA_BYTES).fill(m + 1)),
    );
    const reason = expectViolation(s, "bad-schema", frames);
    assert.match(reason, /would take more than 1048576 bytes$/);
  });

  test("bytes the validator rejects", () => {
    const s = server({
      validateSchema: (kind, b) => (b[0] === 1 ? undefined : `${kind} schema starts with ${b[0]}`),
    });
    s.handleFrame(1, schemaFrame(3n, bytes(1, 0, 4)));
    const reason = expectViolation(s, "bad-schema", [schemaFrame(3n, bytes(9))]);
    assert.equal(
      reason,
      "bad-schema: invalid schema for method 0x0000000000000003: args schema starts with 9",
    );
  });
});

describe("fuzz", () => {
  test("mutated and random frames never throw, and every Goodbye names a rule", () => {
    const rng = new Rng(20240611);
    const valid: Uint8Array[] = [
      rawRequest(1n, {
        channels: [ch(1n, "caller-to-callee"), ch(3n, "callee-to-caller")],
        timeoutMicros: 5n,
      }),
      rawRequest(5n, {
        metadata: [
          ["a", "b"],
          ["c", 2n],
          ["d", bytes(1)],
        ],
      }),
      data(1n),
      enc({ type: "close", conn: 0n, channel: 1n }),
      enc({ type: "reset", conn: 0n, channel: 3n }),
      enc({ type: "credit", conn: 0n, channel: 3n, n: 7 }),
      enc({ type: "cancel", conn: 0n, id: 1n }),
      enc({ type: "ping", nonce: 9n }),
      enc({ type: "pong", nonce: 1n }),
      enc({ type: "ack", received: 1n }),
      schemaFrame(1n, bytes(1, 0, 4)),
      enc({ type: "response", conn: 0n, id: 2n, metadata: [], payload: bytes(0) }),
      enc({ type: "goodbye", reason: "bye" }),
      hello(),
    ];
    let closedByRule = 0;
    for (let round = 0; round < 400; round++) {
      const s = round % 2 === 0 ? establishedServer() : establishedClient();
      for (let i = 0; i < 12 && !s.isClosed; i++) {
        let f: Uint8Array;
        const pick = valid[rng.below(valid.length)]!;
        switch (rng.below(4)) {
          case 0:
            f = rng.bytes(rng.below(24));
            break;
          case 1: {
            f = pick.slice();
            const flips = 1 + rng.below(3);
            for (let k = 0; k < flips && f.length > 0; k++)
              f[rng.below(f.length)] = rng.u32() & 0xff;
            break;
          }
          case 2:
            f = pick.subarray(0, rng.below(pick.length + 1));
            break;
          default:
            f = pick;
        }
        assert.doesNotThrow(() => s.handleFrame(i, f));
        assert.doesNotThrow(() => s.handleTimeout(i));
        for (const e of events(s)) {
          if (e.type === "request")
            assert.doesNotThrow(() => s.respond(i, e.request.conn, e.request.id, [], bytes(0)));
        }
      }
      for (const m of sent(s)) {
        if (m.type !== "goodbye" || m.reason === "bye") continue;
        const rule = m.reason.slice(0, m.reason.indexOf(":"));
        assert.ok(
          (RULES as readonly string[]).includes(rule) ||
            rule === "version-mismatch" ||
            rule === "resume-refused",
          m.reason,
        );
        closedByRule++;
      }
    }
    assert.ok(closedByRule > 100, `${closedByRule} sessions ended by a rule`);
  });
});

describe("tiny frame limits", () => {
  test("a Hello announcing under 64-byte frames is a handshake violation, told in a Goodbye", () => {
    const s = new Session("acceptor", 0, { sessionKey: new Uint8Array(16).fill(1) });
    sent(s);
    const reason = expectViolation(s, "handshake", [
      hello({ ...DEFAULT_LIMITS, maxFrameSize: 0 }),
    ]);
    assert.match(reason, /max_frame_size below 64 bytes/);
  });

  test("a Goodbye too long for a 64-byte frame is cut to fit and keeps its start", () => {
    const s = new Session("acceptor", 0, { sessionKey: new Uint8Array(16).fill(1) });
    s.handleFrame(0, hello({ ...DEFAULT_LIMITS, maxFrameSize: 64 }));
    sent(s);
    events(s);
    const long = `shutting down: ${"é".repeat(40)}`;
    s.close(1, long);
    const reason = goodbyeReason(s);
    assert.ok(reason !== undefined, "a Goodbye is sent");
    assert.ok(long.startsWith(reason) && reason.length < long.length, reason);
    assert.ok(new TextEncoder().encode(reason).length <= 64 - 6, reason);
    assert.ok(reason.startsWith("shutting down: "), reason);
  });
});
