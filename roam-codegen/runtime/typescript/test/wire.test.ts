import { describe, test } from "node:test";
import assert from "node:assert/strict";

import { DecodeError, EncodeError, Reader, Writer } from "../src/postcard.js";
import type { DecodeErrorCode } from "../src/postcard.js";
import {
  DEFAULT_LIMITS,
  decodeMessage,
  effectiveLimits,
  encodeMessage,
  helloVersion,
  MESSAGE_DISCRIMINANTS,
  MESSAGE_TYPES,
  messageClass,
  PROTOCOL_VERSION,
  readMessage,
  REPLAY_OFF,
  writeMessage,
} from "../src/wire.js";
import type {
  ChannelSpec,
  Message,
  MetadataEntry,
  MetadataValue,
  Replay,
  SchemaKind,
} from "../src/wire.js";
import { bytes, fromHex, Rng, toHex } from "./helpers.js";

function expectDecodeError(input: Uint8Array, code?: DecodeErrorCode, label = ""): DecodeError {
  try {
    const msg = decodeMessage(input);
    assert.fail(`${label}: expected a DecodeError, decoded ${JSON.stringify(msg, bigintJson)}`);
  } catch (e) {
    if (!(e instanceof DecodeError))
      assert.fail(`${label}: expected a DecodeError, got ${String(e)}`);
    if (code !== undefined) assert.equal(e.code, code, `${label}: ${e.message}`);
    return e;
  }
}

function bigintJson(_key: string, v: unknown): unknown {
  return typeof v === "bigint" ? `${v}n` : v instanceof Uint8Array ? toHex(v) : v;
}

/** Encodes, checks the pinned bytes, and checks that they decode back to the message. */
function pinned(msg: Message, hex: string): void {
  const got = encodeMessage(msg);
  assert.equal(toHex(got), toHex(fromHex(hex)), msg.type);
  assert.deepEqual(decodeMessage(got), msg, `${msg.type} decodes back`);
}

const request = (over: Partial<Extract<Message, { type: "request" }>> = {}): Message => ({
  type: "request",
  conn: 0n,
  id: 1n,
  methodId: 0x0102n,
  metadata: [],
  channels: [],
  timeoutMicros: undefined,
  payload: bytes(4, 6),
  ...over,
});

const helloAcceptor: Extract<Message, { type: "hello" }> = {
  type: "hello",
  version: PROTOCOL_VERSION,
  limits: { ...DEFAULT_LIMITS },
  sessionKey: new Uint8Array(16).fill(7),
  resume: undefined,
  metadata: [],
  replay: { type: "off" },
};

/** The Hello of the pinned resume vector (docs/protocol.md §3). */
const helloResume: Extract<Message, { type: "hello" }> = {
  ...helloAcceptor,
  sessionKey: undefined,
  resume: {
    sessionKey: new Uint8Array(16).fill(1),
    lastReceived: 5n,
    nonce: new Uint8Array(16).fill(6),
    proof: new Uint8Array(32).fill(2),
  },
  replay: { type: "offer", buffer: 1048576 },
};

