// The schema model against the canonical format of roam-core/src/schema.rs: the bytes pinned
// there (Point, the default flag), round trips of every node kind, every class of malformed
// input refused with its code and offset (the cases of Rust's own tests), bounded work on
// hostile counts and nesting, and validateSchema as the session's validator, over a driver.

import { describe, test } from "node:test";
import assert from "node:assert/strict";

import { connect } from "../src/driver.js";
import { linkPair } from "../src/link.js";
import {
  INFALLIBLE,
  MAX_SCHEMA_DEPTH,
  PRIMITIVE_KINDS,
  SchemaDecodeError,
  channelItems,
  fromCanonicalBytes,
  primitive,
  resultPart,
  resultSchema,
  toCanonicalBytes,
  typeExpr,
  validateSchema,
} from "../src/schema-model.js";
import type { Field, Schema, SchemaDecodeErrorCode } from "../src/schema-model.js";
import { decodeMessage, encodeMessage } from "../src/wire.js";
import type { Message } from "../src/wire.js";
import { hello } from "./session-util.js";
import { within } from "./driver-util.js";

const i32 = primitive("i32");
const field = (name: string, schema: Schema, dflt = false): Field => ({
  name,
  schema,
  default: dflt,
});

const point: Schema = {
  type: "struct",
  name: "Point",
  kind: "named",
  fields: [field("x", i32), field("y", i32)],
};

const ascii = (s: string): number[] => [...s].map((c) => c.charCodeAt(0));

/** Rust's `kitchen_sink`: a recursive type that touches every node kind. */
const kitchenSink: Schema = {
  type: "struct",
  name: "Sink<Point, 3>",
  kind: "named",
  fields: [
    field("bytes", { type: "bytes" }),
    field("list", { type: "list", item: point }),
    field("array", { type: "array", item: primitive("u8"), len: 3n }),
    field("map", { type: "map", key: primitive("string"), value: primitive("f64") }),
    field("opt", { type: "option", inner: { type: "ref", name: "Sink<Point, 3>" } }),
    field("tuple", { type: "tuple", items: [primitive("char"), primitive("u128")] }),
    field("shape", {
      type: "enum",
      name: "Shape",
      variants: [
        { name: "Empty", kind: "unit", fields: [] },
        { name: "Circle", kind: "tuple", fields: [field("0", primitive("f32"))] },
        { name: "Rect", kind: "named", fields: [field("w", primitive("i128"))] },
      ],
    }),
    field("events", { type: "channel", direction: "rx", item: primitive("bool") }),
    field("marker", { type: "struct", name: "Marker", kind: "unit", fields: [] }),
    field("unit", primitive("unit")),
    field("note", { type: "option", inner: primitive("string") }, true),
  ],
};

function decodeError(bytes: Iterable<number>): SchemaDecodeError {
  try {
    fromCanonicalBytes(Uint8Array.from(bytes));
  } catch (e) {
    assert.ok(e instanceof SchemaDecodeError, `a SchemaDecodeError, not ${String(e)}`);
    return e;
  }
  assert.fail("the bytes were accepted");
}

function refused(bytes: Iterable<number>, code: SchemaDecodeErrorCode, offset?: number): string {
  const e = decodeError(bytes);
  assert.equal(e.code, code, e.message);
  if (offset !== undefined) assert.equal(e.offset, offset, e.message);
  assert.ok(e.message.startsWith(`invalid canonical schema at byte ${e.offset}: `), e.message);
  return e.message;
}

