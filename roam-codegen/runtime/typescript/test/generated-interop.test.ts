/**
 * Generated TypeScript calling the real Rust runtime: bindings written by `roam gen
 * typescript` (scripts/generate.mjs) call the Rust interop server (`roam-tests`'
 * `interop-server`, its own process) over WebSocket and over TCP: every calculator and
 * kitchen-sink method, user errors, an unknown method, a million streamed items each way, a
 * bidirectional stream, cancellation observed by the Rust handler, and deadlines.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";

import * as roam from "../gen/kitchen/runtime/index.js";
import {
  Either,
  Expr,
  Inner,
  Shape,
  Status,
  createAtlasClient,
  createProbeClient,
} from "../gen/kitchen/index.js";
import type { AtlasClient, Cased, Everything, Profile, ProbeClient, Settings } from "../gen/kitchen/index.js";
import { calculatorMethods, createCalculatorClient, createNumbersClient } from "../gen/calculator/index.js";
import type { CalculatorClient, NumbersClient } from "../gen/calculator/index.js";
import * as calcRoam from "../gen/calculator/runtime/index.js";
import { TRANSPORTS, openLink, startServer } from "./processes.js";
import type { Server } from "./processes.js";

/** Items streamed each way: the acceptance's million. */
const STREAMED = 1_000_000;

