/**
 * postcard 1.x primitives: the bytes every roam message and payload is made of.
 *
 * {@link Writer} appends values to a growable buffer that is reused from one message to the
 * next; {@link Reader} takes values off a `Uint8Array`. The rules are postcard's wire format
 * (docs/protocol.md §2 and the postcard specification), checked against postcard 1.1's own
 * decoder:
 *
 * - `u16`/`u32`/`u64`/`u128` are LEB128 varints; `i16`..`i128` are zigzag, then varint; `u8`,
 *   `i8` and `bool` are one byte; `f32`/`f64` are little-endian IEEE 754.
 * - A varint may be non-canonical (`80 00` is 0), as postcard accepts, but never longer than
 *   its type's maximum (3, 5, 10, 19 bytes) and never above the type's maximum value.
 * - Strings, byte strings and sequences are a `varint(usize)` length, then the contents; enum
 *   discriminants are `varint(u32)`; `Option` is a `00`/`01` tag; `char` is a string holding
 *   exactly one Unicode scalar value (at most 4 bytes).
 *
 * Decoding never reads past the end of its input and never allocates from a claimed length
 * before checking that the input holds it: a hostile peer's bytes cost at most their own size.
 * Every failure is a {@link DecodeError} with a stable `code`.
 *
 * This module uses only ECMAScript and the WHATWG text codecs, so it runs in browsers too.
 *
 * @module
 */

/**
 * Why bytes did not decode. Stable strings, so callers can branch on them:
 *
 * - `truncated`: the input ended before the value did (also a length claiming more bytes than
 *   remain).
 * - `varint-overflow`: a varint longer than its type allows, or with a value above its type's
 *   maximum.
 * - `invalid-bool` / `invalid-option`: a byte other than 0 or 1 where a `bool` or an `Option`
 *   tag belongs.
 * - `invalid-utf8`: string bytes that are not UTF-8.
 * - `invalid-char`: a `char` that is not exactly one Unicode scalar value of at most 4 bytes.
 * - `unknown-variant`: an enum discriminant the reader does not know.
 * - `out-of-range`: a valid value that does not fit the JavaScript type asked for (a `u64`
 *   read as a `number` above 2^53 - 1).
 * - `too-long`: a count over the limit the caller set.
 * - `trailing-bytes`: input left over after the value that should have used all of it.
 */
export type DecodeErrorCode =
  | "truncated"
  | "varint-overflow"
  | "invalid-bool"
  | "invalid-option"
  | "invalid-utf8"
  | "invalid-char"
  | "unknown-variant"
  | "out-of-range"
  | "too-long"
  | "trailing-bytes";

/** Bytes that are not a valid encoding of the expected value. */
export class DecodeError extends Error {
  override readonly name = "DecodeError";
  /** What is wrong; see {@link DecodeErrorCode}. */
  readonly code: DecodeErrorCode;
  /** Offset in the input where the faulty value starts (or where the input ran out). */
  readonly offset: number;

  constructor(code: DecodeErrorCode, detail: string, offset: number) {
    super(`${code} at byte ${offset}: ${detail}`);
    this.code = code;
    this.offset = offset;
  }
}

/**
 * Why a value could not be encoded: a value outside its Rust type's range (`out-of-range`), a
 * string that is not one Unicode scalar value where a `char` is expected (`invalid-char`), or a
 * fixed-size array of the wrong length (`invalid-length`). These are caller mistakes; nothing
 * is written for the failed value. A value of the wrong JavaScript type (a `number` where a
 * `bigint` belongs) is a `TypeError` instead.
 */
export type EncodeErrorCode = "out-of-range" | "invalid-char" | "invalid-length";

/** A value that has no encoding as the requested type. */
export class EncodeError extends Error {
  override readonly name = "EncodeError";
  /** What is wrong; see {@link EncodeErrorCode}. */
  readonly code: EncodeErrorCode;

