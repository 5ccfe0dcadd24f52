/**
 * The few helpers generated bindings call that are not codecs: what an enum codec does with a
 * tag or index it does not know, and how a method's schemas are spelled in the output.
 *
 * Owns: nothing stateful. Must not: be used for anything but generated code's needs; codecs
 * live in `codec.ts`, calls and serving in `service.ts`.
 *
 * @module
 */

import { DecodeError, EncodeError } from "./postcard.js";
import type { Reader } from "./postcard.js";
import type { FieldDefaults } from "./translate.js";

/**
 * Called by an enum encoder on a value whose tag is none of the enum's: only reachable from
 * untyped code (the type checker proves the `switch` exhaustive), so it is a caller mistake.
 */
export function badTag(value: never, typeName: string): never {
  const tag = typeof value === "object" && value !== null ? (value as { tag?: unknown }).tag : value;
  throw new EncodeError("out-of-range", `${String(tag)} is not a variant of ${typeName}`);
}

/** Called by an enum decoder on a variant index the enum does not have. */
export function unknownVariant(r: Reader, index: number, typeName: string): never {
  throw new DecodeError("unknown-variant", `${typeName} has no variant ${index}`, r.offset);
}

/** The bytes of lowercase hex text (a method's canonical schema, as generated code spells it). */
export function schemaBytes(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length >>> 1);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/**
 * The {@link FieldDefaults} of a generated `fieldDefaults` table (`"Type.field"` → encoded
 * literal). A translation asks by the reader's type name, which for a generic instantiation
 * carries its arguments (`Page<Point>`): the declaration's defaults apply to every one. A
 * `null` entry (a Rust expression, which only Rust can evaluate) answers `undefined`, so the
 * zero value is used; docs/typescript.md says so.
 */
export function fieldDefaultsOf(table: ReadonlyMap<string, Uint8Array | null>): FieldDefaults {
  return (typeName, field) => {
    const bare = typeName.split("<", 1)[0] ?? typeName;
    return table.get(`${bare}.${field}`) ?? undefined;
  };
}
