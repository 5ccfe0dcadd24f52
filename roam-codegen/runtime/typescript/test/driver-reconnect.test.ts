// Reconnecting connections (`dial`): a real reconnect loop against a fake server that speaks
// the acceptor side of resumption by script (test/resume-util.ts), over in-memory links, real
// TCP sockets and real WebSockets. The server cuts links; the client must come back with a
// resume Hello whose proof verifies, and carry on where it was. Also: a refused resume (fresh
// session, idempotent calls made again), a budget that runs out, backpressure from the replay
// buffer, closing while reconnecting, and how the first connection is retried.
//
// Nothing here measures time: retry delays are a few ms so the loop is quick, and every wait
// is for an outcome (with a hang guard).

import { afterEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:net";
import type { AddressInfo, Server } from "node:net";
import { WebSocket as WsWebSocket, WebSocketServer } from "ws";

import { ChannelSender } from "../src/channel-ends.js";
import { tuple, u32 } from "../src/codec.js";
import { Connection, connect, dial } from "../src/driver.js";
import type { ConnectionState, DialOptions, LinkOpener } from "../src/driver.js";
import { linkPair } from "../src/link.js";
import { invoke } from "../src/service.js";
import type { MethodDescriptor } from "../src/service.js";
import { connectTcp, dialTcp, tcpLink } from "../src/transport-tcp.js";
import { dialWebSocket, webSocketLink } from "../src/transport-ws.js";
import type { Message, RequestMessage } from "../src/wire.js";
import { expectCode, within } from "./driver-util.js";
import { bytes, toHex } from "./helpers.js";
import { FakeServer, REFUSAL, until } from "./resume-util.js";
import type { ScriptedAcceptor } from "./resume-util.js";

/** Quick retries, so tests run fast; no keepalive (the server does not ping). */
const FAST: DialOptions = {
  keepalive: false,
  retry: { initialDelayMs: 2, maxDelayMs: 10, budgetMs: 5_000 },
};

interface Rig {
  readonly server: FakeServer;
  /** Makes links to the server (fails while it is down). */
  readonly open: LinkOpener;
  /** Dials with the rig's transport (the generic `dial`, or the transport's own). */
  readonly dial: (options: DialOptions) => Promise<Connection>;
  /** Whether new links are refused. */
  down: boolean;
  /** Links opened so far (attempts that reached the server). */
  opened: number;
  readonly close: () => Promise<void>;
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

function memoryRig(): Rig {
  const server = new FakeServer();
  const rig: Rig = {
    server,
    down: false,
    opened: 0,
    open: () => {
      if (rig.down) return Promise.reject(new Error("connection refused (the test's server is down)"));
      rig.opened++;
      const [client, side] = linkPair();
      server.accept(side);
      return Promise.resolve(client);
    },
    dial: (options) => dial(rig.open, options),
    close: () => Promise.resolve(),
  };
  return rig;
}

async function tcpRig(): Promise<Rig> {
  const server = new FakeServer();
  let rig: Rig;
  const listener: Server = createServer((socket) => {
    if (rig.down) return socket.destroy();
    rig.opened++;
    server.accept(tcpLink(socket));
  });
  await new Promise<void>((resolve) => listener.listen(0, "127.0.0.1", () => resolve()));
  const { port } = listener.address() as AddressInfo;
  rig = {
    server,
    down: false,
    opened: 0,
    open: () => connectTcp(port, "127.0.0.1"),
    dial: (options) => dialTcp(port, "127.0.0.1", options),
    close: () =>
      new Promise<void>((resolve) => {
        for (const l of server.links) l.link.close();
        listener.close(() => resolve());
      }),
  };
  return rig;
}

async function webSocketRig(): Promise<Rig> {
  const server = new FakeServer();
  let rig: Rig;
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  await new Promise<void>((resolve) => wss.once("listening", () => resolve()));
  wss.on("connection", (socket) => {
    if (rig.down) return socket.terminate();
    rig.opened++;
    server.accept(webSocketLink(socket));
  });
  const { port } = wss.address() as AddressInfo;
  const url = `ws://127.0.0.1:${port}/`;
  rig = {
    server,
    down: false,
    opened: 0,
    open: () => {
      throw new Error("use dial");
    },
    dial: (options) => dialWebSocket(url, { WebSocket: WsWebSocket, ...options }),
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => resolve());
      }),
  };
  return rig;
}

/** A connection from `rig`, with every state change it reports recorded. */
async function dialed(rig: Rig, options: DialOptions = {}) {
  const states: ConnectionState[] = [];
  const conn = await within(
    10_000,
    rig.dial({ ...FAST, ...options, onStateChange: (c) => states.push(c.state) }),
    "dial",
  );
  cleanups.push(async () => {
    await conn.close();
    await rig.close();
  });
  return { conn, states };
}

