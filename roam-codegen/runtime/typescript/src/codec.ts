/**
 * Typed codecs: a {@link Codec} turns one TypeScript value into postcard bytes and back, and
 * the combinators here build the codec of any roam type from the codecs of its parts. Generated
 * code writes struct and enum codecs as plain objects over {@link Writer} and {@link Reader}
 * and composes these for everything else (`list(option(u32))`, `map(string, point)`).
 *
 * This module owns the mapping of Rust types to TypeScript values (BINDINGS.md §2) and the
 * limits that keep decoding bounded. The byte-level rules (varints, zigzag, UTF-8, length
 * checks) are `postcard.ts`'s; nothing here knows about messages, calls or channels.
 *
 * Decoding is bounded by its input, whatever a peer claims:
 *
 * - Nothing is allocated from a claimed count: sequences grow one decoded item at a time, so
 *   items that take bytes run out of input (`truncated`) after at most that many items.
 * - Items that take no bytes at all (`()`, `[T; 0]`, unit structs) are counted per
 *   {@link Reader}: more than {@link MAX_ZERO_SIZED_ITEMS} of them in one value is `too-long`.
 *   Without this a few bytes could claim `Vec<()>` of 2^50 items.
 * - Recursion through {@link lazy} is limited to {@link MAX_LAZY_DEPTH} levels (`too-long`),
 *   so a deeply nested value is a typed error rather than a stack overflow.
 *
 * @module
 */

import { DecodeError, EncodeError, Reader, Writer } from "./postcard.js";

/**
 * Encodes and decodes values of one type. `encode` appends `v` to `w` and throws
 * {@link EncodeError} (or `TypeError`) for a value its Rust type cannot hold; `decode` takes
 * one value off `r` and throws {@link DecodeError} for bytes that are not one.
 */
export interface Codec<T> {
  encode(w: Writer, v: T): void;
  decode(r: Reader): T;
}

/**
 * Most items taking zero bytes that one {@link Reader} decodes (across every sequence and array
 * of the value). Real values hold few such items; the bound is what keeps a claimed
 * `Vec<()>` of 2^50 items from costing memory and time.
 */
export const MAX_ZERO_SIZED_ITEMS = 1 << 20;

/**
 * Deepest nesting of {@link lazy} codecs while one {@link Reader} decodes: far beyond real
 * recursive data, well below what exhausts a JavaScript stack.
 */
export const MAX_LAZY_DEPTH = 512;

// Per-reader counters, kept beside the reader rather than in it: postcard.ts knows nothing of
// types, and a WeakMap lets each counter die with its reader.
const zeroSized = new WeakMap<Reader, number>();
const lazyDepth = new WeakMap<Reader, number>();

/** Counts one item that took no bytes; throws once a reader has seen too many. */
function chargeZeroSized(r: Reader): void {
  const n = (zeroSized.get(r) ?? 0) + 1;
  if (n > MAX_ZERO_SIZED_ITEMS) {
    throw new DecodeError(
      "too-long",
      `more than ${MAX_ZERO_SIZED_ITEMS} items that take no bytes in one value`,
      r.offset,
    );
  }
  zeroSized.set(r, n);
}

/**
 * A sequence count: bounded by what the rest of the input can hold plus the zero-sized budget,
 * so an absurd claim fails here, before any item is decoded.
 */
function readCount(r: Reader): number {
  return r.seqLength(0, r.remaining + MAX_ZERO_SIZED_ITEMS);
}

/** Decodes one item of a sequence, charging it to the budget if it took no bytes. */
function decodeItem<T>(r: Reader, item: Codec<T>): T {
  const before = r.offset;
  const v = item.decode(r);
  if (r.offset === before) chargeZeroSized(r);
  return v;
}

/** `bool`: `00` or `01`. */
export const bool: Codec<boolean> = {
  encode: (w, v) => w.bool(v),
  decode: (r) => r.bool(),
};