describe("pinned messages (roam-proto/src/wire/mod.rs tests and docs/protocol.md §3)", () => {
  test("Request", () => {
    pinned(request(), "02 00 01 82 02 00 00 00 02 04 06");
  });

  test("Schema", () => {
    pinned(
      { type: "schema", conn: 0n, methodId: 1n, kind: "response", schema: bytes(1, 0, 4) },
      "0b 00 01 01 03 01 00 04",
    );
  });

  test("Data, Close, Reset and Credit", () => {
    pinned({ type: "data", conn: 0n, channel: 3n, payload: bytes(9) }, "07 00 03 01 09");
    pinned({ type: "close", conn: 0n, channel: 3n }, "08 00 03");
    pinned({ type: "reset", conn: 0n, channel: 3n }, "09 00 03");
    pinned({ type: "credit", conn: 0n, channel: 3n, n: 200 }, "0a 00 03 c8 01");
  });

  test("ChannelSpec { id: 5, direction: CalleeToCaller } is 05 01", () => {
    pinned(
      request({ channels: [{ id: 5n, direction: "callee-to-caller" }] }),
      "02 00 01 82 02 00 01 05 01 00 02 04 06",
    );
    pinned(
      request({
        channels: [
          { id: 3n, direction: "caller-to-callee" },
          { id: 5n, direction: "callee-to-caller" },
        ],
      }),
      "02 00 01 82 02 00 02 03 00 05 01 00 02 04 06",
    );
  });

  test("Hello round-trips, and its bytes follow the field order of Hello and Limits", () => {
    assert.deepEqual(decodeMessage(encodeMessage(helloAcceptor)), helloAcceptor);
    // version 3, limits 8 MiB / 64 / 1024, Some([7; 16]), None, metadata [], replay Off
    pinned(helloAcceptor, "00 03 80 80 80 04 40 80 08 01 " + "07 ".repeat(16) + "00 00 00");
    // The default Hello with no credentials.
    pinned({ ...helloAcceptor, sessionKey: undefined }, "00 03 80 80 80 04 40 80 08 00 00 00 00");
    pinned(
      {
        ...helloAcceptor,
        sessionKey: undefined,
        resume: {
          sessionKey: new Uint8Array(16).fill(9),
          lastReceived: 300n,
          nonce: new Uint8Array(16).fill(7),
          proof: new Uint8Array(32).fill(8),
        },
      },
      "00 03 80 80 80 04 40 80 08 00 01 " +
        "09 ".repeat(16) +
        "ac 02 " +
        "07 ".repeat(16) +
        "08 ".repeat(32) +
        "00 00",
    );
  });

  test("a Hello with Resume { key, last_received, nonce, proof } and replay Offer", () => {
    // No session key; Some(Resume { [1; 16], 5, [6; 16], [2; 32] }); metadata []; Offer { 1 MiB }.
    pinned(
      helloResume,
      "00 03 80 80 80 04 40 80 08 00 01 " +
        "01 ".repeat(16) +
        "05 " +
        "06 ".repeat(16) +
        "02 ".repeat(32) +
        "00 01 80 80 40",
    );
  });

  test("Hello.replay: every Replay variant, after the metadata", () => {
    const base = "00 03 80 80 80 04 40 80 08 00 00 00 ";
    const cases: [Replay, string][] = [
      [{ type: "off" }, "00"],
      [{ type: "offer", buffer: 1048576 }, "01 80 80 40"],
      [{ type: "offer", buffer: 0 }, "01 00"],
      [
        { type: "grant", buffer: 65536, secret: new Uint8Array(32).fill(3) },
        "02 80 80 04 " + "03 ".repeat(32),
      ],
      [
        { type: "resumed", lastReceived: 300n, nonce: new Uint8Array(16).fill(4) },
        "03 ac 02 " + "04 ".repeat(16),
      ],
      [
        { type: "resumed", lastReceived: 2n ** 64n - 1n, nonce: new Uint8Array(16) },
        "03 " + "ff ".repeat(9) + "01 " + "00 ".repeat(16),
      ],
    ];
    for (const [replay, hex] of cases) {
      pinned({ ...helloAcceptor, sessionKey: undefined, replay }, base + hex);
    }
    assert.deepEqual(REPLAY_OFF, { type: "off" });
    assert.ok(Object.isFrozen(REPLAY_OFF));
  });

  test("Ack is discriminant 16 (the single byte 10), then received", () => {
    pinned({ type: "ack", received: 5n }, "0c 05");
    pinned({ type: "ack", received: 0n }, "0c 00");
    pinned({ type: "ack", received: 300n }, "0c ac 02");
    pinned({ type: "ack", received: 2n ** 64n - 1n }, "0c " + "ff ".repeat(9) + "01");
  });

  test("Hello metadata comes last, encoded as a request's metadata is", () => {
    // An initiator's credentials: [("authorization", String("Bearer t"))].
    pinned(
      { ...helloAcceptor, sessionKey: undefined, metadata: [["authorization", "Bearer t"]] },
      "00 03 80 80 80 04 40 80 08 00 00" +
        " 01 0d 61 75 74 68 6f 72 69 7a 61 74 69 6f 6e 00 08 42 65 61 72 65 72 20 74 00",
    );
    pinned(
      { ...helloAcceptor, metadata: [["n", 300n], ["b", bytes(1, 2)]] },
      "00 03 80 80 80 04 40 80 08 01 " +
        "07 ".repeat(16) +
        "00 02 01 6e 02 ac 02 01 62 01 02 01 02 00",
    );
  });

  test("a Hello's version is read even when the rest is another version's", () => {
    // Version 1's Hello: no metadata field, so it no longer decodes as a message.
    const v1 = fromHex("00 01 80 80 80 04 40 80 08 00 00");
    expectDecodeError(v1, "truncated", "version 1's Hello");
    assert.equal(helloVersion(v1), 1);
    // Version 2's Hello: metadata but no replay after it.
    const v2 = fromHex("00 02 80 80 80 04 40 80 08 00 00 00");
    expectDecodeError(v2, "truncated", "version 2's Hello");
    assert.equal(helloVersion(v2), 2);
    const v2WithMetadata = fromHex(
      "00 02 80 80 80 04 40 80 08 00 00" +
        " 01 0d 61 75 74 68 6f 72 69 7a 61 74 69 6f 6e 00 08 42 65 61 72 65 72 20 74",
    );
    expectDecodeError(v2WithMetadata, "truncated", "version 2's Hello with metadata");
    assert.equal(helloVersion(v2WithMetadata), 2);
    assert.equal(helloVersion(fromHex("00 ac 02")), 300);
    assert.equal(helloVersion(encodeMessage(helloAcceptor)), PROTOCOL_VERSION);
    assert.equal(helloVersion(fromHex("05 01")), undefined, "not a Hello");
    assert.equal(helloVersion(fromHex("00")), undefined, "no version");
    assert.equal(helloVersion(fromHex("00 80")), undefined, "cut varint");
    assert.equal(helloVersion(fromHex("00 ff ff ff ff ff")), undefined, "too long");
    assert.equal(helloVersion(fromHex("00 80 80 80 80 10")), undefined, "over u32");
  });

  test("the other messages", () => {
    pinned(
      { type: "goodbye", reason: "shutting down" },
      "01 0d 73 68 75 74 74 69 6e 67 20 64 6f 77 6e",
    );
    pinned({ type: "cancel", conn: 0n, id: 1n }, "04 00 01");
    pinned({ type: "ping", nonce: 3n }, "05 03");
    pinned({ type: "pong", nonce: 2n ** 64n - 1n }, "06 " + "ff ".repeat(9) + "01");
    pinned(
      { type: "response", conn: 0n, id: 1n, metadata: [], payload: bytes(0, 42) },
      "03 00 01 00 02 00 2a",
    );
    pinned(request({ timeoutMicros: 1_000_000n }), "02 00 01 82 02 00 00 01 c0 84 3d 02 04 06");
  });

  test("a Goodbye with a 100-byte reason is 102 bytes", () => {
    assert.equal(encodeMessage({ type: "goodbye", reason: "x".repeat(100) }).length, 102);
  });

  test("metadata: (key, value) pairs, value tagged String 0 / Bytes 1 / U64 2", () => {
    const metadata: MetadataEntry[] = [
      ["trace-id", "abc"],
      ["attempt", 2n],
      ["bin", bytes(1, 2)],
      ["attempt", 2n ** 64n - 1n],
    ];
    pinned(
      request({ metadata }),
      "02 00 01 82 02 04" +
        " 08 74 72 61 63 65 2d 69 64 00 03 61 62 63" +
        " 07 61 74 74 65 6d 70 74 02 02" +
        " 03 62 69 6e 01 02 01 02" +
        " 07 61 74 74 65 6d 70 74 02 " +
        "ff ".repeat(9) +
        "01" +
        " 00 00 02 04 06",
    );
    pinned(
      { type: "response", conn: 0n, id: 2n, metadata: [["", ""]], payload: bytes() },
      "03 00 02 01 00 00 00 00",
    );
  });

  test("each type's discriminant is its index in MESSAGE_TYPES", () => {
    const rng = new Rng(1);
    for (const [i, type] of MESSAGE_TYPES.entries()) {
      const tag = encodeMessage(randomMessage(rng, type))[0];
      assert.equal(tag, MESSAGE_DISCRIMINANTS[type], type);
      assert.equal(tag, i, type);
    }
    assert.equal(MESSAGE_TYPES.length, 13);
    assert.deepEqual(Object.keys(MESSAGE_DISCRIMINANTS).sort(), [...MESSAGE_TYPES].sort());
  });
});