describe("canonical bytes", () => {
  test("Point's bytes are Rust's pinned bytes, and parse back", () => {
    const bytes = toCanonicalBytes(point);
    // 01 07 05 'Point' 00 02 01 'x' 00 00 08 01 'y' 00 00 08
    assert.deepEqual(
      [...bytes],
      [1, 7, 5, ...ascii("Point"), 0, 2, 1, ...ascii("x"), 0, 0, 8, 1, ...ascii("y"), 0, 0, 8],
    );
    assert.deepEqual(fromCanonicalBytes(bytes), point);
  });

  test("the default flag is bit 0 of a field's flags byte", () => {
    const withDefault: Schema = { ...point, fields: [field("x", i32), field("y", i32, true)] };
    const bytes = toCanonicalBytes(withDefault);
    assert.deepEqual(
      [...bytes],
      [1, 7, 5, ...ascii("Point"), 0, 2, 1, ...ascii("x"), 0, 0, 8, 1, ...ascii("y"), 1, 0, 8],
    );
    assert.deepEqual(fromCanonicalBytes(bytes), withDefault);
  });

  test("every primitive round-trips with its code", () => {
    assert.equal(PRIMITIVE_KINDS.length, 16);
    PRIMITIVE_KINDS.forEach((kind, code) => {
      const bytes = toCanonicalBytes(primitive(kind));
      assert.deepEqual([...bytes], [1, 0, code]);
      assert.deepEqual(fromCanonicalBytes(bytes), primitive(kind));
    });
    assert.deepEqual([...toCanonicalBytes(i32)], [1, 0, 8]);
  });

  test("the kitchen sink round-trips both ways", () => {
    const bytes = toCanonicalBytes(kitchenSink);
    const back = fromCanonicalBytes(bytes);
    assert.deepEqual(back, kitchenSink);
    assert.deepEqual(toCanonicalBytes(back), bytes);
  });

  test("a Result schema and its parts, and channel items", () => {
    const r = resultSchema(i32, point);
    assert.equal(typeExpr(r), "Result<i32, Point>");
    assert.deepEqual(resultPart(r, "Ok"), i32);
    assert.deepEqual(resultPart(r, "Err"), point);
    assert.equal(resultPart(i32, "Ok"), undefined);
    assert.equal(resultPart(resultSchema(i32, INFALLIBLE), "Err"), INFALLIBLE);
    assert.deepEqual(fromCanonicalBytes(toCanonicalBytes(r)), r);
    const chans: Schema = {
      type: "tuple",
      items: [
        { type: "channel", direction: "tx", item: primitive("u64") },
        primitive("u8"),
        { type: "channel", direction: "rx", item: point },
      ],
    };
    assert.deepEqual(channelItems(chans), [primitive("u64"), point]);
  });

  test("type expressions are Rust's", () => {
    assert.equal(typeExpr({ type: "bytes" }), "Vec<u8>");
    assert.equal(
      typeExpr({ type: "map", key: primitive("string"), value: point }),
      "Map<String, Point>",
    );
    assert.equal(typeExpr({ type: "array", item: primitive("u8"), len: 4n }), "[u8; 4]");
    assert.equal(typeExpr({ type: "tuple", items: [primitive("u8")] }), "(u8,)");
    assert.equal(
      typeExpr({ type: "tuple", items: [primitive("u8"), primitive("unit")] }),
      "(u8, ())",
    );
    assert.equal(
      typeExpr({ type: "channel", direction: "tx", item: primitive("string") }),
      "Tx<String>",
    );
    assert.equal(
      typeExpr({
        type: "option",
        inner: { type: "list", item: { type: "ref", name: "Page<Point>" } },
      }),
      "Option<Vec<Page<Point>>>",
    );
  });

  test("a value that is not a schema is a TypeError, not bytes", () => {
    assert.throws(() => toCanonicalBytes({ type: "nope" } as unknown as Schema), TypeError);
    assert.throws(
      () => toCanonicalBytes({ type: "primitive", kind: "u7" } as unknown as Schema),
      TypeError,
    );
    assert.throws(() => toCanonicalBytes({ type: "array", item: i32, len: -1n }), RangeError);
  });
});

