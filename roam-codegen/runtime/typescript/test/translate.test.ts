// Translations against roam_core::compat's rules and roam_codec::translate's behaviour: the
// writer's bytes come out laid out as the reader's own encoder would write the same value
// (checked byte for byte against bytes the reader's layout is written with directly), the
// problems of incompatible pairs carry Rust's paths and wording, and hostile payloads and
// schemas end in a TranslationError or a problem, never anything else.

import { describe, test } from "node:test";
import assert from "node:assert/strict";

import { Reader, Writer } from "../src/postcard.js";
import type { PeerSchema } from "../src/schemas.js";
import { primitive, resultSchema, toCanonicalBytes, INFALLIBLE } from "../src/schema-model.js";
import type { Field, Schema, StructKind } from "../src/schema-model.js";
import {
  MAX_EMPTY_ITEMS,
  MAX_RUN_DEPTH,
  TranslationError,
  compileSchemaTranslation,
  compileTranslation,
  describeProblems,
  sentItemProblem,
  translationFor,
} from "../src/translate.js";
import type { TranslateOptions, Translation, TranslationProblem } from "../src/translate.js";
import { Rng } from "./helpers.js";

// ----- schema and payload builders -----

const u8 = primitive("u8");
const u16 = primitive("u16");
const u32 = primitive("u32");
const u64 = primitive("u64");
const i32 = primitive("i32");
const f64 = primitive("f64");
const str = primitive("string");
const bool = primitive("bool");
const unit = primitive("unit");

type F = readonly [name: string, schema: Schema, dflt?: boolean];
const fields = (fs: readonly F[]): Field[] =>
  fs.map(([name, schema, dflt]) => ({ name, schema, default: dflt === true }));
const struct = (name: string, fs: readonly F[], kind: StructKind = "named"): Schema => ({
  type: "struct",
  name,
  kind,
  fields: fields(fs),
});
type V = readonly [name: string, kind: StructKind, fs: readonly F[]];
const enumOf = (name: string, vs: readonly V[]): Schema => ({
  type: "enum",
  name,
  variants: vs.map(([n, kind, fs]) => ({ name: n, kind, fields: fields(fs) })),
});
const list = (item: Schema): Schema => ({ type: "list", item });
const option = (inner: Schema): Schema => ({ type: "option", inner });
const map = (key: Schema, value: Schema): Schema => ({ type: "map", key, value });
const array = (item: Schema, len: bigint): Schema => ({ type: "array", item, len });
const tuple = (...items: Schema[]): Schema => ({ type: "tuple", items });
const ref = (name: string): Schema => ({ type: "ref", name });

function enc(write: (w: Writer) => void): Uint8Array {
  const w = new Writer(64);
  write(w);
  return w.finish();
}

function compile(writer: Schema, reader: Schema, options?: TranslateOptions): Translation {
  return compileTranslation(toCanonicalBytes(writer), toCanonicalBytes(reader), options);
}

/** The compiled run of a compatible pair (fails the test otherwise). */
function runner(
  writer: Schema,
  reader: Schema,
  options?: TranslateOptions,
): (b: Uint8Array) => Uint8Array {
  const t = compile(writer, reader, options);
  if (!t.ok) assert.fail(describeProblems(t.problems));
  assert.equal(t.identity, false);
  return (b) => t.run(b);
}

function problems(
  writer: Schema,
  reader: Schema,
  options?: TranslateOptions,
): readonly TranslationProblem[] {
  const t = compile(writer, reader, options);
  if (t.ok) assert.fail("the schemas were found compatible");
  return t.problems;
}

function failure(run: () => unknown): TranslationError {
  try {
    run();
  } catch (e) {
    assert.ok(e instanceof TranslationError, `a TranslationError, not ${String(e)}`);
    return e;
  }
  assert.fail("no error");
}

const same = (a: Uint8Array, b: Uint8Array) => assert.deepEqual([...a], [...b]);

// ----- the tests -----