describe("limits and classes", () => {
  test("defaults and the effective limits", () => {
    assert.deepEqual(DEFAULT_LIMITS, {
      maxFrameSize: 8 * 1024 * 1024,
      initialCredit: 64,
      maxConcurrentRequests: 1024,
    });
    assert.deepEqual(
      effectiveLimits(DEFAULT_LIMITS, {
        maxFrameSize: 1024,
        initialCredit: 100,
        maxConcurrentRequests: 1,
      }),
      { maxFrameSize: 1024, initialCredit: 64, maxConcurrentRequests: 1 },
    );
  });

  test("link messages and session messages are told apart", () => {
    const rng = new Rng(2);
    const link = new Set(["hello", "goodbye", "ping", "pong", "ack"]);
    for (const type of MESSAGE_TYPES) {
      assert.equal(
        messageClass(randomMessage(rng, type)),
        link.has(type) ? "link" : "session",
        type,
      );
    }
  });
});

describe("bad frames are DecodeErrors", () => {
  test("garbage, empty and trailing bytes (as in Rust)", () => {
    expectDecodeError(bytes(0xff, 0xff, 0xff));
    expectDecodeError(bytes(), "truncated");
    expectDecodeError(bytes(5, 3, 0), "trailing-bytes");
    assert.deepEqual(decodeMessage(bytes(5, 3)), { type: "ping", nonce: 3n });
  });

  test("a huge claimed length does not allocate (as in Rust)", () => {
    // Request whose payload length claims ~4 GiB with 2 bytes present.
    expectDecodeError(bytes(2, 0, 1, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2), "truncated");
    // Metadata and channel counts claiming billions of entries.
    expectDecodeError(fromHex("02 00 01 01 ff ff ff ff 0f 00"), "truncated");
    expectDecodeError(fromHex("02 00 01 01 00 ff ff ff ff 0f 00"), "truncated");
    expectDecodeError(fromHex("01 ff ff ff ff ff ff ff ff ff 01"), "truncated");
  });

  test("unknown discriminants", () => {
    // 12 is Ack, cut before its `received`.
    expectDecodeError(bytes(12), "truncated");
    const reserved = expectDecodeError(bytes(13), "unknown-variant");
    assert.match(reserved.message, /reserved for virtual connections/);
    expectDecodeError(bytes(16), "unknown-variant");
    const unknown = expectDecodeError(bytes(17), "unknown-variant");
    assert.match(unknown.message, /no message has discriminant 17/);
    expectDecodeError(fromHex("80 80 80 80 10"), "varint-overflow");
    // MetadataValue 3
    expectDecodeError(fromHex("03 00 01 01 01 6b 03 00 00"), "unknown-variant");
    // ChannelDirection 2
    expectDecodeError(fromHex("02 00 01 01 00 01 05 02 00 00"), "unknown-variant");
    // SchemaKind 3
    expectDecodeError(fromHex("0b 00 01 03 00"), "unknown-variant");
    // Replay 4
    const replay = expectDecodeError(fromHex("00 03 01 01 01 00 00 00 04"), "unknown-variant");
    assert.match(replay.message, /no Replay has discriminant 4/);
  });

  test("invalid fields", () => {
    expectDecodeError(fromHex("00 03 01 01 01 02"), "invalid-option", "Hello.session_key tag");
    expectDecodeError(fromHex("00 03 01 01 01 00 02"), "invalid-option", "Hello.resume tag");
    expectDecodeError(fromHex("00 03 01 01 01 00 00"), "truncated", "Hello without metadata");
    expectDecodeError(fromHex("00 03 01 01 01 00 00 00"), "truncated", "Hello without replay");
    expectDecodeError(
      fromHex("00 03 01 01 01 00 00 01 01 6b 03 00 00"),
      "unknown-variant",
      "Hello metadata value 3",
    );
    expectDecodeError(
      fromHex("00 03 01 01 01 00 00 00 01 80 80 80 80 10"),
      "varint-overflow",
      "Replay::Offer.buffer over u32",
    );
    expectDecodeError(
      fromHex("00 03 01 01 01 00 00 00 02 01 " + "00 ".repeat(31)),
      "truncated",
      "Replay::Grant with a 31-byte secret",
    );
    expectDecodeError(
      fromHex("00 03 01 01 01 00 00 00 02 01 " + "00 ".repeat(33)),
      "trailing-bytes",
      "Replay::Grant with a 33-byte secret",
    );
    expectDecodeError(
      fromHex("00 03 01 01 01 00 00 00 03 01 " + "00 ".repeat(15)),
      "truncated",
      "Replay::Resumed with a 15-byte nonce",
    );
    expectDecodeError(
      fromHex("00 03 01 01 01 00 01 " + "00 ".repeat(16) + "05 " + "00 ".repeat(31)),
      "truncated",
      "Resume with a 31-byte proof",
    );
    expectDecodeError(fromHex("0c " + "ff ".repeat(9) + "02"), "varint-overflow", "Ack over u64");
    expectDecodeError(
      fromHex("02 00 01 01 00 00 07 00"),
      "invalid-option",
      "Request.timeout_micros tag",
    );
    expectDecodeError(fromHex("0a 00 03 ff ff ff ff 1f"), "varint-overflow", "Credit.n over u32");
    expectDecodeError(
      fromHex("00 80 80 80 80 10 01 01 01 00 00"),
      "varint-overflow",
      "Hello.version over u32",
    );
    expectDecodeError(
      fromHex("05 " + "ff ".repeat(9) + "02"),
      "varint-overflow",
      "Ping.nonce over u64",
    );
    expectDecodeError(fromHex("01 02 c3 28"), "invalid-utf8", "Goodbye.reason");
    expectDecodeError(fromHex("03 00 01 01 01 ff 00 00 00"), "invalid-utf8", "metadata key");
  });

  test("every message cut at every byte offset is truncated, never a wrong value", () => {
    const rng = new Rng(5);
    const samples: Message[] = [
      request(),
      request({
        metadata: [
          ["k", "v"],
          ["n", 2n ** 63n],
          ["b", bytes(1, 2, 3)],
        ],
        channels: [{ id: 2n ** 53n + 1n, direction: "caller-to-callee" }],
        timeoutMicros: 2n ** 64n - 1n,
        payload: rng.bytes(40),
      }),
      helloAcceptor,
      helloResume,
      {
        ...helloAcceptor,
        sessionKey: undefined,
        resume: {
          sessionKey: rng.bytes(16),
          lastReceived: 2n ** 40n,
          nonce: rng.bytes(16),
          proof: rng.bytes(32),
        },
        metadata: [["authorization", "Bearer t"], ["k", bytes(1)]],
        replay: { type: "grant", buffer: 2 ** 32 - 1, secret: rng.bytes(32) },
      },
      {
        ...helloAcceptor,
        replay: { type: "resumed", lastReceived: 2n ** 63n, nonce: rng.bytes(16) },
      },
      { type: "ack", received: 2n ** 64n - 1n },
      ...MESSAGE_TYPES.map((t) => randomMessage(rng, t)),
    ];
    for (const msg of samples) {
      const full = encodeMessage(msg);
      for (let cut = 0; cut < full.length; cut++) {
        expectDecodeError(
          full.subarray(0, cut),
          "truncated",
          `${msg.type} cut at ${cut}/${full.length}`,
        );
      }
      assert.deepEqual(decodeMessage(full), msg);
    }
  });

  test("random and mutated frames only ever fail with DecodeError", () => {
    const rng = new Rng(0xbad);
    let decoded = 0;
    for (let i = 0; i < 4000; i++) {
      let input: Uint8Array;
      if (i % 2 === 0) {
        input = rng.bytes(rng.below(40));
        // A message tag (0–11, Ack's 16) or the reserved 12.
        const tag = rng.below(14);
        if (input.length > 0) input[0] = tag === 13 ? 16 : tag;
      } else {
        input = encodeMessage(
          randomMessage(rng, MESSAGE_TYPES[rng.below(MESSAGE_TYPES.length)]!),
        ).slice();
        for (let k = 0; k <= rng.below(3); k++) input[rng.below(input.length)] = rng.u32() & 0xff;
      }
      let msg: Message;
      try {
        msg = decodeMessage(input);
      } catch (e) {
        if (!(e instanceof DecodeError)) assert.fail(`${toHex(input)}: ${String(e)}`);
        continue;
      }
      decoded++;
      // Whatever decodes re-encodes to bytes that decode to the same message.
      assert.deepEqual(decodeMessage(encodeMessage(msg)), msg, toHex(input));
    }
    assert.ok(decoded > 100, "some mutated frames were still valid");
  });
});

