import { describe, test } from "node:test";
import assert from "node:assert/strict";

import { DecodeError, EncodeError, Reader, Writer } from "../src/postcard.js";
import type { DecodeErrorCode, EncodeErrorCode } from "../src/postcard.js";
import { bytes, fromHex, referenceVarint, referenceZigzag, Rng, toHex } from "./helpers.js";

function encode(write: (w: Writer) => void): Uint8Array {
  const w = new Writer(16);
  write(w);
  return w.finish();
}

/** Decodes one value that must use the whole input. */
function decode<T>(input: Uint8Array, read: (r: Reader) => T): T {
  const r = new Reader(input);
  const v = read(r);
  r.finish();
  return v;
}

function expectDecodeError(fn: () => unknown, code?: DecodeErrorCode, label = ""): DecodeError {
  try {
    const v = fn();
    assert.fail(
      `${label}: expected a DecodeError${code ? ` (${code})` : ""}, got the value ${String(v)}`,
    );
  } catch (e) {
    if (!(e instanceof DecodeError)) {
      assert.fail(`${label}: expected a DecodeError, got ${String(e)}`);
    }
    if (code !== undefined) assert.equal(e.code, code, `${label}: ${e.message}`);
    return e;
  }
}

function expectEncodeError(fn: () => unknown, code: EncodeErrorCode, label = ""): void {
  assert.throws(fn, (e: unknown) => e instanceof EncodeError && e.code === code, label);
}

// One row per primitive: how to write and read it, so tables and loops can cover all of them.
interface Primitive<T> {
  name: string;
  write: (w: Writer, v: T) => void;
  read: (r: Reader) => T;
}
const u16: Primitive<number> = { name: "u16", write: (w, v) => w.u16(v), read: (r) => r.u16() };
const i16: Primitive<number> = { name: "i16", write: (w, v) => w.i16(v), read: (r) => r.i16() };
const u32: Primitive<number> = { name: "u32", write: (w, v) => w.u32(v), read: (r) => r.u32() };
const i32: Primitive<number> = { name: "i32", write: (w, v) => w.i32(v), read: (r) => r.i32() };
const u64: Primitive<bigint> = { name: "u64", write: (w, v) => w.u64(v), read: (r) => r.u64() };
const i64: Primitive<bigint> = { name: "i64", write: (w, v) => w.i64(v), read: (r) => r.i64() };
const u128: Primitive<bigint> = { name: "u128", write: (w, v) => w.u128(v), read: (r) => r.u128() };
const i128: Primitive<bigint> = { name: "i128", write: (w, v) => w.i128(v), read: (r) => r.i128() };

function pinned<T>(p: Primitive<T>, cases: [T, string][]): void {
  for (const [value, hex] of cases) {
    const got = encode((w) => p.write(w, value));
    assert.equal(toHex(got), toHex(fromHex(hex)), `${p.name} ${String(value)}`);
    assert.equal(decode(got, p.read), value, `${p.name} ${String(value)} decodes back`);
  }
}

const U64_MAX = (1n << 64n) - 1n;
const U128_MAX = (1n << 128n) - 1n;
const ff = (n: number) => "ff ".repeat(n);
const x80 = (n: number) => "80 ".repeat(n);