describe("compatible translations", () => {
  const point = struct("Point", [
    ["x", i32],
    ["y", i32],
  ]);

  test("identical schemas are the identity and cost nothing", () => {
    const t = compile(point, point);
    assert.ok(t.ok && t.identity);
    const b = enc((w) => (w.i32(1), w.i32(-3)));
    assert.equal(t.run(b), b);
    const m = compileSchemaTranslation(
      point,
      struct("Point", [
        ["x", i32],
        ["y", i32],
      ]),
    );
    assert.ok(m.ok && m.identity, "equal models are identical too");
  });

  test("a renamed type reads the same bytes", () => {
    const run = runner(
      struct("PointV1", [
        ["x", i32],
        ["y", i32],
      ]),
      point,
    );
    const b = enc((w) => (w.i32(1), w.i32(-3)));
    same(run(b), b);
  });

  test("reordered fields are written in the reader's order", () => {
    const run = runner(
      point,
      struct("Point", [
        ["y", i32],
        ["x", i32],
      ]),
    );
    same(
      run(enc((w) => (w.i32(1), w.i32(-3)))),
      enc((w) => (w.i32(-3), w.i32(1))),
    );
    // Reordered with a skipped field between and a default at the front.
    const w3 = struct("P", [
      ["a", str],
      ["gone", list(u8)],
      ["b", u16],
      ["c", bool],
    ]);
    const r3 = struct("P", [
      ["new", u8, true],
      ["c", bool],
      ["a", str],
      ["b", u16],
    ]);
    const out = runner(
      w3,
      r3,
    )(enc((w) => (w.string("hi"), w.seqLength(2), w.u8(1), w.u8(2), w.u16(300), w.bool(true))));
    same(
      out,
      enc((w) => (w.u8(0), w.bool(true), w.string("hi"), w.u16(300))),
    );
  });

  test("a reader-only defaulted field is filled with its zero value", () => {
    const v1 = struct("OrderV1", [["id", u64]]);
    const reader = struct("Order", [
      ["id", u64],
      ["note", str, true],
      ["rush", bool, true],
      ["tags", list(str), true],
      ["limits", map(str, u32), true],
      ["coupon", option(u8), true],
      ["grid", array(u16, 3n), true],
      ["ratio", f64, true],
      ["initial", primitive("char"), true],
      ["at", point, true],
      ["pair", tuple(u8, str, unit), true],
      ["big", primitive("i128"), true],
      ["raw", { type: "bytes" }, true],
    ]);
    const out = runner(v1, reader)(enc((w) => w.u64(7n)));
    const expected = enc((w) => {
      w.u64(7n);
      w.string("");
      w.bool(false);
      w.seqLength(0);
      w.seqLength(0);
      w.optionTag(false);
      (w.u16(0), w.u16(0), w.u16(0));
      w.f64(0);
      w.char("\0");
      (w.i32(0), w.i32(0));
      (w.u8(0), w.string(""));
      w.i128(0n);
      w.bytes(new Uint8Array(0));
    });
    same(out, expected);
    // A generated decoder for the reader's own type reads it straight.
    const r = new Reader(out);
    assert.equal(r.u64(), 7n);
    assert.equal(r.string(), "");
  });

  test("a supplied default is used, asked for by the reader's type and field name", () => {
    const asked: string[] = [];
    const defaults = (typeName: string, field: string) => {
      asked.push(`${typeName}.${field}`);
      if (field === "retries") return enc((w) => w.u32(8));
      if (field === "mode") return enc((w) => w.variant(1));
      return undefined;
    };
    const mode = enumOf("Mode", [
      ["Fast", "unit", []],
      ["Safe", "unit", []],
    ]);
    const reader = struct("Job", [
      ["id", u64],
      ["retries", u32, true],
      ["mode", mode, true],
      ["note", str, true],
    ]);
    const out = runner(struct("JobV1", [["id", u64]]), reader, { defaults })(enc((w) => w.u64(1n)));
    same(
      out,
      enc((w) => (w.u64(1n), w.u32(8), w.variant(1), w.string(""))),
    );
    assert.deepEqual(asked, ["Job.retries", "Job.mode", "Job.note"]);
    // A variant's field is asked for as `Enum::Variant`.
    asked.length = 0;
    const wShape = enumOf("Shape", [["Circle", "named", [["r", f64]]]]);
    const rShape = enumOf("Shape", [
      [
        "Circle",
        "named",
        [
          ["r", f64],
          ["retries", u32, true],
        ],
      ],
    ]);
    const out2 = runner(wShape, rShape, { defaults })(enc((w) => (w.variant(0), w.f64(2.5))));
    same(
      out2,
      enc((w) => (w.variant(0), w.f64(2.5), w.u32(8))),
    );
    assert.deepEqual(asked, ["Shape::Circle.retries"]);
  });

  test("writer-only fields are skipped, nested ones included", () => {
    const inner = struct("Inner", [
      ["a", u8],
      ["b", option(str)],
    ]);
    const writer = struct("Order", [
      ["id", u64],
      ["gone", list(map(str, inner))],
      [
        "items",
        list(
          struct("Item", [
            ["price", u32],
            ["legacy", str],
            ["meta", inner],
          ]),
        ),
      ],
      ["extra", inner],
      [
        "index",
        map(
          u8,
          struct("Entry", [
            ["keep", bool],
            ["drop", tuple(str, array(u16, 2n))],
          ]),
        ),
      ],
    ]);
    const reader = struct("Order", [
      ["id", u64],
      ["items", list(struct("Item", [["price", u32]]))],
      ["index", map(u8, struct("Entry", [["keep", bool]]))],
    ]);
    const input = enc((w) => {
      w.u64(9n);
      // gone: [{ "k": Inner { a: 1, b: Some("x") } }, {}]
      w.seqLength(2);
      (w.seqLength(1), w.string("k"), w.u8(1), w.optionTag(true), w.string("x"));
      w.seqLength(0);
      // items: two
      w.seqLength(2);
      (w.u32(10), w.string("old"), w.u8(2), w.optionTag(false));
      (w.u32(20), w.string(""), w.u8(3), w.optionTag(true), w.string("yz"));
      // extra
      (w.u8(4), w.optionTag(false));
      // index: { 5: Entry { keep: true, drop: ("s", [1, 2]) } }
      (w.seqLength(1), w.u8(5), w.bool(true), w.string("s"), w.u16(1), w.u16(2));
    });
    const out = runner(writer, reader)(input);
    same(
      out,
      enc(
        (w) => (
          w.u64(9n),
          w.seqLength(2),
          w.u32(10),
          w.u32(20),
          w.seqLength(1),
          w.u8(5),
          w.bool(true)
        ),
      ),
    );
  });

  test("variants are matched by name and renumbered", () => {
    const writer = enumOf("Shape", [
      ["Empty", "unit", []],
      ["Circle", "named", [["radius", f64]]],
    ]);
    const reader = enumOf("Form", [
      ["Square", "tuple", [["0", f64]]],
      ["Circle", "named", [["radius", f64]]],
      ["Empty", "unit", []],
    ]);
    const run = runner(writer, reader);
    same(
      run(enc((w) => w.variant(0))),
      enc((w) => w.variant(2)),
    );
    same(
      run(enc((w) => (w.variant(1), w.f64(1.5)))),
      enc((w) => (w.variant(1), w.f64(1.5))),
    );
  });

  test("a writer-only variant fails when it arrives, with its name", () => {
    const writer = enumOf("Shape", [
      ["Empty", "unit", []],
      ["Square", "tuple", [["0", f64]]],
      ["Circle", "named", [["radius", f64]]],
    ]);
    const reader = struct("Drawing", [
      [
        "shape",
        enumOf("Shape", [
          ["Empty", "unit", []],
          ["Circle", "named", [["radius", f64]]],
        ]),
      ],
    ]);
    const run = runner(struct("Drawing", [["shape", writer]]), reader);
    same(
      run(enc((w) => (w.variant(2), w.f64(3)))),
      enc((w) => (w.variant(1), w.f64(3))),
    );
    const e = failure(() => run(enc((w) => (w.variant(1), w.f64(3)))));
    assert.equal(e.code, "variant-unknown-to-reader");
    assert.equal(e.path, "Drawing.shape");
    assert.equal(e.offset, 0);
    assert.ok(e.message.includes("`Square`"), e.message);
    // An index the writer's own schema does not have is malformed input.
    assert.equal(failure(() => run(enc((w) => w.variant(3)))).code, "unknown-variant");
  });

  test("Result responses: Ok and Err parts are ordinary schemas", () => {
    const v1 = resultSchema(
      struct("Out", [
        ["n", u32],
        ["debug", str],
      ]),
      INFALLIBLE,
    );
    const v2 = resultSchema(struct("Out", [["n", u32]]), enumOf("Oops", [["Bad", "unit", []]]));
    const run = runner(v1, v2);
    same(
      run(enc((w) => (w.variant(0), w.u32(5), w.string("x")))),
      enc((w) => (w.variant(0), w.u32(5))),
    );
  });

  test("recursive types translate at every level", () => {
    // struct Tree { value: u32, label: String, children: Vec<Tree> } read as
    // struct Node { children: Vec<Node>, value: u32, #[default] weight: u8 }.
    const writer = struct("Tree", [
      ["value", u32],
      ["label", str],
      ["children", list(ref("Tree"))],
    ]);
    const reader = struct("Node", [
      ["children", list(ref("Node"))],
      ["value", u32],
      ["weight", u8, true],
    ]);
    interface T {
      value: number;
      children: T[];
    }
    const tree = (depth: number, value: number): T => ({
      value,
      children: depth === 0 ? [] : [tree(depth - 1, value * 2), tree(depth - 1, value * 2 + 1)],
    });
    const writeTree = (w: Writer, t: T) => {
      (w.u32(t.value), w.string(`n${t.value}`), w.seqLength(t.children.length));
      for (const c of t.children) writeTree(w, c);
    };
    const writeNode = (w: Writer, t: T) => {
      w.seqLength(t.children.length);
      for (const c of t.children) writeNode(w, c);
      (w.u32(t.value), w.u8(0));
    };
    const t = tree(6, 1);
    const out = runner(writer, reader)(enc((w) => writeTree(w, t)));
    same(
      out,
      enc((w) => writeNode(w, t)),
    );
  });

  test("an enum tree whose writer grew a variant", () => {
    const tree = (name: string, extra: boolean) =>
      enumOf(name, [
        ["Leaf", "tuple", [["0", u32]]],
        ...(extra ? ([["Stump", "unit", []]] as V[]) : []),
        [
          "Node",
          "tuple",
          [
            ["0", ref(name)],
            ["1", ref(name)],
          ],
        ],
      ]);
    const run = runner(tree("TreeV1", true), tree("Tree", false));
    // Node(Leaf(1), Node(Leaf(2), Leaf(3))): writer's Node is 2, the reader's 1.
    const input = enc(
      (w) => (
        w.variant(2),
        w.variant(0),
        w.u32(1),
        w.variant(2),
        w.variant(0),
        w.u32(2),
        w.variant(0),
        w.u32(3)
      ),
    );
    const expected = enc(
      (w) => (
        w.variant(1),
        w.variant(0),
        w.u32(1),
        w.variant(1),
        w.variant(0),
        w.u32(2),
        w.variant(0),
        w.u32(3)
      ),
    );
    same(run(input), expected);
    assert.equal(
      failure(() => run(enc((w) => (w.variant(2), w.variant(1))))).code,
      "variant-unknown-to-reader",
    );
  });

  test("a compiled translation is a pure function: compiled twice, run twice, same bytes", () => {
    const w = struct("A", [
      ["x", list(str)],
      ["y", u8],
    ]);
    const r = struct("A", [
      ["y", u8],
      ["x", list(str)],
      ["z", u8, true],
    ]);
    const input = enc((x) => (x.seqLength(2), x.string("a"), x.string("b"), x.u8(1)));
    const a = runner(w, r)(input);
    const b = runner(w, r)(input);
    same(a, b);
    const once = runner(w, r);
    same(once(input), once(input));
  });
});