describe("malformed canonical bytes", () => {
  test("each class is refused with its code and offset, worded as Rust", () => {
    assert.equal(
      refused([], "unexpected-end", 0),
      "invalid canonical schema at byte 0: input ends inside a node",
    );
    assert.equal(
      refused([2, 0, 8], "unknown-version", 0),
      "invalid canonical schema at byte 0: unknown format version 2",
    );
    assert.equal(
      refused([1, 0x0b], "unknown-tag", 1),
      "invalid canonical schema at byte 1: unknown node tag 0x0b",
    );
    assert.equal(
      refused([1, 0, 16], "unknown-primitive", 2),
      "invalid canonical schema at byte 2: unknown primitive kind 16",
    );
    assert.equal(
      refused([1, 0, 8, 0], "trailing-bytes", 3),
      "invalid canonical schema at byte 3: trailing bytes after the schema",
    );
    assert.equal(
      refused([1, 6, 0], "empty-tuple", 2),
      "invalid canonical schema at byte 2: empty tuple (use unit)",
    );
    refused([1, 7, 1, ...ascii("S"), 2, 1, 1, ...ascii("a"), 0, 0], "unit-with-fields", 5);
    refused([1, 7, 1, ...ascii("S"), 3, 0], "unknown-struct-kind", 4);
    refused([1, 0x0a, 2, 0, 0], "unknown-direction", 2);
    // Non-minimal zero, then a varint overflowing u64, then one of 11 bytes.
    refused([1, 3, 0x80, 0x00, 0, 1], "bad-varint", 2);
    refused([1, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f], "bad-varint", 2);
    refused([1, 3, ...new Array<number>(10).fill(0x80), 1], "bad-varint", 2);
    // A name claiming 2^40 bytes.
    const msg = refused([1, 9, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20], "count-too-large", 2);
    assert.ok(msg.endsWith(`count ${2n ** 40n} exceeds the remaining input`), msg);
    refused([1, 9, 1, 0xff], "invalid-utf8", 3);
    // Truncated inside a struct.
    refused(toCanonicalBytes(point).subarray(0, 12), "unexpected-end", 12);
  });

  test("undefined field flags", () => {
    const bytes = [...toCanonicalBytes(point)];
    assert.equal(bytes[12], 0);
    for (const flags of [0x02, 0x80, 0xff, 0x03]) {
      bytes[12] = flags;
      const m = refused(bytes, "unknown-field-flags", 12);
      assert.ok(m.endsWith(`unknown field flags 0x${flags.toString(16).padStart(2, "0")}`), m);
    }
  });

  test("two fields or two variants with one name", () => {
    const twice: Schema = {
      type: "struct",
      name: "P",
      kind: "named",
      fields: [field("a", primitive("u8")), field("a", primitive("u8"))],
    };
    const m = refused(toCanonicalBytes(twice), "duplicate-name");
    assert.ok(m.endsWith("the name `a` is used twice in one struct or enum"), m);
    const variants: Schema = {
      type: "enum",
      name: "E",
      variants: [
        { name: "V", kind: "unit", fields: [] },
        { name: "V", kind: "unit", fields: [] },
      ],
    };
    refused(toCanonicalBytes(variants), "duplicate-name");
  });

  test("nesting is limited to MAX_SCHEMA_DEPTH", () => {
    const bomb = [1, ...new Array<number>(MAX_SCHEMA_DEPTH + 10).fill(0x02), 0, 1];
    refused(bomb, "too-deep", 1 + MAX_SCHEMA_DEPTH);
    // A million nested lists: refused at the limit, not by exhausting the stack.
    const big = new Uint8Array(1_000_003).fill(0x02);
    big[0] = 1;
    big[big.length - 2] = 0;
    big[big.length - 1] = 1;
    assert.equal(decodeError(big).code, "too-deep");
    let ok: Schema = primitive("u8");
    for (let i = 0; i < MAX_SCHEMA_DEPTH - 1; i++) ok = { type: "list", item: ok };
    assert.deepEqual(fromCanonicalBytes(toCanonicalBytes(ok)), ok);
  });

  test("huge counts are refused before anything is allocated", () => {
    // An enum claiming 2^32 - 1 variants, a tuple claiming 2^63, fields claiming 2^35.
    refused([1, 8, 0, 0xff, 0xff, 0xff, 0xff, 0x0f], "count-too-large", 3);
    refused([1, 6, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f], "count-too-large", 2);
    refused([1, 7, 0, 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01], "count-too-large", 4);
    // A count the input can hold, but whose items are not there.
    refused([1, 6, 3, 0, 1, 0], "unexpected-end", 6);
    // An array's length is not a count of input bytes: u64::MAX is a valid length.
    const arr = fromCanonicalBytes(
      Uint8Array.of(1, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0, 1),
    );
    assert.deepEqual(arr, { type: "array", item: primitive("u8"), len: 2n ** 64n - 1n });
    assert.deepEqual(
      [...toCanonicalBytes(arr)].slice(2, 12),
      [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
    );
  });

  test("every prefix of valid bytes, and every one-byte change, fails typed or round-trips", () => {
    const bytes = toCanonicalBytes(kitchenSink);
    for (let end = 0; end < bytes.length; end++) decodeError(bytes.subarray(0, end));
    for (let i = 0; i < bytes.length; i++) {
      for (const flip of [0x01, 0x5a, 0x80, 0xff]) {
        const corrupted = bytes.slice();
        corrupted[i]! ^= flip;
        let parsed: Schema | undefined;
        try {
          parsed = fromCanonicalBytes(corrupted);
        } catch (e) {
          assert.ok(e instanceof SchemaDecodeError, `byte ${i} ^ ${flip}: ${String(e)}`);
        }
        // Whatever is accepted re-encodes to itself.
        if (parsed !== undefined) assert.deepEqual(toCanonicalBytes(parsed), corrupted);
      }
    }
  });
});

describe("validateSchema", () => {
  test("accepts canonical bytes and names what is wrong with the rest", () => {
    assert.equal(validateSchema("args", toCanonicalBytes(kitchenSink)), undefined);
    assert.equal(
      validateSchema("response", toCanonicalBytes(resultSchema(i32, INFALLIBLE))),
      undefined,
    );
    assert.equal(
      validateSchema("channels", Uint8Array.of(1, 0, 16)),
      "invalid canonical schema at byte 2: unknown primitive kind 16",
    );
  });

  test("connect installs it: a malformed announcement ends the session with bad-schema", async () => {
    const [raw, link] = linkPair();
    const frames: Message[] = [];
    let ended: () => void = () => {};
    const closed = new Promise<void>((resolve) => (ended = resolve));
    raw.start({ frame: (f) => frames.push(decodeMessage(f)), closed: () => ended() });
    raw.send(hello());
    const server = await within(5000, connect(link, { role: "acceptor" }), "handshake");
    // A valid schema first: accepted, the session stays up.
    raw.send(
      encodeMessage({
        type: "schema",
        conn: 0n,
        methodId: 7n,
        kind: "args",
        schema: toCanonicalBytes(point),
      }),
    );
    raw.send(
      encodeMessage({
        type: "schema",
        conn: 0n,
        methodId: 7n,
        kind: "response",
        schema: Uint8Array.of(1, 6, 0),
      }),
    );
    const error = await within(5000, server.closed, "session end");
    await within(5000, closed, "link end");
    assert.ok(
      error.kind === "protocol" && error.violation.rule === "bad-schema",
      JSON.stringify(error),
    );
    const goodbye = frames.find((m) => m.type === "goodbye");
    assert.ok(goodbye !== undefined && goodbye.type === "goodbye");
    assert.equal(
      goodbye.reason,
      "bad-schema: invalid schema for method 0x0000000000000007: invalid canonical schema at byte 2: empty tuple (use unit)",
    );
  });

  test("a validator the application gives is kept", async () => {
    const [raw, link] = linkPair();
    let pong: () => void = () => {};
    const ponged = new Promise<void>((resolve) => (pong = resolve));
    raw.start({
      frame: (f) => void (decodeMessage(f).type === "pong" && pong()),
      closed: () => {},
    });
    raw.send(hello());
    const seen: Uint8Array[] = [];
    const server = await within(
      5000,
      connect(link, { role: "acceptor", validateSchema: (_k, b) => (seen.push(b), undefined) }),
      "handshake",
    );
    raw.send(
      encodeMessage({
        type: "schema",
        conn: 0n,
        methodId: 7n,
        kind: "args",
        schema: Uint8Array.of(9, 9),
      }),
    );
    // Frames are handled in order: once the ping is answered, the schema was taken.
    raw.send(encodeMessage({ type: "ping", nonce: 1n }));
    await within(5000, ponged, "pong");
    assert.equal(server.isClosed, false);
    assert.deepEqual(
      seen.map((b) => [...b]),
      [[9, 9]],
    );
    await server.close();
  });
});