describe("varint integers: pinned bytes", () => {
  test("u16 (the postcard specification's table)", () => {
    pinned(u16, [
      [0, "00"],
      [127, "7f"],
      [128, "80 01"],
      [16383, "ff 7f"],
      [16384, "80 80 01"],
      [16385, "81 80 01"],
      [65535, "ff ff 03"],
    ]);
  });

  test("i16 zigzag (the postcard specification's table, corrected)", () => {
    // The specification's table lists 32767 as `ff ff 02`, but zigzag(32767) = 0xfffe, whose
    // LEB128 is `fe ff 03`; postcard's own encoder produces the latter, as the reference
    // encoder in the property test below does.
    pinned(i16, [
      [0, "00"],
      [-1, "01"],
      [1, "02"],
      [63, "7e"],
      [-64, "7f"],
      [64, "80 01"],
      [-65, "81 01"],
      [32767, "fe ff 03"],
      [-32768, "ff ff 03"],
    ]);
  });

  test("u32 and i32", () => {
    pinned(u32, [
      [0, "00"],
      [127, "7f"],
      [128, "80 01"],
      [200, "c8 01"],
      [2 ** 31, "80 80 80 80 08"],
      [2 ** 32 - 1, "ff ff ff ff 0f"],
    ]);
    pinned(i32, [
      [0, "00"],
      [-1, "01"],
      [2 ** 31 - 1, "fe ff ff ff 0f"],
      [-(2 ** 31), "ff ff ff ff 0f"],
    ]);
  });

  test("u64 around 2^32 and 2^53 and at u64::MAX", () => {
    pinned(u64, [
      [0n, "00"],
      [127n, "7f"],
      [128n, "80 01"],
      [258n, "82 02"],
      [2n ** 32n - 1n, "ff ff ff ff 0f"],
      [2n ** 32n, "80 80 80 80 10"],
      [2n ** 49n - 1n, ff(6) + "7f"],
      [2n ** 49n, x80(7) + "01"],
      [2n ** 53n - 1n, ff(7) + "0f"],
      [2n ** 53n, x80(7) + "10"],
      [2n ** 53n + 1n, "81 " + x80(6) + "10"],
      [2n ** 63n, x80(9) + "01"],
      [U64_MAX, ff(9) + "01"],
    ]);
  });

  test("i64 at its extremes", () => {
    pinned(i64, [
      [0n, "00"],
      [-1n, "01"],
      [1n, "02"],
      [2n ** 48n, x80(6) + "80 01"],
      [-(2n ** 53n), ff(7) + "1f"],
      [2n ** 63n - 1n, "fe " + ff(8) + "01"],
      [-(2n ** 63n), ff(9) + "01"],
    ]);
  });

  test("u128 and i128 at their extremes", () => {
    pinned(u128, [
      [0n, "00"],
      [U64_MAX, ff(9) + "01"],
      [U64_MAX + 1n, x80(9) + "02"],
      [U128_MAX, ff(18) + "03"],
    ]);
    pinned(i128, [
      [0n, "00"],
      [-1n, "01"],
      [2n ** 127n - 1n, "fe " + ff(17) + "03"],
      [-(2n ** 127n), ff(18) + "03"],
    ]);
  });

  test("u64 and i64 as numbers agree with the bigint forms", () => {
    const safe = Number.MAX_SAFE_INTEGER;
    for (const v of [0, 1, 127, 128, 2 ** 32, 2 ** 49 - 1, 2 ** 49, 2 ** 52, safe - 1, safe]) {
      const b = encode((w) => w.u64Number(v));
      assert.equal(toHex(b), toHex(encode((w) => w.u64(BigInt(v)))), `u64Number ${v}`);
      assert.equal(
        decode(b, (r) => r.u64Number()),
        v,
      );
    }
    for (const v of [0, -1, 1, 2 ** 52 - 1, 2 ** 52, -(2 ** 52), -(2 ** 52) - 1, safe, -safe]) {
      const b = encode((w) => w.i64Number(v));
      assert.equal(toHex(b), toHex(encode((w) => w.i64(BigInt(v)))), `i64Number ${v}`);
      assert.equal(
        decode(b, (r) => r.i64Number()),
        v,
        `i64Number ${v} decodes back`,
      );
    }
  });

  test("a u64 above 2^53 - 1 is never rounded into a number", () => {
    for (const v of [2n ** 53n, 2n ** 53n + 1n, U64_MAX]) {
      const b = encode((w) => w.u64(v));
      expectDecodeError(() => decode(b, (r) => r.u64Number()), "out-of-range", String(v));
    }
    for (const v of [2n ** 53n, -(2n ** 53n), 2n ** 63n - 1n, -(2n ** 63n)]) {
      const b = encode((w) => w.i64(v));
      expectDecodeError(() => decode(b, (r) => r.i64Number()), "out-of-range", String(v));
    }
  });
});