describe("incompatible schemas", () => {
  test("a changed primitive kind names the path and both types", () => {
    const p = problems(struct("Order", [["id", u32]]), struct("Order", [["id", u64]]));
    assert.equal(p.length, 1);
    assert.equal(p[0]!.kind, "type-changed");
    assert.equal(p[0]!.path, "Order.id");
    assert.equal(
      p[0]!.message,
      "`Order.id`: the writer sends `u32` but the reader expects `u64`; a type cannot change (not even to a wider one): keep the old type, or add a new field or method with the new one",
    );
  });

  test("an added required field, worded as roam_core::compat", () => {
    const p = problems(
      struct("OrderV1", [["id", u64]]),
      struct("Order", [
        ["id", u64],
        ["note", str],
      ]),
    );
    assert.equal(p.length, 1);
    assert.equal(p[0]!.kind, "missing-field");
    assert.equal(p[0]!.path, "Order.note");
    assert.equal(
      p[0]!.message,
      "field `Order.note`: the reader's type `Order` requires `note: String`, which the writer's type `OrderV1` does not send; give it a default with #[facet(default)], or add it in a new method instead",
    );
    assert.equal(
      describeProblems(p),
      `the writer's type cannot be read as the reader's type (1 problem):\n  - ${p[0]!.message}`,
    );
  });

  test("nested paths: list items, variants, maps, options, tuples", () => {
    const item = (price: Schema) => struct("Item", [["price", price]]);
    assert.deepEqual(
      problems(
        struct("Order", [["items", list(item(u32))]]),
        struct("Order", [["items", list(item(u16))]]),
      ).map((x) => x.path),
      ["Order.items[].price"],
    );
    const circle = (radius: Schema) => enumOf("Shape", [["Circle", "named", [["radius", radius]]]]);
    const p = problems(circle(f64), circle(primitive("f32")));
    assert.equal(p[0]!.path, "Shape::Circle.radius");
    assert.ok(p[0]!.message.includes("`f64`") && p[0]!.message.includes("`f32`"));
    const more = enumOf("Shape", [
      [
        "Circle",
        "named",
        [
          ["radius", f64],
          ["center", f64],
        ],
      ],
    ]);
    const m = problems(circle(f64), more);
    assert.equal(m[0]!.path, "Shape::Circle.center");
    assert.ok(m[0]!.message.includes("the writer's type `Shape`"), m[0]!.message);
    assert.deepEqual(
      problems(map(str, option(tuple(u8, u8))), map(u8, option(tuple(u8, i32)))).map((x) => x.path),
      ["{key}", "{value}?.1"],
    );
  });

  test("every problem is collected, in Rust's order", () => {
    const p = problems(
      struct("A", [
        ["x", u8],
        ["y", list(u8)],
      ]),
      struct("A", [
        ["x", u16],
        ["y", list(primitive("i8"))],
        ["z", bool],
      ]),
    );
    assert.deepEqual(
      p.map((x) => x.path),
      ["A.x", "A.y[]", "A.z"],
    );
    assert.deepEqual(
      p.map((x) => x.kind),
      ["type-changed", "type-changed", "missing-field"],
    );
  });

  test("array length, tuple arity and struct kind", () => {
    assert.equal(problems(array(u8, 3n), array(u8, 4n))[0]!.kind, "array-length");
    assert.ok(
      problems(array(u8, 3n), array(u8, 4n))[0]!.message.includes(
        "an array of 3 items (`[u8; 3]`)",
      ),
    );
    assert.equal(problems(tuple(u8), tuple(u8, u8))[0]!.kind, "tuple-arity");
    const p = problems(struct("S", [["0", u8]]), struct("S", [["0", u8]], "tuple"));
    assert.equal(p[0]!.kind, "struct-kind-changed");
    assert.equal(p[0]!.path, "S");
    // The root is named after the reader's type when it is a struct or enum.
    assert.equal(problems(list(u8), struct("S", []))[0]!.path, "S");
    assert.ok(problems(list(u8), struct("S", []))[0]!.message.startsWith("`S`: "));
    assert.ok(problems(list(u8), u8)[0]!.message.startsWith("the top-level value: "));
  });

  test("a recursive type's change is reported once, where first seen", () => {
    const tree = (leaf: Schema) =>
      enumOf("Tree", [
        ["Leaf", "tuple", [["0", leaf]]],
        [
          "Node",
          "tuple",
          [
            ["0", ref("Tree")],
            ["1", ref("Tree")],
          ],
        ],
      ]);
    const p = problems(tree(u32), tree(u64));
    assert.deepEqual(
      p.map((x) => x.path),
      ["Tree::Leaf.0"],
    );
    // Mutual recursion: Forest { trees: Vec<Grove { name, sub: Option<Forest> }> }.
    const forest = (leaf: Schema) =>
      struct("Forest", [
        [
          "trees",
          list(
            struct("Grove", [
              ["name", leaf],
              ["sub", option(ref("Forest"))],
            ]),
          ),
        ],
      ]);
    assert.deepEqual(
      problems(forest(str), forest(primitive("char"))).map((x) => x.path),
      ["Forest.trees[].name"],
    );
    assert.ok(compile(forest(str), forest(str)).ok);
  });

  test("references resolve to the nearest enclosing definition", () => {
    const w = struct("List", [
      ["head", u8],
      ["tail", option(ref("List"))],
    ]);
    const unrolled = (head: Schema) =>
      struct("List", [
        ["head", u8],
        [
          "tail",
          option(
            struct("Cell", [
              ["head", head],
              ["tail", option(ref("List"))],
            ]),
          ),
        ],
      ]);
    const t = compile(w, unrolled(u8));
    assert.ok(t.ok && !t.identity);
    const input = enc(
      (x) => (x.u8(1), x.optionTag(true), x.u8(2), x.optionTag(true), x.u8(3), x.optionTag(false)),
    );
    same(t.run(input), input);
    assert.deepEqual(
      problems(w, unrolled(primitive("i8"))).map((x) => x.path),
      ["List.tail?.head"],
    );
  });

  test("a default that cannot be made is a problem, unless supplied", () => {
    const mode = enumOf("Mode", [["Fast", "unit", []]]);
    const p = problems(struct("JobV1", []), struct("Job", [["mode", mode, true]]));
    assert.equal(p[0]!.kind, "no-default");
    assert.equal(p[0]!.path, "Job.mode");
    assert.ok(p[0]!.message.includes("`Mode` is an enum, which has no zero value"), p[0]!.message);
    const rec = struct("Tree", [
      ["kids", list(ref("Tree"))],
      ["first", ref("Tree"), true],
    ]);
    assert.equal(
      problems(struct("Tree", [["kids", list(ref("Tree"))]]), rec)[0]!.kind,
      "no-default",
    );
    const t = compile(struct("JobV1", []), struct("Job", [["mode", mode, true]]), {
      defaults: () => Uint8Array.of(0),
    });
    assert.ok(t.ok);
    same(t.run(new Uint8Array(0)), Uint8Array.of(0));
  });

  test("dangling references and malformed schemas are problems, not throws", () => {
    assert.equal(problems(ref("Nowhere"), u8)[0]!.kind, "unresolved-ref");
    assert.ok(
      problems(ref("Nowhere"), u8)[0]!.message.includes("the writer's schema refers to `Nowhere`"),
    );
    assert.equal(problems(u8, ref("Nowhere"))[0]!.kind, "unresolved-ref");
    const bad = compileTranslation(Uint8Array.of(1, 0, 16), toCanonicalBytes(u8));
    assert.ok(!bad.ok && bad.problems[0]!.kind === "malformed");
    assert.ok(!bad.ok && bad.problems[0]!.message.includes("unknown primitive kind 16"));
    // A model nested far deeper than any canonical schema.
    let deep: Schema = u8;
    for (let i = 0; i < 10_000; i++) deep = option(deep);
    const t = compileSchemaTranslation(deep, option(u8));
    assert.ok(!t.ok && t.problems[0]!.kind === "malformed");
  });

  test("channels inside a payload are refused", () => {
    const chan = (direction: "tx" | "rx"): Schema => ({ type: "channel", direction, item: u8 });
    assert.equal(
      problems(struct("A", [["c", chan("tx")]]), struct("A", [["c", chan("rx")]]))[0]!.kind,
      "channel-direction",
    );
    assert.equal(
      problems(
        struct("A", [
          ["c", chan("tx")],
          ["x", u8],
        ]),
        struct("A", [["x", u8]]),
      )[0]!.kind,
      "unsupported",
    );
  });
});

