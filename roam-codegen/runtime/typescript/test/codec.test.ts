// Typed codecs (src/codec.ts): exact postcard bytes for every combinator, round trips at the
// boundaries, and typed errors (never an allocation from a claimed count) for bad input.

import { describe, test } from "node:test";
import assert from "node:assert/strict";

import {
  DecodeError,
  EncodeError,
  MAX_LAZY_DEPTH,
  MAX_ZERO_SIZED_ITEMS,
  Writer,
  array,
  bool,
  byteArray,
  bytes,
  char,
  decode,
  encode,
  f32,
  f64,
  i128,
  i16,
  i32,
  i64,
  i8,
  lazy,
  list,
  map,
  nestedOption,
  option,
  pairs,
  result,
  string,
  tuple,
  u128,
  u16,
  u32,
  u64,
  u8,
  unit,
  usize,
} from "../src/index.js";
import type { Codec, DecodeErrorCode, EncodeErrorCode } from "../src/index.js";

function hex(b: Uint8Array): string {
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join(" ");
}

/** `value` encodes to exactly `bytes` (hex) and decodes back to an equal value. */
function exact<T>(codec: Codec<T>, value: T, bytesHex: string): void {
  const got = encode(codec, value);
  assert.equal(hex(got), bytesHex, `encoding of ${String(value)}`);
  assert.deepEqual(decode(codec, got), value);
}

function bytesOf(...b: number[]): Uint8Array {
  return Uint8Array.from(b);
}

function decodeFails(codec: Codec<unknown>, input: Uint8Array, code: DecodeErrorCode): void {
  assert.throws(
    () => decode(codec, input),
    (e: unknown) => e instanceof DecodeError && e.code === code,
    `expected DecodeError ${code} for ${hex(input)}`,
  );
}

function encodeFails(f: () => unknown, code: EncodeErrorCode): void {
  assert.throws(f, (e: unknown) => e instanceof EncodeError && e.code === code);
}

const U64_MAX = (1n << 64n) - 1n;

