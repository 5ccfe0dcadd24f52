/**
 * The shared golden vectors (`roam-codegen/runtime/golden/vectors.json`, produced and checked by
 * roam-codec's `tests/golden.rs`): every case must encode to exactly the Rust codec's bytes and
 * decode back to the same value, using all of its input.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

import { Reader, Writer } from "../src/postcard.js";
import { fromHex, toHex } from "./helpers.js";

interface Case {
  type: string;
  value: unknown;
  hex: string;
}

/** How one type is written and read, and how its JSON form becomes a value. */
interface Codec {
  fromJson(json: unknown): unknown;
  write(w: Writer, v: unknown): void;
  read(r: Reader): unknown;
}

function floatBits(json: unknown, width: 4 | 8): number {
  const bits = (json as { bits: string }).bits;
  const view = new DataView(new ArrayBuffer(width));
  if (width === 4) {
    view.setUint32(0, Number.parseInt(bits, 16));
    return view.getFloat32(0);
  }
  view.setBigUint64(0, BigInt(`0x${bits}`));
  return view.getFloat64(0);
}

const num = (j: unknown): number => j as number;
const big = (j: unknown): bigint => BigInt(j as string);

const scalar = (
  fromJson: (j: unknown) => unknown,
  write: (w: Writer, v: never) => void,
  read: (r: Reader) => unknown,
): Codec => ({ fromJson, write: write as (w: Writer, v: unknown) => void, read });

const CODECS: Record<string, Codec> = {
  bool: scalar((j) => j as boolean, (w, v: boolean) => w.bool(v), (r) => r.bool()),
  u8: scalar(num, (w, v: number) => w.u8(v), (r) => r.u8()),
  i8: scalar(num, (w, v: number) => w.i8(v), (r) => r.i8()),
  u16: scalar(num, (w, v: number) => w.u16(v), (r) => r.u16()),
  i16: scalar(num, (w, v: number) => w.i16(v), (r) => r.i16()),
  u32: scalar(num, (w, v: number) => w.u32(v), (r) => r.u32()),
  i32: scalar(num, (w, v: number) => w.i32(v), (r) => r.i32()),
  u64: scalar(big, (w, v: bigint) => w.u64(v), (r) => r.u64()),
  i64: scalar(big, (w, v: bigint) => w.i64(v), (r) => r.i64()),
  u128: scalar(big, (w, v: bigint) => w.u128(v), (r) => r.u128()),
  i128: scalar(big, (w, v: bigint) => w.i128(v), (r) => r.i128()),
  f32: scalar((j) => floatBits(j, 4), (w, v: number) => w.f32(v), (r) => r.f32()),
  f64: scalar((j) => floatBits(j, 8), (w, v: number) => w.f64(v), (r) => r.f64()),
  char: scalar((j) => j as string, (w, v: string) => w.char(v), (r) => r.char()),
  String: scalar((j) => j as string, (w, v: string) => w.string(v), (r) => r.string()),
  "Vec<u8>": scalar((j) => fromHex(j as string), (w, v: Uint8Array) => w.bytes(v), (r) => r.bytes()),
  "Option<u32>": scalar(
    (j) => (j === null ? undefined : (j as number)),
    (w, v: number | undefined) => {
      w.optionTag(v !== undefined);
      if (v !== undefined) w.u32(v);
    },
    (r) => (r.optionTag() ? r.u32() : undefined),
  ),
  "Vec<u32>": scalar(
    (j) => j as number[],
    (w, v: number[]) => {
      w.seqLength(v.length);
      for (const n of v) w.u32(n);
    },
    (r) => Array.from({ length: r.seqLength() }, () => r.u32()),
  ),
  "Vec<String>": scalar(
    (j) => j as string[],
    (w, v: string[]) => {
      w.seqLength(v.length);
      for (const s of v) w.string(s);
    },
    (r) => Array.from({ length: r.seqLength() }, () => r.string()),
  ),
  "Vec<Option<u64>>": scalar(
    (j) => (j as (string | null)[]).map((s) => (s === null ? undefined : BigInt(s))),
    (w, v: (bigint | undefined)[]) => {
      w.seqLength(v.length);
      for (const n of v) {
        w.optionTag(n !== undefined);
        if (n !== undefined) w.u64(n);
      }
    },
    (r) => Array.from({ length: r.seqLength() }, () => (r.optionTag() ? r.u64() : undefined)),
  ),
  "(u8, String, bool)": scalar(
    (j) => j as [number, string, boolean],
    (w, v: [number, string, boolean]) => {
      w.u8(v[0]);
      w.string(v[1]);
      w.bool(v[2]);
    },
    (r) => [r.u8(), r.string(), r.bool()],
  ),
};

const file = new URL("../../../golden/vectors.json", import.meta.url);
const cases = (JSON.parse(readFileSync(file, "utf8")) as { cases: Case[] }).cases;

test("the golden vectors file has cases of every type this test knows", () => {
  assert.ok(cases.length >= 100, `only ${cases.length} cases`);
  for (const type of Object.keys(CODECS)) {
    assert.ok(
      cases.some((c) => c.type === type),
      `no case of ${type}`,
    );
  }
});

for (const [i, c] of cases.entries()) {
  test(`golden #${i}: ${c.type} ${JSON.stringify(c.value)}`, () => {
    const codec = CODECS[c.type];
    assert.ok(codec, `a case of an unknown type: ${c.type}; teach this test its codec`);
    const value = codec.fromJson(c.value);
    const w = new Writer(8);
    codec.write(w, value);
    assert.equal(toHex(w.finish()).replaceAll(" ", ""), c.hex, "encoded bytes");
    const r = new Reader(fromHex(c.hex));
    const back = codec.read(r);
    r.finish();
    if (typeof value === "number" && Number.isNaN(value)) {
      assert.ok(Number.isNaN(back), "NaN decodes to NaN");
    } else {
      assert.deepEqual(back, value, "decoded value");
    }
  });
}