describe("hostile payloads", () => {
  const order = struct("Order", [
    ["id", u64],
    ["gone", list(str)],
    [
      "items",
      list(
        struct("Item", [
          ["n", u32],
          ["old", bool],
        ]),
      ),
    ],
  ]);
  const ours = struct("Order", [
    ["items", list(struct("Item", [["n", u32]]))],
    ["id", u64],
  ]);

  test("bad bytes fail with postcard's codes and the path", () => {
    const run = runner(order, ours);
    assert.equal(failure(() => run(Uint8Array.of())).code, "truncated");
    // A list claiming 2^40 items: refused by the remaining input, nothing allocated.
    const huge = failure(() => run(Uint8Array.of(1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20)));
    assert.equal(huge.code, "truncated");
    assert.equal(huge.path, "Order.gone");
    assert.equal(failure(() => run(Uint8Array.of(1, 1, 2, 0xc3, 0x28, 0))).code, "invalid-utf8");
    assert.equal(failure(() => run(Uint8Array.of(1, 0, 1, 5, 2))).code, "invalid-bool");
    assert.equal(
      failure(() => run(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f)))
        .code,
      "varint-overflow",
    );
    const trailing = failure(() => run(Uint8Array.of(1, 0, 0, 9)));
    assert.equal(trailing.code, "trailing-bytes");
    same(run(Uint8Array.of(1, 0, 0)), Uint8Array.of(0, 1));
  });

  test("zero-byte items are bounded by the empty budget", () => {
    const w = struct("A", [
      ["units", list(unit)],
      ["x", u8],
    ]);
    const r = struct("A", [["x", u8]]);
    const run = runner(w, r);
    const over = enc((x) => (x.seqLength(MAX_EMPTY_ITEMS + 1), x.u8(1)));
    assert.equal(failure(() => run(over)).code, "too-many-empty-items");
    same(run(enc((x) => (x.seqLength(1000), x.u8(1)))), Uint8Array.of(1));
    // Skipped values of nested unit tuples are charged per visit: a few input bytes cannot
    // buy unbounded work.
    let wide: Schema = unit;
    for (let i = 0; i < 8; i++) wide = tuple(wide, wide, wide, wide);
    const w2 = struct("B", [
      ["junk", list(wide)],
      ["x", u8],
    ]);
    const run2 = runner(w2, r);
    // 87381 zero-width nodes per item, plus one per item for the length: 11 items fit the
    // budget of 2^20, 12 do not.
    same(run2(enc((x) => (x.seqLength(11), x.u8(1)))), Uint8Array.of(1));
    assert.equal(
      failure(() => run2(enc((x) => (x.seqLength(12), x.u8(1))))).code,
      "too-many-empty-items",
    );
  });

  test("nesting is bounded at run time", () => {
    const w = struct("L", [
      ["next", option(ref("L"))],
      ["gone", u8],
    ]);
    const r = struct("L", [["next", option(ref("L"))]]);
    const run = runner(w, r);
    const nest = (n: number) => {
      const b: number[] = [];
      for (let i = 0; i < n; i++) b.push(1);
      b.push(0);
      for (let i = 0; i < n + 1; i++) b.push(7);
      return Uint8Array.from(b);
    };
    const shallow = run(nest(10));
    same(shallow, Uint8Array.from([...new Array<number>(10).fill(1), 0]));
    assert.equal(failure(() => run(nest(MAX_RUN_DEPTH))).code, "too-deep");
    assert.equal(failure(() => run(nest(100_000))).code, "too-deep");
  });

  test("mutated payloads fail with a TranslationError or translate, never anything else", () => {
    const w = struct("Doc", [
      ["title", str],
      ["tags", map(str, list(option(u16)))],
      [
        "shape",
        enumOf("Shape", [
          ["A", "unit", []],
          ["B", "tuple", [["0", primitive("char")]]],
          ["C", "named", [["x", f64]]],
        ]),
      ],
      ["kids", list(ref("Doc"))],
    ]);
    const r = struct("Doc", [
      ["kids", list(ref("Doc"))],
      [
        "shape",
        enumOf("Shape", [
          ["C", "named", [["x", f64]]],
          ["A", "unit", []],
        ]),
      ],
      ["title", str],
      ["extra", option(u8), true],
    ]);
    const run = runner(w, r);
    const doc = (x: Writer, depth: number) => {
      (x.string("t"),
        x.seqLength(1),
        x.string("k"),
        x.seqLength(2),
        x.optionTag(true),
        x.u16(5),
        x.optionTag(false));
      x.variant(depth % 2 === 0 ? 0 : 2);
      if (depth % 2 !== 0) x.f64(1);
      x.seqLength(depth > 0 ? 1 : 0);
      if (depth > 0) doc(x, depth - 1);
    };
    const good = enc((x) => doc(x, 3));
    assert.ok(run(good).length > 0);
    const rng = new Rng(7);
    for (let i = 0; i < 3000; i++) {
      const m = good.slice();
      const flips = 1 + rng.below(3);
      for (let k = 0; k < flips; k++) m[rng.below(m.length)] = rng.below(256);
      const cut = rng.below(4) === 0 ? m.subarray(0, rng.below(m.length)) : m;
      try {
        run(cut);
      } catch (e) {
        assert.ok(e instanceof TranslationError, String(e));
      }
    }
  });
});

