/**
 * A fault-injection relay for Node tests, the counterpart of the Rust suite's
 * `tests/src/relay.rs`: a byte-level TCP proxy (so it serves `tcp://` and `ws://` alike) that
 * cuts every relayed connection on command or at seeded byte offsets, counting the bytes it
 * forwards both ways. A cut falls anywhere, even inside a frame: that is the point.
 */
import { createConnection, createServer } from "node:net";
import type { AddressInfo, Server, Socket } from "node:net";

/** splitmix64 over BigInt: the same seed gives the same offsets. */
function* splitmix(seed: bigint): Generator<bigint> {
  const mask = (1n << 64n) - 1n;
  let state = seed & mask;
  for (;;) {
    state = (state + 0x9e3779b97f4a7c15n) & mask;
    let z = state;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & mask;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & mask;
    yield z ^ (z >> 31n);
  }
}

/** `cuts` byte offsets, each gap uniform in [mean/2, 3·mean/2]. */
export function planCuts(seed: number, cuts: number, meanBytes: number): number[] {
  const random = splitmix(BigInt(seed));
  const offsets: number[] = [];
  let at = 0;
  for (let i = 0; i < cuts; i++) {
    const gap = Math.floor(meanBytes / 2) + Number(random.next().value! % BigInt(meanBytes + 1));
    at += Math.max(1, gap);
    offsets.push(at);
  }
  return offsets;
}

export class Relay {
  private readonly pairs = new Set<[Socket, Socket]>();
  private plan: number[] = [];
  /** Bytes forwarded since the plan was armed (both ways). */
  private forwarded = 0;
  /** Cuts made so far. */
  cuts = 0;

  private readonly server: Server;
  private readonly target: { host: string; port: number };

  private constructor(server: Server, target: { host: string; port: number }) {
    this.server = server;
    this.target = target;
  }

  /** Listens on 127.0.0.1 and relays every connection to `target`. */
  static async start(target: { host: string; port: number }): Promise<Relay> {
    let relay: Relay | undefined;
    const server = createServer((client) => relay!.accept(client));
    relay = new Relay(server, target);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return relay;
  }

  /** The port clients connect to. */
  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** Cuts at these offsets of the bytes forwarded from now on. */
  cutAt(offsets: number[]): void {
    this.plan = [...offsets];
    this.forwarded = 0;
  }

  /** Drops every relayed connection now (both sockets); new ones are still accepted. */
  cut(): void {
    this.cuts++;
    for (const [a, b] of this.pairs) {
      a.destroy();
      b.destroy();
    }
    this.pairs.clear();
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket): void {
    client.setNoDelay(true);
    const server = createConnection(this.target);
    server.setNoDelay(true);
    const pair: [Socket, Socket] = [client, server];
    this.pairs.add(pair);
    const end = () => {
      client.destroy();
      server.destroy();
      this.pairs.delete(pair);
    };
    for (const [from, to] of [
      [client, server],
      [server, client],
    ] as const) {
      from.on("data", (chunk: Buffer) => this.forward(pair, chunk, to));
      from.on("close", end);
      from.on("error", end);
    }
  }

  /** Writes `chunk` on, up to the next planned cut; cuts there. */
  private forward(pair: [Socket, Socket], chunk: Buffer, to: Socket): void {
    if (!this.pairs.has(pair)) return;
    const next = this.plan[0];
    if (next !== undefined && this.forwarded + chunk.length >= next) {
      const keep = next - this.forwarded;
      if (keep > 0) to.write(chunk.subarray(0, keep));
      this.forwarded = next;
      this.plan.shift();
      this.cut();
      return;
    }
    this.forwarded += chunk.length;
    to.write(chunk);
  }
}