/** `u8`: one byte. */
export const u8: Codec<number> = { encode: (w, v) => w.u8(v), decode: (r) => r.u8() };
/** `i8`: one byte, two's complement. */
export const i8: Codec<number> = { encode: (w, v) => w.i8(v), decode: (r) => r.i8() };
/** `u16`: varint. */
export const u16: Codec<number> = { encode: (w, v) => w.u16(v), decode: (r) => r.u16() };
/** `i16`: zigzag varint. */
export const i16: Codec<number> = { encode: (w, v) => w.i16(v), decode: (r) => r.i16() };
/** `u32`: varint. */
export const u32: Codec<number> = { encode: (w, v) => w.u32(v), decode: (r) => r.u32() };
/** `i32`: zigzag varint. */
export const i32: Codec<number> = { encode: (w, v) => w.i32(v), decode: (r) => r.i32() };
/** `u64` as a `bigint`: varint. */
export const u64: Codec<bigint> = { encode: (w, v) => w.u64(v), decode: (r) => r.u64() };
/** `i64` as a `bigint`: zigzag varint. */
export const i64: Codec<bigint> = { encode: (w, v) => w.i64(v), decode: (r) => r.i64() };
/** `u128` as a `bigint`: varint. */
export const u128: Codec<bigint> = { encode: (w, v) => w.u128(v), decode: (r) => r.u128() };
/** `i128` as a `bigint`: zigzag varint. */
export const i128: Codec<bigint> = { encode: (w, v) => w.i128(v), decode: (r) => r.i128() };
/** `usize`: postcard writes it as a `u64` varint on every platform. */
export const usize: Codec<bigint> = u64;
/** `isize`: postcard writes it as an `i64` zigzag varint on every platform. */
export const isize: Codec<bigint> = i64;
/** `f32`: 4 bytes little-endian; the number is rounded to single precision. */
export const f32: Codec<number> = { encode: (w, v) => w.f32(v), decode: (r) => r.f32() };
/** `f64`: 8 bytes little-endian. */
export const f64: Codec<number> = { encode: (w, v) => w.f64(v), decode: (r) => r.f64() };
/** `char`: a string of exactly one Unicode scalar value. */
export const char: Codec<string> = { encode: (w, v) => w.char(v), decode: (r) => r.char() };
/** `String` / `&str`: length-prefixed UTF-8. */
export const string: Codec<string> = {
  encode: (w, v) => w.string(v),
  decode: (r) => r.string(),
};

/** `()`: no bytes at all. */
export const unit: Codec<undefined> = {
  encode: () => {},
  decode: () => undefined,
};

/**
 * `Vec<u8>` / `&[u8]` / `Bytes`: length-prefixed bytes. Decoding copies them, so a value never
 * aliases (and keeps alive) the whole frame it arrived in.
 */
export const bytes: Codec<Uint8Array> = {
  encode: (w, v) => w.bytes(v),
  decode: (r) => r.bytes().slice(),
};

/**
 * `Option<T>`: `00` for `undefined`, `01` then the value. `T` must not itself admit
 * `undefined` (another `Option`, or `()`), or `Some` of it would read back as `None`: use
 * {@link nestedOption} for those.
 */
export function option<T>(inner: Codec<T>): Codec<T | undefined> {
  return {
    encode(w, v) {
      if (v === undefined) w.optionTag(false);
      else {
        w.optionTag(true);
        inner.encode(w, v);
      }
    },
    decode(r) {
      return r.optionTag() ? inner.decode(r) : undefined;
    },
  };
}

/**
 * `Option<Option<T>>` (and `Option<()>`): the outer `Some` is boxed so it survives an inner
 * value of `undefined`. `undefined` is `None`, `{ value: undefined }` is `Some(None)`.
 * `inner` is the codec of the inner type, usually `option(t)`.
 */
export function nestedOption<T>(
  inner: Codec<T | undefined>,
): Codec<{ value: T | undefined } | undefined> {
  return {
    encode(w, v) {
      if (v === undefined) w.optionTag(false);
      else {
        w.optionTag(true);
        inner.encode(w, v.value);
      }
    },
    decode(r) {
      return r.optionTag() ? { value: inner.decode(r) } : undefined;
    },
  };
}

/** `Vec<T>` / `VecDeque<T>` / `HashSet<T>` as an array: a count, then the items. */
export function list<T>(item: Codec<T>): Codec<T[]> {
  return {
    encode(w, v) {
      w.seqLength(v.length);
      for (const x of v) item.encode(w, x);
    },
    decode(r) {
      const n = readCount(r);
      const out: T[] = [];
      for (let i = 0; i < n; i++) out.push(decodeItem(r, item));
      return out;
    },
  };
}

function checkLength(what: string, got: number, len: number): void {
  if (got !== len) {
    throw new EncodeError("invalid-length", `${what} of ${len} items, got ${got}`);
  }
}

/** `[T; N]`: exactly `len` items and no count; encoding checks the length. */
export function array<T>(item: Codec<T>, len: number): Codec<T[]> {
  return {
    encode(w, v) {
      checkLength("an array", v.length, len);
      for (const x of v) item.encode(w, x);
    },
    decode(r) {
      const out: T[] = [];
      for (let i = 0; i < len; i++) out.push(decodeItem(r, item));
      return out;
    },
  };
}

/** `[u8; N]`: exactly `len` raw bytes (copied on decode); encoding checks the length. */
export function byteArray(len: number): Codec<Uint8Array> {
  return {
    encode(w, v) {
      checkLength("a byte array", v.length, len);
      w.raw(v);
    },
    decode(r) {
      return r.raw(len).slice();
    },
  };
}

/**
 * `HashMap<K, V>` / `BTreeMap<K, V>` with a primitive key: a count, then key-value pairs (the
 * bytes of {@link pairs}). Entries are written in the map's iteration order. A repeated key in
 * the input keeps the last value (at the first key's position), as Rust's map deserialisers do.
 */
export function map<K, V>(key: Codec<K>, value: Codec<V>): Codec<Map<K, V>> {
  const entries = pairs(key, value);
  return {
    encode(w, v) {
      writeEntries(w, v.size, v, key, value);
    },
    decode(r) {
      return new Map(entries.decode(r));
    },
  };
}