describe("varint integers: bounds", () => {
  test("non-canonical varints within the maximum length are accepted, as postcard does", () => {
    assert.equal(
      decode(fromHex("80 00"), (r) => r.u16()),
      0,
    );
    assert.equal(
      decode(fromHex("80 80 00"), (r) => r.u16()),
      0,
    );
    assert.equal(
      decode(fromHex("80 80 80 80 00"), (r) => r.u32()),
      0,
    );
    assert.equal(
      decode(fromHex("ff 80 00"), (r) => r.u32()),
      127,
    );
    assert.equal(
      decode(fromHex(x80(9) + "00"), (r) => r.u64()),
      0n,
    );
    assert.equal(
      decode(fromHex(x80(18) + "00"), (r) => r.u128()),
      0n,
    );
  });

  test("varints longer than their type allows are refused", () => {
    const cases: [string, (r: Reader) => unknown, string][] = [
      ["u16", (r) => r.u16(), "80 80 80 00"],
      ["u16", (r) => r.u16(), "ff ff 83 00"],
      ["i16", (r) => r.i16(), "80 80 80 00"],
      ["u32", (r) => r.u32(), "80 80 80 80 80 00"],
      ["i32", (r) => r.i32(), "80 80 80 80 80 00"],
      ["u64", (r) => r.u64(), x80(10) + "00"],
      ["i64", (r) => r.i64(), x80(10) + "00"],
      ["u64Number", (r) => r.u64Number(), x80(10) + "00"],
      ["u128", (r) => r.u128(), x80(19) + "00"],
      ["i128", (r) => r.i128(), x80(19) + "00"],
      ["variant", (r) => r.variant(), "80 80 80 80 80 00"],
      ["string length", (r) => r.string(), x80(10) + "00"],
    ];
    for (const [name, read, hex] of cases) {
      expectDecodeError(() => read(new Reader(fromHex(hex))), "varint-overflow", `${name} ${hex}`);
    }
  });

  test("varints above their type's maximum value are refused", () => {
    const cases: [string, (r: Reader) => unknown, string][] = [
      ["u16", (r) => r.u16(), "ff ff 07"],
      ["u16", (r) => r.u16(), "80 80 04"],
      ["u32", (r) => r.u32(), "ff ff ff ff 1f"],
      ["u32", (r) => r.u32(), "80 80 80 80 10"],
      ["i32", (r) => r.i32(), "ff ff ff ff 7f"],
      ["u64", (r) => r.u64(), ff(9) + "02"],
      ["u64", (r) => r.u64(), x80(9) + "7f"],
      ["i64", (r) => r.i64(), ff(9) + "03"],
      ["u128", (r) => r.u128(), ff(18) + "04"],
      ["i128", (r) => r.i128(), ff(18) + "7f"],
    ];
    for (const [name, read, hex] of cases) {
      expectDecodeError(() => read(new Reader(fromHex(hex))), "varint-overflow", `${name} ${hex}`);
    }
  });

  test("writers refuse numbers outside their Rust type", () => {
    const cases: [string, (w: Writer) => void][] = [
      ["u8 256", (w) => w.u8(256)],
      ["u8 -1", (w) => w.u8(-1)],
      ["u8 1.5", (w) => w.u8(1.5)],
      ["i8 128", (w) => w.i8(128)],
      ["i8 -129", (w) => w.i8(-129)],
      ["u16 65536", (w) => w.u16(65536)],
      ["u16 -1", (w) => w.u16(-1)],
      ["i16 32768", (w) => w.i16(32768)],
      ["i16 -32769", (w) => w.i16(-32769)],
      ["u32 -1", (w) => w.u32(-1)],
      ["u32 2^32", (w) => w.u32(2 ** 32)],
      ["u32 NaN", (w) => w.u32(NaN)],
      ["u32 0.5", (w) => w.u32(0.5)],
      ["i32 2^31", (w) => w.i32(2 ** 31)],
      ["i32 -2^31-1", (w) => w.i32(-(2 ** 31) - 1)],
      ["u64 -1", (w) => w.u64(-1n)],
      ["u64 2^64", (w) => w.u64(1n << 64n)],
      ["i64 2^63", (w) => w.i64(1n << 63n)],
      ["i64 -2^63-1", (w) => w.i64(-(1n << 63n) - 1n)],
      ["u128 -1", (w) => w.u128(-1n)],
      ["u128 2^128", (w) => w.u128(1n << 128n)],
      ["i128 2^127", (w) => w.i128(1n << 127n)],
      ["i128 -2^127-1", (w) => w.i128(-(1n << 127n) - 1n)],
      ["u64Number 2^53", (w) => w.u64Number(2 ** 53)],
      ["u64Number -1", (w) => w.u64Number(-1)],
      ["u64Number 0.5", (w) => w.u64Number(0.5)],
      ["i64Number 2^53", (w) => w.i64Number(2 ** 53)],
      ["i64Number -Infinity", (w) => w.i64Number(-Infinity)],
      ["seqLength -1", (w) => w.seqLength(-1)],
      ["variant 2^32", (w) => w.variant(2 ** 32)],
    ];
    for (const [label, write] of cases) {
      const w = new Writer();
      w.u8(7);
      expectEncodeError(() => write(w), "out-of-range", label);
      assert.equal(toHex(w.finish()), "07", `${label}: nothing written for the refused value`);
    }
  });
});

