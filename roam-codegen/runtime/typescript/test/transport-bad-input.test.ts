// Link-level bad input over real sockets: a text WebSocket message, an oversize WebSocket
// message and an oversize TCP frame header each end the session with a Goodbye naming the
// rule, written before the link closes.

import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer, createConnection } from "node:net";
import type { AddressInfo, Socket } from "node:net";

import { connect } from "../src/driver.js";
import { FrameDecoder } from "../src/framing.js";
import { decodeMessage } from "../src/wire.js";
import type { Message } from "../src/wire.js";
import { tcpLink } from "../src/transport-tcp.js";
import { rawWebSocket, within } from "./driver-util.js";

const GUARD = 10_000;

function goodbyeOf(messages: Message[]): string {
  const g = messages.find((m) => m.type === "goodbye");
  const types = messages.map((m) => m.type).join(", ");
  assert.ok(g !== undefined && g.type === "goodbye", `a Goodbye among ${types}`);
  return g.reason;
}

type RawSocket = Awaited<ReturnType<typeof rawWebSocket>>["raw"];

async function wsCase(send: (raw: RawSocket) => void): Promise<string> {
  const { raw, server, cleanup } = await rawWebSocket();
  const received: Message[] = [];
  const closed = new Promise<void>((resolve) => raw.once("close", () => resolve()));
  raw.on("message", (data: ArrayBuffer) => received.push(decodeMessage(new Uint8Array(data))));
  const conn = connect(server, { role: "acceptor", limits: { maxFrameSize: 1024 } });
  send(raw);
  await assert.rejects(within(GUARD, conn, "the session failing"));
  await within(GUARD, closed, "the server closing the socket");
  await cleanup();
  return goodbyeOf(received);
}

test("a text WebSocket message ends the session with malformed-message", async () => {
  const reason = await wsCase((raw) => raw.send("hello"));
  assert.match(reason, /^malformed-message: .*text WebSocket message/);
});

test("a WebSocket message over the frame limit ends the session with frame-too-large", async () => {
  const reason = await wsCase((raw) => raw.send(new Uint8Array(2000)));
  assert.match(reason, /^frame-too-large: frame of 2000 bytes exceeds the maximum of 1024/);
});

test("a TCP frame header over the limit ends the session with frame-too-large", async () => {
  const listener = createServer();
  const accepted = new Promise<Socket>((resolve) => listener.once("connection", resolve));
  await new Promise<void>((resolve) => listener.listen(0, "127.0.0.1", () => resolve()));
  const { port } = listener.address() as AddressInfo;
  const raw = createConnection({ port, host: "127.0.0.1" });
  const decoder = new FrameDecoder(1 << 20);
  const received: Message[] = [];
  raw.on("data", (chunk: Buffer) => {
    decoder.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    for (let f = decoder.next(); f !== undefined; f = decoder.next()) {
      received.push(decodeMessage(f));
    }
  });
  const ended = new Promise<void>((resolve) => raw.once("close", () => resolve()));
  const limits = { maxFrameSize: 1024 };
  const conn = connect(tcpLink(await accepted), { role: "acceptor", limits });
  // A header claiming 4 GiB - 1: refused from the header, before any body arrives.
  raw.write(Uint8Array.of(0xff, 0xff, 0xff, 0xff));
  await assert.rejects(within(GUARD, conn, "the session failing"));
  await within(GUARD, ended, "the server closing the socket");
  assert.match(
    goodbyeOf(received),
    /^frame-too-large: frame of 4294967295 bytes exceeds the maximum of 1024/,
  );
  raw.destroy();
  await new Promise<void>((resolve) => listener.close(() => resolve()));
});
