/**
 * TypeScript serving Rust: the generated handler interfaces, implemented here with the
 * semantics of the Rust implementations (`roam_examples::Calc`, `Counter`,
 * `roam_tests::kitchen::Kitchen`, `Prober`), serve the Rust `interop-client` (its own
 * process) over TCP and over WebSocket. The client calls every method, streams a million
 * items each way, runs a bidirectional stream, cancels a call and lets one hit its deadline,
 * and exits 0 only if every answer is right.
 *
 * The calculator's bindings and the kitchen sink's are two generated outputs, each with its
 * own copy of the runtime; one `serve` takes the routes of both, which is also the
 * dual-package case (brands are `Symbol.for`, codecs duck-typed) working for real.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import type { Server as NetServer } from "node:net";
import type { AddressInfo } from "node:net";
import { WebSocketServer } from "ws";

import * as roam from "../gen/kitchen/runtime/index.js";
import { tcpLink } from "../gen/kitchen/runtime/transport-tcp.js";
import { Expr, atlasRoutes, probeRoutes } from "../gen/kitchen/index.js";
import type { AtlasHandler, ProbeHandler, Inner } from "../gen/kitchen/index.js";
import * as calc from "../gen/calculator/runtime/index.js";
import { calculatorRoutes, numbersRoutes } from "../gen/calculator/index.js";
import type { CalculatorHandler, NumbersHandler } from "../gen/calculator/index.js";
import { bin } from "./processes.js";

const calculator: CalculatorHandler = {
  add: (a, b) => (a + b) | 0,
  divide: (a, b) => {
    if (b === 0) return calc.err("DivisionByZero");
    if (a === -2147483648 && b === -1) return calc.err("Overflow");
    return Math.trunc(a / b);
  },
  translate: (p, dx, dy) => ({ x: p.x + dx, y: p.y + dy }),
  greet: (name, ctx) => {
    const user = ctx.metadata.get("user");
    return typeof user === "string" ? `Hello, ${name}! (asked by ${user})` : `Hello, ${name}!`;
  },
};

const numbers: NumbersHandler = {
  async sum(items) {
    let total = 0n;
    for await (const n of items) total = (total + n) & 0xffff_ffff_ffff_ffffn;
    return total;
  },
  async count(n, out) {
    for (let i = 0n; i < n; i++) await out.send(i);
  },
};

const atlas: AtlasHandler = {
  locate: (name, near) => (name === "origin" ? { x: 0, y: 0 } : name === "near" ? near : undefined),
  draw: (shapes, scale) =>
    shapes.length === 0
      ? roam.err({ tag: "C" })
      : { items: shapes, next: String(scale), total: BigInt(shapes.length) },
  upload: (data, meta) => {
    let sum = 0n;
    for (const [, pair] of meta) sum += BigInt(pair[0]);
    const head = new Uint8Array(4);
    head.set(data.subarray(0, 4));
    return [BigInt(data.length) + sum, head];
  },
  ping: () => {},
  grow: (tree, settings) => {
    if (settings.retries > 3) return roam.err(settings.name);
    return { ...tree, children: [...tree.children, { value: BigInt(settings.depth), children: [] }] };
  },
  async watch(region, updates, commands) {
    let n = 0;
    for await (const cmd of commands) {
      const reply = (c: Inner): Expr =>
        c.tag === "X" ? Expr.Lit(0n) : c.tag === "Y" ? Expr.Lit(BigInt(c.value)) : Expr.Neg(Expr.Lit(-1n));
      await updates.send(reply(cmd));
      n++;
    }
    return (n + region.left.x) >>> 0;
  },
  everything: () => {
    throw new roam.RoamError("unimplemented", "the Rust client does not call everything");
  },
  // Renamed fields and variants keep their schema names here (`userName`, `"timed-out"`,
  // `"custom-name"`); `retries` is skipped on the Rust side (`default = 3`), so it never
  // reaches us and the Rust handler always adds 3.
  register: (profile, cased) =>
    profile.status.tag === "banned"
      ? roam.err(profile.status)
      : {
          ...profile,
          level: (profile.level + 3) & 0xff,
          type: `${cased.fullName}/${cased.httpServer}/${cased.a1b2C}/${cased["custom-name"]}`,
        },
};

/** The Probe's counters, shared by every call. */
const counters = { hanging: 0, stopped: 0 };

const probe: ProbeHandler = {
  hang(tag, ctx) {
    counters.hanging++;
    return new Promise<number>((_resolve, reject) => {
      ctx.signal.addEventListener("abort", () => {
        counters.hanging--;
        counters.stopped++;
        reject(ctx.signal.reason);
      });
      void tag;
    });
  },
  hanging: () => counters.hanging,
  stopped: () => counters.stopped,
  deadlineMs: (ctx) => {
    const left = ctx.timeoutMs();
    return left === undefined ? undefined : BigInt(Math.floor(left));
  },
  // A TypeScript acceptor has no authenticator: its sessions carry no identity.
  identity: () => undefined,
};

// The calculator's routes come from the other runtime copy: TypeScript's classes with private
// fields are nominal, so the types need the cast that the values do not.
const fromCalculator = (routes: calc.ServiceRoutes) => routes as unknown as roam.ServiceRoutes;
const served = roam.serve(
  fromCalculator(calculatorRoutes(calculator)),
  fromCalculator(numbersRoutes(numbers)),
  atlasRoutes(atlas),
  probeRoutes(probe),
);

function accept(link: roam.Link): void {
  void roam.connect(link, { role: "acceptor", handler: served.handler, schemas: served.schemas });
}

/** Runs the Rust client against `url`; resolves with its exit code and output. */
function rustClient(url: string): Promise<{ code: number | null; out: string }> {
  const child = spawn(bin("interop-client"), [url], { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (chunk: string) => (out += chunk));
  return new Promise((resolve) => child.once("exit", (code) => resolve({ code, out })));
}

describe("the Rust client against TypeScript handlers", () => {
  let tcp: NetServer;
  let ws: WebSocketServer;

  before(async () => {
    tcp = createServer((socket) => accept(tcpLink(socket)));
    await new Promise<void>((resolve) => tcp.listen(0, "127.0.0.1", resolve));
    ws = new WebSocketServer({ host: "127.0.0.1", port: 0 });
    ws.on("connection", (socket) => accept(roam.webSocketLink(socket as unknown as roam.WebSocketLike)));
    await new Promise<void>((resolve) => ws.once("listening", () => resolve()));
  });

  after(async () => {
    await new Promise<void>((resolve) => tcp.close(() => resolve()));
    await new Promise<void>((resolve) => ws.close(() => resolve()));
  });

  for (const transport of ["tcp", "ws"] as const) {
    test(`every method, streams, cancellation and deadlines over ${transport}`, async () => {
      const port =
        transport === "tcp"
          ? (tcp.address() as AddressInfo).port
          : (ws.address() as AddressInfo).port;
      const { code, out } = await rustClient(`${transport}://127.0.0.1:${port}`);
      assert.equal(code, 0, out);
      assert.match(out, /all checks passed/);
      for (const check of ["watch, both directions", "a dropped call stops the handler", "deadline"]) {
        assert.match(out, new RegExp(`^ok ${check}$`, "m"));
      }
    });
  }
});
