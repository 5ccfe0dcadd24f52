/**
 * Translations: reading postcard bytes written with a peer's schema as bytes of our own,
 * compatible but different, schema (docs/protocol.md §7).
 *
 * Owns: the compiler from a (writer schema, reader schema) pair to a {@link Translation}, with
 * the rules of `roam-core/src/compat.rs` (fields matched by name in any order, writer-only
 * fields skipped, reader-only fields filled with a default, variants matched by name, names of
 * structs and enums ignored, `Ref` recursion compared coinductively) and its problems worded
 * and located as Rust words them; the transcoder the compiled plan runs; the translations
 * cached on a peer's announcement ({@link translationFor}); and the check that a peer can read
 * the channel items we write ({@link sentItemProblem}). Must not: decide when schemas are
 * sent or which one applies (the session and its schema table do), or decode values into
 * JavaScript objects (generated code does).
 *
 * A translation is a **byte transcoder**: it reads a value laid out by the writer's schema and
 * writes the same value laid out by the reader's (fields in the reader's order, the reader's
 * variant numbers, reader-only fields filled), so the reader's generated decoder, written for
 * its own type only, runs unchanged on the output. Sub-values whose schemas are identical on
 * both sides are validated and copied as they are.
 *
 * Bounds, whatever the peer sends: lengths are checked against the remaining input (each item
 * takes at least a known number of bytes); items that take no bytes draw on a budget of
 * {@link MAX_EMPTY_ITEMS} per payload, and so does every zero-width value skipped; values nest
 * at most {@link MAX_RUN_DEPTH} levels; the output is at most {@link MAX_TRANSLATED_BYTES}.
 * Compiling is bounded too: {@link MAX_CHECK_DEPTH} nested comparisons, each pair of
 * definitions compiled once, and at most {@link MAX_COMPILE_STEPS} steps in all.
 *
 * @example
 * ```ts
 * const t = compileTranslation(peerSchemaBytes, ourSchemaBytes);
 * if (!t.ok) throw new Error(describeProblems(t.problems));
 * const ours = t.run(peerPayload); // decode with our generated decoder
 * ```
 *
 * @module
 */

import {
  CanonicalSink,
  SchemaDecodeError,
  channelItems,
  fromCanonicalBytes,
  resultPart,
  typeExpr,
  writeNode,
} from "./schema-model.js";
import { concat } from "./bytes.js";
import type { PrimitiveKind, Schema, StructKind } from "./schema-model.js";
import type { DecodeErrorCode } from "./postcard.js";
import type { PeerSchema } from "./schemas.js";

// ----- public API -----

/**
 * How many nested comparisons compiling performs before giving up (Rust's
 * `compat::MAX_CHECK_DEPTH`).
 */
export const MAX_CHECK_DEPTH = 256;

/**
 * How deeply a translated value may nest, every struct, tuple, container, option and variant
 * counting one level (Rust's decoder counts 128 without structs and tuples; this counts them
 * too, hence the larger number).
 */
export const MAX_RUN_DEPTH = 256;

/** Zero-byte items (e.g. of a `Vec<()>`) and zero-width skipped values one payload may hold. */
export const MAX_EMPTY_ITEMS = 1 << 20;

/** Largest translated payload; defaults can make the output larger than the input. */
export const MAX_TRANSLATED_BYTES = 64 * 1024 * 1024;

/** Most compile steps (node pairs compared, writer nodes given a skip program). */
export const MAX_COMPILE_STEPS = 1 << 20;

/** Most problems one compile lists; past it the compile stops. */
export const MAX_PROBLEMS = 1000;

/** Largest encoded default (a zero-filled array, say) a compile builds for one field. */
const MAX_DEFAULT_BYTES = 1 << 20;
/** How deeply a schema given as a model may nest (parsed ones are limited to 128 already). */
const MAX_BUILD_DEPTH = 256;
/** Most nodes of a schema given as a model (parsed ones have at most one per input byte). */
const MAX_GRAPH_NODES = 1 << 20;
/** The cap on any minimum wire size, so sums and products stay exact numbers. */
const MIN_WIRE_CAP = 2 ** 32;

/**
 * The encoded default of a reader-only field, supplied by generated code for defaults that are
 * not the zero value (`#[facet(default = 8)]`): `typeName` is the reader's struct name, or
 * `Enum::Variant` for a variant's field. `undefined` means "use the zero value".
 */
export type FieldDefaults = (typeName: string, field: string) => Uint8Array | undefined;

/** How {@link compileTranslation} fills reader-only fields. */
export interface TranslateOptions {
  /** Encoded defaults; without one (or when it answers `undefined`) the zero value is used. */
  readonly defaults?: FieldDefaults | undefined;
}

/** What a {@link TranslationProblem} is. */
export type ProblemKind =
  /** Different primitives, or different kinds of node (a list against a struct). */
  | "type-changed"
  /** Fixed-size arrays of different lengths. */
  | "array-length"
  /** Tuples of different arities. */
  | "tuple-arity"
  /** Channels flowing in different directions. */
  | "channel-direction"
  /** A struct or variant changed between named, tuple and unit. */
  | "struct-kind-changed"
  /** The reader requires a field the writer does not send, and it has no default. */
  | "missing-field"
  /** The reader's field has a default, but no value for it can be made here. */
  | "no-default"
  /** A `Ref` names no enclosing struct or enum. */
  | "unresolved-ref"
  /** The comparison nests deeper than {@link MAX_CHECK_DEPTH}. */
  | "too-deep"
  /** Something this runtime cannot translate (a channel inside a payload, a huge schema). */
  | "unsupported"
  /** A schema that does not parse, or lacks the part a payload needs. */
  | "malformed";

/** Why values of the writer's schema cannot be read as the reader's, and where. */
export interface TranslationProblem {
  readonly kind: ProblemKind;
  /**
   * Where, as Rust paths it: the reader's root type name (for a struct or enum), then `.field`,
   * `::Variant`, `.0`, `[]`, `?`, `{key}`/`{value}`, `<item>`; e.g. `Order.items[].price`.
   */
  readonly path: string;
  /** The whole message, starting with the location, worded as `roam_core::compat` words it. */
  readonly message: string;
}

/**
 * A compiled translation: `run` transcodes one value (all of `bytes`) or throws
 * {@link TranslationError}; or the problems that make the schemas incompatible. `identity` is
 * true when both schemas are the same: `run` then returns its input as it is (the reader's
 * decoder validates it).
 */
export type Translation =
  | { readonly ok: true; readonly identity: boolean; run(bytes: Uint8Array): Uint8Array }
  | { readonly ok: false; readonly problems: readonly TranslationProblem[] };

/**
 * Why bytes could not be translated: the postcard decode codes (`truncated`, `varint-overflow`,
 * `invalid-bool`, `invalid-option`, `invalid-utf8`, `invalid-char`, `unknown-variant`,
 * `trailing-bytes`), and `variant-unknown-to-reader` (the writer sent a variant the reader's
 * type does not have), `too-deep`, `too-many-empty-items`, `too-large` (the output), `internal`.
 */
export type TranslationErrorCode =
  | DecodeErrorCode
  | "variant-unknown-to-reader"
  | "too-deep"
  | "too-many-empty-items"
  | "too-large"
  | "internal";