describe("encoding", () => {
  test("random messages round-trip and re-encode to the same bytes", () => {
    const rng = new Rng(0xc0ffee);
    for (let i = 0; i < 3000; i++) {
      const msg = randomMessage(rng, MESSAGE_TYPES[i % MESSAGE_TYPES.length]!);
      const b = encodeMessage(msg);
      const back = decodeMessage(b);
      assert.deepEqual(back, msg);
      assert.equal(toHex(encodeMessage(back)), toHex(b));
    }
  });

  test("decoded byte fields are views of the frame", () => {
    const frame = encodeMessage({ type: "data", conn: 0n, channel: 1n, payload: bytes(1, 2, 3) });
    const msg = decodeMessage(frame);
    assert.ok(msg.type === "data");
    assert.equal(msg.payload.buffer, frame.buffer);
  });

  test("fields outside their Rust type are refused, and the encoder recovers", () => {
    const bad: [string, Message, string][] = [
      ["short session key", { ...helloAcceptor, sessionKey: new Uint8Array(15) }, "invalid-length"],
      [
        "long resume key",
        {
          ...helloAcceptor,
          resume: {
            sessionKey: new Uint8Array(17),
            lastReceived: 0n,
            nonce: new Uint8Array(16),
            proof: new Uint8Array(32),
          },
        },
        "invalid-length",
      ],
      [
        "short resume proof",
        {
          ...helloAcceptor,
          resume: {
            sessionKey: new Uint8Array(16),
            lastReceived: 0n,
            nonce: new Uint8Array(16),
            proof: new Uint8Array(31),
          },
        },
        "invalid-length",
      ],
      [
        "long replay secret",
        {
          ...helloAcceptor,
          replay: { type: "grant", buffer: 0, secret: new Uint8Array(33) },
        },
        "invalid-length",
      ],
      [
        "short resumed nonce",
        {
          ...helloAcceptor,
          replay: { type: "resumed", lastReceived: 0n, nonce: new Uint8Array(15) },
        },
        "invalid-length",
      ],
      [
        "replay buffer over u32",
        { ...helloAcceptor, replay: { type: "offer", buffer: 2 ** 32 } },
        "out-of-range",
      ],
      ["negative ack", { type: "ack", received: -1n }, "out-of-range"],
      ["negative conn", { type: "cancel", conn: -1n, id: 1n }, "out-of-range"],
      ["id over u64", { type: "cancel", conn: 0n, id: 2n ** 64n }, "out-of-range"],
      ["credit over u32", { type: "credit", conn: 0n, channel: 1n, n: 2 ** 32 }, "out-of-range"],
      ["fractional version", { ...helloAcceptor, version: 1.5 }, "out-of-range"],
      ["metadata u64 over u64", request({ metadata: [["k", 2n ** 64n]] }), "out-of-range"],
    ];
    for (const [label, msg, code] of bad) {
      assert.throws(
        () => encodeMessage(msg),
        (e: unknown) => e instanceof EncodeError && e.code === code,
        label,
      );
      pinned({ type: "ping", nonce: 3n }, "05 03");
    }
    const notAValue = 5 as unknown as MetadataValue;
    assert.throws(() => encodeMessage(request({ metadata: [["k", notAValue]] })), TypeError);
    pinned({ type: "ping", nonce: 3n }, "05 03");
    const notAReplay = { type: "maybe" } as unknown as Replay;
    assert.throws(() => encodeMessage({ ...helloAcceptor, replay: notAReplay }), TypeError);
    pinned({ type: "ping", nonce: 3n }, "05 03");
  });

  test("messages compose with other values in one writer and reader", () => {
    const w = new Writer();
    w.u8(0xaa);
    writeMessage(w, { type: "ping", nonce: 7n });
    writeMessage(w, { type: "close", conn: 0n, channel: 9n });
    const r = new Reader(w.finish());
    assert.equal(r.u8(), 0xaa);
    assert.deepEqual(readMessage(r), { type: "ping", nonce: 7n });
    assert.deepEqual(readMessage(r), { type: "close", conn: 0n, channel: 9n });
    r.finish();
  });
});

