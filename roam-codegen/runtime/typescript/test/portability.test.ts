// The runtime must load in browsers: its sources may use ECMAScript and WHATWG globals only.
// tsconfig.browser.json type-checks them without Node's types; this catches what types cannot
// (a dynamic `import("node:…")`, `require`) and keeps the rule visible in the test output.
// (Erasable syntax only is the compiler's job: `erasableSyntaxOnly` in tsconfig.json.)
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

// Compiled to build/test/, so the sources are two levels up.
const srcDir = fileURLToPath(new URL("../../src/", import.meta.url));

test("runtime sources import no Node built-ins and only relative .js modules", () => {
  const files = readdirSync(srcDir).filter((f) => f.endsWith(".ts"));
  assert.ok(files.length >= 3, `found the sources in ${srcDir}`);
  for (const file of files) {
    const source = readFileSync(srcDir + file, "utf8");
    for (const m of source.matchAll(/\b(?:from|import)\s*\(?\s*["']([^"']+)["']/g)) {
      const spec = m[1]!;
      assert.match(spec, /^\.\/[\w-]+\.js$/, `${file} imports ${spec}`);
    }
    assert.doesNotMatch(
      source,
      /\brequire\s*\(|\bprocess\.|\bBuffer\b/,
      `${file} uses a Node global`,
    );
  }
});
