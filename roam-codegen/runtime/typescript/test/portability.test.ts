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

// The TCP and TLS transports are the modules allowed `node:` imports (and Node globals): they
// are `node:net`'s and `node:tls`'s links, separate entry points no browser bundle reaches.
const NODE_ONLY = new Set(["transport-tcp.ts", "transport-tls.ts"]);

test("runtime sources import no Node built-ins and only relative .js modules", () => {
  const files = readdirSync(srcDir).filter((f) => f.endsWith(".ts"));
  assert.ok(files.length >= 3, `found the sources in ${srcDir}`);
  for (const file of files) {
    const source = readFileSync(srcDir + file, "utf8");
    const nodeOnly = NODE_ONLY.has(file);
    for (const m of source.matchAll(/\b(?:from|import)\s*\(?\s*["']([^"']+)["']/g)) {
      const spec = m[1]!;
      if (nodeOnly && /^node:[\w/]+$/.test(spec)) continue;
      assert.match(spec, /^\.\/[\w-]+\.js$/, `${file} imports ${spec}`);
      // Nothing a browser loads may pull the Node-only module in.
      if (!nodeOnly) assert.ok(!NODE_ONLY.has(spec.slice(2, -3) + ".ts"), `${file} imports ${spec}`);
    }
    if (nodeOnly) continue;
    assert.doesNotMatch(
      source,
      /\brequire\s*\(|\bprocess\.|\bBuffer\b/,
      `${file} uses a Node global`,
    );
  }
});
