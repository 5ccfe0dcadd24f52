/**
 * The schema model: canonical schema bytes (`roam_core::schema::Schema`, format version 1,
 * specified byte for byte in `roam-core/src/schema.rs`) parsed into plain TypeScript data, and
 * encoded back.
 *
 * Owns: the {@link Schema} union (one member per Rust variant), the parser
 * {@link fromCanonicalBytes} with every bound the Rust decoder has (version byte, minimal
 * varints, counts bounded by the remaining input, nesting at most {@link MAX_SCHEMA_DEPTH},
 * empty tuples, unit structs or variants with fields, undefined field flags, duplicate names,
 * trailing bytes), its typed {@link SchemaDecodeError}, the encoder {@link toCanonicalBytes}
 * (every accepted input re-encodes to itself), the type expressions used in messages
 * ({@link typeExpr}) and {@link validateSchema}, the session's default `SchemaValidator`.
 * Must not: decide compatibility or translate payloads (`translate.ts` does), or know when
 * schemas travel (the session's schema table does).
 *
 * Parsing is linear in the input and every node takes at least one input byte, so a peer's
 * announcement (at most 64 KiB, checked by the session first) costs a bounded amount of memory
 * and time; nothing is allocated from a claimed count before the input is seen to hold it.
 *
 * @module
 */

import type { SchemaKind } from "./wire.js";

/** The version byte every canonical encoding starts with. */
export const CANONICAL_FORMAT_VERSION = 1;

/** How deep {@link fromCanonicalBytes} lets nodes nest before refusing the input. */
export const MAX_SCHEMA_DEPTH = 128;

/** A scalar wire type; the position in {@link PRIMITIVE_KINDS} is its canonical code. */
export type PrimitiveKind =
  | "bool"
  | "u8"
  | "u16"
  | "u32"
  | "u64"
  | "u128"
  | "i8"
  | "i16"
  | "i32"
  | "i64"
  | "i128"
  | "f32"
  | "f64"
  | "char"
  | "string"
  | "unit";

/** Every primitive kind, in canonical code order (`bool` is 0, `unit` is 15). */
export const PRIMITIVE_KINDS: readonly PrimitiveKind[] = Object.freeze([
  "bool",
  "u8",
  "u16",
  "u32",
  "u64",
  "u128",
  "i8",
  "i16",
  "i32",
  "i64",
  "i128",
  "f32",
  "f64",
  "char",
  "string",
  "unit",
] as const);

/** Whether a struct or variant has named fields, positional fields (`"0"`, `"1"`, …) or none. */
export type StructKind = "named" | "tuple" | "unit";

const STRUCT_KINDS: readonly StructKind[] = ["named", "tuple", "unit"];

/** Which way a channel's items flow, seen from the side that declares it: `tx` sends. */
export type ChannelDirection = "tx" | "rx";

/** A field of a struct or variant. */
export interface Field {
  /** The Rust name (`"0"`, `"1"`, … for positional fields). */
  readonly name: string;
  readonly schema: Schema;
  /** Whether a reader may fill the field with its default when the writer lacks it. */
  readonly default: boolean;
}

/** A variant of an enum; its position is its wire index. */
export interface Variant {
  readonly name: string;
  readonly kind: StructKind;
  /** Empty for a unit variant. */
  readonly fields: readonly Field[];
}

/**
 * The canonical description of a wire type, member for member the Rust `Schema` enum. A user
 * type is named by its bare identifier (generic instantiations as `Page<Item>`); `ref` names
 * the nearest enclosing struct or enum of that name (recursion).
 */
export type Schema =
  | { readonly type: "primitive"; readonly kind: PrimitiveKind }
  | { readonly type: "bytes" }
  | { readonly type: "list"; readonly item: Schema }
  | { readonly type: "array"; readonly item: Schema; readonly len: bigint }
  | { readonly type: "map"; readonly key: Schema; readonly value: Schema }
  | { readonly type: "option"; readonly inner: Schema }
  /** At least one element: the empty tuple is the `unit` primitive. */
  | { readonly type: "tuple"; readonly items: readonly Schema[] }
  | {
      readonly type: "struct";
      readonly name: string;
      readonly kind: StructKind;
      readonly fields: readonly Field[];
    }
  | { readonly type: "enum"; readonly name: string; readonly variants: readonly Variant[] }
  | { readonly type: "ref"; readonly name: string }
  | { readonly type: "channel"; readonly direction: ChannelDirection; readonly item: Schema };