describe("fixed-size primitives", () => {
  test("u8, i8 and bool", () => {
    assert.equal(toHex(encode((w) => [0, 1, 255].forEach((v) => w.u8(v)))), "00 01 ff");
    assert.equal(toHex(encode((w) => [0, -1, 127, -128].forEach((v) => w.i8(v)))), "00 ff 7f 80");
    assert.deepEqual(
      decode(fromHex("00 ff 7f 80"), (r) => [r.i8(), r.i8(), r.i8(), r.i8()]),
      [0, -1, 127, -128],
    );
    assert.equal(toHex(encode((w) => (w.bool(false), w.bool(true)))), "00 01");
    assert.deepEqual(
      decode(fromHex("00 01"), (r) => [r.bool(), r.bool()]),
      [false, true],
    );
  });

  test("a bool or an Option tag other than 0 or 1 is refused", () => {
    for (const b of [2, 0x80, 0xff]) {
      expectDecodeError(() => new Reader(bytes(b)).bool(), "invalid-bool", `bool ${b}`);
      expectDecodeError(() => new Reader(bytes(b)).optionTag(), "invalid-option", `option ${b}`);
    }
    assert.equal(new Reader(bytes(0)).optionTag(), false);
    assert.equal(new Reader(bytes(1)).optionTag(), true);
  });

  test("f32 and f64 are little-endian IEEE 754 (the postcard specification's example)", () => {
    assert.equal(toHex(encode((w) => w.f32(-32.005859375))), "00 06 00 c2");
    assert.equal(toHex(encode((w) => w.f64(-32.005859375))), "00 00 00 00 c0 00 40 c0");
    assert.equal(
      decode(fromHex("00 06 00 c2"), (r) => r.f32()),
      -32.005859375,
    );
    assert.equal(
      decode(fromHex("00 00 00 00 c0 00 40 c0"), (r) => r.f64()),
      -32.005859375,
    );
  });

  test("NaN, -0 and infinities survive", () => {
    assert.equal(toHex(encode((w) => w.f64(-0))), "00 00 00 00 00 00 00 80");
    assert.equal(toHex(encode((w) => w.f32(-0))), "00 00 00 80");
    assert.equal(toHex(encode((w) => w.f64(Infinity))), "00 00 00 00 00 00 f0 7f");
    assert.equal(toHex(encode((w) => w.f64(-Infinity))), "00 00 00 00 00 00 f0 ff");
    assert.equal(toHex(encode((w) => w.f32(Infinity))), "00 00 80 7f");
    assert.equal(toHex(encode((w) => w.f64(NaN))), "00 00 00 00 00 00 f8 7f", "Rust's f64::NAN");
    for (const v of [NaN, -0, 0, Infinity, -Infinity, Number.MIN_VALUE, Number.MAX_VALUE]) {
      assert.ok(
        Object.is(
          decode(
            encode((w) => w.f64(v)),
            (r) => r.f64(),
          ),
          v,
        ),
        `f64 ${v}`,
      );
    }
    for (const v of [NaN, -0, 0, Infinity, -Infinity]) {
      assert.ok(
        Object.is(
          decode(
            encode((w) => w.f32(v)),
            (r) => r.f32(),
          ),
          v,
        ),
        `f32 ${v}`,
      );
    }
    // Rust's f32::NAN is 0x7fc00000; a signalling-free NaN with another payload still reads as NaN.
    assert.ok(Number.isNaN(decode(fromHex("00 00 c0 7f"), (r) => r.f32())));
    assert.ok(Number.isNaN(decode(fromHex("01 00 80 ff"), (r) => r.f32())));
  });

  test("f32 rounds to single precision, as `as f32` does", () => {
    assert.equal(
      decode(
        encode((w) => w.f32(0.1)),
        (r) => r.f32(),
      ),
      Math.fround(0.1),
    );
  });

  test("floats read at any offset, including from a view into a larger buffer", () => {
    const big = new Uint8Array(20);
    big.set(fromHex("00 00 00 00 c0 00 40 c0"), 5);
    const view = big.subarray(3, 16);
    const r = new Reader(view, 2);
    assert.equal(r.f64(), -32.005859375);
  });
});