/** Holds the server's answers: requests are kept until the test answers them. */
function holdAnswers(server: FakeServer): RequestMessage[] {
  const held: RequestMessage[] = [];
  server.onRequest = (_acc, req) => held.push(req);
  return held;
}

function answer(acc: ScriptedAcceptor, req: RequestMessage, payload = req.payload): void {
  acc.send({ type: "response", conn: 0n, id: req.id, metadata: [], payload: Uint8Array.of(0, ...payload) });
}

const TRANSPORTS = [
  ["in-memory links", () => Promise.resolve(memoryRig())],
  ["TCP", tcpRig],
  ["WebSocket", webSocketRig],
] as const;

for (const [name, make] of TRANSPORTS) {
  describe(`resuming over ${name}`, () => {
    test("a cut link is resumed with a proof that verifies; the call in flight completes", async () => {
      const rig = await make();
      const { conn, states } = await dialed(rig, { metadata: { authorization: "Bearer t" } });
      assert.deepEqual(states, ["connected"]);
      assert.equal(conn.state, "connected");
      const acc = rig.server.sessions[0]!;
      const held = holdAnswers(rig.server);
      const call = conn.call(1n, bytes(5));
      await until(() => held.length === 1, "the request");
      // The server loses the link and answers meanwhile: the answer waits for the resume.
      rig.server.cut(acc);
      answer(acc, held[0]!);
      const r = await within(10_000, call, "the answer after the resume");
      assert.equal(toHex(r.payload), "00 05");
      await until(() => conn.state === "resumed", "resumed");
      assert.deepEqual(states, ["connected", "reconnecting", "resumed"]);
      assert.equal(acc.resumes.length, 1);
      assert.ok(acc.resumes[0]!.verified, "the proof verifies");
      // The resume Hello says what the first said about us.
      assert.deepEqual(rig.server.helloMetadata[1], rig.server.helloMetadata[0]);
      assert.deepEqual(rig.server.helloMetadata[0], [["authorization", "Bearer t"]]);
      // And again: the second proof is made with the rotated secret.
      rig.server.onRequest = (a, req) => answer(a, req);
      rig.server.cut(acc);
      const again = await within(10_000, conn.call(1n, bytes(6)), "a call after the second cut");
      assert.equal(toHex(again.payload), "00 06");
      assert.deepEqual(acc.resumes.map((x) => x.verified), [true, true]);
      assert.equal(rig.server.sessions.length, 1, "one session all along");
      // Each request reached the server exactly once.
      const ids = acc.heard.filter((m): m is RequestMessage => m.type === "request").map((m) => m.id);
      assert.equal(new Set(ids).size, ids.length);
    });
  });
}