/** Why canonical bytes were refused; the names of Rust's `SchemaDecodeErrorKind`. */
export type SchemaDecodeErrorCode =
  | "unexpected-end"
  | "unknown-version"
  | "unknown-tag"
  | "unknown-primitive"
  | "unknown-struct-kind"
  | "unknown-direction"
  | "bad-varint"
  | "invalid-utf8"
  | "count-too-large"
  | "empty-tuple"
  | "unit-with-fields"
  | "unknown-field-flags"
  | "duplicate-name"
  | "too-deep"
  | "trailing-bytes";

/**
 * Canonical schema bytes that do not parse. The message is the Rust decoder's
 * (`invalid canonical schema at byte N: …`), so both runtimes name a bad announcement alike.
 */
export class SchemaDecodeError extends Error {
  override readonly name = "SchemaDecodeError";
  /** What was wrong. */
  readonly code: SchemaDecodeErrorCode;
  /** Byte offset in the input where the problem was found. */
  readonly offset: number;

  constructor(code: SchemaDecodeErrorCode, offset: number, detail: string) {
    super(`invalid canonical schema at byte ${offset}: ${detail}`);
    this.code = code;
    this.offset = offset;
  }
}

/** `{:#04x}` in Rust: `0x` and at least two hex digits. */
function hex2(b: number): string {
  return `0x${b.toString(16).padStart(2, "0")}`;
}

const FIELD_FLAG_DEFAULT = 0x01;
const U64_MAX = (1n << 64n) - 1n;

// `fatal` refuses malformed UTF-8 as Rust's `from_utf8` does; `ignoreBOM` keeps a leading
// U+FEFF, which is an ordinary character of a Rust `String`.
const utf8Decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const utf8Encoder = new TextEncoder();