describe("strings, chars and bytes", () => {
  test("pinned strings", () => {
    const cases: [string, string][] = [
      ["", "00"],
      ["hi", "02 68 69"],
      ["é", "02 c3 a9"],
      ["€", "03 e2 82 ac"],
      ["😀", "04 f0 9f 98 80"],
      ["a😀b", "06 61 f0 9f 98 80 62"],
      ["\u0000", "01 00"],
    ];
    for (const [s, hex] of cases) {
      const b = encode((w) => w.string(s));
      assert.equal(toHex(b), hex, JSON.stringify(s));
      assert.equal(
        decode(b, (r) => r.string()),
        s,
      );
    }
  });

  test("a leading byte-order mark is an ordinary character, kept both ways", () => {
    const b = encode((w) => w.string("\uFEFFx"));
    assert.equal(toHex(b), "04 ef bb bf 78");
    assert.equal(
      decode(b, (r) => r.string()),
      "\uFEFFx",
    );
  });

  test("string lengths around the one-byte prefix and the ASCII fast path", () => {
    for (const n of [1, 42, 43, 63, 64, 65, 127, 128, 129, 1000, 16383, 16384, 70000]) {
      for (const ch of ["a", "é", "€", "😀"]) {
        const s = ch.repeat(n);
        const utf8 = new TextEncoder().encode(s);
        const b = encode((w) => w.string(s));
        const expected = new Uint8Array([...referenceVarint(BigInt(utf8.length)), ...utf8]);
        assert.ok(
          b.length === expected.length && b.every((x, i) => x === expected[i]),
          `${n} × ${ch}`,
        );
        assert.equal(
          decode(b, (r) => r.string()),
          s,
          `${n} × ${ch} decodes back`,
        );
      }
    }
  });

  test("a lone surrogate is written as U+FFFD, as TextEncoder does", () => {
    assert.equal(toHex(encode((w) => w.string("\uD800"))), "03 ef bf bd");
    assert.equal(toHex(encode((w) => w.string("a\uDC00"))), "04 61 ef bf bd");
  });

  test("bytes that are not UTF-8 are refused", () => {
    const cases = [
      "01 80", // lone continuation byte
      "02 c3 28", // bad continuation
      "02 c0 80", // overlong NUL
      "03 ed a0 80", // an encoded surrogate
      "04 f4 90 80 80", // above U+10FFFF
      "01 ff",
      "05 61 62 63 64 c3", // cut inside a character
      "40 " + "61 ".repeat(64), // a long string that ends in ASCII...
    ];
    for (const hex of cases.slice(0, -1)) {
      expectDecodeError(() => decode(fromHex(hex), (r) => r.string()), "invalid-utf8", hex);
    }
    const long = fromHex(cases[cases.length - 1]!);
    long[30] = 0xff; // ...with a bad byte in the middle
    expectDecodeError(() => decode(long, (r) => r.string()), "invalid-utf8", "long");
  });

  test("pinned chars", () => {
    const cases: [string, string][] = [
      ["a", "01 61"],
      ["\u0000", "01 00"],
      ["é", "02 c3 a9"],
      ["€", "03 e2 82 ac"],
      ["\uFEFF", "03 ef bb bf"],
      ["😀", "04 f0 9f 98 80"],
      ["\u{10FFFF}", "04 f4 8f bf bf"],
    ];
    for (const [c, hex] of cases) {
      const b = encode((w) => w.char(c));
      assert.equal(toHex(b), hex, JSON.stringify(c));
      assert.equal(
        decode(b, (r) => r.char()),
        c,
      );
      // A char is a string on the wire: the same bytes read as either.
      assert.equal(
        decode(b, (r) => r.string()),
        c,
      );
    }
  });

  test("a char must be exactly one Unicode scalar value", () => {
    for (const c of ["", "ab", "\uD800", "\uDC00", "\uDC00\uD800", "😀x", "e\u0301"]) {
      expectEncodeError(() => new Writer().char(c), "invalid-char", JSON.stringify(c));
    }
    const bad: [string, DecodeErrorCode][] = [
      ["00", "invalid-char"], // empty
      ["05 61 62 63 64 65", "invalid-char"], // longer than 4 bytes
      ["ff ff ff ff 0f", "invalid-char"], // a huge length is refused before looking for bytes
      [ff(9) + "01", "invalid-char"],
      ["02 61 62", "invalid-char"], // two chars
      ["01 80", "invalid-char"],
      ["03 ed a0 80", "invalid-char"], // a surrogate
      ["04 f0 9f 98", "truncated"],
      ["", "truncated"],
    ];
    for (const [hex, code] of bad) {
      expectDecodeError(() => decode(fromHex(hex), (r) => r.char()), code, hex);
    }
  });

  test("byte strings, and their decoding is a view of the input", () => {
    assert.equal(toHex(encode((w) => w.bytes(new Uint8Array(0)))), "00");
    assert.equal(toHex(encode((w) => w.bytes(bytes(1, 2, 3)))), "03 01 02 03");
    const input = fromHex("03 01 02 03");
    const got = decode(input, (r) => r.bytes());
    assert.deepEqual([...got], [1, 2, 3]);
    assert.equal(got.buffer, input.buffer, "no copy");
    assert.equal(got.byteOffset, 1);
    assert.equal(decode(fromHex("00"), (r) => r.bytes()).length, 0);
    const big = new Uint8Array(300).map((_, i) => i & 0xff);
    assert.deepEqual(
      decode(
        encode((w) => w.bytes(big)),
        (r) => r.bytes(),
      ),
      big,
    );
  });

  test("fixed-size arrays have no length", () => {
    const key = new Uint8Array(16).fill(7);
    assert.equal(toHex(encode((w) => w.raw(key))), "07 ".repeat(16).trim());
    assert.deepEqual(
      decode(
        encode((w) => w.raw(key)),
        (r) => r.raw(16),
      ),
      key,
    );
    expectDecodeError(() => new Reader(new Uint8Array(15)).raw(16), "truncated");
  });

  test("a huge claimed length with little data is refused without allocating", () => {
    const claims = ["ff ff ff ff 0f", ff(7) + "0f", ff(9) + "01", "80 80 80 80 80 80 80 80 01"];
    for (const claim of claims) {
      const input = fromHex(claim + " 61 62");
      expectDecodeError(() => new Reader(input).string(), "truncated", `string ${claim}`);
      expectDecodeError(() => new Reader(input).bytes(), "truncated", `bytes ${claim}`);
      expectDecodeError(() => new Reader(input).seqLength(1), "truncated", `seq ${claim}`);
    }
    expectDecodeError(() => new Reader(fromHex("03 61 62")).string(), "truncated");
  });
});

