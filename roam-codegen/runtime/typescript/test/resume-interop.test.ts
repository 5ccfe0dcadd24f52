/**
 * A Node client that survives cuts, against the real Rust server: generated calculator
 * bindings dial the Rust interop server over WebSocket through a relay that cuts the link at
 * 20 seeded byte offsets, while 1,000 calls run and 100,000 numbers stream each way. Every
 * call must answer once with its own result and every number arrive once, in order: the
 * counts prove it. No assertion is about time.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { WebSocket } from "ws";

import { createCalculatorClient, createNumbersClient } from "../gen/calculator/index.js";
import * as roam from "../gen/calculator/runtime/index.js";
import { hostPort, startServer } from "./processes.js";
import type { Server } from "./processes.js";
import { Relay, planCuts } from "./relay.js";

const CALLS = 1_000;
const ITEMS = 100_000;
const CUTS = 20;

let server: Server;
let relay: Relay;

before(async () => {
  server = await startServer("interop-server", "ws://127.0.0.1:0");
  relay = await Relay.start(hostPort(server.url.replace(/^ws:/, "tcp:")));
});

after(async () => {
  await relay.close();
  server.stop();
});

test(`${CALLS} calls and ${ITEMS} numbers each way survive ${CUTS} cuts, exactly once and in order`, async () => {
  const states: string[] = [];
  const conn = await roam.dialWebSocket(`ws://127.0.0.1:${relay.port}/roam`, {
    WebSocket: WebSocket as unknown as roam.WebSocketConstructor,
    retry: { initialDelayMs: 5, maxDelayMs: 50 },
  });
  const unsubscribe = conn.onStateChange((change) => states.push(change.state));
  // The workload moves about two megabytes through the relay; the cuts fall in the first part.
  const offsets = planCuts(2026, CUTS, 30_000);
  relay.cutAt(offsets);
  const calc = createCalculatorClient(conn);
  const numbers = createNumbersClient(conn);

  const calls = (async () => {
    for (let i = 0; i < CALLS; i++) assert.equal(await calc.add(i, 1), i + 1);
  })();
  const down = (async () => {
    const [tx, rx] = roam.channel<bigint>();
    const call = numbers.count(BigInt(ITEMS), tx);
    let next = 0n;
    for await (const n of rx) {
      if (n !== next) assert.equal(n, next, "in order, exactly once");
      next++;
    }
    await call;
    return next;
  })();
  const up = (async () => {
    const [tx, rx] = roam.channel<bigint>();
    const call = numbers.sum(rx);
    for (let i = 0n; i < BigInt(ITEMS); i++) await tx.send(i);
    tx.close();
    return call;
  })();
  const [, received, sum] = await Promise.all([calls, down, up]);
  assert.equal(received, BigInt(ITEMS), "every number the server sent arrived");
  const n = BigInt(ITEMS);
  assert.equal(sum, (n * (n - 1n)) / 2n, "the server added every number once");
  assert.equal(relay.cuts, CUTS, "every planned cut fell during the workload");
  assert.equal(states.filter((s) => s === "reconnecting").length, CUTS, "each cut lost the link once");
  assert.equal(conn.state, "resumed", "the same session, resumed each time");
  assert.ok(!states.includes("fresh"), "never a fresh session");
  unsubscribe();
  conn.close();
});