describe("primitives", () => {
  test("integers: exact bytes at their boundaries", () => {
    exact(bool, true, "01");
    exact(bool, false, "00");
    exact(u8, 255, "ff");
    exact(i8, -1, "ff");
    exact(i8, -128, "80");
    exact(u16, 300, "ac 02");
    exact(u16, 0xffff, "ff ff 03");
    exact(i16, -1, "01");
    exact(i16, 1, "02");
    exact(u32, 0xffffffff, "ff ff ff ff 0f");
    exact(i32, -(2 ** 31), "ff ff ff ff 0f");
    exact(i32, 2 ** 31 - 1, "fe ff ff ff 0f");
    exact(u64, 0n, "00");
    exact(u64, U64_MAX, "ff ff ff ff ff ff ff ff ff 01");
    exact(u64, 2n ** 53n + 1n, "81 80 80 80 80 80 80 10");
    exact(usize, 128n, "80 01");
    exact(i64, -(2n ** 63n), "ff ff ff ff ff ff ff ff ff 01");
    exact(i64, 2n ** 63n - 1n, "fe ff ff ff ff ff ff ff ff 01");
    exact(u128, (1n << 128n) - 1n, `${"ff ".repeat(18)}03`);
    exact(i128, -(1n << 127n), `${"ff ".repeat(18)}03`);
  });

  test("integers out of their Rust range are refused, not wrapped", () => {
    encodeFails(() => encode(u8, 256), "out-of-range");
    encodeFails(() => encode(i8, 128), "out-of-range");
    encodeFails(() => encode(u32, -1), "out-of-range");
    encodeFails(() => encode(u32, 1.5), "out-of-range");
    encodeFails(() => encode(u64, -1n), "out-of-range");
    encodeFails(() => encode(u64, U64_MAX + 1n), "out-of-range");
    // A number where a bigint belongs is a type mistake, whatever its value.
    assert.throws(() => encode(u64, 1 as unknown as bigint), TypeError);
  });

  test("floats, chars, strings, unit and bytes", () => {
    exact(f32, 1.5, "00 00 c0 3f");
    exact(f64, -2, "00 00 00 00 00 00 00 c0");
    assert.ok(Number.isNaN(decode(f64, encode(f64, NaN))));
    // f32 rounds to single precision, as Rust's f32 holds it.
    assert.equal(decode(f32, encode(f32, 0.1)), Math.fround(0.1));
    exact(char, "a", "01 61");
    exact(char, "é", "02 c3 a9");
    exact(char, "😀", "04 f0 9f 98 80");
    encodeFails(() => encode(char, "ab"), "invalid-char");
    encodeFails(() => encode(char, ""), "invalid-char");
    exact(string, "", "00");
    exact(string, "hi", "02 68 69");
    exact(string, "ünï", "05 c3 bc 6e c3 af");
    exact(unit, undefined, "");
    exact(bytes, bytesOf(), "00");
    exact(bytes, bytesOf(1, 2, 255), "03 01 02 ff");
  });

  test("decoded bytes are a copy, not a view of the input", () => {
    const input = bytesOf(2, 7, 8);
    const out = decode(bytes, input);
    input[1] = 0;
    assert.deepEqual([...out], [7, 8]);
    assert.notEqual(out.buffer, input.buffer);
  });

  test("bad primitive input is a typed error", () => {
    decodeFails(bool, bytesOf(2), "invalid-bool");
    decodeFails(u32, bytesOf(0x80), "truncated");
    decodeFails(u32, bytesOf(0xff, 0xff, 0xff, 0xff, 0x10), "varint-overflow");
    decodeFails(u64, bytesOf(...new Array(10).fill(0xff), 0x01), "varint-overflow");
    decodeFails(string, bytesOf(5, 0x61), "truncated");
    decodeFails(string, bytesOf(1, 0xff), "invalid-utf8");
    decodeFails(char, bytesOf(2, 0x61, 0x62), "invalid-char");
    decodeFails(f64, bytesOf(0, 0, 0), "truncated");
    decodeFails(u8, bytesOf(), "truncated");
    decodeFails(u8, bytesOf(1, 2), "trailing-bytes");
    decodeFails(unit, bytesOf(0), "trailing-bytes");
  });
});

describe("options", () => {
  test("Option<T>: 00 for undefined, 01 then the value", () => {
    const c = option(u8);
    exact(c, undefined, "00");
    exact(c, 5, "01 05");
    exact(c, 0, "01 00");
    decodeFails(c, bytesOf(2), "invalid-option");
    decodeFails(c, bytesOf(1), "truncated");
  });

  test("Option<Option<T>> keeps Some(None) apart from None", () => {
    const c = nestedOption(option(u8));
    exact(c, undefined, "00");
    exact(c, { value: undefined }, "01 00");
    exact(c, { value: 7 }, "01 01 07");
    // Option<()>: Some(()) is one byte, and is not None.
    const unitOpt = nestedOption(unit);
    exact(unitOpt, { value: undefined }, "01");
    exact(unitOpt, undefined, "00");
  });
});

