// Links for the driver tests: an in-memory pair, a real loopback WebSocket (the `ws` package,
// injected as the constructor) and a real loopback TCP socket, each with a cleanup. Only
// 127.0.0.1 and port 0.

import { createServer } from "node:net";
import type { AddressInfo } from "node:net";
import { WebSocket as WsWebSocket, WebSocketServer } from "ws";

import assert from "node:assert/strict";

import { RoamError } from "../src/call-error.js";
import { linkPair } from "../src/link.js";
import type { Link } from "../src/link.js";
import { openWebSocket, webSocketLink } from "../src/transport-ws.js";
import { decodeMessage } from "../src/wire.js";
import type { Message } from "../src/wire.js";
import { connectTcp, tcpLink } from "../src/transport-tcp.js";

export interface Linked {
  readonly client: Link;
  readonly server: Link;
  /** Closes the listener (the links are closed by the sessions). */
  readonly cleanup: () => Promise<void>;
}

export type Transport = "memory" | "websocket" | "tcp";
export const TRANSPORTS: readonly Transport[] = ["memory", "websocket", "tcp"];

export function link(t: Transport): Promise<Linked> {
  switch (t) {
    case "memory": {
      const [client, server] = linkPair();
      return Promise.resolve({ client, server, cleanup: () => Promise.resolve() });
    }
    case "websocket":
      return webSocketPair();
    case "tcp":
      return tcpPair();
  }
}

async function webSocketPair(): Promise<Linked> {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  await new Promise<void>((resolve) => wss.once("listening", () => resolve()));
  const accepted = new Promise<Link>((resolve) =>
    wss.once("connection", (socket) => resolve(webSocketLink(socket))),
  );
  const { port } = wss.address() as AddressInfo;
  const client = await openWebSocket(`ws://127.0.0.1:${port}/`, { WebSocket: WsWebSocket });
  const server = await accepted;
  const cleanup = () =>
    new Promise<void>((resolve) => {
      for (const c of wss.clients) c.terminate();
      wss.close(() => resolve());
    });
  return { client, server, cleanup };
}

/** A raw `ws` client socket to a fresh server link, for feeding the server bad messages. */
export async function rawWebSocket(): Promise<{
  raw: WsWebSocket;
  server: Link;
  cleanup: () => Promise<void>;
}> {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  await new Promise<void>((resolve) => wss.once("listening", () => resolve()));
  const accepted = new Promise<Link>((resolve) =>
    wss.once("connection", (socket) => resolve(webSocketLink(socket))),
  );
  const { port } = wss.address() as AddressInfo;
  const raw = new WsWebSocket(`ws://127.0.0.1:${port}/`);
  raw.binaryType = "arraybuffer";
  await new Promise<void>((resolve, reject) => {
    raw.once("open", () => resolve());
    raw.once("error", reject);
  });
  const server = await accepted;
  const cleanup = () =>
    new Promise<void>((resolve) => {
      raw.terminate();
      for (const c of wss.clients) c.terminate();
      wss.close(() => resolve());
    });
  return { raw, server, cleanup };
}

async function tcpPair(): Promise<Linked> {
  const server = createServer();
  const accepted = new Promise<Link>((resolve) =>
    server.once("connection", (socket) => resolve(tcpLink(socket))),
  );
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const { port } = server.address() as AddressInfo;
  const client = await connectTcp(port, "127.0.0.1");
  const serverLink = await accepted;
  const cleanup = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return { client, server: serverLink, cleanup };
}

/** Rejects after `ms`: a hang guard, never a timing assertion. */
export function within<T>(ms: number, p: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`hung: ${what}`)), ms);
  });
  return Promise.race([p, guard]).finally(() => clearTimeout(timer));
}

export function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
}

export function readU32(b: Uint8Array, at = 0): number {
  return new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(at, true);
}

/** How long a call a test expects to fail may take: a hang guard, not a timing check. */
const REJECT_GUARD = 10_000;

/** Awaits `p`, which must reject with a {@link RoamError} of `code`; returns the error. */
export async function expectCode(p: Promise<unknown>, code: string): Promise<RoamError> {
  try {
    await within(REJECT_GUARD, p, `a call rejecting ${code}`);
  } catch (e) {
    assert.ok(RoamError.is(e), `a RoamError, not ${String(e)}`);
    assert.equal(e.code, code, e.message);
    return e;
  }
  assert.fail(`expected a rejection with ${code}`);
}

/** `link`, with every frame it sends decoded into `sent` and every frame it delivers into `heard`. */
export function tapped(link: Link, log: { sent?: Message[]; heard?: Message[] }): Link {
  return {
    start: (receiver) =>
      link.start({
        frame: (body) => {
          log.heard?.push(decodeMessage(body));
          receiver.frame(body);
        },
        closed: (why) => receiver.closed(why),
      }),
    send: (frame) => {
      log.sent?.push(decodeMessage(frame));
      link.send(frame);
    },
    get bufferedAmount() {
      return link.bufferedAmount;
    },
    get maxFrameSize() {
      return link.maxFrameSize;
    },
    set maxFrameSize(value: number) {
      link.maxFrameSize = value;
    },
    close: () => link.close(),
  };
}