/** A random message of the given type, with every optional field set (to a value or `undefined`). */
function randomMessage(rng: Rng, type: Message["type"]): Message {
  const u64 = () => rng.bigUint(64);
  const maybe = <T>(f: () => T): T | undefined => (rng.below(2) === 0 ? undefined : f());
  const payload = () => rng.bytes(rng.below(rng.below(10) === 0 ? 3000 : 20));
  const metadata = (): MetadataEntry[] =>
    Array.from({ length: rng.below(4) }, (): MetadataEntry => {
      const key = rng.string(10);
      switch (rng.below(3)) {
        case 0:
          return [key, rng.string(20)];
        case 1:
          return [key, rng.bytes(rng.below(10))];
        default:
          return [key, u64()];
      }
    });
  const u32 = () => rng.u32();
  switch (type) {
    case "hello":
      return {
        type,
        version: u32(),
        limits: { maxFrameSize: u32(), initialCredit: u32(), maxConcurrentRequests: u32() },
        sessionKey: maybe(() => rng.bytes(16)),
        resume: maybe(() => ({
          sessionKey: rng.bytes(16),
          lastReceived: u64(),
          nonce: new Uint8Array(16),
          proof: rng.bytes(32),
        })),
        metadata: metadata(),
        replay: randomReplay(rng),
      };
    case "goodbye":
      return { type, reason: rng.string(60) };
    case "request":
      return {
        type,
        conn: u64(),
        id: u64(),
        methodId: u64(),
        metadata: metadata(),
        channels: Array.from({ length: rng.below(4) }, (): ChannelSpec => ({
          id: u64(),
          direction: rng.below(2) === 0 ? "caller-to-callee" : "callee-to-caller",
        })),
        timeoutMicros: maybe(u64),
        payload: payload(),
      };
    case "response":
      return { type, conn: u64(), id: u64(), metadata: metadata(), payload: payload() };
    case "cancel":
      return { type, conn: u64(), id: u64() };
    case "ping":
    case "pong":
      return { type, nonce: u64() };
    case "data":
      return { type, conn: u64(), channel: u64(), payload: payload() };
    case "close":
    case "reset":
      return { type, conn: u64(), channel: u64() };
    case "credit":
      return { type, conn: u64(), channel: u64(), n: u32() };
    case "schema": {
      const kinds: SchemaKind[] = ["args", "response", "channels"];
      return { type, conn: u64(), methodId: u64(), kind: kinds[rng.below(3)]!, schema: payload() };
    }
    case "ack":
      return { type, received: u64() };
  }
}

/** A random `Replay`, each variant as likely. */
function randomReplay(rng: Rng): Replay {
  switch (rng.below(4)) {
    case 0:
      return { type: "off" };
    case 1:
      return { type: "offer", buffer: rng.u32() };
    case 2:
      return { type: "grant", buffer: rng.u32(), secret: rng.bytes(32) };
    default:
      return { type: "resumed", lastReceived: rng.bigUint(64), nonce: rng.bytes(16) };
  }
}
