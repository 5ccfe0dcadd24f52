// The driver end to end: a TypeScript client and a TypeScript server over an in-memory link
// pair, a loopback WebSocket (`ws`) and a loopback TCP socket. Timeouts here are hang guards
// only; nothing asserts how long something took.

import { describe, test } from "node:test";
import assert from "node:assert/strict";

import { ChannelReceiver, ChannelSender, RoamError, connect, isCancelled } from "../src/driver.js";
import type { Connection, Handler, ServedCall } from "../src/driver.js";
import { describeSessionError } from "../src/errors.js";
import { linkPair } from "../src/link.js";
import { RemoteError, permissionDenied, remote } from "../src/response.js";
import { DEFAULT_LIMITS, decodeMessage, encodeMessage } from "../src/wire.js";
import type { Message, MetadataValue } from "../src/wire.js";
import { TRANSPORTS, expectCode, link, readU32, tapped, u32, within } from "./driver-util.js";
import { fromHex, toHex } from "./helpers.js";
import type { Transport } from "./driver-util.js";

const ECHO = 1n;
const USER_ERROR = 2n;
const WAIT_FOR_ABORT = 3n;
const SERVER_STREAM = 4n;
const CLIENT_STREAM = 5n;
const ENDLESS_STREAM = 6n;

const GUARD = 10_000;