describe("when the session cannot be resumed", () => {
  test("a refused resume: calls in flight fail, idempotent ones go to the fresh session", async () => {
    const rig = memoryRig();
    const { conn, states } = await dialed(rig);
    const first = rig.server.sessions[0]!;
    const held = holdAnswers(rig.server);
    const lost = conn.call(1n, bytes(1));
    // As generated code calls a method marked #[roam(idempotent)].
    const ECHO: MethodDescriptor<[number], number, never> = {
      service: "T",
      method: "echo",
      id: 2n,
      args: tuple(u32),
      ok: u32,
      err: undefined,
      channels: [],
      schemas: { args: bytes(1, 0, 3), response: bytes(1, 0, 3), channels: bytes(1, 0, 15) },
    };
    const again = invoke(conn, ECHO, [7], [], { idempotent: true });
    await until(() => held.length === 2, "both requests");
    rig.server.refuseResumes = REFUSAL.unknown;
    rig.server.onRequest = (acc, req) => answer(acc, req);
    rig.server.cut(first);
    const e = await expectCode(lost, "connection_lost");
    assert.deepEqual(e.sessionError, { kind: "refused", by: "resume", reason: REFUSAL.unknown });
    assert.equal(await within(10_000, again, "the idempotent call, made again"), 7);
    await until(() => conn.state === "fresh", "a fresh session");
    assert.deepEqual(states, ["connected", "reconnecting", "connecting", "fresh"]);
    const fresh = rig.server.sessions[1]!;
    assert.equal(rig.server.sessions.length, 2);
    const methods = (acc: ScriptedAcceptor) =>
      acc.heard.filter((m): m is RequestMessage => m.type === "request").map((m) => m.methodId);
    assert.deepEqual(methods(fresh), [2n], "only the idempotent call was made again");
    // New calls go to the fresh session, on the same handle.
    assert.equal(toHex((await conn.call(3n, bytes(9))).payload), "00 09");
    assert.deepEqual(methods(fresh), [2n, 3n]);
  });

  test("calls made while reconnecting wait unsent, and go to the fresh session", async () => {
    const rig = memoryRig();
    const { conn, states } = await dialed(rig);
    rig.down = true;
    rig.server.cut(rig.server.sessions[0]!);
    await until(() => conn.state === "reconnecting", "reconnecting");
    const waiting = conn.call(4n, bytes(4));
    rig.server.refuseResumes = REFUSAL.unknown;
    rig.down = false;
    assert.equal(toHex((await within(10_000, waiting, "the waiting call")).payload), "00 04");
    assert.deepEqual(states, ["connected", "reconnecting", "connecting", "fresh"]);
    const heard = rig.server.sessions[0]!.heard.filter((m) => m.type === "request");
    assert.equal(heard.length, 0, "it never went to the lost session");
  });

  test("a budget that runs out gives the session up; a fresh session follows", async () => {
    const rig = memoryRig();
    // The server is unreachable for as long as the client tries to resume, and back after.
    let conn: Connection | undefined;
    const open: LinkOpener = (signal) =>
      conn?.state === "reconnecting" ? Promise.reject(new Error("unreachable")) : rig.open(signal);
    const states: ConnectionState[] = [];
    conn = await dial(open, {
      ...FAST,
      retry: { initialDelayMs: 2, maxDelayMs: 5, budgetMs: 40 },
      onStateChange: (c) => states.push(c.state),
    });
    cleanups.push(() => conn!.close());
    holdAnswers(rig.server);
    const lost = conn.call(1n, bytes(1));
    await until(() => rig.server.sessions[0]!.heard.length === 1, "the request");
    rig.server.onRequest = (acc, req) => answer(acc, req);
    rig.server.cut(rig.server.sessions[0]!);
    const e = await expectCode(lost, "connection_lost");
    assert.equal(e.sessionError?.kind, "transport", "failed as the link's loss");
    await until(() => conn!.state === "fresh", "a fresh session");
    assert.deepEqual(states, ["connected", "reconnecting", "connecting", "fresh"]);
    assert.equal(rig.server.sessions[0]!.resumes.length, 0, "no resume ever reached it");
    assert.equal(toHex((await conn.call(2n, bytes(2))).payload), "00 02");
  });

  test("with no server to come back to, the connection ends: closed, and calls fail", async () => {
    const rig = memoryRig();
    const { conn, states } = await dialed(rig, {
      retry: { initialDelayMs: 1, maxDelayMs: 2, budgetMs: 30 },
    });
    rig.down = true;
    rig.server.cut(rig.server.sessions[0]!);
    await until(() => conn.state === "reconnecting", "reconnecting");
    const waiting = conn.call(1n, bytes(1));
    const why = await within(10_000, conn.closed, "the end");
    assert.equal(why.kind, "transport");
    assert.match(why.kind === "transport" ? why.detail : "", /^no link could be made: connection refused/);
    await expectCode(waiting, "connection_lost");
    assert.deepEqual(states, ["connected", "reconnecting", "connecting", "closed"]);
    await expectCode(conn.call(2n, bytes(2)), "connection_lost");
    await within(10_000, conn.done, "done");
  });
});

describe("backpressure from the replay buffer", () => {
  test("tx.send waits while the peer has not acknowledged; acks let it go on", async () => {
    const rig = memoryRig();
    const { conn } = await dialed(rig, { resumption: { buffer: 256 } });
    const acc = rig.server.sessions[0]!;
    rig.server.holdAcks = true;
    const items: number[] = [];
    rig.server.onMessage = (_a, m: Message) => {
      if (m.type === "data") items.push(m.payload[0]!);
    };
    holdAnswers(rig.server);
    const tx = new ChannelSender();
    void conn.call(5n, bytes(), { channels: [tx] }).catch(() => {});
    let sent = 0;
    const loop = (async () => {
      for (let i = 0; i < 30; i++) {
        await tx.send(Uint8Array.of(i, ...new Uint8Array(30)));
        sent++;
      }
    })();
    await until(() => items.length > 0 && items.length === sent, "some items");
    for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r));
    assert.ok(sent < 30, `the sender waits (${sent} sent)`);
    assert.equal(items.length, sent, "nothing was lost or failed meanwhile");
    rig.server.holdAcks = false;
    acc.ack();
    await within(10_000, loop, "the rest of the items");
    await until(() => items.length === 30, "every item");
    assert.deepEqual(items, Array.from({ length: 30 }, (_, i) => i));
  });
});

