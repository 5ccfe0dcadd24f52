// The TLS link (src/transport-tls.ts) and wss:// through `ws`, against TypeScript servers on
// loopback with a test PKI made when this file runs (the `test-pki` binary, via makePki in
// test/processes.ts; no certificate or key is checked in): sessions work over them, and each
// way a handshake can fail is told apart (an untrusted certificate, one that names another
// host, a peer that is not TLS, no listener at all). Timeouts are hang guards only.

import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { rmSync } from "node:fs";
import { createServer as createHttpsServer } from "node:https";
import { createServer as createTcpServer } from "node:net";
import type { AddressInfo, Server as NetServer } from "node:net";
import { createServer as createTlsServer } from "node:tls";
import type { TLSSocket, TlsOptions } from "node:tls";
import { WebSocketServer } from "ws";

import { ChannelReceiver, ChannelSender, connect } from "../src/driver.js";
import type { Connection, Handler } from "../src/driver.js";
import { RemoteError, remote } from "../src/response.js";
import { tcpLink } from "../src/transport-tcp.js";
import { TlsConnectError, connectTls } from "../src/transport-tls.js";
import { webSocketLink } from "../src/transport-ws.js";
import { readU32, u32, within } from "./driver-util.js";
import { PKI_CLIENT_URI, makePki, openLink } from "./processes.js";

const GUARD = 10_000;

// Fresh keys once for the whole file; the files are read into memory, so the directory goes
// when the file's tests are done.
const PKI = makePki();
after(() => rmSync(PKI.dir, { recursive: true, force: true }));
const CA = PKI.ca;
const SERVER = PKI.server;

const ECHO = 1n;
const COUNT = 2n;

/** Echoes its payload; streams `n` numbered items on its `Tx` argument. */
const handler: Handler = async (call) => {
  if (call.methodId === ECHO) return Uint8Array.of(0, ...call.payload);
  if (call.methodId === COUNT) {
    const tx = call.channels[0];
    assert.ok(tx instanceof ChannelSender);
    const n = readU32(call.payload);
    for (let i = 0; i < n; i++) await tx.send(u32(i));
    return Uint8Array.of(0);
  }
  return remote(RemoteError.UnknownMethod);
};

function listen(server: NetServer): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)),
  );
}

function shut(server: NetServer): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** A roam server on a `tls.Server`; `peers` gets each accepted socket. */
async function tlsServer(options: TlsOptions = {}, peers: TLSSocket[] = []) {
  const sessions: Promise<Connection>[] = [];
  const server = createTlsServer({ ...SERVER, ...options }, (socket) => {
    peers.push(socket);
    sessions.push(connect(tcpLink(socket), { role: "acceptor", handler }));
  });
  // A client that gives up on our certificate leaves a socket error behind: not the test's.
  server.on("tlsClientError", () => {});
  const port = await listen(server);
  const stop = async () => {
    for (const s of await Promise.all(sessions)) await within(GUARD, s.done, "server done");
    await shut(server);
  };
  return { port, stop };
}

/** Unary calls and a stream long enough to cross many TLS records. */
async function exercise(conn: Connection): Promise<void> {
  const payloads = Array.from({ length: 50 }, (_, i) =>
    Uint8Array.from({ length: i * 997 }, (_, j) => (i + j) & 0xff),
  );
  const answers = await within(
    GUARD,
    Promise.all(payloads.map((p) => conn.call(ECHO, p))),
    "echoes",
  );
  answers.forEach((a, i) => assert.deepEqual(a.payload.subarray(1), payloads[i]));
  const rx = new ChannelReceiver();
  const call = conn.call(COUNT, u32(5000), { channels: [rx] });
  let next = 0;
  await within(
    GUARD,
    (async () => {
      for await (const item of rx) assert.equal(readU32(item), next++);
    })(),
    "the stream",
  );
  assert.equal(next, 5000);
  await within(GUARD, call, "the stream's call");
}

/** Awaits `p`, which must reject with a {@link TlsConnectError}; returns it. */
async function tlsFailure(p: Promise<unknown>): Promise<TlsConnectError> {
  const e = await within(GUARD, p.then(() => undefined, (x: unknown) => x), "a TLS failure");
  assert.ok(TlsConnectError.is(e), `a TlsConnectError, not ${String(e)}`);
  return e;
}

