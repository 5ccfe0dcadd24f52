/**
 * The TypeScript runtime against the real Rust runtime: the calculator example's server (a
 * separate process, built by cargo) is called over WebSocket and over TCP, with the method IDs
 * `roam ids` prints for the same source: unary calls, and streams of a million items each way
 * (the `Numbers` service it serves too). Arguments and answers are encoded by hand with the
 * postcard primitives until generated code exists.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import WebSocket from "ws";

import { ChannelReceiver, ChannelSender, connect, RoamError } from "../src/driver.js";
import type { Connection } from "../src/driver.js";
import type { Link } from "../src/link.js";
import { Reader, Writer } from "../src/postcard.js";
import { connectTcp } from "../src/transport-tcp.js";
import { openWebSocket } from "../src/transport-ws.js";
import type { WebSocketConstructor } from "../src/transport-ws.js";

/** The repository root, from `build/test/` of this package. */
const repo = fileURLToPath(new URL("../../../../../", import.meta.url));
const target = process.env["CARGO_TARGET_DIR"] ?? join(repo, "target");
const bin = (name: string): string => join(target, "debug", name);

/** Hang guard only: a server that does not start within this is a failure, not a slow pass. */
const START_GUARD_MS = 60_000;

function buildRustSide(): void {
  const built = spawnSync(
    "cargo",
    ["build", "--quiet", "-p", "roam-examples", "--bin", "calculator-server", "-p", "roam-cli"],
    { cwd: repo, stdio: "inherit" },
  );
  assert.equal(built.status, 0, "cargo build of the calculator server and the roam CLI");
}

/** Method IDs by `Service.method`, as `roam ids` prints them for the example's sources. */
function methodIds(): Map<string, bigint> {
  const sources = ["examples/src/lib.rs", "examples/src/numbers.rs"].map((f) => join(repo, f));
  const out = spawnSync(bin("roam"), ["ids", ...sources], { encoding: "utf8" });
  assert.equal(out.status, 0, out.stderr);
  const ids = new Map<string, bigint>();
  for (const line of out.stdout.split("\n").slice(1)) {
    const [service, method, id] = line.split(/\s+/);
    if (service !== undefined && method !== undefined && id !== undefined) {
      ids.set(`${service}.${method}`, BigInt(id));
    }
  }
  return ids;
}

/** Items streamed each way: the acceptance's million. */
const STREAMED = 1_000_000;

interface Server {
  readonly process: ChildProcess;
  readonly url: string;
}

/** Starts the calculator server bound to `url` (port 0) and waits for the address it prints. */
function startServer(url: string): Promise<Server> {
  const child = spawn(bin("calculator-server"), [url], { stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    const guard = setTimeout(() => reject(new Error(`no server on ${url}`)), START_GUARD_MS);
    child.once("exit", (code) => reject(new Error(`the server exited (${String(code)})`)));
    const lines = createInterface({ input: child.stdout! });
    lines.on("line", (line) => {
      const found = /^listening on (\S+)/.exec(line);
      if (found?.[1] !== undefined) {
        clearTimeout(guard);
        resolve({ process: child, url: found[1] });
      }
    });
  });
}

const encode = (write: (w: Writer) => void): Uint8Array => {
  const w = new Writer(32);
  write(w);
  return w.finish();
};

/** The tests every transport runs, over a connection made by `open`. */
function calculatorSuite(name: string, bindUrl: string, open: (url: string) => Promise<Link>) {
  describe(`the Rust calculator over ${name}`, () => {
    let server: Server;
    let conn: Connection;
    let ids: Map<string, bigint>;
    const id = (method: string): bigint => {
      const name = method.includes(".") ? method : `Calculator.${method}`;
      const found = ids.get(name);
      assert.ok(found !== undefined, `roam ids lists ${name}`);
      return found;
    };

    before(async () => {
      buildRustSide();
      ids = methodIds();
      server = await startServer(bindUrl);
      conn = await connect(await open(server.url));
    });

    after(async () => {
      await conn?.close();
      server?.process.kill("SIGKILL");
    });

    test("add(2, 40) is 42", async () => {
      const answer = await conn.call(id("add"), encode((w) => (w.i32(2), w.i32(40))));
      const r = new Reader(answer.payload);
      assert.equal(r.variant(), 0, "Ok");
      assert.equal(r.i32(), 42);
      r.finish();
    });

    test("divide(1, 0) is the user error DivisionByZero", async () => {
      const answer = await conn.call(id("divide"), encode((w) => (w.i32(1), w.i32(0))));
      // Err(User(MathError::DivisionByZero)): 01 00 then the variant.
      assert.deepEqual([...answer.payload], [1, 0, 0]);
    });

    test("translate moves a struct", async () => {
      const args = encode((w) => (w.i32(1), w.i32(2), w.i32(3), w.i32(4)));
      const r = new Reader((await conn.call(id("translate"), args)).payload);
      assert.equal(r.variant(), 0);
      assert.deepEqual([r.i32(), r.i32()], [4, 6]);
      r.finish();
    });

    test("metadata reaches the handler", async () => {
      const answer = await conn.call(
        id("greet"),
        encode((w) => w.string("Ada")),
        { metadata: [["user", "grace"]] },
      );
      const r = new Reader(answer.payload);
      assert.equal(r.variant(), 0);
      const text = r.string();
      assert.match(text, /^Hello, Ada! \(asked by grace from /);
    });

    test("an unknown method is unimplemented", async () => {
      await assert.rejects(
        conn.call(0x1234n, new Uint8Array()),
        (e: unknown) => RoamError.is(e) && e.code === "unimplemented",
      );
    });

    test(`a Rust handler streams ${STREAMED} items to TypeScript, in order`, async () => {
      const rx = new ChannelReceiver();
      const call = conn.call(id("Numbers.count"), encode((w) => w.u64(BigInt(STREAMED))), {
        channels: [rx],
      });
      let expected = 0n;
      for await (const item of rx) {
        const r = new Reader(item);
        assert.equal(r.u64(), expected);
        r.finish();
        expected++;
      }
      assert.equal(expected, BigInt(STREAMED));
      assert.deepEqual([...(await call).payload], [0], "Ok(())");
    });

    test(`TypeScript streams ${STREAMED} items to a Rust handler, which sums them exactly`, async () => {
      const tx = new ChannelSender();
      const call = conn.call(id("Numbers.sum"), new Uint8Array(0), { channels: [tx] });
      let sum = 0n;
      for (let i = 0n; i < BigInt(STREAMED); i++) {
        await tx.send(encode((w) => w.u64(i)));
        sum += i;
      }
      tx.close();
      const r = new Reader((await call).payload);
      assert.equal(r.variant(), 0);
      assert.equal(r.u64(), sum);
      r.finish();
    });

    test("many calls at once are all answered", async () => {
      const answers = await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          conn.call(id("add"), encode((w) => (w.i32(i), w.i32(1)))),
        ),
      );
      answers.forEach((answer, i) => {
        const r = new Reader(answer.payload);
        assert.equal(r.variant(), 0);
        assert.equal(r.i32(), i + 1);
      });
    });
  });
}

calculatorSuite("WebSocket", "ws://127.0.0.1:0", (url) =>
  openWebSocket(url, { WebSocket: WebSocket as unknown as WebSocketConstructor }),
);

calculatorSuite("TCP", "tcp://127.0.0.1:0", (url) => {
  const port = Number(new URL(url.replace(/^tcp:/, "http:")).port);
  return connectTcp(port, "127.0.0.1");
});