describe("sequences", () => {
  test("Vec<T>: a count, then the items", () => {
    exact(list(u32), [], "00");
    exact(list(u32), [1, 300], "02 01 ac 02");
    exact(list(string), ["a", ""], "02 01 61 00");
    exact(list(list(u8)), [[1], []], "02 01 01 00");
    exact(list(unit), [undefined, undefined, undefined], "03");
    decodeFails(list(u32), bytesOf(3, 1), "truncated");
  });

  test("[T; N] has no count, and encoding checks the length", () => {
    exact(array(u16, 3), [1, 2, 300], "01 02 ac 02");
    exact(array(u8, 0), [], "");
    encodeFails(() => encode(array(u16, 3), [1, 2]), "invalid-length");
    encodeFails(() => encode(array(u16, 3), [1, 2, 3, 4]), "invalid-length");
    decodeFails(array(u8, 3), bytesOf(1, 2), "truncated");
  });

  test("[u8; N]: N raw bytes, length-checked both ways", () => {
    const c = byteArray(4);
    exact(c, bytesOf(1, 2, 3, 4), "01 02 03 04");
    encodeFails(() => encode(c, bytesOf(1, 2, 3)), "invalid-length");
    decodeFails(c, bytesOf(1, 2, 3), "truncated");
    decodeFails(c, bytesOf(1, 2, 3, 4, 5), "trailing-bytes");
    const input = bytesOf(9, 9, 9, 9);
    const out = decode(c, input);
    input[0] = 0;
    assert.equal(out[0], 9, "a copy of the input");
  });

  test("a failed encode writes nothing: the next value starts clean", () => {
    encodeFails(() => encode(list(u8), [1, 2, 999]), "out-of-range");
    assert.equal(hex(encode(list(u8), [1, 2])), "02 01 02");
  });

  test("maps: a count then key-value pairs; bigint keys; a repeated key keeps the last", () => {
    exact(map(string, u32), new Map(), "00");
    exact(
      map(string, u32),
      new Map([
        ["a", 1],
        ["b", 2],
      ]),
      "02 01 61 01 01 62 02",
    );
    exact(map(u64, bool), new Map([[U64_MAX, true]]), "01 ff ff ff ff ff ff ff ff ff 01 01");
    const dup = decode(map(string, u32), bytesOf(2, 1, 0x61, 1, 1, 0x61, 2));
    assert.deepEqual([...dup], [["a", 2]]);
  });

  test("pairs: composite keys, the same bytes as a map", () => {
    const key = tuple(i32, i32);
    const c = pairs(key, string);
    const v: Array<[[number, number], string]> = [
      [[1, -1], "x"],
      [[0, 0], ""],
    ];
    exact(c, v, "02 02 01 01 78 00 00 00");
    // The same bytes read as a map with the same entries.
    assert.equal(
      hex(encode(pairs(string, u8), [["k", 1]])),
      hex(encode(map(string, u8), new Map([["k", 1]]))),
    );
  });

  test("tuples: the items in order, no count", () => {
    const c = tuple(u8, string, bool);
    exact(c, [1, "a", true], "01 01 61 01");
    exact(tuple(), [], "");
    encodeFails(() => encode(c, [1, "a"] as unknown as [number, string, boolean]), "invalid-length");
  });

  test("Result as a value: variant 0 Ok, 1 Err", () => {
    const c = result(u8, string);
    exact(c, { tag: "Ok", value: 5 }, "00 05");
    exact(c, { tag: "Err", value: "x" }, "01 01 78");
    decodeFails(c, bytesOf(2, 0), "unknown-variant");
  });
});

describe("generated-style codecs compose", () => {
  interface Point {
    x: number;
    y: number;
  }
  const point: Codec<Point> = {
    encode(w, v) {
      w.i32(v.x);
      w.i32(v.y);
    },
    decode(r) {
      return { x: r.i32(), y: r.i32() };
    },
  };
  type Shape = { tag: "Circle"; value: number } | { tag: "Dot" };
  const shape: Codec<Shape> = {
    encode(w, v) {
      if (v.tag === "Circle") {
        w.variant(0);
        w.f64(v.value);
      } else w.variant(1);
    },
    decode(r) {
      const at = r.offset;
      const tag = r.variant();
      if (tag === 0) return { tag: "Circle", value: r.f64() };
      if (tag === 1) return { tag: "Dot" };
      throw new DecodeError("unknown-variant", `Shape has no variant ${tag}`, at);
    },
  };

  test("structs and enums inside combinators", () => {
    exact(list(point), [{ x: 1, y: -1 }], "01 02 01");
    exact(map(string, option(point)), new Map([["p", undefined]]), "01 01 70 00");
    exact(list(shape), [{ tag: "Dot" }, { tag: "Circle", value: 1 }], "02 01 00 00 00 00 00 00 00 f0 3f");
  });

  test("an encode nested inside a codec gets its own writer", () => {
    // A codec that embeds another value's bytes as a byte string, as a wrapper type might.
    const embedded: Codec<Point> = {
      encode(w, v) {
        w.bytes(encode(point, v));
      },
      decode(r) {
        return decode(point, r.bytes());
      },
    };
    exact(tuple(u8, embedded, u8), [7, { x: 1, y: 2 }, 9], "07 02 02 04 09");
  });
});