describe("tls:// (connectTls)", { timeout: 60_000 }, () => {
  test("a session runs over it, to an address and to a name the certificate carries", async () => {
    const server = await tlsServer();
    for (const host of ["127.0.0.1", "localhost"]) {
      const conn = await connect(await connectTls(server.port, host, { ca: CA }));
      await exercise(conn);
      await within(GUARD, conn.close(), "close");
    }
    await server.stop();
  });

  test("a certificate from a CA this side does not trust is refused: pass ca", async () => {
    const server = await tlsServer();
    const e = await tlsFailure(connectTls(server.port, "127.0.0.1"));
    assert.equal(e.code, "UNABLE_TO_VERIFY_LEAF_SIGNATURE");
    assert.equal(e.certificate, true);
    assert.match(e.message, /127\.0\.0\.1:\d+/);
    assert.match(e.message, /`ca`/);
    await server.stop();
  });

  test("a certificate for another name is refused with ERR_TLS_CERT_ALTNAME_INVALID", async () => {
    const server = await tlsServer();
    const options = { ca: CA, servername: "elsewhere.invalid" };
    const e = await tlsFailure(connectTls(server.port, "127.0.0.1", options));
    assert.equal(e.code, "ERR_TLS_CERT_ALTNAME_INVALID");
    assert.equal(e.certificate, true);
    assert.match(e.message, /does not name elsewhere\.invalid/);
    await server.stop();
  });

  test("a peer that does not speak TLS fails the handshake, not a certificate", async () => {
    // A roam TCP server would read the ClientHello as a frame header; any plain reply will do.
    const plain = createTcpServer((s) => {
      s.on("error", () => {});
      s.once("data", () => s.end(Uint8Array.of(4, 0, 0, 0, 5, 1, 2, 3)));
    });
    const port = await listen(plain);
    const e = await tlsFailure(connectTls(port, "127.0.0.1", { ca: CA }));
    assert.equal(e.certificate, false);
    assert.match(e.message, /tls:\/\/, not tcp:\/\//);
    await shut(plain);
  });

  test("no listener is Node's own connection error, as for TCP", async () => {
    const gone = createTcpServer();
    const port = await listen(gone);
    await shut(gone);
    const e = await within(
      GUARD,
      connectTls(port, "127.0.0.1", { ca: CA }).then(() => undefined, (x: unknown) => x),
      "refused",
    );
    assert.ok(!TlsConnectError.is(e));
    assert.equal((e as { code?: unknown }).code, "ECONNREFUSED");
  });

  test("a client certificate is presented to a server that asks for one", async () => {
    const peers: TLSSocket[] = [];
    const server = await tlsServer({ requestCert: true, rejectUnauthorized: true, ca: CA }, peers);
    const link = await connectTls(server.port, "localhost", {
      ca: CA,
      cert: PKI.client.cert,
      key: PKI.client.key,
    });
    const conn = await connect(link);
    await within(GUARD, conn.call(ECHO, Uint8Array.of(7)), "echo");
    assert.equal(peers[0]?.authorized, true);
    // The generated client certificate names its holder by SAN URI (its CN is only rcgen's
    // placeholder), and the server saw the very certificate this side presented.
    const presented = peers[0]?.getPeerCertificate();
    assert.equal(presented?.subjectaltname, `URI:${PKI_CLIENT_URI}`);
    assert.equal(presented?.fingerprint256, new X509Certificate(PKI.client.cert).fingerprint256);
    await within(GUARD, conn.close(), "close");
    await server.stop();
  });
});

describe("wss:// through ws, with the CA injected (test/processes.ts openLink)", () => {
  async function wssServer() {
    const https = createHttpsServer(SERVER);
    const wss = new WebSocketServer({ server: https });
    const sessions: Promise<Connection>[] = [];
    wss.on("connection", (socket) => {
      sessions.push(connect(webSocketLink(socket), { role: "acceptor", handler }));
    });
    https.on("tlsClientError", () => {});
    const port = await listen(https);
    const stop = async () => {
      for (const s of await Promise.all(sessions)) await within(GUARD, s.done, "server done");
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await shut(https);
    };
    return { url: `wss://127.0.0.1:${port}/`, stop };
  }

  test("a session runs over it when the server's CA is given", async () => {
    const server = await wssServer();
    const conn = await connect(await openLink(server.url, { ca: CA }));
    await exercise(conn);
    await within(GUARD, conn.close(), "close");
    await server.stop();
  });

  test("without the CA, it closes unopened with ws's certificate error as cause", async () => {
    const server = await wssServer();
    const e = await within(
      GUARD,
      openLink(server.url).then(() => undefined, (x: unknown) => x),
      "the refused socket",
    );
    assert.ok(e instanceof Error, String(e));
    const code = (e.cause as { code?: unknown } | undefined)?.code;
    assert.equal(code, "UNABLE_TO_VERIFY_LEAF_SIGNATURE");
    assert.match(e.message, /closed unopened \(code 1006\): unable to verify the first/);
    await server.stop();
  });
});
