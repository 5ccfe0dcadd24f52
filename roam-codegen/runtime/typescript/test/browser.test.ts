/**
 * The generated bindings in a real browser: headless Chromium (Debian's `chromium`, installed
 * by scripts/install-browser.sh, driven by playwright-core) loads a page (test/browser/page.ts,
 * bundled here by esbuild for the browser) that calls the Rust interop server over the
 * browser's own WebSocket with the generated calculator client: a unary call, a user error, a
 * server stream and a client stream. The page reports on `window.__roam`; each of its checks
 * is asserted here. Everything listens on, and connects to, 127.0.0.1 only.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:http";
import type { Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

import { build } from "esbuild";

import { RESULT_GLOBAL } from "./browser/result.js";
import type { PageResult } from "./browser/result.js";
import { startServer } from "./processes.js";
import type { Server } from "./processes.js";

/**
 * The part of playwright-core used here. Its own declarations name DOM types (`HTMLElement`,
 * `Node`, ...), which this Node build (no DOM lib, `skipLibCheck: false`) cannot load, so the
 * module is imported untyped and given this shape.
 */
interface Playwright {
  readonly chromium: {
    launchPersistentContext(
      userDataDir: string,
      options: { executablePath: string; headless: boolean; args: string[] },
    ): Promise<BrowserContext>;
  };
}
interface BrowserContext {
  pages(): Page[];
  newPage(): Promise<Page>;
  close(): Promise<void>;
}
interface Page {
  on(event: "console", listener: (msg: { type(): string; text(): string }) => void): void;
  on(event: "pageerror", listener: (error: Error) => void): void;
  goto(url: string): Promise<unknown>;
  waitForFunction(expression: string, arg: undefined, options: { timeout: number }): Promise<unknown>;
  evaluate(expression: string): Promise<unknown>;
}
/** A string, so that tsc does not resolve (and check) playwright-core's declarations. */
const PLAYWRIGHT: string = "playwright-core";

/** This package's directory, from `build/test/`. */
const pkg = fileURLToPath(new URL("../../", import.meta.url));
const CHROMIUM = "/usr/bin/chromium";
/** Hang guard only: a page that has not reported within this is a failure, not a slow pass. */
const PAGE_GUARD_MS = 60_000;

/** The page's script, bundled for browsers; fails on anything Node-only (`node:` imports). */
async function bundlePage(): Promise<string> {
  const out = await build({
    entryPoints: [join(pkg, "test", "browser", "page.ts")],
    bundle: true,
    format: "esm",
    platform: "browser",
    write: false,
    metafile: true,
    sourcemap: "inline",
    logLevel: "silent",
  });
  // What the page pulled in: the generated bindings, their runtime copy, the page itself.
  const inputs = Object.keys(out.metafile.inputs);
  const foreign = inputs.filter((f) => !/^(gen\/calculator\/|test\/browser\/)/.test(f.replace(/\\/g, "/")));
  assert.deepEqual(foreign, [], `the page bundles only generated code (${inputs.join(", ")})`);
  const file = out.outputFiles[0];
  assert.ok(file !== undefined, "esbuild wrote a bundle");
  return file.text;
}

const HTML = `<!doctype html>
<html>
  <head>
    <meta charset="utf-8">
    <title>roam in a browser</title>
    <link rel="icon" href="data:,">
    <script type="module" src="/page.js"></script>
  </head>
  <body></body>
</html>
`;

/** Serves the page and its bundle on 127.0.0.1 (port 0); resolves to its origin. */
function servePage(server: HttpServer, script: string): Promise<string> {
  server.on("request", (req, res) => {
    const path = new URL(req.url ?? "/", "http://127.0.0.1").pathname;
    const [type, body] =
      path === "/"
        ? ["text/html; charset=utf-8", HTML]
        : path === "/page.js"
          ? ["text/javascript; charset=utf-8", script]
          : [undefined, undefined];
    if (body === undefined) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "content-type": type, "cache-control": "no-store" }).end(body);
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo;
      resolve(`http://127.0.0.1:${port}`);
    });
  });
}

describe("generated client in headless Chromium, over WebSocket, against the Rust server", () => {
  let rust: Server | undefined;
  let http: HttpServer | undefined;
  let profile: string | undefined;
  let browser: BrowserContext | undefined;
  let page: Page;
  let origin: string;
  let result: PageResult;

  before(async () => {
    const script = await bundlePage();
    rust = await startServer("interop-server", "ws://127.0.0.1:0");
    http = createServer();
    origin = await servePage(http, script);
    // A fresh profile, removed in `after`: no state carries over between runs.
    profile = await mkdtemp(join(tmpdir(), "roam-chromium-"));
    const { chromium } = (await import(PLAYWRIGHT)) as Playwright;
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-quic",
      ],
    });
    page = browser.pages()[0] ?? (await browser.newPage());
    // The page's own errors go to the test's output.
    page.on("console", (msg) => {
      if (msg.type() === "error") console.error(`[page console] ${msg.text()}`);
    });
    page.on("pageerror", (e) => console.error(`[page error] ${e.stack ?? e.message}`));
  });

  after(async () => {
    await browser?.close().catch((e: unknown) => console.error("closing Chromium:", e));
    await new Promise<void>((resolve) => {
      if (http === undefined) resolve();
      else http.close(() => resolve());
      http?.closeAllConnections();
    });
    rust?.stop();
    if (profile !== undefined) await rm(profile, { recursive: true, force: true });
  });

  test("the page runs every call and reports", async () => {
    assert.ok(rust !== undefined);
    await page.goto(`${origin}/#${rust.url}`);
    // Given as source text: this file is compiled with Node's types, not the DOM's.
    await page.waitForFunction(`window.${RESULT_GLOBAL} !== undefined`, undefined, {
      timeout: PAGE_GUARD_MS,
    });
    result = (await page.evaluate(`window.${RESULT_GLOBAL}`)) as PageResult;
    for (const c of result.checks) console.log(`  page: ${c.ok ? "ok" : "FAILED"} ${c.name} (${c.detail})`);
    assert.equal(result.error, undefined, `the page threw: ${String(result.error)}`);
    assert.equal(result.ok, true, "every check of the page passed");
  });

  const expected = [
    /^the browser has a global WebSocket$/,
    /^unary: /,
    /^user error: divide\(1, 0\) rejects with code user, value DivisionByZero$/,
    /^user error: settle\(/,
    /^server stream: /,
    /^client stream: /,
  ];
  test("each check ran and passed", () => {
    assert.ok(result !== undefined, "the page reported");
    assert.equal(result.checks.length, expected.length, JSON.stringify(result.checks));
    result.checks.forEach((c, i) => {
      assert.match(c.name, expected[i]!);
      assert.ok(c.ok, `${c.name}: ${c.detail}`);
    });
  });
});