/** Polls until `done()` holds (bounded tries: a hang guard, not a timing check). */
async function eventually(done: () => Promise<boolean>): Promise<boolean> {
  for (let i = 0; i < 500; i++) {
    if (await done()) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return false;
}

const handlerStopped = (probe: ProbeClient, before: number) =>
  eventually(async () => (await probe.stopped()) > before);

export function everything(flag: boolean): Everything {
  const point = (x: number, y: number) => ({ x, y });
  return {
    bytes: new Uint8Array([1, 2, 3]),
    stdBytes: new Uint8Array(),
    list: [point(1, 2)],
    array: new Uint8Array([9, 8, 7, 6]),
    grid: [
      [1, -2],
      [3, -4],
      [5, -32768],
    ],
    points: [point(0, 0), point(7, 77)],
    map: new Map([["a", [point(1, 1)]]]),
    btree: new Map([
      [4_000_000_000, Shape.Empty],
      [1, undefined],
    ]),
    fullPathMap: new Map([[-128, {}]]),
    tuple: [flag, "🦀", [(1n << 100n) + 5n]],
    one: [2.25],
    unit: undefined,
    result: { tag: "Err", value: Shape.Labelled(["l", Shape.Circle(0.5)]) },
    stdResult: { tag: "Ok", value: 255 },
    nestedResult: { tag: "Err", value: [[1, "one"]] },
    boxed: point(-9, 9),
    nested: [undefined, 3.5],
    page: { items: [point(1, 1)], total: 18446744073709551615n },
    pageOfPages: { items: [{ items: [{}], next: "n", total: 0n }], total: 1n },
    pageOfBytes: { items: [0, 255], next: "", total: 2n },
    pairing: {
      left: point(1, 2),
      right: new Uint8Array([5]),
      both: [point(3, 4), new Uint8Array()],
      lookup: new Map([["k", [new Uint8Array([1]), point(5, 6)]]]),
    },
    either: Either.Right(Expr.Let({ name: "x", value: Expr.Lit(-1n), body: Expr.Neg(Expr.Lit(2n)) })),
    listOf: { head: Shape.Rect({ w: 3, h: 4 }), tail: { head: Shape.Empty } },
    settings: { name: "kitchen", retries: 1, depth: 2, tags: ["t"] },
  };
}

function suite(name: string, bindUrl: string) {
  describe(`generated TypeScript against the Rust server over ${name}`, () => {
    let server: Server;
    let conn: roam.Connection;
    let calcConn: calcRoam.Connection;
    let calc: CalculatorClient;
    let numbers: NumbersClient;
    let atlas: AtlasClient;
    let probe: ProbeClient;

    before(async () => {
      server = await startServer("interop-server", bindUrl);
      // Each generated output is self-contained (its own runtime copy), so each gets its own
      // connection.
      conn = await roam.connect(await openLink(server.url));
      calcConn = await calcRoam.connect(await openLink(server.url));
      calc = createCalculatorClient(calcConn);
      numbers = createNumbersClient(calcConn);
      atlas = createAtlasClient(conn);
      probe = createProbeClient(conn);
    });

    after(async () => {
      await conn?.close();
      await calcConn?.close();
      server?.stop();
    });

    test("calculator: values, a struct, metadata", async () => {
      assert.equal(await calc.add(2, 40), 42);
      assert.equal(await calc.divide(7, 2), 3);
      assert.deepEqual(await calc.translate({ x: 1, y: 2 }, 3, 4), { x: 4, y: 6 });
      const greeting = await calc.greet("Ada", { metadata: { user: "grace" } });
      assert.match(greeting, /^Hello, Ada! \(asked by grace from /);
    });

    test("a user error is typed: reject with code user, or settle", async () => {
      await assert.rejects(
        calc.divide(1, 0),
        (e: unknown) => calcRoam.RoamError.is(e) && e.code === "user" && e.value === "DivisionByZero",
      );
      const settled = await calcRoam.settle(calc.divide(1, 0));
      assert.equal(settled.ok, false);
      if (!settled.ok) assert.equal(settled.error.value, "DivisionByZero");
    });

    test("an unknown method is unimplemented", async () => {
      const missing = { ...calculatorMethods.add, id: 0x1234n };
      await assert.rejects(
        calcRoam.invoke(calcConn, missing, [1, 2], []),
        (e: unknown) => calcRoam.RoamError.is(e) && e.code === "unimplemented",
      );
    });

    test("200 calls at once are all answered", async () => {
      const sums = await Promise.all(Array.from({ length: 200 }, (_, i) => calc.add(i, 1)));
      assert.deepEqual(sums, Array.from({ length: 200 }, (_, i) => i + 1));
    });

    test(`Numbers.count streams ${STREAMED} items to TypeScript, in order`, async () => {
      const [tx, rx] = calcRoam.channel<bigint>();
      const call = numbers.count(BigInt(STREAMED), tx);
      let expected = 0n;
      for await (const n of rx) {
        if (n !== expected) assert.equal(n, expected);
        expected++;
      }
      assert.equal(expected, BigInt(STREAMED));
      await call;
    });

    test(`Numbers.sum adds ${STREAMED} items TypeScript sends, exactly`, async () => {
      const [tx, rx] = calcRoam.channel<bigint>();
      const call = numbers.sum(rx);
      for (let i = 0n; i < BigInt(STREAMED); i++) await tx.send(i);
      tx.close();
      const n = BigInt(STREAMED);
      assert.equal(await call, (n * (n - 1n)) / 2n);
    });

    test("an async generator feeds an Rx argument", async () => {
      async function* three() {
        yield 1n;
        yield 2n;
        yield 3n;
      }
      assert.equal(await numbers.sum(three()), 6n);
    });

    test("kitchen sink: renamed fields, variants and types; skipped fields", async () => {
      // The schemas we announce carry the renamed names, as the Rust side's do, so the Rust
      // handler reads our bytes directly; its skipped fields (`cache`, `retries = 3`,
      // `TimedOut.note`, `Banned.1 = 7`) are filled from their defaults there.
      const cased: Cased = { fullName: "F", httpServer: 2, a1b2C: true, "custom-name": -3 };
      const profile = (status: Status): Profile => ({ userName: "ada", status, level: 1, type: "" });
      const registered = await atlas.register(profile(Status["timed-out"]({ RETRY_AFTER: 5 })), cased);
      assert.deepEqual(registered, {
        userName: "ada",
        status: { tag: "timed-out", value: { RETRY_AFTER: 5 } },
        level: 4,
        type: "F/2/true/-3",
      });
      const banned = await roam.settle(atlas.register(profile(Status.banned("spam")), cased));
      assert.ok(!banned.ok && banned.error.code === "user");
      if (!banned.ok) assert.deepEqual(banned.error.value, { tag: "banned", value: "spam" });
    });

    test("kitchen sink: locate, draw, upload, ping, grow", async () => {
      assert.deepEqual(await atlas.locate("origin", { x: 3, y: 3 }), { x: 0, y: 0 });
      assert.deepEqual(await atlas.locate("near", { x: 3, y: -3 }), { x: 3, y: -3 });
      assert.equal(await atlas.locate("elsewhere", { x: 3, y: 3 }), undefined);

      const page = await atlas.draw([Shape.Circle(1.5), Shape.Rect({ w: 2, h: 3 })], 2.5);
      assert.deepEqual(page, {
        items: [Shape.Circle(1.5), Shape.Rect({ w: 2, h: 3 })],
        next: "2.5",
        total: 2n,
      });
      const none = await roam.settle(atlas.draw([], 1));
      assert.ok(!none.ok && none.error.code === "user");
      if (!none.ok) assert.deepEqual(none.error.value, { tag: "C" });

      const meta = new Map<string, [number, string]>([
        ["a", [7, "x"]],
        ["b", [200, "y"]],
      ]);
      const [len, head] = await atlas.upload(new Uint8Array([9, 8, 7, 6, 5]), meta);
      assert.equal(len, 5n + 207n);
      assert.deepEqual([...head], [9, 8, 7, 6]);

      assert.equal(await atlas.ping(), undefined);

      const settings = (retries: number): Settings => ({ name: "s", retries, depth: 8, tags: [] });
      const grown = await atlas.grow({ value: -5n, children: [{ value: 1n, children: [] }] }, settings(0));
      assert.deepEqual(grown, {
        value: -5n,
        children: [
          { value: 1n, children: [] },
          { value: 8n, children: [] },
        ],
      });
      await assert.rejects(
        atlas.grow({ value: 0n, children: [] }, settings(4)),
        (e: unknown) => roam.RoamError.is(e) && e.code === "user" && e.value === "s",
      );
    });

    test("kitchen sink: every type shape in one value, both ways", async () => {
      const right = await atlas.everything(
        everything(false),
        { kids: [{ inner: { kids: [] } }], maybe: { inner: undefined } },
        { trees: [{ label: "a" }, { label: "b", forest: { trees: [] } }] },
      );
      const meters = (list: typeof right): number[] => {
        assert.equal(list.tag, "Right");
        const out: number[] = [];
        if (list.tag !== "Right") return out;
        for (let l: typeof list.value | undefined = list.value; l !== undefined; l = l.tail) {
          out.push(l.head);
        }
        return out;
      };
      assert.deepEqual(meters(right), [3, 1, 3, 3]);

      const left = await atlas.everything(everything(true), { kids: [] }, { trees: [] });
      assert.equal(left.tag, "Left");
      if (left.tag === "Left") {
        assert.deepEqual(left.value, {
          b: true,
          u8: 9,
          u16: 1,
          u32: 77,
          u64: 18446744073709551615n,
          u128: (1n << 100n) + 5n,
          i8: -1,
          i16: -32768,
          i32: -9,
          i64: 12n,
          i128: -((1n << 100n) + 5n),
          f32: 0.5,
          f64: 2.25,
          c: "🦀",
          s: "kitchen",
          unit: undefined,
        });
      }
    });

    test("a bidirectional stream: every command sent gets its expression back", async () => {
      const [upTx, upRx] = roam.channel<Expr>();
      const [cmdTx, cmdRx] = roam.channel<Inner>();
      const region = {
        left: { x: 100, y: 0 },
        right: { x: 0, y: 0 },
        both: [{ x: 0, y: 0 }, { x: 0, y: 0 }] as [{ x: number; y: number }, { x: number; y: number }],
        lookup: new Map(),
      };
      const call = atlas.watch(region, upTx, cmdRx);
      const got: Expr[] = [];
      for (const cmd of [Inner.X, Inner.Y(7), Inner.Z({ deep: Inner.X })]) {
        await cmdTx.send(cmd);
        const e = await upRx.recv();
        assert.ok(e !== undefined);
        got.push(e);
      }
      cmdTx.close();
      assert.deepEqual(got, [Expr.Lit(0n), Expr.Lit(7n), Expr.Neg(Expr.Lit(-1n))]);
      assert.equal(await call, 103);
    });

    test("aborting the signal cancels the call and stops the Rust handler", async () => {
      const before = await probe.stopped();
      const abort = new AbortController();
      const call = probe.hang(1, { signal: abort.signal });
      // The handler must be running before the abort, or there is nothing to stop.
      assert.ok(await eventually(async () => (await probe.hanging()) > 0), "the handler runs");
      abort.abort(new Error("user left"));
      await assert.rejects(call, (e: unknown) => roam.isCancelled(e));
      assert.ok(await handlerStopped(probe, before), "the Rust handler was dropped");
    });

    test("a deadline fails the call, reaches the handler on the wire, and stops it", async () => {
      const before = await probe.stopped();
      await assert.rejects(
        probe.hang(2, { timeoutMs: 100 }),
        (e: unknown) => roam.RoamError.is(e) && e.code === "deadline_exceeded",
      );
      assert.ok(await handlerStopped(probe, before), "the Rust handler was stopped");
      const left = await probe.deadlineMs({ timeoutMs: 30_000 });
      assert.ok(left !== undefined && left > 20_000n && left <= 30_000n, `${left} ms left`);
      assert.equal(await probe.deadlineMs(), undefined);
    });
  });
}

for (const [name, url] of TRANSPORTS) suite(name, url);