/** The canonical reader: the same checks, in the same order, as Rust's `CanonicalReader`. */
class CanonicalReader {
  private pos = 0;
  private readonly bytes: Uint8Array;

  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
  }

  get offset(): number {
    return this.pos;
  }

  get remaining(): number {
    return this.bytes.length - this.pos;
  }

  err(code: SchemaDecodeErrorCode, detail: string, at = this.pos): SchemaDecodeError {
    return new SchemaDecodeError(code, at, detail);
  }

  byte(): number {
    const b = this.bytes[this.pos];
    if (b === undefined) throw this.err("unexpected-end", "input ends inside a node");
    this.pos++;
    return b;
  }

  /** Unsigned LEB128, minimal, at most 10 bytes, at most `u64::MAX`. */
  uvarint(): bigint {
    const start = this.pos;
    const bad = () => this.err("bad-varint", "malformed or non-minimal varint", start);
    // Seven bits a byte: the first 7 bytes (49 bits) fit a number exactly, so bigint work is
    // only needed for the rare longer varints.
    let low = 0;
    let scale = 1;
    let high = 0n;
    for (let i = 0; i < 10; i++) {
      const b = this.byte();
      if (i === 9 && b > 0x01) throw bad();
      if (i < 7) low += (b & 0x7f) * scale;
      else high |= BigInt(b & 0x7f) << BigInt(7 * (i - 7));
      scale *= 128;
      if ((b & 0x80) === 0) {
        // Minimal form: a multi-byte varint may not end in a zero byte.
        if (i > 0 && b === 0) throw bad();
        return high === 0n ? BigInt(low) : BigInt(low) | (high << 49n);
      }
    }
    throw bad();
  }

  /** A count of items that each take at least one byte. */
  count(): number {
    const start = this.pos;
    const n = this.uvarint();
    if (n > BigInt(this.remaining)) {
      throw this.err("count-too-large", `count ${n} exceeds the remaining input`, start);
    }
    return Number(n);
  }

  string(): string {
    const len = this.count();
    const start = this.pos;
    let s: string;
    try {
      s = utf8Decoder.decode(this.bytes.subarray(start, start + len));
    } catch {
      throw this.err("invalid-utf8", "name is not UTF-8", start);
    }
    this.pos += len;
    return s;
  }

  structKind(): StructKind {
    const code = this.byte();
    const kind = STRUCT_KINDS[code];
    if (kind === undefined) {
      throw this.err("unknown-struct-kind", `unknown struct kind ${code}`, this.pos - 1);
    }
    return kind;
  }

  fields(kind: StructKind, depth: number): Field[] {
    const start = this.pos;
    const n = this.count();
    if (kind === "unit" && n !== 0) {
      throw this.err("unit-with-fields", "unit struct or variant with fields", start);
    }
    const fields: Field[] = [];
    const names = new Set<string>();
    for (let i = 0; i < n; i++) {
      const namePos = this.pos;
      const name = this.string();
      if (names.has(name)) throw duplicate(name, namePos);
      names.add(name);
      const flagsPos = this.pos;
      const flags = this.byte();
      if ((flags & ~FIELD_FLAG_DEFAULT) !== 0) {
        throw this.err("unknown-field-flags", `unknown field flags ${hex2(flags)}`, flagsPos);
      }
      const schema = this.node(depth + 1);
      fields.push({ name, schema, default: (flags & FIELD_FLAG_DEFAULT) !== 0 });
    }
    return fields;
  }

  node(depth: number): Schema {
    if (depth >= MAX_SCHEMA_DEPTH) {
      throw this.err("too-deep", `nesting deeper than ${MAX_SCHEMA_DEPTH}`);
    }
    const tagPos = this.pos;
    const tag = this.byte();
    switch (tag) {
      case 0x00: {
        const code = this.byte();
        const kind = PRIMITIVE_KINDS[code];
        if (kind === undefined) {
          throw this.err("unknown-primitive", `unknown primitive kind ${code}`, this.pos - 1);
        }
        return { type: "primitive", kind };
      }
      case 0x01:
        return { type: "bytes" };
      case 0x02:
        return { type: "list", item: this.node(depth + 1) };
      case 0x03: {
        const len = this.uvarint();
        return { type: "array", item: this.node(depth + 1), len };
      }
      case 0x04: {
        const key = this.node(depth + 1);
        const value = this.node(depth + 1);
        return { type: "map", key, value };
      }
      case 0x05:
        return { type: "option", inner: this.node(depth + 1) };
      case 0x06: {
        const countPos = this.pos;
        const n = this.count();
        if (n === 0) throw this.err("empty-tuple", "empty tuple (use unit)", countPos);
        const items: Schema[] = [];
        for (let i = 0; i < n; i++) items.push(this.node(depth + 1));
        return { type: "tuple", items };
      }
      case 0x07: {
        const name = this.string();
        const kind = this.structKind();
        const fields = this.fields(kind, depth);
        return { type: "struct", name, kind, fields };
      }
      case 0x08: {
        const name = this.string();
        const n = this.count();
        const variants: Variant[] = [];
        const names = new Set<string>();
        for (let i = 0; i < n; i++) {
          const namePos = this.pos;
          const vname = this.string();
          if (names.has(vname)) throw duplicate(vname, namePos);
          names.add(vname);
          const kind = this.structKind();
          const fields = this.fields(kind, depth);
          variants.push({ name: vname, kind, fields });
        }
        return { type: "enum", name, variants };
      }
      case 0x09:
        return { type: "ref", name: this.string() };
      case 0x0a: {
        const code = this.byte();
        const direction: ChannelDirection | undefined =
          code === 0 ? "tx" : code === 1 ? "rx" : undefined;
        if (direction === undefined) {
          throw this.err("unknown-direction", `unknown channel direction ${code}`, this.pos - 1);
        }
        return { type: "channel", direction, item: this.node(depth + 1) };
      }
      default:
        throw this.err("unknown-tag", `unknown node tag ${hex2(tag)}`, tagPos);
    }
  }
}

function duplicate(name: string, at: number): SchemaDecodeError {
  return new SchemaDecodeError(
    "duplicate-name",
    at,
    `the name \`${name}\` is used twice in one struct or enum`,
  );
}

/**
 * Parses canonical schema bytes, refusing anything {@link toCanonicalBytes} would not produce
 * (see the module docs). Throws {@link SchemaDecodeError}; never anything else.
 */