function writeEntries<K, V>(
  w: Writer,
  n: number,
  entries: Iterable<readonly [K, V]>,
  key: Codec<K>,
  value: Codec<V>,
): void {
  w.seqLength(n);
  for (const [k, x] of entries) {
    key.encode(w, k);
    value.encode(w, x);
  }
}

/**
 * A map whose key is composite (a struct, a tuple), as an array of pairs: JavaScript's `Map`
 * compares such keys by reference. Same bytes as {@link map}; pairs keep the wire order and
 * repeated keys are kept as they came.
 */
export function pairs<K, V>(key: Codec<K>, value: Codec<V>): Codec<Array<[K, V]>> {
  return {
    encode(w, v) {
      writeEntries(w, v.length, v, key, value);
    },
    decode(r) {
      const n = readCount(r);
      const out: Array<[K, V]> = [];
      for (let i = 0; i < n; i++) {
        const before = r.offset;
        const k = key.decode(r);
        const x = value.decode(r);
        if (r.offset === before) chargeZeroSized(r);
        out.push([k, x]);
      }
      return out;
    },
  };
}

/** `(A, B, …)` as `[A, B, …]`: the items one after the other, no count. */
export function tuple<T extends unknown[]>(...items: { [I in keyof T]: Codec<T[I]> }): Codec<T> {
  const codecs = items as unknown as readonly Codec<unknown>[];
  return {
    encode(w, v) {
      checkLength("a tuple", v.length, codecs.length);
      codecs.forEach((c, i) => c.encode(w, v[i]));
    },
    decode(r) {
      return codecs.map((c) => c.decode(r)) as T;
    },
  };
}

/**
 * `Result<T, E>` as a value (a field or an argument; a method's own `Result` is the call's
 * outcome instead): variant 0 is `Ok`, 1 is `Err`.
 */
export function result<T, E>(
  ok: Codec<T>,
  err: Codec<E>,
): Codec<{ tag: "Ok"; value: T } | { tag: "Err"; value: E }> {
  return {
    encode(w, v) {
      if (v.tag === "Ok") {
        w.variant(0);
        ok.encode(w, v.value);
      } else {
        w.variant(1);
        err.encode(w, v.value);
      }
    },
    decode(r) {
      const at = r.offset;
      const tag = r.variant();
      if (tag === 0) return { tag: "Ok", value: ok.decode(r) };
      if (tag === 1) return { tag: "Err", value: err.decode(r) };
      throw new DecodeError("unknown-variant", `no Result has discriminant ${tag}`, at);
    },
  };
}

/**
 * A codec resolved on first use, for recursive types and forward references
 * (`const tree: Codec<Tree> = …list(lazy(() => tree))…`). `get` is called once.
 */
export function lazy<T>(get: () => Codec<T>): Codec<T> {
  let resolved: Codec<T> | undefined;
  const codec = (): Codec<T> => (resolved ??= get());
  return {
    encode(w, v) {
      codec().encode(w, v);
    },
    decode(r) {
      const depth = (lazyDepth.get(r) ?? 0) + 1;
      if (depth > MAX_LAZY_DEPTH) {
        throw new DecodeError(
          "too-long",
          `values nested more than ${MAX_LAZY_DEPTH} levels deep`,
          r.offset,
        );
      }
      lazyDepth.set(r, depth);
      try {
        return codec().decode(r);
      } finally {
        lazyDepth.set(r, depth - 1);
      }
    },
  };
}

// One writer kept between top-level encodes, so encoding a value does not allocate a fresh
// buffer each time; taken while in use, so an encode nested inside a codec gets its own.
let spareWriter: Writer | undefined;

/**
 * The bytes of `prefix` then `value` (a copy, owned by the caller). `@internal`: calls and
 * answers use it to put `Result` tags in front of a payload without a second copy.
 */
export function encodeAfter<T>(prefix: readonly number[], codec: Codec<T>, value: T): Uint8Array {
  const w = spareWriter ?? new Writer();
  spareWriter = undefined;
  try {
    for (const b of prefix) w.u8(b);
    codec.encode(w, value);
    return w.finish();
  } finally {
    w.reset();
    spareWriter = w;
  }
}

/** One value as bytes. Throws {@link EncodeError} (or `TypeError`) for a value out of range. */
export function encode<T>(codec: Codec<T>, value: T): Uint8Array {
  return encodeAfter([], codec, value);
}

/**
 * One value from bytes that must hold exactly it: leftover bytes are `trailing-bytes`.
 * Throws {@link DecodeError} for anything else that is not a valid value.
 */
export function decode<T>(codec: Codec<T>, bytes: Uint8Array): T {
  return decodeFrom(codec, bytes, 0);
}

/** Like {@link decode}, for the value starting at `offset`. `@internal` */
export function decodeFrom<T>(codec: Codec<T>, bytes: Uint8Array, offset: number): T {
  const r = new Reader(bytes, offset);
  const v = codec.decode(r);
  r.finish();
  return v;
}
