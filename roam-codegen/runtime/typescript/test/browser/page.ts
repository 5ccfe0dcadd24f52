/**
 * The page `browser.test.ts` loads in headless Chromium: the generated calculator bindings and
 * the runtime they ship, bundled by esbuild for the browser, calling the Rust interop server
 * over the browser's own `WebSocket` (nothing injected). The server's URL is the page's hash
 * (`#ws://127.0.0.1:PORT`). Runs a unary call, a user error (rejected and settled), a server
 * stream (`count`) and a client stream (`sum`), then leaves a {@link PageResult} on
 * `window.__roam` and closes the connection.
 *
 * Browser code: type-checked with DOM globals and no Node types (tsconfig.page.json), and it
 * imports only the generated bindings (plus a type), so the bundle shows what a browser
 * application that uses them loads.
 */
import { createCalculatorClient, createNumbersClient } from "../../gen/calculator/index.js";
import { RoamError, channel, connect, openWebSocket, settle } from "../../gen/calculator/runtime/index.js";
import type { Connection } from "../../gen/calculator/runtime/index.js";
import type { PageCheck, PageResult } from "./result.js";

/** Items streamed each way. */
const STREAMED = 10_000;

declare global {
  interface Window {
    __roam?: PageResult;
  }
}

const checks: PageCheck[] = [];

function check(name: string, ok: boolean, detail: string): void {
  checks.push({ name, ok, detail });
  if (!ok) console.error(`check failed: ${name}: ${detail}`);
}

function describe(e: unknown): string {
  if (RoamError.is(e)) return `RoamError(${e.code}, value ${String(e.value)}): ${e.message}`;
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

async function run(conn: Connection): Promise<void> {
  const calc = createCalculatorClient(conn);
  const numbers = createNumbersClient(conn);

  const sum = await calc.add(2, 40);
  check("unary: add(2, 40) is 42", sum === 42, `got ${sum}`);

  try {
    const q = await calc.divide(1, 0);
    check("user error: divide(1, 0) rejects", false, `resolved with ${q}`);
  } catch (e) {
    check(
      "user error: divide(1, 0) rejects with code user, value DivisionByZero",
      RoamError.is(e) && e.code === "user" && e.value === "DivisionByZero",
      describe(e),
    );
  }
  const settled = await settle(calc.divide(1, 0));
  check(
    "user error: settle(divide(1, 0)) is not ok, value DivisionByZero",
    !settled.ok && settled.error.code === "user" && settled.error.value === "DivisionByZero",
    settled.ok ? `ok with ${settled.value}` : describe(settled.error),
  );

  {
    const [tx, rx] = channel<bigint>();
    const call = numbers.count(BigInt(STREAMED), tx);
    let expected = 0n;
    let outOfOrder: string | undefined;
    for await (const n of rx) {
      if (n !== expected && outOfOrder === undefined) outOfOrder = `item ${expected} was ${n}`;
      expected++;
    }
    await call;
    check(
      `server stream: count(${STREAMED}) gives 0..${STREAMED - 1} in order`,
      outOfOrder === undefined && expected === BigInt(STREAMED),
      outOfOrder ?? `${expected} items`,
    );
  }

  {
    const [tx, rx] = channel<bigint>();
    const call = numbers.sum(rx);
    for (let i = 0n; i < BigInt(STREAMED); i++) await tx.send(i);
    tx.close();
    const total = await call;
    const n = BigInt(STREAMED);
    const want = (n * (n - 1n)) / 2n;
    check(`client stream: sum of 0..${STREAMED - 1} is ${want}`, total === want, `got ${total}`);
  }
}

/** Runs every check, writes the result to `window.__roam`, then closes the connection. */
async function main(): Promise<void> {
  const url = decodeURIComponent(location.hash.slice(1));
  let conn: Connection | undefined;
  let result: PageResult;
  try {
    if (!url.startsWith("ws://")) throw new Error(`no ws:// URL in the page's hash: "${url}"`);
    check("the browser has a global WebSocket", typeof WebSocket === "function", typeof WebSocket);
    conn = await connect(await openWebSocket(url));
    await run(conn);
    result = { ok: checks.length > 0 && checks.every((c) => c.ok), checks };
  } catch (e) {
    console.error(e);
    result = { ok: false, checks, error: describe(e) };
  }
  window.__roam = result;
  await conn?.close();
}

void main();