/** Bytes that a compiled translation could not read. */
export class TranslationError extends Error {
  override readonly name = "TranslationError";
  readonly code: TranslationErrorCode;
  /** Offset in the input where the faulty value starts (or the input ran out). */
  readonly offset: number;
  /** Where in the reader's type (see {@link TranslationProblem.path}). */
  readonly path: string;

  constructor(code: TranslationErrorCode, detail: string, offset: number, path: string) {
    super(`${code} at byte ${offset}${path === "" ? "" : ` (${path})`}: ${detail}`);
    this.code = code;
    this.offset = offset;
    this.path = path;
  }
}

/**
 * The problems as one text, as Rust's `TranslateError::Incompatible` displays them (what an
 * `IncompatibleSchema` answer carries).
 */
export function describeProblems(problems: readonly TranslationProblem[]): string {
  const n = problems.length;
  let text = `the writer's type cannot be read as the reader's type (${n} problem${n === 1 ? "" : "s"}):`;
  for (const p of problems) text += `\n  - ${p.message}`;
  return text;
}

/**
 * Compiles the translation from values written with the canonical schema `writer` (the
 * peer's) to values of `reader` (ours). A pure function of its inputs (and of `defaults`'
 * answers), so the result can be cached per pair.
 */
export function compileTranslation(
  writer: Uint8Array,
  reader: Uint8Array,
  options: TranslateOptions = {},
): Translation {
  if (sameBytes(writer, reader)) return IDENTITY;
  const w = parsed(writer, "writer's");
  if (!("type" in w)) return w;
  const r = parsed(reader, "reader's");
  if (!("type" in r)) return r;
  return compileSchemaTranslation(w, r, options);
}

/** {@link compileTranslation} for schemas already parsed (or built in memory). */
export function compileSchemaTranslation(
  writer: Schema,
  reader: Schema,
  options: TranslateOptions = {},
): Translation {
  let w: Side;
  let r: Side;
  try {
    w = buildSide(writer);
    r = buildSide(reader);
  } catch (e) {
    return failed("malformed", "", `the schemas cannot be translated: ${errorText(e)}`);
  }
  if (sameBytes(w.bytes, r.bytes)) return IDENTITY;
  const c = new Compiler(w, r, options.defaults);
  const rootPath = reader.type === "struct" || reader.type === "enum" ? reader.name : "";
  let root: Step;
  try {
    root = c.pair(w.root, r.root, rootPath);
  } catch (e) {
    if (!(e instanceof Abort)) throw e;
    root = NEVER;
  }
  if (c.problems.length > 0) return { ok: false, problems: c.problems };
  return { ok: true, identity: false, run: (bytes) => runRoot(root, bytes) };
}

const IDENTITY: Translation = Object.freeze({
  ok: true,
  identity: true,
  run: (bytes: Uint8Array) => bytes,
});

function parsed(bytes: Uint8Array, whose: string): Schema | Translation {
  try {
    return fromCanonicalBytes(bytes);
  } catch (e) {
    const text = e instanceof SchemaDecodeError ? e.message : errorText(e);
    return failed("malformed", "", `the ${whose} schema is not valid: ${text}`);
  }
}

