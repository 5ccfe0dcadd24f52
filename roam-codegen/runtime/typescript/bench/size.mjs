// What generated TypeScript costs a browser bundle, minified and gzipped with esbuild:
//
// - runtime + WebSocket: everything a browser client needs from the runtime (connect,
//   openWebSocket, the codecs and the typed calls and channels), without any service;
// - per method: the size of a generated client of a service with 21 methods minus one with 1
//   method (same signature, (i32, i32) -> i32), divided by 20; likewise for serving.
//
// Run by scripts/bench-typescript.sh after scripts/generate.mjs built the CLI. Prints Markdown.
import { build } from "esbuild";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const repo = fileURLToPath(new URL("../../../../", import.meta.url));
const roam = join(process.env.CARGO_TARGET_DIR ?? join(repo, "target"), "debug", "roam");
const work = mkdtempSync(join(tmpdir(), "roam-size-"));

async function size(entry) {
  const file = join(work, `entry-${Math.random().toString(36).slice(2)}.ts`);
  writeFileSync(file, entry);
  const out = await build({
    entryPoints: [file],
    bundle: true,
    minify: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    write: false,
  });
  const bytes = out.outputFiles[0].contents;
  return { min: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length };
}

function service(methods) {
  const dir = join(work, `svc${methods}`);
  const lines = ["#[roam::service]", "pub trait Wide {"];
  for (let i = 0; i < methods; i++) lines.push(`    async fn m${i}(&self, a: i32, b: i32) -> i32;`);
  lines.push("}");
  const src = join(work, `wide${methods}.rs`);
  writeFileSync(src, lines.join("\n") + "\n");
  const r = spawnSync(roam, ["gen", "typescript", "--out", dir, src], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(r.stderr);
  return dir;
}

const kb = (n) => `${(n / 1024).toFixed(2)} kB`;
try {
  const runtime = join(repo, "roam-codegen/runtime/typescript/gen/calculator/runtime/index.ts");
  const base = await size(
    `export { connect, openWebSocket, channel, settle, invoke, serve, route, RoamError } from ${JSON.stringify(runtime)};`,
  );
  const one = service(1);
  const many = service(21);
  const client = async (dir) =>
    size(`import { createWideClient } from ${JSON.stringify(join(dir, "index.ts"))};
      import { connect, openWebSocket } from ${JSON.stringify(join(dir, "runtime/index.ts"))};
      export const c = createWideClient(await connect(await openWebSocket("ws://x")));`);
  const server = async (dir) =>
    size(`import { wideRoutes } from ${JSON.stringify(join(dir, "index.ts"))};
      import { serve } from ${JSON.stringify(join(dir, "runtime/index.ts"))};
      export const s = (h) => serve(wideRoutes(h));`);
  const [c1, c21, s1, s21] = [await client(one), await client(many), await server(one), await server(many)];
  console.log("| what | minified | min + gzip |");
  console.log("|---|---|---|");
  console.log(`| runtime + WebSocket transport (no service) | ${kb(base.min)} | ${kb(base.gzip)} |`);
  console.log(`| client of a 1-method service, runtime included | ${kb(c1.min)} | ${kb(c1.gzip)} |`);
  console.log(`| client of a 21-method service, runtime included | ${kb(c21.min)} | ${kb(c21.gzip)} |`);
  console.log(`| per client method ((21 − 1) / 20) | ${((c21.min - c1.min) / 20).toFixed(0)} B | ${((c21.gzip - c1.gzip) / 20).toFixed(0)} B |`);
  console.log(`| per served method ((21 − 1) / 20) | ${((s21.min - s1.min) / 20).toFixed(0)} B | ${((s21.gzip - s1.gzip) / 20).toFixed(0)} B |`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