function ok(...payload: Uint8Array[]): Uint8Array {
  const n = payload.reduce((a, p) => a + p.length, 0);
  const out = new Uint8Array(1 + n);
  let at = 1;
  for (const p of payload) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** What the server's handler observed, for assertions from the client's side. */
class Observed {
  started: (call: ServedCall) => void = () => {};
  readonly startedOnce: Promise<ServedCall>;
  aborted: (reason: unknown) => void = () => {};
  readonly abortedOnce: Promise<unknown>;
  resetSeen: (e: unknown) => void = () => {};
  readonly resetOnce: Promise<unknown>;
  constructor() {
    this.startedOnce = new Promise((r) => (this.started = r));
    this.abortedOnce = new Promise((r) => (this.aborted = r));
    this.resetOnce = new Promise((r) => (this.resetSeen = r));
  }
}

function serverHandler(seen: Observed): Handler {
  return async (call) => {
    switch (call.methodId) {
      case ECHO:
        return ok(call.payload);
      case USER_ERROR:
        // Err(User(42)): the user error travels as payload bytes.
        return Uint8Array.of(1, 0, 42);
      case WAIT_FOR_ABORT:
        seen.started(call);
        await new Promise<void>((resolve) => {
          call.signal.addEventListener("abort", () => {
            seen.aborted(call.signal.reason);
            resolve();
          });
        });
        return ok();
      case SERVER_STREAM: {
        const tx = call.channels[0];
        assert.ok(tx instanceof ChannelSender);
        const n = readU32(call.payload);
        for (let i = 0; i < n; i++) await tx.send(u32(i));
        return ok(u32(n));
      }
      case CLIENT_STREAM: {
        const rx = call.channels[0];
        assert.ok(rx instanceof ChannelReceiver);
        let count = 0;
        let sum = 0;
        for await (const item of rx) {
          assert.equal(readU32(item), count, "client stream in order");
          sum += readU32(item);
          count++;
        }
        return ok(u32(count), u32(sum % 2 ** 32));
      }
      case ENDLESS_STREAM: {
        const tx = call.channels[0];
        assert.ok(tx instanceof ChannelSender);
        try {
          for (let i = 0; ; i++) await tx.send(u32(i));
        } catch (e) {
          seen.resetSeen(e);
        }
        return ok();
      }
      default:
        return remote(RemoteError.UnknownMethod);
    }
  };
}

/** A client echoing back, so the server can call it too. */
const clientHandler: Handler = (call) =>
  call.methodId === ECHO ? ok(call.payload) : remote(RemoteError.UnknownMethod);

async function pair(
  t: Transport,
  seen: Observed,
): Promise<{ client: Connection; server: Connection; cleanup: () => Promise<void> }> {
  const links = await link(t);
  const [client, server] = await within(
    GUARD,
    Promise.all([
      connect(links.client, { handler: clientHandler }),
      connect(links.server, { role: "acceptor", handler: serverHandler(seen) }),
    ]),
    "handshake",
  );
  const cleanup = async () => {
    await within(GUARD, Promise.all([client.close(), server.close()]), "close");
    await links.cleanup();
  };
  return { client, server, cleanup };
}


for (const transport of TRANSPORTS) {
  describe(`driver over ${transport}`, { timeout: 60_000 }, () => {
    test("unary calls both ways", async () => {
      const seen = new Observed();
      const { client, server, cleanup } = await pair(transport, seen);
      const r = await within(GUARD, client.call(ECHO, Uint8Array.of(1, 2, 3)), "echo");
      assert.deepEqual([...r.payload], [0, 1, 2, 3]);
      const back = await within(GUARD, server.call(ECHO, Uint8Array.of(9)), "echo back");
      assert.deepEqual([...back.payload], [0, 9]);
      // Many at once, answered each to its own caller.
      const all = await within(
        GUARD,
        Promise.all(Array.from({ length: 100 }, (_, i) => client.call(ECHO, u32(i)))),
        "100 echoes",
      );
      all.forEach((res, i) => assert.equal(readU32(res.payload, 1), i));
      await cleanup();
    });

    test("a user error payload passes through; runtime failures reject", async () => {
      const seen = new Observed();
      const { client, server, cleanup } = await pair(transport, seen);
      const r = await within(GUARD, client.call(USER_ERROR, new Uint8Array(0)), "user error");
      assert.deepEqual([...r.payload], [1, 0, 42]);
      await expectCode(client.call(99n, new Uint8Array(0)), "unimplemented");
      await expectCode(server.call(99n, new Uint8Array(0)), "unimplemented");
      await cleanup();
    });

    test("a deadline rejects the call and aborts the handler's signal", async () => {
      const seen = new Observed();
      const { client, cleanup } = await pair(transport, seen);
      const call = client.call(WAIT_FOR_ABORT, new Uint8Array(0), { timeoutMs: 50 });
      await expectCode(call, "deadline_exceeded");
      const reason = await within(GUARD, seen.abortedOnce, "the handler's signal");
      assert.ok(RoamError.is(reason));
      // The callee's own deadline, or the caller's Cancel when that arrived first.
      assert.ok(reason.code === "deadline_exceeded" || reason.code === "cancelled", reason.code);
      await cleanup();
    });

    test("aborting the caller's signal sends Cancel, which aborts the handler's", async () => {
      const seen = new Observed();
      const { client, cleanup } = await pair(transport, seen);
      const ac = new AbortController();
      const call = client.call(WAIT_FOR_ABORT, new Uint8Array(0), { signal: ac.signal });
      await within(GUARD, seen.startedOnce, "the handler started");
      ac.abort(new Error("user gave up"));
      const e = await expectCode(call, "cancelled");
      assert.ok(isCancelled(e));
      assert.equal((e.cause as Error).message, "user gave up");
      const reason = await within(GUARD, seen.abortedOnce, "the handler's signal");
      assert.ok(RoamError.is(reason) && reason.code === "cancelled");
      // An already aborted signal fails before anything is sent.
      const signal = AbortSignal.abort();
      await expectCode(client.call(ECHO, new Uint8Array(0), { signal }), "cancelled");
      await cleanup();
    });

    test("a server stream of 10,000 items arrives in order, within the credit", async () => {
      const seen = new Observed();
      const { client, cleanup } = await pair(transport, seen);
      const rx = new ChannelReceiver();
      const n = 10_000;
      const call = client.call(SERVER_STREAM, u32(n), { channels: [rx] });
      let count = 0;
      let maxBuffered = 0;
      await within(
        GUARD,
        (async () => {
          for await (const item of rx) {
            maxBuffered = Math.max(maxBuffered, rx.buffered);
            assert.equal(readU32(item), count);
            count++;
            // A slower consumer now and then, so the sender has to wait for credit.
            if (count % 1000 === 0) await new Promise((r) => setTimeout(r, 1));
          }
        })(),
        "the stream",
      );
      assert.equal(count, n);
      assert.ok(maxBuffered <= DEFAULT_LIMITS.initialCredit, `buffered ${maxBuffered}`);
      const r = await within(GUARD, call, "the stream's call");
      assert.equal(readU32(r.payload, 1), n);
      // Going past the credit would have ended the session with a Goodbye.
      assert.equal(client.isClosed, false);
      await cleanup();
    });

    test("a client stream: send awaits credit, close ends the stream", async () => {
      const seen = new Observed();
      const { client, cleanup } = await pair(transport, seen);
      const tx = new ChannelSender();
      const call = client.call(CLIENT_STREAM, new Uint8Array(0), { channels: [tx] });
      const n = 10_000;
      let sum = 0;
      await within(
        GUARD,
        (async () => {
          for (let i = 0; i < n; i++) {
            await tx.send(u32(i));
            sum += i;
          }
          tx.close();
        })(),
        "sending",
      );
      const r = await within(GUARD, call, "the client stream's call");
      assert.equal(readU32(r.payload, 1), n);
      assert.equal(readU32(r.payload, 5), sum % 2 ** 32);
      await expectCode(tx.send(u32(0)), "channel_closed");
      await cleanup();
    });

    test("breaking out of for-await resets the channel and stops the sender", async () => {
      const seen = new Observed();
      const { client, cleanup } = await pair(transport, seen);
      const rx = new ChannelReceiver();
      const call = client.call(ENDLESS_STREAM, new Uint8Array(0), { channels: [rx] });
      let count = 0;
      for await (const item of rx) {
        assert.equal(readU32(item), count);
        if (++count === 5) break;
      }
      const e = await within(GUARD, seen.resetOnce, "the sender saw the reset");
      assert.ok(RoamError.is(e) && e.code === "channel_reset", String(e));
      const r = await within(GUARD, call, "the endless stream's call");
      assert.deepEqual([...r.payload], [0]);
      assert.equal(client.isClosed, false);
      await cleanup();
    });

    test("the session ends cleanly on both sides", async () => {
      const seen = new Observed();
      const links = await link(transport);
      const [client, server] = await Promise.all([
        connect(links.client),
        connect(links.server, { role: "acceptor", handler: serverHandler(seen) }),
      ]);
      assert.ok(client.sessionKey !== undefined && client.sessionKey.length === 16);
      assert.deepEqual(client.sessionKey, server.sessionKey);
      await within(GUARD, client.close("bye"), "client done");
      assert.deepEqual(await client.closed, { kind: "locally-closed" });
      assert.deepEqual(await within(GUARD, server.closed, "server closed"), {
        kind: "closed-by-peer",
        reason: "bye",
      });
      await within(GUARD, server.done, "server done");
      await expectCode(client.call(ECHO, new Uint8Array(0)), "connection_lost");
      await links.cleanup();
    });
  });
}

describe("driver: handlers that fail", { timeout: 30_000 }, () => {
  test("a thrown RoamError answers its code; anything else answers internal", async () => {
    const links = await link("memory");
    const handler: Handler = (call) => {
      if (call.methodId === 1n) throw new RoamError("unavailable", "going away");
      if (call.methodId === 2n) return Promise.reject(new Error("secret detail"));
      // Not a valid answer: the driver answers Internal rather than sending garbage.
      return undefined as unknown as Uint8Array;
    };
    const [client, server] = await Promise.all([
      connect(links.client),
      connect(links.server, { role: "acceptor", handler }),
    ]);
    const e = await expectCode(client.call(1n, new Uint8Array(0)), "unavailable");
    assert.equal(e.retryable, true);
    const internal = await expectCode(client.call(2n, new Uint8Array(0)), "internal");
    assert.doesNotMatch(internal.message, /secret/);
    await expectCode(client.call(3n, new Uint8Array(0)), "internal");
    assert.equal(server.isClosed, false);
    await within(GUARD, client.close(), "close");
    await within(GUARD, server.done, "server done");
  });

  test("a peer without a handler answers unimplemented", async () => {
    const links = await link("memory");
    const [client, server] = await Promise.all([
      connect(links.client),
      connect(links.server, { role: "acceptor" }),
    ]);
    await expectCode(client.call(1n, new Uint8Array(0)), "unimplemented");
    await within(GUARD, server.close(), "close");
    assert.equal((await within(GUARD, client.closed, "client closed")).kind, "closed-by-peer");
  });

  test("calls pending when the link dies reject connection_lost; channels fail too", async () => {
    const seen = new Observed();
    const links = await link("tcp");
    const [client, server] = await Promise.all([
      connect(links.client),
      connect(links.server, { role: "acceptor", handler: serverHandler(seen) }),
    ]);
    const rx = new ChannelReceiver();
    const pending = client.call(WAIT_FOR_ABORT, new Uint8Array(0), { channels: [rx] });
    await within(GUARD, seen.startedOnce, "handler started");
    // The server's link goes away without a Goodbye.
    links.server.close();
    const e = await expectCode(pending, "connection_lost");
    assert.equal(e.sessionError?.kind, "transport");
    await expectCode(rx.next(), "connection_lost");
    const reason = await within(GUARD, seen.abortedOnce, "the handler's signal");
    assert.ok(RoamError.is(reason) && reason.code === "connection_lost");
    await within(GUARD, Promise.all([client.done, server.done]), "both done");
    await links.cleanup();
  });
});

describe("driver: credentials, refusals and denied calls", { timeout: 30_000 }, () => {
  test("connect's metadata goes in its Hello; a refusal instead of a Hello rejects", async () => {
    const [ours, theirs] = linkPair();
    const heard: Message[] = [];
    // A server that checks credentials: it reads our Hello and refuses instead of answering.
    theirs.start({
      frame: (body) => {
        heard.push(decodeMessage(body));
        const reason = "unauthenticated: missing or wrong bearer token";
        theirs.send(encodeMessage({ type: "goodbye", reason }));
        theirs.close();
      },
      closed: () => {},
    });
    const connecting = connect(ours, {
      metadata: new Map<string, MetadataValue>([
        ["authorization", "Bearer t"],
        ["attempt", 2n],
      ]),
    });
    const e = await expectCode(connecting, "handshake_failed");
    const refused = {
      kind: "refused",
      by: "authentication",
      reason: "missing or wrong bearer token",
    } as const;
    assert.deepEqual(e.sessionError, refused);
    assert.equal(e.message, describeSessionError(refused));
    assert.equal(e.retryable, false);
    assert.equal(heard.length, 1);
    const hello = heard[0];
    assert.ok(hello?.type === "hello");
    assert.deepEqual(hello.metadata, [
      ["authorization", "Bearer t"],
      ["attempt", 2n],
    ]);
  });

  test("metadata that cannot be sent rejects connect at once and closes the link", async () => {
    for (const [metadata, kind] of [
      [{ Authorization: "Bearer t" }, TypeError],
      [{ n: -1n }, TypeError],
      [Array.from({ length: 65 }, (_, i) => [`k${i}`, "v"] as const), RangeError],
      [[["k".repeat(129), "v"]] as const, RangeError],
    ] as const) {
      const [ours, theirs] = linkPair();
      const frames: Uint8Array[] = [];
      const peerClosed = new Promise<string>((resolve) =>
        theirs.start({ frame: (f) => frames.push(f), closed: (why) => resolve(why.detail) }),
      );
      await assert.rejects(connect(ours, { metadata }), kind);
      const why = await within(GUARD, peerClosed, "the link closing");
      assert.equal(why, "the peer closed the connection");
      assert.deepEqual(frames, [], "nothing was sent");
    }
  });

  test("a PermissionDenied answer rejects permission_denied with the callee's reason", async () => {
    const links = await link("memory");
    const handler: Handler = (call) => {
      if (call.methodId === 1n) return permissionDenied("tokens of this kind may not delete");
      return remote(RemoteError.UnknownMethod);
    };
    const [client, server] = await Promise.all([
      connect(links.client),
      connect(links.server, { role: "acceptor", handler }),
    ]);
    const e = await expectCode(client.call(1n, new Uint8Array(0)), "permission_denied");
    assert.equal(e.message, "permission denied: tokens of this kind may not delete");
    assert.equal(e.retryable, false);
    // A denied call is an answer like any other: the session goes on.
    await expectCode(client.call(3n, new Uint8Array(0)), "unimplemented");
    assert.equal(client.isClosed, false);
    await within(GUARD, client.close(), "close");
    await within(GUARD, server.done, "server done");
  });

  test("a handler denies a call by throwing permission_denied: 01 09 and its reason", async () => {
    const [clientEnd, serverEnd] = linkPair();
    const heard: Message[] = [];
    const reason = "tokens of this kind may not delete";
    const handler: Handler = (call) => {
      if (call.methodId === 1n) throw new RoamError("permission_denied", reason);
      // Any other code still answers as it did: the bare code, without the message.
      throw new RoamError("unavailable", "not sent to the caller");
    };
    const [client, server] = await Promise.all([
      connect(tapped(clientEnd, { heard })),
      connect(serverEnd, { role: "acceptor", handler }),
    ]);
    const e = await expectCode(client.call(1n, new Uint8Array(0)), "permission_denied");
    assert.equal(e.message, `permission denied: ${reason}`);
    await expectCode(client.call(2n, new Uint8Array(0)), "unavailable");
    const answers = heard.flatMap((m) => (m.type === "response" ? [toHex(m.payload)] : []));
    assert.deepEqual(answers, [toHex(permissionDenied(reason)), "01 06"]);
    assert.ok(answers[0]!.startsWith("01 09 22 74 6f 6b"), answers[0]);
    assert.equal(client.isClosed, false);
    await within(GUARD, client.close(), "close");
    await within(GUARD, server.done, "server done");
  });

  test("01 08 or 01 09 whose text is not one postcard string is a malformed response, as in Rust", async () => {
    const links = await link("memory");
    const answers = new Map<bigint, Uint8Array>([
      // No text at all.
      [1n, fromHex("01 09")],
      // A string claiming 5 bytes with 1 there.
      [2n, fromHex("01 09 05 6e")],
      // A whole string, then a byte more.
      [3n, fromHex("01 09 02 6e 6f 00")],
      // Not UTF-8.
      [4n, fromHex("01 09 02 c3 28")],
      [5n, fromHex("01 08")],
      [6n, fromHex("01 08 02 c3 28")],
    ]);
    const handler: Handler = (call) => answers.get(call.methodId) ?? remote(RemoteError.Internal);
    const [client, server] = await Promise.all([
      connect(links.client),
      connect(links.server, { role: "acceptor", handler }),
    ]);
    for (const id of [1n, 2n, 3n, 4n]) {
      const e = await expectCode(client.call(id, new Uint8Array(0)), "internal");
      assert.equal(e.message, "the peer sent a malformed response: invalid permission-denied text");
    }
    for (const id of [5n, 6n]) {
      const e = await expectCode(client.call(id, new Uint8Array(0)), "internal");
      assert.equal(e.message, "the peer sent a malformed response: invalid schema error text");
    }
    // Read the same way when well formed.
    answers.set(7n, fromHex("01 09 02 6e 6f"));
    const denied = await expectCode(client.call(7n, new Uint8Array(0)), "permission_denied");
    assert.equal(denied.message, "permission denied: no");
    await within(GUARD, client.close(), "close");
    await within(GUARD, server.done, "server done");
  });
});