  constructor(code: EncodeErrorCode, detail: string) {
    super(`${code}: ${detail}`);
    this.code = code;
  }
}

const U64_MAX = (1n << 64n) - 1n;
const I64_MIN = -(1n << 63n);
const I64_MAX = (1n << 63n) - 1n;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const TWO_POW_32 = 2 ** 32;
const TWO_POW_49 = 2 ** 49;
/** Buffers that grew past this are dropped on reset, so one big message does not pin memory. */
const RETAIN_LIMIT = 1 << 20;
/** Short ASCII strings are copied by hand: cheaper than a call into the text codec. */
const ASCII_FAST_MAX = 64;

// 64-bit integers cross between `bigint` and two 32-bit halves through this view: one
// DataView call instead of several intermediate bigints (masks, shifts) per value.
const halves = new DataView(new ArrayBuffer(8));

const utf8Encoder = new TextEncoder();
// `fatal` turns malformed UTF-8 into an error instead of U+FFFD; `ignoreBOM` keeps a leading
// U+FEFF, which is an ordinary character of a Rust `String`.
const utf8Decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Writes `v` (an unsigned 32-bit integer) as a varint at `p`; returns the end offset. */
function putVarint32(b: Uint8Array, p: number, v: number): number {
  while (v > 0x7f) {
    b[p++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  b[p++] = v;
  return p;
}

/** Like {@link putVarint32} for any safe non-negative integer (up to 2^53 - 1). */
function putVarintNumber(b: Uint8Array, p: number, v: number): number {
  // Bitwise operators see only the low 32 bits, so divide until the rest fits in them.
  // `v & 0x7f` is still exact here: ToInt32 reduces modulo 2^32, which keeps the low bits.
  while (v > 0xffffffff) {
    b[p++] = (v & 0x7f) | 0x80;
    v = Math.floor(v / 128);
  }
  return putVarint32(b, p, v);
}

/** Bytes a varint of `v` (a safe non-negative integer) takes. */
function varintSize(v: number): number {
  let n = 1;
  while (v >= 128) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

/**
 * Appends postcard values to a growable buffer.
 *
 * One writer is meant to be reused: write a message, take it with {@link Writer.finish} (a
 * copy of exactly the bytes written) or look at it in place with {@link Writer.written}, and
 * the buffer is ready for the next one. Writes check that numbers are in range for their Rust
 * type and throw {@link EncodeError} otherwise, because a silently wrapped number would reach
 * the peer as a different, valid value.
 */
export class Writer {
  private buf: Uint8Array;
  private view: DataView;
  private pos = 0;
  private readonly initialCapacity: number;

  /** @param initialCapacity bytes to allocate up front; the buffer doubles as needed. */
  constructor(initialCapacity = 256) {
    this.initialCapacity = Math.max(16, initialCapacity);
    this.buf = new Uint8Array(this.initialCapacity);
    this.view = new DataView(this.buf.buffer);
  }

  /** Number of bytes written since the last reset. */
  get length(): number {
    return this.pos;
  }

  /** Forgets what was written; the buffer is kept for the next message unless it grew large. */
  reset(): void {
    this.pos = 0;
    if (this.buf.length > RETAIN_LIMIT) {
      this.buf = new Uint8Array(this.initialCapacity);
      this.view = new DataView(this.buf.buffer);
    }
  }

  /**
   * The bytes written so far, as a view into the writer's buffer. Valid only until the next
   * write or reset: use it to hand bytes to a socket that copies them, not to keep them.
   */
  written(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }

  /** A copy of the bytes written so far; then resets the writer. */
  finish(): Uint8Array {
    const out = this.buf.slice(0, this.pos);
    this.reset();
    return out;
  }

  /** Makes room for `n` more bytes. */
  private reserve(n: number): void {
    const need = this.pos + n;
    if (need <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < need) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  /** `u8`: one byte. */
  u8(v: number): void {
    if ((v & 0xff) !== v) throw outOfRange("u8", v);
    this.reserve(1);
    this.buf[this.pos++] = v;
  }

  /** `i8`: one byte, two's complement. */
  i8(v: number): void {
    if ((v << 24) >> 24 !== v) throw outOfRange("i8", v);
    this.reserve(1);
    this.buf[this.pos++] = v & 0xff;
  }

  /** `bool`: `00` or `01`. */
  bool(v: boolean): void {
    this.reserve(1);
    this.buf[this.pos++] = v ? 1 : 0;
  }

  /** `u16`: varint. */
  u16(v: number): void {
    if ((v & 0xffff) !== v) throw outOfRange("u16", v);
    this.varint32(v);
  }

  /** `i16`: zigzag varint. */
  i16(v: number): void {
    if ((v << 16) >> 16 !== v) throw outOfRange("i16", v);
    this.varint32(((v << 1) ^ (v >> 31)) >>> 0);
  }

  /** `u32`: varint. */
  u32(v: number): void {
    if (v >>> 0 !== v) throw outOfRange("u32", v);
    this.varint32(v);
  }

  /** `i32`: zigzag varint. */
  i32(v: number): void {
    if ((v | 0) !== v) throw outOfRange("i32", v);
    this.varint32(((v << 1) ^ (v >> 31)) >>> 0);
  }

  /** `u64` from a `bigint`: varint. */
  u64(v: bigint): void {
    if (typeof v !== "bigint") throw notBigint("u64", v);
    if (!(v >= 0n && v <= U64_MAX)) throw outOfRange("u64", v);
    if (v <= 0xffffffffn) {
      this.varint32(Number(v));
      return;
    }
    halves.setBigUint64(0, v, true);
    this.varint64(halves.getUint32(0, true), halves.getUint32(4, true));
  }

  /** `u64` from a `number` (a safe integer, 0 to 2^53 - 1): varint without `bigint` work. */
  u64Number(v: number): void {
    if (!Number.isSafeInteger(v) || v < 0) throw outOfRange("u64 (as a safe integer)", v);
    this.reserve(8);
    this.pos = putVarintNumber(this.buf, this.pos, v);
  }

  /** `i64` from a `bigint`: zigzag varint. */
  i64(v: bigint): void {
    if (typeof v !== "bigint") throw notBigint("i64", v);
    if (!(v >= I64_MIN && v <= I64_MAX)) throw outOfRange("i64", v);
    if (v >= -0x80000000n && v <= 0x7fffffffn) {
      const n = Number(v);
      this.varint32(((n << 1) ^ (n >> 31)) >>> 0);
      return;
    }
    halves.setBigInt64(0, v, true);
    const lo = halves.getUint32(0, true);
    const hi = halves.getInt32(4, true);
    // Zigzag on the halves: shift the 64-bit value left by one, xor with its sign.
    const sign = hi >> 31;
    this.varint64(((lo << 1) ^ sign) >>> 0, (((hi << 1) | (lo >>> 31)) ^ sign) >>> 0);
  }

  /** `i64` from a `number` (a safe integer): zigzag varint. */
  i64Number(v: number): void {
    if (!Number.isSafeInteger(v)) throw outOfRange("i64 (as a safe integer)", v);
    // Below 2^52 in magnitude the zigzag value stays a safe integer; beyond, go through bigint.
    if (v >= -0x10000000000000 && v < 0x10000000000000) {
      this.reserve(8);
      this.pos = putVarintNumber(this.buf, this.pos, v >= 0 ? v * 2 : -v * 2 - 1);
    } else {
      this.i64(BigInt(v));
    }
  }

  /** `u128` from a `bigint`: varint (up to 19 bytes). */
  u128(v: bigint): void {
    if (BigInt.asUintN(128, v) !== v) throw outOfRange("u128", v);
    this.varintU128(v);
  }

  /** `i128` from a `bigint`: zigzag varint. */
  i128(v: bigint): void {
    if (BigInt.asIntN(128, v) !== v) throw outOfRange("i128", v);
    this.varintU128(v >= 0n ? v << 1n : (-v << 1n) - 1n);
  }

  /** `f32`: 4 bytes little-endian (the number is rounded to single precision). */
  f32(v: number): void {
    this.reserve(4);
    this.view.setFloat32(this.pos, v, true);
    this.pos += 4;
  }

  /** `f64`: 8 bytes little-endian. */
  f64(v: number): void {
    this.reserve(8);
    this.view.setFloat64(this.pos, v, true);
    this.pos += 8;
  }

  /**
   * `char`: a string of exactly one Unicode scalar value (one code point, not a surrogate),
   * encoded as a length-prefixed UTF-8 string as postcard does.
   */
  char(c: string): void {
    const cp = c.codePointAt(0);
    if (cp === undefined || c.length !== (cp > 0xffff ? 2 : 1) || (cp >= 0xd800 && cp <= 0xdfff)) {
      throw new EncodeError(
        "invalid-char",
        `a char must be one Unicode scalar value, got ${JSON.stringify(c)}`,
      );
    }
    this.reserve(5);
    const b = this.buf;
    let p = this.pos;
    if (cp < 0x80) {
      b[p++] = 1;
      b[p++] = cp;
    } else if (cp < 0x800) {
      b[p++] = 2;
      b[p++] = 0xc0 | (cp >> 6);
      b[p++] = 0x80 | (cp & 0x3f);
    } else if (cp < 0x10000) {
      b[p++] = 3;
      b[p++] = 0xe0 | (cp >> 12);
      b[p++] = 0x80 | ((cp >> 6) & 0x3f);
      b[p++] = 0x80 | (cp & 0x3f);
    } else {
      b[p++] = 4;
      b[p++] = 0xf0 | (cp >> 18);
      b[p++] = 0x80 | ((cp >> 12) & 0x3f);
      b[p++] = 0x80 | ((cp >> 6) & 0x3f);
      b[p++] = 0x80 | (cp & 0x3f);
    }
    this.pos = p;
  }

  /**
   * `String` / `&str`: varint byte length, then UTF-8. A lone surrogate (which a JavaScript
   * string can hold and a Rust `String` cannot) is written as U+FFFD, as `TextEncoder` does.
   */
  string(s: string): void {
    const n = s.length;
    if (n <= ASCII_FAST_MAX) {
      this.reserve(1 + n);
      const b = this.buf;
      const start = this.pos + 1;
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        b[start + i] = c;
      }
      if (i === n) {
        b[this.pos] = n;
        this.pos = start + n;
        return;
      }
    }
    // The UTF-8 length is known only after encoding; encode after room for the longest
    // possible prefix and move the bytes back if the real prefix turns out shorter.
    const maxBytes = n * 3;
    const maxPrefix = varintSize(maxBytes);
    this.reserve(maxPrefix + maxBytes);
    const b = this.buf;
    const start = this.pos + maxPrefix;
    const { written } = utf8Encoder.encodeInto(s, b.subarray(start, start + maxBytes));
    const prefix = varintSize(written);
    if (prefix !== maxPrefix) b.copyWithin(this.pos + prefix, start, start + written);
    this.pos = putVarintNumber(b, this.pos, written) + written;
  }

  /** Byte string (`Vec<u8>` with `serde_bytes`, `&[u8]`): varint length, then the bytes. */
  bytes(v: Uint8Array): void {
    this.putLength(v.length);
    this.raw(v);
  }

  /** Bytes with no length prefix: fixed-size arrays such as `[u8; 16]`. */
  raw(v: Uint8Array): void {
    this.reserve(v.length);
    this.buf.set(v, this.pos);
    this.pos += v.length;
  }

  /** A `varint(usize)` length or sequence count. */
  seqLength(n: number): void {
    this.putLength(n);
  }

  /** An enum discriminant (`varint(u32)`), the variant's index in declaration order. */
  variant(index: number): void {
    this.u32(index);
  }

  /** An `Option` tag: `01` when a value follows, `00` for `None`. */
  optionTag(isSome: boolean): void {
    this.bool(isSome);
  }

  private putLength(n: number): void {
    if (!Number.isSafeInteger(n) || n < 0) throw outOfRange("length", n);
    this.reserve(8);
    this.pos = putVarintNumber(this.buf, this.pos, n);
  }

  private varint32(v: number): void {
    this.reserve(5);
    this.pos = putVarint32(this.buf, this.pos, v);
  }

  /** A 64-bit varint given as unsigned 32-bit halves. */
  private varint64(lo: number, hi: number): void {
    this.reserve(10);
    const b = this.buf;
    let p = this.pos;
    while (hi !== 0 || lo > 0x7f) {
      b[p++] = (lo & 0x7f) | 0x80;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    b[p++] = lo;
    this.pos = p;
  }

  /** `v` is known to be in 0..=u128::MAX. */
  private varintU128(v: bigint): void {
    if (v <= U64_MAX) {
      this.u64(v);
      return;
    }
    this.reserve(19);
    const b = this.buf;
    let p = this.pos;
    while (v > 0x7fn) {
      b[p++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    b[p++] = Number(v);
    this.pos = p;
  }
}

function outOfRange(type: string, v: number | bigint): EncodeError {
  return new EncodeError("out-of-range", `${String(v)} is not a valid ${type}`);
}

// A number where a bigint belongs is a type error (as BigInt.asUintN would throw), not a value
// to accept when it happens to be small and refuse when it is not.
function notBigint(type: string, v: unknown): TypeError {
  return new TypeError(`a ${type} must be a bigint, got ${typeof v} ${String(v)}`);
}

/**
 * Takes postcard values off a byte array, front to back.
 *
 * Byte strings come back as `subarray` views of the input (no copy): they stay valid as long
 * as the input is not modified. Call {@link Reader.finish} after the last value of a message
 * so that trailing garbage is an error rather than ignored.
 */
export class Reader {
  /** The whole input. */
  readonly input: Uint8Array;
  private pos: number;
  private view: DataView | undefined;
  /** Bits 49..63 of the last `varint64` read (the low 49 bits are its return value). */
  private hi = 0;

  /** @param offset where the first value starts, from 0 to `bytes.length`. */
  constructor(bytes: Uint8Array, offset = 0) {
    if (!Number.isInteger(offset) || offset < 0 || offset > bytes.length) {
      throw new RangeError(`offset ${offset} is outside the ${bytes.length}-byte input`);
    }
    this.input = bytes;
    this.pos = offset;
  }

  /** Offset of the next value. */
  get offset(): number {
    return this.pos;
  }

  /** Bytes not read yet. */
  get remaining(): number {
    return this.input.length - this.pos;
  }

  /** Throws `trailing-bytes` unless the whole input has been read. */
  finish(): void {
    const rest = this.input.length - this.pos;
    if (rest !== 0) {
      throw new DecodeError("trailing-bytes", `${rest} bytes left after the value`, this.pos);
    }
  }

  /** `u8`. */
  u8(): number {
    const p = this.pos;
    if (p >= this.input.length) throw this.truncated(p, "u8");
    this.pos = p + 1;
    return this.input[p]!;
  }

  /** `i8`. */
  i8(): number {
    return (this.u8() << 24) >> 24;
  }

  /** `bool`: only `00` and `01` are valid. */
  bool(): boolean {
    const p = this.pos;
    const x = this.u8();
    if (x > 1) throw new DecodeError("invalid-bool", `a bool must be 0 or 1, got ${x}`, p);
    return x === 1;
  }

  /** An `Option` tag: `true` when a value follows. */
  optionTag(): boolean {
    const p = this.pos;
    const x = this.u8();
    if (x > 1) throw new DecodeError("invalid-option", `an Option tag must be 0 or 1, got ${x}`, p);
    return x === 1;
  }

  /** `u16`: varint of at most 3 bytes. */
  u16(): number {
    return this.varint32(3, 0x03, "u16");
  }

  /** `i16`: zigzag varint. */
  i16(): number {
    const z = this.varint32(3, 0x03, "i16");
    return (z >>> 1) ^ -(z & 1);
  }

  /** `u32`: varint of at most 5 bytes. */
  u32(): number {
    const p = this.pos;
    if (p < this.input.length) {
      const x = this.input[p]!;
      if (x < 0x80) {
        this.pos = p + 1;
        return x;
      }
    }
    return this.varint32(5, 0x0f, "u32");
  }

  /** `i32`: zigzag varint. */
  i32(): number {
    const z = this.varint32(5, 0x0f, "i32");
    return (z >>> 1) ^ -(z & 1);
  }

  /** `u64` as a `bigint`: varint of at most 10 bytes. */
  u64(): bigint {
    const low = this.varint64("u64");
    if (this.hi === 0) return BigInt(low);
    this.toHalves(low);
    return halves.getBigUint64(0, true);
  }

  /** `u64` as a `number`; throws `out-of-range` above 2^53 - 1 rather than round. */
  u64Number(): number {
    const p = this.pos;
    const low = this.varint64("u64");
    if (this.hi >= 16) {
      throw new DecodeError("out-of-range", "u64 above 2^53 - 1 cannot be a number", p);
    }
    return low + this.hi * TWO_POW_49;
  }

  /** `i64` as a `bigint`: zigzag varint. */
  i64(): bigint {
    const low = this.varint64("i64");
    if (this.hi === 0) return BigInt(low % 2 === 0 ? low / 2 : -(low + 1) / 2);
    this.toHalves(low);
    const lo = halves.getUint32(0, true);
    const hi = halves.getUint32(4, true);
    // Undo zigzag on the halves: shift right by one, xor with all ones if the low bit was set.
    const sign = -(lo & 1);
    halves.setUint32(0, (((lo >>> 1) | (hi << 31)) ^ sign) >>> 0, true);
    halves.setUint32(4, ((hi >>> 1) ^ sign) >>> 0, true);
    return halves.getBigInt64(0, true);
  }

  /** `i64` as a `number`; throws `out-of-range` beyond ±(2^53 - 1) rather than round. */
  i64Number(): number {
    const p = this.pos;
    const low = this.varint64("i64");
    if (this.hi < 16) {
      const z = low + this.hi * TWO_POW_49;
      return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
    }
    const z = BigInt(low) + (BigInt(this.hi) << 49n);
    const v = (z >> 1n) ^ -(z & 1n);
    if (v > MAX_SAFE || v < -MAX_SAFE) {
      throw new DecodeError(
        "out-of-range",
        `i64 ${v} is beyond ±(2^53 - 1) and cannot be a number`,
        p,
      );
    }
    return Number(v);
  }

  /** `u128` as a `bigint`: varint of at most 19 bytes. */
  u128(): bigint {
    const b = this.input;
    const start = this.pos;
    let p = start;
    let result = 0n;
    // Seven bytes (49 bits) at a time in a number, so bigint work happens at most 3 times.
    let chunk = 0;
    let scale = 1;
    let shift = 0n;
    for (let i = 0; i < 19; i++) {
      if (p >= b.length) throw this.truncated(p, "u128");
      const x = b[p++]!;
      chunk += (x & 0x7f) * scale;
      scale *= 128;
      const last = x < 0x80;
      if (last && i === 18 && x > 0x03) throw overflow(start, "u128", "a value above u128::MAX");
      if (last || i % 7 === 6) {
        result |= BigInt(chunk) << shift;
        shift += 49n;
        chunk = 0;
        scale = 1;
      }
      if (last) {
        this.pos = p;
        return result;
      }
    }
    throw overflow(start, "u128", "more than 19 bytes");
  }

  /** `i128` as a `bigint`: zigzag varint. */
  i128(): bigint {
    const z = this.u128();
    return (z >> 1n) ^ -(z & 1n);
  }

  /** `f32`: 4 bytes little-endian. */
  f32(): number {
    const p = this.pos;
    if (this.input.length - p < 4) throw this.truncated(this.input.length, "f32");
    this.pos = p + 4;
    return this.dataView().getFloat32(p, true);
  }

  /** `f64`: 8 bytes little-endian. */
  f64(): number {
    const p = this.pos;
    if (this.input.length - p < 8) throw this.truncated(this.input.length, "f64");
    this.pos = p + 8;
    return this.dataView().getFloat64(p, true);
  }

  /** `char`: a length-prefixed UTF-8 string holding exactly one Unicode scalar value. */
  char(): string {
    const start = this.pos;
    const n = this.varint64("char length");
    // postcard refuses a length over 4 before looking for the bytes; so does this.
    if (this.hi !== 0 || n > 4 || n === 0) {
      throw new DecodeError(
        "invalid-char",
        `a char takes 1 to 4 bytes, not ${this.hi === 0 ? n : "more"}`,
        start,
      );
    }
    const p = this.pos;
    if (n > this.input.length - p) throw this.truncated(this.input.length, "char");
    let s: string;
    try {
      s = utf8Decoder.decode(this.input.subarray(p, p + n));
    } catch {
      throw new DecodeError("invalid-char", "char bytes are not UTF-8", start);
    }
    // A fatal decoder never yields lone surrogates, so one code point is one scalar value.
    const cp = s.codePointAt(0)!;
    if (s.length !== (cp > 0xffff ? 2 : 1)) {
      throw new DecodeError("invalid-char", `${n} bytes hold more than one char`, start);
    }
    this.pos = p + n;
    return s;
  }

  /** `String`: varint byte length, then UTF-8 (checked). */
  string(): string {
    const start = this.pos;
    const n = this.byteLength("string");
    const b = this.input;
    const p = this.pos;
    const end = p + n;
    let s: string | undefined;
    if (n <= ASCII_FAST_MAX) {
      let i = p;
      while (i < end && b[i]! < 0x80) i++;
      // fromCharCode accepts any array-like; a byte view is one.
      if (i === end) s = String.fromCharCode.apply(null, b.subarray(p, end) as unknown as number[]);
    }
    if (s === undefined) {
      try {
        s = utf8Decoder.decode(b.subarray(p, end));
      } catch {
        throw new DecodeError("invalid-utf8", "string bytes are not UTF-8", start);
      }
    }
    this.pos = end;
    return s;
  }

  /** Byte string: varint length, then the bytes, returned as a view of the input (no copy). */
  bytes(): Uint8Array {
    const n = this.byteLength("byte string");
    const p = this.pos;
    this.pos = p + n;
    return this.input.subarray(p, p + n);
  }

  /** `n` bytes with no length prefix (fixed-size arrays such as `[u8; 16]`), as a view. */
  raw(n: number): Uint8Array {
    const p = this.pos;
    if (n > this.input.length - p) throw this.truncated(this.input.length, `[u8; ${n}]`);
    this.pos = p + n;
    return this.input.subarray(p, p + n);
  }

  /**
   * A sequence count (`varint(usize)`). Because each item takes at least `minItemBytes`
   * bytes, a count the remaining input cannot hold is `truncated` before anything is
   * allocated for it; `max` bounds counts of items that may take no bytes at all.
   */
  seqLength(minItemBytes = 1, max = Number.MAX_SAFE_INTEGER): number {
    const start = this.pos;
    const low = this.varint64("sequence length");
    const n = this.hi < 16 ? low + this.hi * TWO_POW_49 : Infinity;
    if (minItemBytes > 0 && n * minItemBytes > this.input.length - this.pos) {
      throw new DecodeError(
        "truncated",
        `a sequence of ${n === Infinity ? "2^53 or more" : n} items does not fit in the ${this.remaining} bytes left`,
        start,
      );
    }
    if (n > max)
      throw new DecodeError(
        "too-long",
        `a sequence of ${n} items is over the limit of ${max}`,
        start,
      );
    return n;
  }

  /** An enum discriminant (`varint(u32)`). */
  variant(): number {
    return this.u32();
  }

  /** Reads a `varint(usize)` byte length and checks that that many bytes remain. */
  private byteLength(what: string): number {
    const start = this.pos;
    const low = this.varint64(`${what} length`);
    const left = this.input.length - this.pos;
    if (this.hi !== 0 || low > left) {
      const claimed = this.hi === 0 ? String(low) : "2^49 or more";
      throw new DecodeError(
        "truncated",
        `${what} claims ${claimed} bytes but ${left} remain`,
        start,
      );
    }
    return low;
  }

  /**
   * A varint of at most `maxBytes` bytes whose last byte may be at most `lastMax` (so the
   * value fits 16 or 32 bits), as an unsigned number.
   */
  private varint32(maxBytes: number, lastMax: number, what: string): number {
    const b = this.input;
    const start = this.pos;
    let p = start;
    let result = 0;
    for (let i = 0; i < maxBytes; i++) {
      if (p >= b.length) throw this.truncated(p, what);
      const x = b[p++]!;
      result |= (x & 0x7f) << (7 * i);
      if (x < 0x80) {
        if (i === maxBytes - 1 && x > lastMax)
          throw overflow(start, what, `a value above ${what}::MAX`);
        this.pos = p;
        return result >>> 0;
      }
    }
    throw overflow(start, what, `more than ${maxBytes} bytes`);
  }

  /**
   * A `u64` varint. Returns bits 0..48 as a number and leaves bits 49..63 in `this.hi`, so
   * values below 2^49 (nearly all ids, lengths and counts) never touch `bigint`.
   */
  private varint64(what: string): number {
    const b = this.input;
    const start = this.pos;
    let p = start;
    let low = 0;
    let scale = 1;
    for (let i = 0; i < 7; i++) {
      if (p >= b.length) throw this.truncated(p, what);
      const x = b[p++]!;
      low += (x & 0x7f) * scale;
      if (x < 0x80) {
        this.pos = p;
        this.hi = 0;
        return low;
      }
      scale *= 128;
    }
    let high = 0;
    for (let i = 7; i < 10; i++) {
      if (p >= b.length) throw this.truncated(p, what);
      const x = b[p++]!;
      high |= (x & 0x7f) << (7 * (i - 7));
      if (x < 0x80) {
        if (i === 9 && x > 0x01) throw overflow(start, what, "a value above u64::MAX");
        this.pos = p;
        this.hi = high;
        return low;
      }
    }
    throw overflow(start, what, "more than 10 bytes");
  }

  /** Puts the last `varint64` (`low` and `this.hi`) into `halves` as a little-endian u64. */
  private toHalves(low: number): void {
    halves.setUint32(0, low >>> 0, true);
    halves.setUint32(4, (Math.floor(low / TWO_POW_32) | (this.hi << 17)) >>> 0, true);
  }

  private dataView(): DataView {
    const b = this.input;
    return (this.view ??= new DataView(b.buffer, b.byteOffset, b.byteLength));
  }

  private truncated(at: number, what: string): DecodeError {
    return new DecodeError("truncated", `the input ended inside a ${what}`, at);
  }
}

function overflow(at: number, what: string, detail: string): DecodeError {
  return new DecodeError("varint-overflow", `${what} varint with ${detail}`, at);
}
