/**
 * The Node side of `cargo bench -p roam-tests --bench typescript`: a generated calculator
 * client that runs what the bench asks on stdin, one line at a time (`rtt N`: N sequential
 * `add` calls; `count N`: a stream of N items from the server; `sum N`: N items to the
 * server), and answers each line with the elapsed nanoseconds. The bench measures the Rust
 * client the same way in the same run, so the figures are ratios of one machine's moment.
 */
import { createInterface } from "node:readline";

import { connectTcp } from "../gen/calculator/runtime/transport-tcp.js";
import { channel, connect, openWebSocket } from "../gen/calculator/runtime/index.js";
import type { WebSocketConstructor } from "../gen/calculator/runtime/index.js";
import { createCalculatorClient, createNumbersClient } from "../gen/calculator/index.js";
import WebSocket from "ws";

const url = process.argv[2];
if (url === undefined) throw new Error("usage: node-client.js URL");
const link = url.startsWith("tcp://")
  ? await connectTcp(Number(new URL(url.replace(/^tcp:/, "http:")).port), "127.0.0.1")
  : await openWebSocket(url, { WebSocket: WebSocket as unknown as WebSocketConstructor });
const conn = await connect(link);
const calc = createCalculatorClient(conn);
const numbers = createNumbersClient(conn);

async function run(op: string, n: number): Promise<void> {
  switch (op) {
    case "rtt":
      for (let i = 0; i < n; i++) await calc.add(i | 0, 1);
      return;
    case "count": {
      const [tx, rx] = channel<bigint>();
      const call = numbers.count(BigInt(n), tx);
      let seen = 0;
      for await (const _ of rx) seen++;
      await call;
      if (seen !== n) throw new Error(`count: ${seen} of ${n} items`);
      return;
    }
    case "sum": {
      const [tx, rx] = channel<bigint>();
      const call = numbers.sum(rx);
      for (let i = 0; i < n; i++) await tx.send(1n);
      tx.close();
      const total = await call;
      if (total !== BigInt(n)) throw new Error(`sum: ${total} for ${n} items`);
      return;
    }
    default:
      throw new Error(`unknown op ${op}`);
  }
}

for await (const line of createInterface({ input: process.stdin })) {
  const [op, count] = line.trim().split(/\s+/);
  if (op === undefined || count === undefined) continue;
  const start = process.hrtime.bigint();
  await run(op, Number(count));
  process.stdout.write(`${process.hrtime.bigint() - start}\n`);
}
await conn.close();