function failed(kind: ProblemKind, path: string, message: string): Translation {
  return { ok: false, problems: [{ kind, path, message }] };
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

// ----- the graph: a schema with references resolved and per-node facts -----

interface GBase {
  readonly schema: Schema;
  /** Depth in the tree (the root is 0). */
  readonly depth: number;
  /** Where the node's canonical encoding sits in its side's bytes. */
  start: number;
  end: number;
  /** Every `Ref` inside resolves inside: the node's bytes say all about its wire form. */
  closed: boolean;
  /** A channel is somewhere inside. */
  hasChannel: boolean;
  /** A lower bound on the bytes one value takes. */
  minWire: number;
}

interface GField {
  readonly name: string;
  readonly default: boolean;
  readonly node: GNode;
}

interface GVariant {
  readonly name: string;
  readonly kind: StructKind;
  readonly fields: GField[];
}

type GNode =
  | (GBase & { readonly t: "primitive"; readonly kind: PrimitiveKind })
  | (GBase & { readonly t: "bytes" })
  | (GBase & { readonly t: "list"; readonly item: GNode })
  | (GBase & { readonly t: "array"; readonly item: GNode; readonly len: bigint })
  | (GBase & { readonly t: "map"; readonly key: GNode; readonly value: GNode })
  | (GBase & { readonly t: "option"; readonly inner: GNode })
  | (GBase & { readonly t: "tuple"; readonly items: GNode[] })
  | (GBase & {
      readonly t: "struct";
      readonly name: string;
      readonly kind: StructKind;
      readonly fields: GField[];
    })
  | (GBase & { readonly t: "enum"; readonly name: string; readonly variants: GVariant[] })
  | (GBase & { readonly t: "ref"; readonly name: string; readonly target: GNode | undefined })
  | (GBase & { readonly t: "channel"; readonly item: GNode });

type GDef = Extract<GNode, { t: "struct" | "enum" }>;

/** One side of a translation: its graph and canonical bytes (no version byte). */
interface Side {
  readonly root: GNode;
  readonly bytes: Uint8Array;
}

/** Builds the graph of `schema`. Throws (an Error) for a model that is not a schema. */
function buildSide(schema: Schema): Side {
  const order: GNode[] = [];
  const defs: GDef[] = [];
  // Returns the node and the smallest depth a `Ref` inside it points to (Infinity: none).
  const add = (s: Schema, depth: number): [GNode, number] => {
    if (depth > MAX_BUILD_DEPTH) throw new Error(`the schema nests deeper than ${MAX_BUILD_DEPTH}`);
    if (order.length >= MAX_GRAPH_NODES) throw new Error("the schema has too many nodes");
    const base = {
      schema: s,
      depth,
      start: 0,
      end: 0,
      closed: false,
      hasChannel: false,
      minWire: 0,
    };
    let node: GNode;
    let min = Infinity;
    let channel = false;
    const child = (c: Schema): GNode => {
      const [n, m] = add(c, depth + 1);
      if (m < min) min = m;
      if (n.hasChannel) channel = true;
      return n;
    };
    const fieldsOf = (fs: readonly { name: string; default: boolean; schema: Schema }[]) =>
      fs.map((f) => ({ name: f.name, default: f.default, node: child(f.schema) }));
    switch (s.type) {
      case "primitive":
        node = { ...base, t: "primitive", kind: s.kind };
        break;
      case "bytes":
        node = { ...base, t: "bytes" };
        break;
      case "list":
        node = { ...base, t: "list", item: child(s.item) };
        break;
      case "array":
        node = { ...base, t: "array", item: child(s.item), len: s.len };
        break;
      case "map": {
        const key = child(s.key);
        node = { ...base, t: "map", key, value: child(s.value) };
        break;
      }
      case "option":
        node = { ...base, t: "option", inner: child(s.inner) };
        break;
      case "tuple":
        node = { ...base, t: "tuple", items: s.items.map(child) };
        break;
      case "struct": {
        const def: GDef = { ...base, t: "struct", name: s.name, kind: s.kind, fields: [] };
        defs.push(def);
        for (const f of fieldsOf(s.fields)) def.fields.push(f);
        defs.pop();
        node = def;
        break;
      }
      case "enum": {
        const def: GDef = { ...base, t: "enum", name: s.name, variants: [] };
        defs.push(def);
        for (const v of s.variants) {
          def.variants.push({ name: v.name, kind: v.kind, fields: fieldsOf(v.fields) });
        }
        defs.pop();
        node = def;
        break;
      }
      case "ref": {
        let target: GDef | undefined;
        for (let i = defs.length - 1; i >= 0; i--) {
          if (defs[i]!.name === s.name) {
            target = defs[i];
            break;
          }
        }
        // An unresolved reference is never closed; compiling reports it where it is reached.
        min = target === undefined ? -1 : target.depth;
        node = { ...base, t: "ref", name: s.name, target };
        break;
      }
      case "channel":
        node = { ...base, t: "channel", item: child(s.item) };
        channel = true;
        break;
      default:
        throw new Error(`not a schema node: ${String((s as { type?: unknown }).type)}`);
    }
    node.closed = min >= depth;
    node.hasChannel = channel;
    // Post-order, children first: the order `writeNode` reports spans in.
    order.push(node);
    return [node, min];
  };
  const [root] = add(schema, 0);
  const sink = new CanonicalSink();
  let k = 0;
  writeNode(sink, schema, (_s, start, end) => {
    const n = order[k++];
    if (n !== undefined) {
      n.start = start;
      n.end = end;
    }
  });
  if (k !== order.length) throw new Error("the schema changed while it was read");
  computeMinWire(order);
  return { root, bytes: sink.finish() };
}

function primMinWire(kind: PrimitiveKind): number {
  switch (kind) {
    case "unit":
      return 0;
    case "f32":
      return 4;
    case "f64":
      return 8;
    case "char":
      return 2;
    default:
      return 1;
  }
}

function nodeMinWire(n: GNode): number {
  const sum = (ns: readonly GNode[]) => {
    let s = 0;
    for (const x of ns) s += x.minWire;
    return Math.min(s, MIN_WIRE_CAP);
  };
  switch (n.t) {
    case "primitive":
      return primMinWire(n.kind);
    case "bytes":
    case "list":
    case "map":
    case "option":
      return 1;
    case "array": {
      const len = n.len > BigInt(MIN_WIRE_CAP) ? MIN_WIRE_CAP : Number(n.len);
      return Math.min(n.item.minWire * len, MIN_WIRE_CAP);
    }
    case "tuple":
      return sum(n.items);
    case "struct":
      return sum(n.fields.map((f) => f.node));
    case "enum": {
      let least = Infinity;
      for (const v of n.variants) least = Math.min(least, sum(v.fields.map((f) => f.node)));
      return Math.min((least === Infinity ? 0 : least) + 1, MIN_WIRE_CAP);
    }
    case "ref":
      return n.target?.minWire ?? 0;
    case "channel":
      return 0;
  }
}

/**
 * Lower bounds on each node's wire size, iterated to a fixpoint from zero as Rust does. Every
 * iterate is a lower bound, so stopping early (a type with no finite values) is still safe.
 */
function computeMinWire(nodes: readonly GNode[]): void {
  for (let round = 0; round < 64; round++) {
    let changed = false;
    for (const n of nodes) {
      const m = nodeMinWire(n);
      if (m !== n.minWire) {
        n.minWire = m;
        changed = true;
      }
    }
    if (!changed) return;
  }
}

// ----- the run-time state -----

const utf8Decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** One run: the writer's bytes being read and the reader's being written. */
class Cx {
  readonly input: Uint8Array;
  pos = 0;
  budget = MAX_EMPTY_ITEMS;
  private buf: Uint8Array;
  len = 0;

  constructor(input: Uint8Array) {
    this.input = input;
    this.buf = new Uint8Array(Math.max(64, input.length + (input.length >> 3)));
  }

  fail(code: TranslationErrorCode, detail: string, path: string, at = this.pos): TranslationError {
    return new TranslationError(code, detail, at, path);
  }

  deeper(depth: number, path: string): void {
    if (depth >= MAX_RUN_DEPTH) {
      throw this.fail("too-deep", `the value nests deeper than ${MAX_RUN_DEPTH} levels`, path);
    }
  }

  /** One zero-width value skipped. */
  chargeEmpty(path: string): void {
    if (this.budget === 0) {
      throw this.fail(
        "too-many-empty-items",
        `more than ${MAX_EMPTY_ITEMS} zero-byte values`,
        path,
      );
    }
    this.budget--;
  }

  byte(path: string, what: string): number {
    const b = this.input[this.pos];
    if (b === undefined) throw this.fail("truncated", `the input ended inside a ${what}`, path);
    this.pos++;
    return b;
  }

  take(n: number, path: string, what: string): void {
    if (n > this.input.length - this.pos) {
      throw this.fail("truncated", `the input ended inside a ${what}`, path, this.input.length);
    }
    this.pos += n;
  }

  /** Skips a varint of at most `maxBytes` whose last byte may be at most `lastMax`. */
  skipVarint(maxBytes: number, lastMax: number, what: string, path: string): void {
    const start = this.pos;
    for (let i = 0; i < maxBytes; i++) {
      const x = this.byte(path, what);
      if (x < 0x80) {
        if (i === maxBytes - 1 && x > lastMax) {
          throw this.fail(
            "varint-overflow",
            `${what} varint with a value above ${what}::MAX`,
            path,
            start,
          );
        }
        return;
      }
    }
    throw this.fail(
      "varint-overflow",
      `${what} varint with more than ${maxBytes} bytes`,
      path,
      start,
    );
  }

  /** An enum discriminant: `varint(u32)`. */
  variant(path: string): number {
    const start = this.pos;
    let v = 0;
    let scale = 1;
    for (let i = 0; i < 5; i++) {
      const x = this.byte(path, "variant index");
      v += (x & 0x7f) * scale;
      scale *= 128;
      if (x < 0x80) {
        if (i === 4 && x > 0x0f) break;
        return v;
      }
    }
    throw this.fail("varint-overflow", "a variant index above u32::MAX", path, start);
  }

  /** A `varint(usize)` length; exact below 2^53, and only ever compared above it. */
  length(path: string, what: string): number {
    const start = this.pos;
    let v = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      const x = this.byte(path, `${what} length`);
      if (i === 9 && x > 0x01) break;
      v += (x & 0x7f) * scale;
      scale *= 128;
      if (x < 0x80) return v;
    }
    throw this.fail("varint-overflow", `${what} length above u64::MAX`, path, start);
  }

  /**
   * Checks that `n` items of at least `minWire` bytes each fit the remaining input, or, for
   * zero-byte items, that the payload's budget allows them.
   */
  checkCount(n: number, minWire: number, path: string, start: number): void {
    if (minWire === 0) {
      if (n > this.budget) {
        throw this.fail(
          "too-many-empty-items",
          `${n} zero-byte items are over the budget`,
          path,
          start,
        );
      }
      this.budget -= n;
    } else if (n * minWire > this.input.length - this.pos) {
      throw this.fail(
        "truncated",
        `${n} items do not fit in the ${this.input.length - this.pos} bytes left`,
        path,
        start,
      );
    }
  }

  /** Reads a sequence length (checked) and copies its bytes to the output. */
  count(minWire: number, path: string): number {
    const start = this.pos;
    const n = this.length(path, "sequence");
    this.checkCount(n, minWire, path, start);
    this.raw(start, this.pos);
    return n;
  }

  /** Skips a UTF-8 string (checked). */
  string(path: string): void {
    const start = this.pos;
    const n = this.length(path, "string");
    if (n > this.input.length - this.pos) {
      throw this.fail("truncated", `a string claims ${n} bytes`, path, start);
    }
    try {
      utf8Decoder.decode(this.input.subarray(this.pos, this.pos + n));
    } catch {
      throw this.fail("invalid-utf8", "string bytes are not UTF-8", path, start);
    }
    this.pos += n;
  }

  /** Skips a `char`: a string of one Unicode scalar value, 1 to 4 bytes. */
  char(path: string): void {
    const start = this.pos;
    const n = this.length(path, "char");
    if (n === 0 || n > 4)
      throw this.fail("invalid-char", `a char takes 1 to 4 bytes, not ${n}`, path, start);
    if (n > this.input.length - this.pos)
      throw this.fail("truncated", "the input ended inside a char", path);
    let s: string;
    try {
      s = utf8Decoder.decode(this.input.subarray(this.pos, this.pos + n));
    } catch {
      throw this.fail("invalid-char", "char bytes are not UTF-8", path, start);
    }
    const cp = s.codePointAt(0)!;
    if (s.length !== (cp > 0xffff ? 2 : 1)) {
      throw this.fail("invalid-char", `${n} bytes hold more than one char`, path, start);
    }
    this.pos += n;
  }

  // Output.

  private reserve(n: number): void {
    const need = this.len + n;
    if (need <= this.buf.length) return;
    if (need > MAX_TRANSLATED_BYTES) {
      throw this.fail(
        "too-large",
        `the translated value would pass ${MAX_TRANSLATED_BYTES} bytes`,
        "",
      );
    }
    const next = new Uint8Array(
      Math.min(MAX_TRANSLATED_BYTES, Math.max(need, this.buf.length * 2)),
    );
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  /** Copies input bytes `[from, to)` to the output. */
  raw(from: number, to: number): void {
    const n = to - from;
    if (n === 0) return;
    this.reserve(n);
    this.buf.set(this.input.subarray(from, to), this.len);
    this.len += n;
  }

  bytes(b: Uint8Array): void {
    if (b.length === 0) return;
    this.reserve(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }

  varint(v: number): void {
    this.reserve(5);
    while (v > 0x7f) {
      this.buf[this.len++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this.buf[this.len++] = v;
  }

  /** A copy of output bytes `[from, to)`. */
  copyOut(from: number, to: number): Uint8Array {
    return this.buf.slice(from, to);
  }

  truncate(len: number): void {
    this.len = len;
  }

  finish(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }
}

/** One compiled step: reads a writer value at `cx.pos` and writes the reader's. */
type Step = (cx: Cx, depth: number) => void;

const NOOP: Step = () => {};
/** Stands for a step whose compile failed: never run, since the translation is refused. */
const NEVER: Step = (cx) => {
  throw cx.fail("internal", "a refused translation was run", "");
};

function runRoot(root: Step, bytes: Uint8Array): Uint8Array {
  const cx = new Cx(bytes);
  try {
    root(cx, 0);
  } catch (e) {
    if (e instanceof TranslationError) throw e;
    // Depth and sizes are bounded, so this is a bug; still never an untyped error.
    throw new TranslationError("internal", errorText(e), cx.pos, "");
  }
  if (cx.pos !== bytes.length) {
    throw new TranslationError(
      "trailing-bytes",
      `${bytes.length - cx.pos} bytes left after the value`,
      cx.pos,
      "",
    );
  }
  return cx.finish();
}

// ----- the compiler -----

/** Thrown to stop compiling (too many problems or steps); the problems say why. */
class Abort extends Error {}

interface Holder {
  step: Step | undefined;
}

const KIND_NAMES: Readonly<Record<StructKind, string>> = {
  named: "named fields",
  tuple: "positional fields",
  unit: "no fields (unit)",
};

/** `path` in messages: the root has an empty path. */
function where(path: string): string {
  return path === "" ? "the top-level value" : `\`${path}\``;
}

class Compiler {
  readonly problems: TranslationProblem[] = [];
  private readonly w: Side;
  private readonly r: Side;
  private readonly defaults: FieldDefaults | undefined;
  /** Definitions pairs compiled (or being compiled): what ties the knot for recursion. */
  private readonly defs = new Map<GNode, Map<GNode, Holder>>();
  /** Skip programs per writer node: charged (writer-only values) and not (identical ones). */
  private readonly skips = new Map<GNode, Holder>();
  private readonly scans = new Map<GNode, Holder>();
  private depth = 0;
  private steps = 0;

  constructor(w: Side, r: Side, defaults: FieldDefaults | undefined) {
    this.w = w;
    this.r = r;
    this.defaults = defaults;
  }

  private problem(kind: ProblemKind, path: string, message: string): Step {
    this.problems.push({ kind, path, message });
    if (this.problems.length >= MAX_PROBLEMS) {
      this.problems.push({
        kind: "unsupported",
        path: "",
        message: `more than ${MAX_PROBLEMS} problems; the rest are not listed`,
      });
      throw new Abort();
    }
    return NEVER;
  }

  private step(): void {
    if (++this.steps > MAX_COMPILE_STEPS) {
      this.problems.push({
        kind: "unsupported",
        path: "",
        message: `comparing the schemas takes more than ${MAX_COMPILE_STEPS} steps; simplify the types`,
      });
      throw new Abort();
    }
  }

  private mismatch(
    kind: ProblemKind,
    path: string,
    w: GNode,
    r: GNode,
    what: (writerType: string, readerType: string) => string,
  ): Step {
    return this.problem(
      kind,
      path,
      `${where(path)}: ${what(typeExpr(w.schema), typeExpr(r.schema))}`,
    );
  }

  private identical(w: GNode, r: GNode): boolean {
    if (!w.closed || !r.closed || w.hasChannel || r.hasChannel) return false;
    const n = w.end - w.start;
    if (n !== r.end - r.start) return false;
    const a = this.w.bytes;
    const b = this.r.bytes;
    for (let i = 0; i < n; i++) if (a[w.start + i] !== b[r.start + i]) return false;
    return true;
  }

  /** The step reading writer node `w` as reader node `r`. */
  pair(w: GNode, r: GNode, path: string): Step {
    if (this.depth >= MAX_CHECK_DEPTH) {
      return this.mismatch(
        "too-deep",
        path,
        w,
        r,
        (ws, rs) =>
          `comparing the writer's \`${ws}\` with the reader's \`${rs}\` nests deeper than ${MAX_CHECK_DEPTH} levels; simplify the types`,
      );
    }
    this.step();
    this.depth++;
    try {
      return this.pairInner(w, r, path);
    } finally {
      this.depth--;
    }
  }

  private pairInner(w: GNode, r: GNode, path: string): Step {
    // A reference stands for its enclosing definition; the graph resolved it already.
    if (w.t === "ref") {
      if (w.target === undefined) return this.unresolved(w.name, true, path, w, r);
      return this.pair(w.target, r, path);
    }
    if (r.t === "ref") {
      if (r.target === undefined) return this.unresolved(r.name, false, path, w, r);
      return this.pair(w, r.target, path);
    }
    if (this.identical(w, r)) return this.copy(w, path);
    if (w.t === "channel" || r.t === "channel") {
      if (w.t === "channel" && r.t === "channel") {
        const wd = (w.schema as { direction: string }).direction;
        const rd = (r.schema as { direction: string }).direction;
        if (wd !== rd) {
          const name = (d: string) => (d === "tx" ? "Tx" : "Rx");
          return this.mismatch(
            "channel-direction",
            path,
            w,
            r,
            (ws, rs) =>
              `the writer's channel is \`${name(wd)}\` (\`${ws}\`) but the reader's is \`${name(rd)}\` (\`${rs}\`); a channel cannot change direction`,
          );
        }
        return this.problem(
          "unsupported",
          path,
          `${where(path)}: a channel inside a payload cannot be translated (channels travel as channel arguments)`,
        );
      }
      return this.typeChanged(path, w, r);
    }
    switch (w.t) {
      case "list":
        if (r.t !== "list") break;
        return this.list(w, this.pair(w.item, r.item, `${path}[]`), path);
      case "array": {
        if (r.t !== "array") break;
        if (w.len !== r.len) {
          return this.mismatch(
            "array-length",
            path,
            w,
            r,
            (ws, rs) =>
              `the writer sends an array of ${w.len} items (\`${ws}\`) but the reader expects ${r.len} (\`${rs}\`); keep the length, or use a Vec`,
          );
        }
        return this.array(w, this.pair(w.item, r.item, `${path}[]`), path);
      }
      case "map": {
        if (r.t !== "map") break;
        const key = this.pair(w.key, r.key, `${path}{key}`);
        const value = this.pair(w.value, r.value, `${path}{value}`);
        return this.map(w, key, value, path);
      }
      case "option": {
        if (r.t !== "option") break;
        return optionStep(this.pair(w.inner, r.inner, `${path}?`), path);
      }
      case "tuple": {
        if (r.t !== "tuple") break;
        if (w.items.length !== r.items.length) {
          return this.mismatch(
            "tuple-arity",
            path,
            w,
            r,
            (ws, rs) =>
              `the writer sends a tuple of ${w.items.length} elements (\`${ws}\`) but the reader expects ${r.items.length} (\`${rs}\`); use a struct with defaulted fields to grow it`,
          );
        }
        const items = w.items.map((wi, i) => this.pair(wi, r.items[i]!, `${path}.${i}`));
        return sequence(items, path);
      }
      case "struct":
      case "enum":
        if (r.t !== w.t) break;
        return this.definitions(w, r as GDef, path);
      default:
        // Equal primitives and bytes are identical, so what is left differs.
        break;
    }
    return this.typeChanged(path, w, r);
  }

  private typeChanged(path: string, w: GNode, r: GNode): Step {
    return this.mismatch(
      "type-changed",
      path,
      w,
      r,
      (ws, rs) =>
        `the writer sends \`${ws}\` but the reader expects \`${rs}\`; a type cannot change (not even to a wider one): keep the old type, or add a new field or method with the new one`,
    );
  }

  private unresolved(name: string, inWriter: boolean, path: string, w: GNode, r: GNode): Step {
    return this.mismatch(
      "unresolved-ref",
      path,
      w,
      r,
      (ws, rs) =>
        `the ${inWriter ? "writer's" : "reader's"} schema refers to \`${name}\`, which no enclosing type defines (writer \`${ws}\`, reader \`${rs}\`); the schema is malformed`,
    );
  }

  /** Two structs or two enums, compiled once per pair. */
  private definitions(w: GDef, r: GDef, path: string): Step {
    let byReader = this.defs.get(w);
    if (byReader === undefined) {
      byReader = new Map();
      this.defs.set(w, byReader);
    }
    const known = byReader.get(r);
    if (known !== undefined) return known.step ?? ((cx, d) => known.step!(cx, d));
    const holder: Holder = { step: undefined };
    byReader.set(r, holder);
    let body: Step;
    if (w.t === "struct" && r.t === "struct") {
      body = this.fields(w, r, w.kind, w.fields, r.kind, r.fields, path, r.name);
    } else if (w.t === "enum" && r.t === "enum") {
      body = this.variants(w, r, path);
    } else {
      body = this.typeChanged(path, w, r);
    }
    holder.step = body;
    return body;
  }

  private variants(
    w: Extract<GNode, { t: "enum" }>,
    r: Extract<GNode, { t: "enum" }>,
    path: string,
  ): Step {
    const byName = new Map<string, number>();
    r.variants.forEach((v, i) => byName.set(v.name, i));
    // By writer index: the reader's index and the fields' step, or the writer-only name.
    const table: ({ readonly index: number; readonly fields: Step } | string)[] = [];
    for (const wv of w.variants) {
      const j = byName.get(wv.name);
      if (j === undefined) {
        table.push(wv.name);
        continue;
      }
      const rv = r.variants[j]!;
      const vpath = `${path}::${wv.name}`;
      const fields = this.fields(
        w,
        r,
        wv.kind,
        wv.fields,
        rv.kind,
        rv.fields,
        vpath,
        `${r.name}::${rv.name}`,
      );
      table.push({ index: j, fields });
    }
    const readerName = r.name;
    return (cx, d) => {
      cx.deeper(d, path);
      const at = cx.pos;
      const index = cx.variant(path);
      const e = table[index];
      if (e === undefined) {
        throw cx.fail(
          "unknown-variant",
          `variant index ${index}, but the writer's type has ${table.length}`,
          path,
          at,
        );
      }
      if (typeof e === "string") {
        throw cx.fail(
          "variant-unknown-to-reader",
          `the writer sent variant \`${e}\` (index ${index}), which the reader's type \`${readerName}\` does not have`,
          path,
          at,
        );
      }
      cx.varint(e.index);
      e.fields(cx, d + 1);
    };
  }

  /**
   * The fields of a struct or of a matched variant: the writer's in wire order, each
   * transcoded or skipped, and the reader-only ones filled, all placed in the reader's order.
   * `wDef`/`rDef` are the enclosing definitions (named in messages); `typeName` is what
   * {@link FieldDefaults} is asked with.
   */
  private fields(
    wDef: GDef,
    rDef: GDef,
    wKind: StructKind,
    wFields: readonly GField[],
    rKind: StructKind,
    rFields: readonly GField[],
    path: string,
    typeName: string,
  ): Step {
    if (wKind !== rKind) {
      return this.mismatch(
        "struct-kind-changed",
        path,
        wDef,
        rDef,
        (ws, rs) =>
          `the writer's type \`${ws}\` has ${KIND_NAMES[wKind]} here but the reader's type \`${rs}\` has ${KIND_NAMES[rKind]}; changing between named, positional and unit fields is not compatible, add a new type instead`,
      );
    }
    const byName = new Map<string, number>();
    rFields.forEach((f, i) => byName.set(f.name, i));
    const matched: boolean[] = rFields.map(() => false);
    const writerSteps: Step[] = [];
    const target: number[] = [];
    for (const wf of wFields) {
      const fpath = `${path}.${wf.name}`;
      const j = byName.get(wf.name);
      if (j !== undefined && matched[j] === true) {
        // Only a model built in memory can name a field twice (the parser refuses it).
        writerSteps.push(
          this.problem("malformed", fpath, `${where(fpath)}: the writer names this field twice`),
        );
        target.push(-1);
      } else if (j !== undefined) {
        matched[j] = true;
        writerSteps.push(this.pair(wf.node, rFields[j]!.node, fpath));
        target.push(j);
      } else {
        writerSteps.push(this.skip(wf.node, fpath, true));
        target.push(-1);
      }
    }
    const fills: (Uint8Array | undefined)[] = rFields.map(() => undefined);
    rFields.forEach((rf, j) => {
      if (matched[j] === true) return;
      const fpath = `${path}.${rf.name}`;
      if (!rf.default) {
        this.problem(
          "missing-field",
          fpath,
          `field ${where(fpath)}: the reader's type \`${typeExpr(rDef.schema)}\` requires ` +
            `\`${rf.name}: ${typeExpr(rf.node.schema)}\`, which the writer's type ` +
            `\`${typeExpr(wDef.schema)}\` does not send; give it a default with ` +
            "#[facet(default)], or add it in a new method instead",
        );
        return;
      }
      fills[j] = this.defaultOf(typeName, rf, fpath);
    });
    return fieldsStep(writerSteps, target, fills, path);
  }

  /** The encoded default of reader-only field `rf`: supplied, or the zero value. */
  private defaultOf(typeName: string, rf: GField, path: string): Uint8Array {
    const supplied = this.defaults?.(typeName, rf.name);
    if (supplied !== undefined) {
      if (!(supplied instanceof Uint8Array)) {
        this.problem(
          "no-default",
          path,
          `${where(path)}: the supplied default is not a Uint8Array`,
        );
        return EMPTY;
      }
      // Copied, so the compiled translation does not change if the caller's buffer does.
      return supplied.slice();
    }
    const sink: number[] = [];
    const why = zeroOf(rf.node, sink);
    if (why !== undefined) {
      this.problem(
        "no-default",
        path,
        `field ${where(path)}: the reader's field \`${rf.name}: ${typeExpr(rf.node.schema)}\` has a default, but this runtime cannot make it: ${why}; supply its encoded default through \`defaults\``,
      );
      return EMPTY;
    }
    return Uint8Array.from(sink);
  }

  /** A sub-value identical on both sides: validated and copied as it is. */
  private copy(w: GNode, path: string): Step {
    const scan = this.skip(w, path, false);
    return (cx, d) => {
      const start = cx.pos;
      scan(cx, d);
      cx.raw(start, cx.pos);
    };
  }

  private list(w: Extract<GNode, { t: "list" }>, item: Step, path: string): Step {
    const minWire = w.item.minWire;
    return (cx, d) => {
      cx.deeper(d, path);
      const n = cx.count(minWire, path);
      for (let i = 0; i < n; i++) item(cx, d + 1);
    };
  }

  private array(w: Extract<GNode, { t: "array" }>, item: Step, path: string): Step {
    const n = w.len > BigInt(Number.MAX_SAFE_INTEGER) ? Infinity : Number(w.len);
    const minWire = w.item.minWire;
    if (n === 0) return NOOP;
    return (cx, d) => {
      cx.deeper(d, path);
      cx.checkCount(n, minWire, path, cx.pos);
      for (let i = 0; i < n; i++) item(cx, d + 1);
    };
  }

  private map(w: Extract<GNode, { t: "map" }>, key: Step, value: Step, path: string): Step {
    const minWire = Math.min(w.key.minWire + w.value.minWire, MIN_WIRE_CAP);
    return (cx, d) => {
      cx.deeper(d, path);
      const n = cx.count(minWire, path);
      for (let i = 0; i < n; i++) {
        key(cx, d + 1);
        value(cx, d + 1);
      }
    };
  }

  /**
   * Reads and discards (or, for `charge === false`, only validates: the caller copies) one
   * value of writer node `w`, with the bounds of decoding. A writer-only value is the peer's
   * alone, so every zero-width part of it visited is charged to the empty budget (a schema of
   * nested unit tuples could otherwise cost work without input); an identical one has our own
   * shape and is charged like decoding, per item.
   */
  private skip(w: GNode, path: string, charge: boolean): Step {
    const memo = charge ? this.skips : this.scans;
    const known = memo.get(w);
    if (known !== undefined) return known.step ?? ((cx, d) => known.step!(cx, d));
    this.step();
    const holder: Holder = { step: undefined };
    memo.set(w, holder);
    const body = this.skipBody(w, path, charge);
    const step: Step =
      charge && w.minWire === 0 && w.t !== "ref"
        ? (cx, d) => {
            cx.chargeEmpty(path);
            body(cx, d);
          }
        : body;
    holder.step = step;
    return step;
  }

  private skipBody(w: GNode, path: string, charge: boolean): Step {
    switch (w.t) {
      case "primitive":
        return primSkip(w.kind, path);
      case "bytes":
        return (cx) => {
          const start = cx.pos;
          const n = cx.length(path, "byte string");
          if (n > cx.input.length - cx.pos)
            throw cx.fail("truncated", `a byte string claims ${n} bytes`, path, start);
          cx.pos += n;
        };
      case "list": {
        const item = this.skip(w.item, path, charge);
        const minWire = w.item.minWire;
        return (cx, d) => {
          cx.deeper(d, path);
          const start = cx.pos;
          const n = cx.length(path, "sequence");
          cx.checkCount(n, minWire, path, start);
          for (let i = 0; i < n; i++) item(cx, d + 1);
        };
      }
      case "array": {
        const item = this.skip(w.item, path, charge);
        const n = w.len > BigInt(Number.MAX_SAFE_INTEGER) ? Infinity : Number(w.len);
        const minWire = w.item.minWire;
        return (cx, d) => {
          cx.deeper(d, path);
          cx.checkCount(n, minWire, path, cx.pos);
          for (let i = 0; i < n; i++) item(cx, d + 1);
        };
      }
      case "map": {
        const key = this.skip(w.key, path, charge);
        const value = this.skip(w.value, path, charge);
        const minWire = Math.min(w.key.minWire + w.value.minWire, MIN_WIRE_CAP);
        return (cx, d) => {
          cx.deeper(d, path);
          const start = cx.pos;
          const n = cx.length(path, "map");
          cx.checkCount(n, minWire, path, start);
          for (let i = 0; i < n; i++) {
            key(cx, d + 1);
            value(cx, d + 1);
          }
        };
      }
      case "option": {
        const inner = this.skip(w.inner, path, charge);
        return (cx, d) => {
          cx.deeper(d, path);
          const tag = cx.byte(path, "Option tag");
          if (tag === 1) inner(cx, d + 1);
          else if (tag !== 0)
            throw cx.fail(
              "invalid-option",
              `an Option tag must be 0 or 1, got ${tag}`,
              path,
              cx.pos - 1,
            );
        };
      }
      case "tuple":
        return skipSequence(
          w.items.map((n) => this.skip(n, path, charge)),
          path,
        );
      case "struct":
        return skipSequence(
          w.fields.map((f) => this.skip(f.node, path, charge)),
          path,
        );
      case "enum": {
        const variants = w.variants.map((v) =>
          skipSequence(
            v.fields.map((f) => this.skip(f.node, path, charge)),
            path,
          ),
        );
        return (cx, d) => {
          cx.deeper(d, path);
          const at = cx.pos;
          const index = cx.variant(path);
          const v = variants[index];
          if (v === undefined) {
            throw cx.fail(
              "unknown-variant",
              `variant index ${index}, but the writer's type has ${variants.length}`,
              path,
              at,
            );
          }
          v(cx, d + 1);
        };
      }
      case "ref":
        if (w.target === undefined) {
          return this.problem(
            "unresolved-ref",
            path,
            `${where(path)}: the writer's schema refers to \`${w.name}\`, which no enclosing type defines; the schema is malformed`,
          );
        }
        return this.skip(w.target, path, charge);
      case "channel":
        return this.problem(
          "unsupported",
          path,
          `${where(path)}: a field holding a channel cannot be skipped`,
        );
    }
  }
}

const EMPTY = new Uint8Array(0);

/** A struct or tuple's parts one after the other (each counting a level of nesting). */
function sequence(items: readonly Step[], path: string): Step {
  if (items.length === 0) return NOOP;
  return (cx, d) => {
    cx.deeper(d, path);
    for (const item of items) item(cx, d + 1);
  };
}

const skipSequence = sequence;

function optionStep(inner: Step, path: string): Step {
  return (cx, d) => {
    cx.deeper(d, path);
    const tag = cx.byte(path, "Option tag");
    if (tag > 1)
      throw cx.fail("invalid-option", `an Option tag must be 0 or 1, got ${tag}`, path, cx.pos - 1);
    cx.raw(cx.pos - 1, cx.pos);
    if (tag === 1) inner(cx, d + 1);
  };
}

/**
 * The run-time step of a struct's (or variant's) fields. When the fields both sides have come
 * in the reader's order, the writer's fields are transcoded straight into place with the
 * defaults written between them; otherwise each is transcoded, then the struct's bytes are
 * put in the reader's order (one copy of the struct's output).
 */
function fieldsStep(
  writerSteps: readonly Step[],
  target: readonly number[],
  fills: readonly (Uint8Array | undefined)[],
  path: string,
): Step {
  let last = -1;
  let monotone = true;
  for (const j of target) {
    if (j < 0) continue;
    if (j < last) monotone = false;
    last = j;
  }
  if (monotone) {
    const actions: Step[] = [];
    let next = 0;
    // Defaults that follow one another are written as one chunk.
    let pending: Uint8Array[] = [];
    const flush = () => {
      if (pending.length === 0) return;
      const bytes = concat(pending);
      pending = [];
      if (bytes.length > 0) actions.push((cx) => cx.bytes(bytes));
    };
    const fillUpTo = (end: number) => {
      for (; next < end; next++) {
        const f = fills[next];
        if (f !== undefined) pending.push(f);
      }
    };
    writerSteps.forEach((s, i) => {
      const j = target[i]!;
      if (j >= 0) {
        fillUpTo(j);
        flush();
        next = j + 1;
      }
      actions.push(s);
    });
    fillUpTo(fills.length);
    flush();
    return sequence(actions, path);
  }
  const n = fills.length;
  return (cx, d) => {
    cx.deeper(d, path);
    const base = cx.len;
    const starts: number[] = new Array<number>(n).fill(0);
    const ends: number[] = new Array<number>(n).fill(0);
    for (let i = 0; i < writerSteps.length; i++) {
      const j = target[i]!;
      if (j < 0) {
        writerSteps[i]!(cx, d + 1);
        continue;
      }
      starts[j] = cx.len - base;
      writerSteps[i]!(cx, d + 1);
      ends[j] = cx.len - base;
    }
    const region = cx.copyOut(base, cx.len);
    cx.truncate(base);
    for (let j = 0; j < n; j++) {
      const f = fills[j];
      cx.bytes(f ?? region.subarray(starts[j]!, ends[j]!));
    }
  };
}

/** Validates and skips one scalar, as postcard's decoder reads it. */
function primSkip(kind: PrimitiveKind, path: string): Step {
  switch (kind) {
    case "bool":
      return (cx) => {
        const b = cx.byte(path, "bool");
        if (b > 1)
          throw cx.fail("invalid-bool", `a bool must be 0 or 1, got ${b}`, path, cx.pos - 1);
      };
    case "u8":
    case "i8":
      return (cx) => void cx.byte(path, kind);
    case "u16":
    case "i16":
      return (cx) => cx.skipVarint(3, 0x03, kind, path);
    case "u32":
    case "i32":
      return (cx) => cx.skipVarint(5, 0x0f, kind, path);
    case "u64":
    case "i64":
      return (cx) => cx.skipVarint(10, 0x01, kind, path);
    case "u128":
    case "i128":
      return (cx) => cx.skipVarint(19, 0x03, kind, path);
    case "f32":
      return (cx) => cx.take(4, path, "f32");
    case "f64":
      return (cx) => cx.take(8, path, "f64");
    case "char":
      return (cx) => cx.char(path);
    case "string":
      return (cx) => cx.string(path);
    case "unit":
      return NOOP;
  }
}

/**
 * Appends the zero value of reader node `r` to `out` (0, false, "", '\0', empty bytes, lists
 * and maps, None, zero-filled arrays, tuples and structs of zero values), or says why there is
 * none (an enum, a recursive reference or a channel).
 */
function zeroOf(r: GNode, out: number[]): string | undefined {
  if (out.length > MAX_DEFAULT_BYTES)
    return `the zero value takes more than ${MAX_DEFAULT_BYTES} bytes`;
  switch (r.t) {
    case "primitive":
      switch (r.kind) {
        case "unit":
          return undefined;
        case "f32":
          out.push(0, 0, 0, 0);
          return undefined;
        case "f64":
          out.push(0, 0, 0, 0, 0, 0, 0, 0);
          return undefined;
        case "char":
          // '\0': a one-byte string.
          out.push(1, 0);
          return undefined;
        default:
          // false, 0 (every integer), "" (a zero length).
          out.push(0);
          return undefined;
      }
    case "bytes":
    case "list":
    case "map":
    case "option":
      out.push(0);
      return undefined;
    case "array": {
      if (r.len === 0n) return undefined;
      const one: number[] = [];
      const why = zeroOf(r.item, one);
      if (why !== undefined) return why;
      if (BigInt(one.length) * r.len > BigInt(MAX_DEFAULT_BYTES)) {
        return `the zero value takes more than ${MAX_DEFAULT_BYTES} bytes`;
      }
      for (let i = 0n; i < r.len; i++) for (const b of one) out.push(b);
      return undefined;
    }
    case "tuple":
      for (const item of r.items) {
        const why = zeroOf(item, out);
        if (why !== undefined) return why;
      }
      return undefined;
    case "struct":
      for (const f of r.fields) {
        const why = zeroOf(f.node, out);
        if (why !== undefined) return why;
      }
      return undefined;
    case "enum":
      return `\`${r.name}\` is an enum, which has no zero value`;
    case "ref":
      return `\`${r.name}\` refers to an enclosing type, which has no zero value`;
    case "channel":
      return "a channel has no zero value";
  }
}

// ----- the parts of a payload, and translations cached on an announcement -----

/**
 * Which part of an announced payload schema a payload is read with, as Rust's `Part`: the
 * whole (an argument tuple), the `Ok` or `Err` value of a response, or the item type of the
 * `k`-th channel argument (a number).
 */
export type PayloadPart = "whole" | "ok" | "err" | number;

function partName(part: PayloadPart): string {
  if (typeof part === "number") return `Item(${part})`;
  return part === "whole" ? "Whole" : part === "ok" ? "Ok" : "Err";
}

function partOf(schema: Schema, part: PayloadPart): Schema | undefined {
  if (typeof part === "number") return channelItems(schema)[part];
  if (part === "whole") return schema;
  return resultPart(schema, part === "ok" ? "Ok" : "Err");
}

/** Most translations kept per announcement (normally one per payload part). */
const MAX_TRANSLATIONS_PER_SCHEMA = 8;

interface CachedTranslation {
  readonly local: Uint8Array;
  readonly defaults: FieldDefaults | undefined;
  readonly part: PayloadPart;
  readonly translation: Translation;
}

interface CheckedSent {
  readonly local: Uint8Array;
  readonly index: number;
  readonly detail: string | undefined;
}

/** What this module keeps in {@link PeerSchema.derived}: the parsed schema and translations. */
class PeerDerived {
  readonly schema: Schema | string;
  readonly cache: CachedTranslation[] = [];
  /** {@link sentItemProblem}'s verdicts. */
  readonly sent: CheckedSent[] = [];

  constructor(canonical: Uint8Array) {
    let schema: Schema | string;
    try {
      schema = fromCanonicalBytes(canonical);
    } catch (e) {
      schema = errorText(e);
    }
    this.schema = schema;
  }
}

/** Our schemas, parsed once per buffer (generated code passes the same one every time). */
const localModels = new WeakMap<Uint8Array, Schema | string>();

function localModel(local: Uint8Array): Schema | string {
  let m = localModels.get(local);
  if (m === undefined) {
    try {
      m = fromCanonicalBytes(local);
    } catch (e) {
      m = errorText(e);
    }
    localModels.set(local, m);
  }
  return m;
}

function derivedOf(peer: PeerSchema): PeerDerived {
  if (peer.derived === undefined) peer.derived = new PeerDerived(peer.canonical);
  // Something else in the slot: work uncached rather than overwrite it.
  return peer.derived instanceof PeerDerived ? peer.derived : new PeerDerived(peer.canonical);
}

/**
 * The translation reading `part` of payloads written with the peer's announced schema `peer`
 * as our canonical schema `local` (of the whole payload: the argument tuple, the response's
 * `Result`, or the channel tuple). Compiled once and kept in `peer.derived` (at most
 * {@link MAX_TRANSLATIONS_PER_SCHEMA} per announcement), so it lives exactly as long as the
 * announcement. A part missing from the peer's schema is a `malformed` problem, worded as
 * Rust's ("the peer's announced type `X` has no Ok part"); one missing from ours gives the
 * identity. Never throws.
 */
export function translationFor(
  peer: PeerSchema,
  part: PayloadPart,
  local: Uint8Array,
  defaults?: FieldDefaults,
): Translation {
  const derived = derivedOf(peer);
  for (const c of derived.cache) {
    if (c.local === local && c.defaults === defaults && c.part === part) return c.translation;
  }
  const translation = compileFor(derived.schema, part, local, defaults);
  if (derived.cache.length < MAX_TRANSLATIONS_PER_SCHEMA) {
    derived.cache.push({ local, defaults, part, translation });
  }
  return translation;
}

function compileFor(
  writer: Schema | string,
  part: PayloadPart,
  local: Uint8Array,
  defaults: FieldDefaults | undefined,
): Translation {
  if (typeof writer === "string")
    return failed("malformed", "", `the peer's schema is not valid: ${writer}`);
  const reader = localModel(local);
  if (typeof reader === "string")
    return failed("malformed", "", `our schema is not valid: ${reader}`);
  const w = partOf(writer, part);
  if (w === undefined) {
    return failed(
      "malformed",
      "",
      `the peer's announced type \`${typeExpr(writer)}\` has no ${partName(part)} part`,
    );
  }
  // Our schema not describing the part (a channel tuple without that channel, say) leaves
  // nothing to translate into: the payload is read as it is.
  const r = partOf(reader, part);
  if (r === undefined) return IDENTITY;
  try {
    return compileSchemaTranslation(w, r, { defaults });
  } catch (e) {
    // Only `defaults` (the application's) can throw here; a peer's schema never makes it.
    return failed("unsupported", "", `the translation could not be compiled: ${errorText(e)}`);
  }
}

/**
 * Reader-only fields of the *peer's* type, in a check that our values can be read as it: the
 * peer fills them from its own defaults, which are not ours to know, so a field marked
 * default always counts as filled (as `roam_core::compat::check` counts it). The plan compiled
 * with it is never run.
 */
const PEER_FILLS_ITS_DEFAULTS: FieldDefaults = () => EMPTY;

/**
 * For a channel the handler sends on (its `Tx`): whether the caller can read the items we
 * write, translating them itself (docs/protocol.md §7). `local` is our channel tuple and
 * `peer` the caller's announced one; the writer is our item type for channel argument
 * `index`, the reader the caller's. Returns `undefined` when the caller can (the same type, a
 * compatible difference, or either side not describing that channel), otherwise the
 * `IncompatibleSchema` detail: every problem with its field path and both types there.
 * Checked once per (announcement, local schema, channel) and kept in `peer.derived`.
 */
export function sentItemProblem(
  peer: PeerSchema,
  index: number,
  local: Uint8Array,
): string | undefined {
  const derived = derivedOf(peer);
  for (const c of derived.sent) {
    if (c.local === local && c.index === index) return c.detail;
  }
  const detail = checkSent(derived.schema, index, local);
  if (derived.sent.length < MAX_TRANSLATIONS_PER_SCHEMA) {
    derived.sent.push({ local, index, detail });
  }
  return detail;
}

function checkSent(
  peer: Schema | string,
  index: number,
  local: Uint8Array,
): string | undefined {
  const ours = localModel(local);
  if (typeof peer === "string" || typeof ours === "string") return undefined;
  const theirs = channelItems(peer)[index];
  const mine = channelItems(ours)[index];
  if (theirs === undefined || mine === undefined) return undefined;
  const t = compileSchemaTranslation(mine, theirs, { defaults: PEER_FILLS_ITS_DEFAULTS });
  // Worded as Rust's `take_tx`: each problem names its field and the writer's and reader's
  // types there.
  return t.ok ? undefined : `channel argument ${index}: ${describeProblems(t.problems)}`;
}