describe("sequences, options, variants and trailing bytes", () => {
  test("sequence counts are bounded by the input and by the caller's limit", () => {
    assert.equal(new Reader(fromHex("02 00 00")).seqLength(1), 2);
    expectDecodeError(() => new Reader(fromHex("03 00 00")).seqLength(1), "truncated");
    expectDecodeError(() => new Reader(fromHex("02 00 00")).seqLength(2), "truncated");
    // Zero-sized items: the input cannot bound the count, the limit does.
    assert.equal(new Reader(fromHex("e8 07")).seqLength(0, 1000), 1000);
    expectDecodeError(() => new Reader(fromHex("e9 07")).seqLength(0, 1000), "too-long");
    expectDecodeError(() => new Reader(fromHex(ff(9) + "01")).seqLength(0), "too-long");
    assert.equal(toHex(encode((w) => w.seqLength(300))), "ac 02");
  });

  test("options and variants", () => {
    assert.equal(
      toHex(encode((w) => (w.optionTag(false), w.optionTag(true), w.u8(5)))),
      "00 01 05",
    );
    assert.equal(
      toHex(encode((w) => (w.variant(0), w.variant(11), w.variant(300)))),
      "00 0b ac 02",
    );
    assert.deepEqual(
      decode(fromHex("00 0b ac 02"), (r) => [r.variant(), r.variant(), r.variant()]),
      [0, 11, 300],
    );
  });

  test("trailing bytes are an error once the value is done", () => {
    const r = new Reader(fromHex("05 00"));
    assert.equal(r.u8(), 5);
    const e = expectDecodeError(() => r.finish(), "trailing-bytes");
    assert.equal(e.offset, 1);
    assert.equal(r.remaining, 1);
  });

  test("a reader can start at an offset", () => {
    const r = new Reader(fromHex("ff ff 02 68 69"), 2);
    assert.equal(r.string(), "hi");
    r.finish();
    expectDecodeError(() => new Reader(bytes(1), 1).u8(), "truncated");
    assert.throws(() => new Reader(bytes(1), 2), RangeError);
    assert.throws(() => new Reader(bytes(1), -1), RangeError);
  });

  test("errors say where the bad value starts", () => {
    const r = new Reader(fromHex("01 02 " + x80(6) + "00"));
    r.u8();
    assert.equal(expectDecodeError(() => r.bool(), "invalid-bool").offset, 1);
    const e = expectDecodeError(
      () => new Reader(fromHex("00 " + x80(5) + "00"), 1).u32(),
      "varint-overflow",
    );
    assert.equal(e.offset, 1);
    assert.match(e.message, /^varint-overflow at byte 1: /);
  });
});

