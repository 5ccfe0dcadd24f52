/**
 * Building schemas and payload bytes by hand in the driver's schema tests: the peer in those
 * tests announces types the test spells out here rather than types from generated code.
 */
import { primitive } from "../src/schema-model.js";
import type { Field, Schema, StructKind } from "../src/schema-model.js";
import { Writer } from "../src/postcard.js";

export const u8 = primitive("u8");
export const u32 = primitive("u32");
export const u64 = primitive("u64");
export const str = primitive("string");
export const bool = primitive("bool");
export const unit = primitive("unit");

/** A field: name, schema, and whether the reader may fill it with its default. */
export type F = readonly [string, Schema, boolean?];

export const fields = (fs: readonly F[]): Field[] =>
  fs.map(([name, schema, d]) => ({ name, schema, default: d === true }));

export const struct = (name: string, fs: readonly F[]): Schema => ({
  type: "struct",
  name,
  kind: "named",
  fields: fields(fs),
});

export const enumOf = (
  name: string,
  vs: readonly (readonly [string, StructKind, readonly F[]])[],
): Schema => ({
  type: "enum",
  name,
  variants: vs.map(([n, kind, fs]) => ({ name: n, kind, fields: fields(fs) })),
});

export const tuple = (...items: Schema[]): Schema => ({ type: "tuple", items });

export const channel = (direction: "tx" | "rx", item: Schema): Schema => ({
  type: "channel",
  direction,
  item,
});

/** The bytes `write` puts in a fresh writer. */
export function enc(write: (w: Writer) => void): Uint8Array {
  const w = new Writer(32);
  write(w);
  return w.finish();
}
