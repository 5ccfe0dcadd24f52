// The driver's one timer and its backlog bound, with real (small) timeouts as hang guards and
// links wrapped to watch or starve the session. No assertion on how long anything took.

import { test } from "node:test";
import assert from "node:assert/strict";

import { RoamError, connect } from "../src/driver.js";
import { linkPair } from "../src/link.js";
import type { Link, LinkReceiver } from "../src/link.js";
import { MAX_WRITE_BACKLOG } from "../src/session.js";
import { decodeMessage, encodeMessage, DEFAULT_LIMITS, PROTOCOL_VERSION } from "../src/wire.js";
import type { Message } from "../src/wire.js";
import { tapped, within } from "./driver-util.js";

const GUARD = 10_000;

/** A link that records what the session sends and never delivers anything. */
class SilentLink implements Link {
  readonly sent: Message[] = [];
  maxFrameSize = Number.MAX_SAFE_INTEGER;
  receiver: LinkReceiver | undefined;
  closed = false;
  bufferedAmount = 0;
  start(receiver: LinkReceiver): void {
    this.receiver = receiver;
  }
  send(frame: Uint8Array): void {
    this.sent.push(decodeMessage(frame));
  }
  close(): void {
    this.closed = true;
  }
}

test("a peer that never says Hello fails the handshake on the session's timer", async () => {
  const link = new SilentLink();
  const connecting = connect(link, { handshakeTimeoutMs: 20 }).catch((x: unknown) => x);
  const e = await within(GUARD, connecting, "connect");
  assert.ok(RoamError.is(e) && e.code === "handshake_failed", String(e));
  assert.equal(e.sessionError?.kind, "timed-out");
  assert.deepEqual(link.sent.map((m) => m.type), ["hello", "goodbye"]);
  assert.ok(link.closed);
});

test("keepalive pings flow on the timer and a live peer keeps the session open", async () => {
  const [a, b] = linkPair();
  const log: Message[] = [];
  const keepalive = { intervalMs: 10, timeoutMs: 5_000 };
  const [client, server] = await Promise.all([
    connect(tapped(a, { sent: log }), { keepalive }),
    connect(b, { role: "acceptor" }),
  ]);
  await within(
    GUARD,
    (async () => {
      while (log.filter((m) => m.type === "ping").length < 3) {
        await new Promise((r) => setTimeout(r, 5));
      }
    })(),
    "three pings",
  );
  assert.equal(client.isClosed, false);
  await within(GUARD, Promise.all([client.close(), server.done]), "close");
});

test("a peer that stops answering pings times the session out", async () => {
  const link = new SilentLink();
  const pending = connect(link, { keepalive: { intervalMs: 10, timeoutMs: 30 } });
  const peerHello: Message = {
    type: "hello",
    version: PROTOCOL_VERSION,
    limits: { ...DEFAULT_LIMITS },
    sessionKey: new Uint8Array(16).fill(7),
    metadata: [],
    replay: { type: "off" },
  };
  link.receiver!.frame(encodeMessage(peerHello));
  const conn = await within(GUARD, pending, "connect");
  const why = await within(GUARD, conn.closed, "the keepalive timeout");
  assert.equal(why.kind, "timed-out");
  assert.ok(why.kind === "timed-out" && why.what === "keepalive");
  assert.ok(link.sent.some((m) => m.type === "ping"));
  // A link presumed dead gets no Goodbye, but it is closed.
  assert.equal(link.sent.at(-1)?.type, "ping");
  await within(GUARD, conn.done, "done");
  assert.ok(link.closed);
});

test("unwritten bytes past the bound end the session with write-backlog", async () => {
  const link = new SilentLink();
  const pending = connect(link, { keepalive: false });
  link.receiver!.frame(
    encodeMessage({
      type: "hello",
      version: PROTOCOL_VERSION,
      limits: { ...DEFAULT_LIMITS },
      sessionKey: new Uint8Array(16),
      metadata: [],
      replay: { type: "off" },
    }),
  );
  const conn = await within(GUARD, pending, "connect");
  link.bufferedAmount = MAX_WRITE_BACKLOG + 1;
  const call = conn.call(1n, new Uint8Array(0));
  const e = await within(GUARD, call.catch((x: unknown) => x), "the call failing");
  assert.ok(RoamError.is(e) && e.code === "connection_lost", String(e));
  const why = await conn.closed;
  assert.ok(why.kind === "protocol" && why.violation.rule === "write-backlog");
  const last = link.sent.at(-1);
  assert.ok(last?.type === "goodbye" && last.reason.startsWith("write-backlog: "));
});