export function fromCanonicalBytes(bytes: Uint8Array): Schema {
  const r = new CanonicalReader(bytes);
  const version = r.byte();
  if (version !== CANONICAL_FORMAT_VERSION) {
    throw r.err("unknown-version", `unknown format version ${version}`, 0);
  }
  const schema = r.node(0);
  if (r.offset !== bytes.length) throw r.err("trailing-bytes", "trailing bytes after the schema");
  return schema;
}

/**
 * A `SchemaValidator` for the session (`SessionOptions.validateSchema`): the reason announced
 * bytes are not a canonical schema, or `undefined`. Like the Rust session it checks the grammar
 * only, whatever the payload `kind`; a session given it ends with a `Goodbye` naming
 * `bad-schema` and this text, as Rust's does.
 */
export function validateSchema(_kind: SchemaKind, canonical: Uint8Array): string | undefined {
  try {
    fromCanonicalBytes(canonical);
    return undefined;
  } catch (e) {
    return e instanceof SchemaDecodeError ? e.message : String(e);
  }
}

/** Appends canonical bytes; `at` gives callers the span each node's encoding takes. */
export class CanonicalSink {
  private buf = new Uint8Array(64);
  private len = 0;

  /** Bytes written so far. */
  get at(): number {
    return this.len;
  }

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.len + n));
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  byte(b: number): void {
    this.reserve(1);
    this.buf[this.len++] = b;
  }

  uvarint(v: bigint | number): void {
    let x = BigInt(v);
    if (x < 0n || x > U64_MAX) throw new RangeError(`${x} is not a u64`);
    while (x >= 0x80n) {
      this.byte(Number(x & 0x7fn) | 0x80);
      x >>= 7n;
    }
    this.byte(Number(x));
  }

  str(s: string): void {
    const b = utf8Encoder.encode(s);
    this.uvarint(b.length);
    this.reserve(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }

  /** A copy of everything written. */
  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

function primitiveCode(kind: PrimitiveKind): number {
  const code = PRIMITIVE_KINDS.indexOf(kind);
  if (code < 0) throw new TypeError(`unknown primitive kind ${String(kind)}`);
  return code;
}

function structCode(kind: StructKind): number {
  const code = STRUCT_KINDS.indexOf(kind);
  if (code < 0) throw new TypeError(`unknown struct kind ${String(kind)}`);
  return code;
}

/**
 * Writes one node (no version byte) to `out`. `visit` is called with each node and the span
 * its encoding takes, children first, so a caller can compare sub-schemas by their bytes.
 */
export function writeNode(
  out: CanonicalSink,
  s: Schema,
  visit?: (node: Schema, start: number, end: number) => void,
): void {
  const start = out.at;
  const fields = (fs: readonly Field[]) => {
    out.uvarint(fs.length);
    for (const f of fs) {
      out.str(f.name);
      out.byte(f.default ? FIELD_FLAG_DEFAULT : 0);
      writeNode(out, f.schema, visit);
    }
  };
  switch (s.type) {
    case "primitive":
      out.byte(0x00);
      out.byte(primitiveCode(s.kind));
      break;
    case "bytes":
      out.byte(0x01);
      break;
    case "list":
      out.byte(0x02);
      writeNode(out, s.item, visit);
      break;
    case "array":
      out.byte(0x03);
      out.uvarint(s.len);
      writeNode(out, s.item, visit);
      break;
    case "map":
      out.byte(0x04);
      writeNode(out, s.key, visit);
      writeNode(out, s.value, visit);
      break;
    case "option":
      out.byte(0x05);
      writeNode(out, s.inner, visit);
      break;
    case "tuple":
      out.byte(0x06);
      out.uvarint(s.items.length);
      for (const item of s.items) writeNode(out, item, visit);
      break;
    case "struct":
      out.byte(0x07);
      out.str(s.name);
      out.byte(structCode(s.kind));
      fields(s.fields);
      break;
    case "enum":
      out.byte(0x08);
      out.str(s.name);
      out.uvarint(s.variants.length);
      for (const v of s.variants) {
        out.str(v.name);
        out.byte(structCode(v.kind));
        fields(v.fields);
      }
      break;
    case "ref":
      out.byte(0x09);
      out.str(s.name);
      break;
    case "channel":
      out.byte(0x0a);
      out.byte(s.direction === "tx" ? 0 : 1);
      writeNode(out, s.item, visit);
      break;
    default:
      throw new TypeError(`not a schema node: ${String((s as { type?: unknown }).type)}`);
  }
  visit?.(s, start, out.at);
}

/**
 * The canonical bytes of `schema`: the version byte, then the root node. Like Rust's
 * `to_canonical_bytes` it encodes what it is given; {@link fromCanonicalBytes} of the result
 * gives `schema` back when `schema` follows the model's rules (tuples non-empty, unit structs
 * field-less, names unique). Throws `TypeError`/`RangeError` for a value that is not a schema.
 */
export function toCanonicalBytes(schema: Schema): Uint8Array {
  const out = new CanonicalSink();
  out.byte(CANONICAL_FORMAT_VERSION);
  writeNode(out, schema);
  return out.finish();
}

const RUST_NAMES: Readonly<Record<PrimitiveKind, string>> = {
  bool: "bool",
  u8: "u8",
  u16: "u16",
  u32: "u32",
  u64: "u64",
  u128: "u128",
  i8: "i8",
  i16: "i16",
  i32: "i32",
  i64: "i64",
  i128: "i128",
  f32: "f32",
  f64: "f64",
  char: "char",
  string: "String",
  unit: "()",
};

/**
 * The Rust-like spelling of a type, as Rust's `Schema::type_expr` writes it: `Vec<u8>` for
 * bytes, `Vec<T>`, `[T; N]`, `Map<K, V>`, `Option<T>`, `(A,)`, `Tx<T>`, user types by name.
 */
export function typeExpr(schema: Schema): string {
  switch (schema.type) {
    case "primitive":
      return RUST_NAMES[schema.kind];
    case "bytes":
      return "Vec<u8>";
    case "list":
      return `Vec<${typeExpr(schema.item)}>`;
    case "array":
      return `[${typeExpr(schema.item)}; ${schema.len}]`;
    case "map":
      return `Map<${typeExpr(schema.key)}, ${typeExpr(schema.value)}>`;
    case "option":
      return `Option<${typeExpr(schema.inner)}>`;
    case "tuple": {
      const inner = schema.items.map(typeExpr).join(", ");
      return schema.items.length === 1 ? `(${inner},)` : `(${inner})`;
    }
    case "struct":
    case "enum":
    case "ref":
      return schema.name;
    case "channel":
      return `${schema.direction === "tx" ? "Tx" : "Rx"}<${typeExpr(schema.item)}>`;
  }
}

/** `Primitive(kind)`. */
export function primitive(kind: PrimitiveKind): Schema {
  return { type: "primitive", kind };
}

/**
 * The schema of `Result<ok, err>`, as Rust's `Schema::result` builds it: an enum named
 * `Result<T, E>` with tuple variants `Ok(ok)` and `Err(err)`.
 */
export function resultSchema(ok: Schema, err: Schema): Schema {
  return {
    type: "enum",
    name: `Result<${typeExpr(ok)}, ${typeExpr(err)}>`,
    variants: [
      { name: "Ok", kind: "tuple", fields: [{ name: "0", schema: ok, default: false }] },
      { name: "Err", kind: "tuple", fields: [{ name: "0", schema: err, default: false }] },
    ],
  };
}

/** The error type of a method that cannot fail: the enum `Infallible` with no variants. */
export const INFALLIBLE: Schema = Object.freeze({
  type: "enum",
  name: "Infallible",
  variants: Object.freeze([]) as readonly Variant[],
});

/**
 * The single field of the `Ok` or `Err` variant of a response's `Result` schema, as Rust's
 * `PeerSchema` finds it (`undefined` when the schema is not shaped so).
 */
export function resultPart(schema: Schema, part: "Ok" | "Err"): Schema | undefined {
  if (schema.type !== "enum") return undefined;
  const v = schema.variants.find((x) => x.name === part);
  if (v === undefined || v.kind !== "tuple" || v.fields.length !== 1) return undefined;
  return v.fields[0]!.schema;
}

/**
 * The item types of a request's channel schema (a tuple of `Channel` nodes, one per channel
 * argument in argument order), as Rust's `PeerSchema` lists them: elements that are not
 * channels are left out.
 */
export function channelItems(schema: Schema): readonly Schema[] {
  if (schema.type !== "tuple") return [];
  const items: Schema[] = [];
  for (const s of schema.items) if (s.type === "channel") items.push(s.item);
  return items;
}
