// connectTls giving up (src/transport-tls.ts): against a plain TCP server that accepts and
// never answers, the attempt ends on `timeoutMs` or its signal, rejects with a typed error,
// and the socket is destroyed (the server sees it close). No certificate is involved, so
// unlike test/transport-tls.test.ts this file needs no Rust binary. Timeouts here are hang
// guards only; nothing asserts how long something took.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:net";
import type { AddressInfo, Socket } from "node:net";

import { TlsConnectError, connectTls } from "../src/transport-tls.js";
import { within } from "./driver-util.js";

const GUARD = 10_000;

/**
 * A TCP server that takes the ClientHello and says nothing. `accepted` resolves with the first
 * connection, `closed` once that connection has closed.
 */
async function silentServer() {
  const sockets: Socket[] = [];
  let onAccepted: (s: Socket) => void = () => {};
  const accepted = new Promise<Socket>((resolve) => (onAccepted = resolve));
  const server = createServer((s) => {
    s.on("error", () => {});
    // Reading (and dropping) what arrives, so the client's end of the stream is seen.
    s.resume();
    sockets.push(s);
    onAccepted(s);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const { port } = server.address() as AddressInfo;
  const closed = accepted.then((s) => new Promise<void>((resolve) => s.once("close", resolve)));
  const stop = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
  return { port, accepted, closed, stop };
}

/** What `p` rejected with; fails the test if it resolved. */
async function rejection(p: Promise<unknown>, what: string): Promise<unknown> {
  return within(
    GUARD,
    p.then(
      () => assert.fail(`${what} resolved`),
      (e: unknown) => e,
    ),
    what,
  );
}

describe("connectTls gives up", { timeout: 30_000 }, () => {
  test("a server that never answers the handshake: ETIMEDOUT after timeoutMs", async () => {
    const server = await silentServer();
    const e = await rejection(connectTls(server.port, "127.0.0.1", { timeoutMs: 50 }), "connect");
    assert.ok(TlsConnectError.is(e), `a TlsConnectError, not ${String(e)}`);
    assert.equal(e.code, "ETIMEDOUT");
    assert.equal(e.certificate, false);
    // The TCP connection was made, so the message points at the handshake.
    assert.match(e.message, new RegExp(`TLS handshake with 127\\.0\\.0\\.1:${server.port}`));
    assert.match(e.message, /tls:\/\/, not tcp:\/\//);
    await within(GUARD, server.closed, "the socket being destroyed");
    await server.stop();
  });

  test("aborting the signal: ABORT_ERR with the abort reason as cause", async () => {
    const server = await silentServer();
    const controller = new AbortController();
    const connecting = connectTls(server.port, "127.0.0.1", {
      timeoutMs: Infinity,
      signal: controller.signal,
    });
    await within(GUARD, server.accepted, "the connection");
    const reason = new Error("the user went away");
    controller.abort(reason);
    const e = await rejection(connecting, "connect");
    assert.ok(TlsConnectError.is(e), `a TlsConnectError, not ${String(e)}`);
    assert.equal(e.code, "ABORT_ERR");
    assert.equal(e.certificate, false);
    assert.equal(e.cause, reason);
    assert.match(e.message, /aborted/);
    await within(GUARD, server.closed, "the socket being destroyed");
    await server.stop();
  });

  test("a signal aborted already rejects ABORT_ERR", async () => {
    const server = await silentServer();
    const reason = new Error("too late");
    const e = await rejection(
      connectTls(server.port, "127.0.0.1", { signal: AbortSignal.abort(reason) }),
      "connect",
    );
    assert.ok(TlsConnectError.is(e), `a TlsConnectError, not ${String(e)}`);
    assert.equal(e.code, "ABORT_ERR");
    assert.equal(e.cause, reason);
    await server.stop();
  });

  test("a timeoutMs that is negative or not a number is a RangeError", async () => {
    for (const timeoutMs of [-1, Number.NaN]) {
      const e = await rejection(connectTls(1, "127.0.0.1", { timeoutMs }), `timeoutMs ${timeoutMs}`);
      assert.ok(e instanceof RangeError, String(e));
      assert.match(e.message, /timeoutMs/);
    }
  });
});