describe("translations cached on an announcement", () => {
  const peer = (canonical: Uint8Array): PeerSchema => ({
    methodId: 1n,
    kind: "response",
    canonical,
    derived: undefined,
  });

  test("compiled once per part, kept in `derived`", () => {
    const theirs = peer(
      toCanonicalBytes(
        resultSchema(
          struct("Out", [
            ["n", u32],
            ["x", str],
          ]),
          INFALLIBLE,
        ),
      ),
    );
    const local = toCanonicalBytes(resultSchema(struct("Out", [["n", u32]]), INFALLIBLE));
    const ok = translationFor(theirs, "ok", local);
    assert.ok(ok.ok && !ok.identity);
    assert.notEqual(theirs.derived, undefined);
    assert.equal(translationFor(theirs, "ok", local), ok, "the same compiled translation");
    const err = translationFor(theirs, "err", local);
    assert.ok(err.ok && err.identity, "Infallible on both sides");
    same(
      ok.run(enc((w) => (w.u32(3), w.string("zz")))),
      enc((w) => w.u32(3)),
    );
  });

  test("a part the peer's schema lacks is a problem; one ours lacks reads as it is", () => {
    const theirs = peer(toCanonicalBytes(u8));
    const t = translationFor(theirs, "ok", toCanonicalBytes(resultSchema(u8, INFALLIBLE)));
    assert.ok(!t.ok);
    assert.equal(t.problems[0]!.message, "the peer's announced type `u8` has no Ok part");
    const chans = peer(toCanonicalBytes(tuple({ type: "channel", direction: "rx", item: u32 })));
    const none = translationFor(chans, 0, toCanonicalBytes(unit));
    assert.ok(none.ok && none.identity);
    const missing = translationFor(
      chans,
      1,
      toCanonicalBytes(tuple({ type: "channel", direction: "rx", item: u32 })),
    );
    assert.ok(!missing.ok && missing.problems[0]!.message.endsWith("has no Item(1) part"));
  });

  test("items a handler sends need only be readable as the caller's type", () => {
    const chan = (item: Schema) =>
      toCanonicalBytes(tuple({ type: "channel", direction: "tx", item }));
    const tick = struct("Tick", [["n", u32]]);
    // The caller's announced item type, against the handler's (ours, the writer).
    const theirs = peer(chan(tick));
    assert.equal(sentItemProblem(theirs, 0, chan(tick)), undefined, "the same type");
    assert.equal(
      sentItemProblem(
        theirs,
        0,
        chan(
          struct("Tock", [
            ["at", u64],
            ["n", u32],
          ]),
        ),
      ),
      undefined,
      "renamed, with a field the caller skips",
    );
    // Fields only the caller has count as filled when it marks them default, even where this
    // runtime could not make the value (an enum without a zero value): the caller fills them.
    const level = enumOf("Level", [["Low", "unit", []]]);
    const defaulted = peer(
      chan(
        struct("Tick", [
          ["n", u32],
          ["level", level, true],
        ]),
      ),
    );
    assert.equal(sentItemProblem(defaulted, 0, chan(tick)), undefined);
    // A variant only the handler has fails only if it is ever sent: compatible.
    const wider = enumOf("Level", [
      ["High", "unit", []],
      ["Low", "unit", []],
    ]);
    assert.equal(sentItemProblem(peer(chan(level)), 0, chan(wider)), undefined);

    const required = peer(
      chan(
        struct("Tick", [
          ["n", u32],
          ["m", u8],
        ]),
      ),
    );
    assert.equal(
      sentItemProblem(required, 0, chan(tick)),
      "channel argument 0: the writer's type cannot be read as the reader's type (1 problem):\n" +
        "  - field `Tick.m`: the reader's type `Tick` requires `m: u8`, which the writer's type " +
        "`Tick` does not send; give it a default with #[facet(default)], or add it in a new " +
        "method instead",
    );
    const changed = sentItemProblem(peer(chan(u32)), 0, chan(u64));
    assert.ok(changed !== undefined);
    assert.ok(
      changed.startsWith(
        "channel argument 0: the writer's type cannot be read as the reader's type (1 problem):\n" +
          "  - the top-level value: the writer sends `u64` but the reader expects `u32`; ",
      ),
      changed,
    );
    // A channel either side does not describe is not checked.
    assert.equal(sentItemProblem(required, 1, chan(u8)), undefined);
    assert.equal(sentItemProblem(required, 0, toCanonicalBytes(unit)), undefined);
    // The verdict is kept with the announcement.
    assert.ok(required.derived !== undefined);
    assert.equal(sentItemProblem(required, 0, chan(tick)), sentItemProblem(required, 0, chan(tick)));
  });
});
