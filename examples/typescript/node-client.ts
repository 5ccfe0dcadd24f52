// A Node client of the calculator, using the bindings `roam gen typescript` writes from the
// Rust trait (examples/src/lib.rs, numbers.rs). Run it with `bash examples/typescript/node-client.sh`,
// which generates the bindings, starts the Rust calculator server and runs this against it.
import WebSocket from "ws";

import { createCalculatorClient, createNumbersClient } from "./gen/index.js";
import { RoamError, channel, connect, openWebSocket, settle } from "./gen/runtime/index.js";
import type { WebSocketConstructor } from "./gen/runtime/index.js";

const url = process.argv[2] ?? "ws://127.0.0.1:4000";
// Node 20 has no global WebSocket: hand the runtime the `ws` package's.
const link = await openWebSocket(url, { WebSocket: WebSocket as unknown as WebSocketConstructor });
const conn = await connect(link);
const calc = createCalculatorClient(conn);
const numbers = createNumbersClient(conn);

console.log("add(2, 3)              =", await calc.add(2, 3));
console.log("divide(7, 2)           =", await calc.divide(7, 2));
try {
  await calc.divide(1, 0);
} catch (e) {
  // A user error arrives typed: `code` is "user" and `value` is a MathError.
  if (RoamError.is(e) && e.code === "user") console.log("divide(1, 0)           = error", e.value);
  else throw e;
}
const settled = await settle(calc.divide(1, 0));
console.log("settle(divide(1, 0))   =", settled.ok ? settled.value : `error ${String(settled.error.value)}`);
console.log("translate((1,2), 3, 4) =", await calc.translate({ x: 1, y: 2 }, 3, 4));
console.log("greet(\"Node\")          =", await calc.greet("Node", { metadata: { user: "example" } }));

// A stream from the server: `count` sends 0..n-1 on the Tx the client passes.
const [tx, rx] = channel<bigint>();
const counting = numbers.count(5n, tx);
const counted: bigint[] = [];
for await (const n of rx) counted.push(n);
await counting;
console.log("count(5)               =", counted.join(", "));

// A stream to the server: any AsyncIterable works for an Rx argument.
async function* upTo(n: bigint) {
  for (let i = 1n; i <= n; i++) yield i;
}
console.log("sum(1..=100)           =", await numbers.sum(upTo(100n)));

// A deadline goes on the wire; the Rust handler is stopped when it passes.
const quick = await settle(calc.add(1, 1, { timeoutMs: 5_000 }));
console.log("add(1, 1) within 5 s   =", quick.ok ? quick.value : quick.error.code);
await conn.close();