describe("recursion through lazy", () => {
  interface Tree {
    value: number;
    children: Tree[];
  }
  let resolved = 0;
  const tree: Codec<Tree> = {
    encode(w, v) {
      w.u8(v.value);
      children.encode(w, v.children);
    },
    decode(r) {
      return { value: r.u8(), children: children.decode(r) };
    },
  };
  const children = list(
    lazy(() => {
      resolved++;
      return tree;
    }),
  );

  /** A chain `depth` nodes deep: each node has one child, the last none. */
  function chain(depth: number): Uint8Array {
    const out: number[] = [];
    for (let i = 1; i < depth; i++) out.push(0, 1);
    out.push(0, 0);
    return Uint8Array.from(out);
  }

  test("a recursive type round-trips, and get() runs once", () => {
    const v: Tree = { value: 1, children: [{ value: 2, children: [] }, { value: 3, children: [] }] };
    exact(tree, v, "01 02 02 00 03 00");
    decode(tree, encode(tree, v));
    assert.equal(resolved, 1);
  });

  test(`nesting past ${MAX_LAZY_DEPTH} levels is a typed error, not a stack overflow`, () => {
    assert.equal(decode(tree, chain(MAX_LAZY_DEPTH)).value, 0);
    decodeFails(tree, chain(MAX_LAZY_DEPTH + 2), "too-long");
    decodeFails(tree, chain(100_000), "too-long");
  });
});

describe("claimed lengths cost at most the input", () => {
  function claim(n: number, ...rest: number[]): Uint8Array {
    const w = new Writer();
    w.seqLength(n);
    for (const b of rest) w.u8(b);
    return w.finish();
  }

  test("a huge count of items that take bytes fails at once", () => {
    decodeFails(list(u32), claim(2 ** 40), "too-long");
    decodeFails(list(u32), claim(Number.MAX_SAFE_INTEGER), "too-long");
    decodeFails(map(string, u8), claim(2 ** 40), "too-long");
    decodeFails(pairs(u8, u8), claim(2 ** 40), "too-long");
    // Within the bound, the items run out of input: truncated after the few that are there.
    decodeFails(list(u32), claim(1000, 1, 2, 3), "truncated");
    // A u64 above 2^53 as a count: the varint itself is refused.
    decodeFails(list(u8), bytesOf(...new Array(9).fill(0xff), 0x01), "too-long");
  });

  test("byte strings and strings check the input before copying", () => {
    decodeFails(bytes, claim(2 ** 40), "truncated");
    decodeFails(string, claim(2 ** 30, 0x61), "truncated");
  });

  test("zero-sized items are counted per value", () => {
    assert.equal(decode(list(unit), claim(1000)).length, 1000);
    decodeFails(list(unit), claim(2 ** 40), "too-long");
    decodeFails(list(unit), claim(MAX_ZERO_SIZED_ITEMS + 1), "too-long");
    decodeFails(map(unit, unit), claim(2 ** 40), "too-long");
    // Many small lists of many units: the budget spans the whole value, so a few bytes cannot
    // multiply into billions of items.
    const w = new Writer();
    w.seqLength(64);
    for (let i = 0; i < 64; i++) w.seqLength(MAX_ZERO_SIZED_ITEMS / 4);
    decodeFails(list(list(unit)), w.finish(), "too-long");
    // Fixed-size arrays of zero-sized items count too.
    decodeFails(list(array(unit, 1 << 16)), claim(64), "too-long");
  });
});