describe("the connection's life", () => {
  test("closing while reconnecting ends it at once; calls fail and nothing more is dialed", async () => {
    const rig = memoryRig();
    const { conn, states } = await dialed(rig, { retry: { initialDelayMs: 50, maxDelayMs: 50 } });
    rig.down = true;
    rig.server.cut(rig.server.sessions[0]!);
    await until(() => conn.state === "reconnecting", "reconnecting");
    const waiting = conn.call(1n, bytes(1));
    await conn.close();
    assert.equal(conn.state, "closed");
    assert.deepEqual(states, ["connected", "reconnecting", "closed"]);
    const e = await expectCode(waiting, "connection_lost");
    assert.deepEqual(e.sessionError, { kind: "locally-closed" });
    const opened = rig.opened;
    rig.down = false;
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    assert.equal(rig.opened, opened, "no more links");
  });

  test("the first connection is retried while the server is down", async () => {
    const rig = memoryRig();
    rig.down = true;
    let attempts = 0;
    const open: LinkOpener = (signal) => {
      attempts++;
      if (attempts === 3) rig.down = false;
      return rig.open(signal);
    };
    const states: ConnectionState[] = [];
    const conn = await within(10_000, dial(open, { ...FAST, onStateChange: (c) => states.push(c.state) }), "dial");
    cleanups.push(() => conn.close());
    assert.equal(attempts, 3);
    assert.deepEqual(states, ["connected"]);
  });

  test("a refused session is not retried; a refused certificate-like error neither", async () => {
    const rig = memoryRig();
    rig.server.onRequest = () => {};
    let opened = 0;
    const refusing: LinkOpener = () => {
      opened++;
      const [client, side] = linkPair();
      side.start({
        frame: () => {
          side.send(new Uint8Array([1, ...goodbyeText("unauthenticated: bad token")]));
          side.close();
        },
        closed: () => {},
      });
      return Promise.resolve(client);
    };
    const e = await expectCode(dial(refusing, FAST), "handshake_failed");
    assert.deepEqual(e.sessionError, { kind: "refused", by: "authentication", reason: "bad token" });
    assert.equal(opened, 1);
    let tries = 0;
    const permanent = Object.assign(new Error("certificate refused"), { retryable: false });
    await assert.rejects(
      dial(() => {
        tries++;
        return Promise.reject(permanent);
      }, FAST),
      (err) => err === permanent,
    );
    assert.equal(tries, 1);
  });

  test("retry: false connects once, and a lost link ends the connection", async () => {
    const rig = memoryRig();
    const { conn, states } = await dialed(rig, { retry: false });
    assert.deepEqual(rig.server.sessions.length, 1);
    assert.equal(rig.server.links[0]!.hello?.replay.type, "off", "no resumption without retries");
    holdAnswers(rig.server);
    const lost = conn.call(1n, bytes(1));
    await until(() => rig.server.sessions[0]!.heard.length === 1, "the request");
    rig.server.cut(rig.server.sessions[0]!);
    await expectCode(lost, "connection_lost");
    await within(10_000, conn.closed, "closed");
    assert.deepEqual(states, ["connected", "closed"]);
  });

  test("resumable: false still reconnects, with a fresh session", async () => {
    const rig = memoryRig();
    const { conn, states } = await dialed(rig, { resumable: false });
    assert.equal(rig.server.links[0]!.hello?.replay.type, "off");
    rig.server.cut(rig.server.sessions[0]!);
    await until(() => conn.state === "fresh", "fresh");
    assert.deepEqual(states, ["connected", "connecting", "fresh"]);
    assert.equal(toHex((await conn.call(1n, bytes(3))).payload), "00 03");
  });

  test("connect() over a given link: connected, then closed; it never offers resumption", async () => {
    const [client, server] = linkPair();
    const fake = new FakeServer();
    fake.accept(server);
    const conn = await connect(client, { keepalive: false });
    const seen: ConnectionState[] = [];
    const stop = conn.onStateChange((c) => seen.push(c.state));
    assert.equal(conn.state, "connected");
    assert.equal(fake.links[0]!.hello?.replay.type, "off");
    fake.cut(fake.sessions[0]!);
    await within(10_000, conn.closed, "closed");
    assert.deepEqual(seen, ["closed"]);
    stop();
  });
});

/** A Goodbye body's reason, as postcard writes a string (length, then UTF-8). */
function goodbyeText(reason: string): Uint8Array {
  const b = new TextEncoder().encode(reason);
  return Uint8Array.of(b.length, ...b);
}