describe("every value cut short is a DecodeError", () => {
  const samples: [string, (w: Writer) => void, (r: Reader) => unknown][] = [
    ["u16 max", (w) => w.u16(65535), (r) => r.u16()],
    ["i16 min", (w) => w.i16(-32768), (r) => r.i16()],
    ["u32 max", (w) => w.u32(2 ** 32 - 1), (r) => r.u32()],
    ["i32 min", (w) => w.i32(-(2 ** 31)), (r) => r.i32()],
    ["u64 max", (w) => w.u64(U64_MAX), (r) => r.u64()],
    ["u64 2^53-1 as a number", (w) => w.u64(2n ** 53n - 1n), (r) => r.u64Number()],
    ["i64 min", (w) => w.i64(-(2n ** 63n)), (r) => r.i64()],
    ["i64 -2^53+1 as a number", (w) => w.i64(-(2n ** 53n) + 1n), (r) => r.i64Number()],
    ["u128 max", (w) => w.u128(U128_MAX), (r) => r.u128()],
    ["i128 min", (w) => w.i128(-(2n ** 127n)), (r) => r.i128()],
    ["f32", (w) => w.f32(1.5), (r) => r.f32()],
    ["f64", (w) => w.f64(1.5), (r) => r.f64()],
    ["u8", (w) => w.u8(9), (r) => r.u8()],
    ["i8", (w) => w.i8(-9), (r) => r.i8()],
    ["bool", (w) => w.bool(true), (r) => r.bool()],
    ["option", (w) => w.optionTag(true), (r) => r.optionTag()],
    ["char", (w) => w.char("😀"), (r) => r.char()],
    ["ascii string", (w) => w.string("hello"), (r) => r.string()],
    ["string", (w) => w.string("é😀".repeat(50)), (r) => r.string()],
    ["bytes", (w) => w.bytes(new Uint8Array(200)), (r) => r.bytes()],
    ["seq", (w) => (w.seqLength(3), w.raw(bytes(1, 2, 3))), (r) => r.seqLength(1)],
  ];
  for (const [name, write, read] of samples) {
    test(name, () => {
      const full = encode(write);
      for (let cut = 0; cut < full.length; cut++) {
        expectDecodeError(
          () => read(new Reader(full.subarray(0, cut))),
          "truncated",
          `${name} cut at ${cut}`,
        );
      }
      read(new Reader(full));
    });
  }
});

