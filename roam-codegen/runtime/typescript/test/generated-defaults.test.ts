/**
 * Generated literal defaults reach schema translation: a peer whose `Settings` lacks the
 * `depth` field (`#[facet(default = 8)]` on our side) is read with `depth: 8`, the Rust
 * default, not the zero value. Uses the kitchen sink's generated bindings.
 */
import { test } from "node:test";
import assert from "node:assert/strict";

import * as roam from "../gen/kitchen/runtime/index.js";
import { fromCanonicalBytes, toCanonicalBytes } from "../gen/kitchen/runtime/schema-model.js";
import type { Schema } from "../gen/kitchen/runtime/schema-model.js";
import { compileTranslation } from "../gen/kitchen/runtime/translate.js";
import { atlasMethods, treeCodec, typeDefaults } from "../gen/kitchen/index.js";

/** `grow`'s argument schema as a peer whose `Settings` has no `depth` would announce it. */
function withoutDepth(args: Schema): Schema {
  assert.equal(args.type, "tuple");
  if (args.type !== "tuple") return args;
  const settings = args.items[1];
  assert.ok(settings?.type === "struct" && settings.name === "Settings");
  return {
    type: "tuple",
    items: [args.items[0]!, { ...settings, fields: settings.fields.filter((f) => f.name !== "depth") }],
  };
}

function peerPayload(): Uint8Array {
  const w = new roam.Writer();
  treeCodec.encode(w, { value: 1n, children: [] });
  w.string("s");
  w.u32(2);
  w.seqLength(0);
  return w.finish();
}

test("the generated table holds the encoded literal default", () => {
  assert.deepEqual([...(typeDefaults("Settings", "depth") ?? [])], [8]);
  assert.equal(typeDefaults("Settings", "retries"), undefined, "#[facet(default)]: zero value");
});

test("a translation fills a field the peer lacks with its literal default", () => {
  const ours = atlasMethods.grow.schemas;
  const writer = toCanonicalBytes(withoutDepth(fromCanonicalBytes(ours.args)));
  const read = (defaults: roam.FieldDefaults | undefined) => {
    const t = compileTranslation(writer, ours.args, { defaults });
    assert.ok(t.ok, "compatible: depth has a default");
    if (!t.ok) return undefined;
    return roam.decode(atlasMethods.grow.args, t.run(peerPayload()));
  };
  const [tree, settings] = read(ours.defaults) ?? [];
  assert.deepEqual(tree, { value: 1n, children: [] });
  assert.deepEqual(settings, { name: "s", retries: 2, depth: 8, tags: [] });
  assert.equal(read(undefined)?.[1].depth, 0, "without the table: the zero value");
});