describe("property checks (seeded)", () => {
  test("integers encode as reference LEB128/zigzag and decode back", () => {
    const rng = new Rng(0x5eed);
    const widths: [Primitive<number>, number, boolean][] = [
      [u16, 16, false],
      [i16, 16, true],
      [u32, 32, false],
      [i32, 32, true],
    ];
    for (const [p, bits, signed] of widths) {
      for (let i = 0; i < 3000; i++) {
        const big = signed ? rng.bigInt(bits) : rng.bigUint(bits);
        const v = Number(big);
        const b = encode((w) => p.write(w, v));
        const expected = referenceVarint(signed ? referenceZigzag(big) : big);
        assert.equal(toHex(b), toHex(expected), `${p.name} ${v}`);
        assert.equal(decode(b, p.read), v);
      }
    }
    const bigWidths: [Primitive<bigint>, number, boolean][] = [
      [u64, 64, false],
      [i64, 64, true],
      [u128, 128, false],
      [i128, 128, true],
    ];
    for (const [p, bits, signed] of bigWidths) {
      for (let i = 0; i < 3000; i++) {
        const v = signed ? rng.bigInt(bits) : rng.bigUint(bits);
        const b = encode((w) => p.write(w, v));
        const expected = referenceVarint(signed ? referenceZigzag(v) : v);
        assert.equal(toHex(b), toHex(expected), `${p.name} ${v}`);
        assert.equal(decode(b, p.read), v);
        if (
          bits === 64 &&
          (signed ? v >= -(2n ** 53n - 1n) && v <= 2n ** 53n - 1n : v < 2n ** 53n)
        ) {
          const n = Number(v);
          assert.equal(
            decode(b, (r) => (signed ? r.i64Number() : r.u64Number())),
            n,
          );
          assert.equal(toHex(encode((w) => (signed ? w.i64Number(n) : w.u64Number(n)))), toHex(b));
        }
      }
    }
  });

  test("floats round-trip bit for bit", () => {
    const rng = new Rng(7);
    const bits = new DataView(new ArrayBuffer(8));
    for (let i = 0; i < 3000; i++) {
      bits.setUint32(0, rng.u32(), true);
      bits.setUint32(4, rng.u32(), true);
      const d = bits.getFloat64(0, true);
      const f = bits.getFloat32(0, true);
      if (!Number.isNaN(d)) {
        const b = encode((w) => w.f64(d));
        assert.equal(toHex(b), toHex(new Uint8Array(bits.buffer)));
        assert.ok(
          Object.is(
            decode(b, (r) => r.f64()),
            d,
          ),
        );
      }
      if (!Number.isNaN(f)) {
        const b = encode((w) => w.f32(f));
        assert.equal(toHex(b), toHex(new Uint8Array(bits.buffer, 0, 4)));
        assert.ok(
          Object.is(
            decode(b, (r) => r.f32()),
            f,
          ),
        );
      }
    }
  });

  test("strings encode as TextEncoder's UTF-8 and decode back", () => {
    const rng = new Rng(42);
    const te = new TextEncoder();
    for (let i = 0; i < 2000; i++) {
      const s = rng.string(i % 10 === 0 ? 400 : 40);
      const b = encode((w) => w.string(s));
      const utf8 = te.encode(s);
      assert.equal(
        toHex(b),
        toHex(new Uint8Array([...referenceVarint(BigInt(utf8.length)), ...utf8])),
      );
      assert.equal(
        decode(b, (r) => r.string()),
        s,
      );
    }
  });

  test("one writer reused for many values keeps earlier results intact", () => {
    const rng = new Rng(3);
    const w = new Writer(16);
    const results: [string, Uint8Array][] = [];
    for (let i = 0; i < 300; i++) {
      const s = rng.string(i === 150 ? 400_000 : 30); // one big value grows, then sheds, the buffer
      w.string(s);
      w.u64(BigInt(i));
      results.push([s, w.finish()]);
    }
    for (const [i, [s, b]] of results.entries()) {
      assert.deepEqual(
        decode(b, (r) => [r.string(), r.u64()]),
        [s, BigInt(i)],
      );
    }
    w.u8(1);
    assert.equal(toHex(w.written()), "01");
    assert.equal(w.length, 1);
    w.reset();
    assert.equal(w.length, 0);
  });

  test("random bytes only ever fail with DecodeError", () => {
    const rng = new Rng(99);
    const readers: ((r: Reader) => unknown)[] = [
      (r) => r.u8(),
      (r) => r.i8(),
      (r) => r.bool(),
      (r) => r.optionTag(),
      (r) => r.u16(),
      (r) => r.i16(),
      (r) => r.u32(),
      (r) => r.i32(),
      (r) => r.u64(),
      (r) => r.u64Number(),
      (r) => r.i64(),
      (r) => r.i64Number(),
      (r) => r.u128(),
      (r) => r.i128(),
      (r) => r.f32(),
      (r) => r.f64(),
      (r) => r.char(),
      (r) => r.string(),
      (r) => r.bytes(),
      (r) => r.raw(3),
      (r) => r.seqLength(1),
      (r) => r.seqLength(0, 100),
      (r) => r.variant(),
    ];
    let errors = 0;
    for (let i = 0; i < 3000; i++) {
      // Bias towards continuation bits so long varints are common.
      const input = rng.bytes(rng.below(24)).map((b) => (rng.below(3) === 0 ? b : b | 0x80));
      const r = new Reader(input);
      try {
        while (r.remaining > 0) readers[rng.below(readers.length)]!(r);
        r.finish();
      } catch (e) {
        if (!(e instanceof DecodeError)) assert.fail(`${toHex(input)}: ${String(e)}`);
        errors++;
      }
    }
    assert.ok(errors > 100, "the inputs exercised the error paths");
  });
});
