// Channels with credit (docs/protocol.md §6, roam-proto/src/session/channels.rs): on a pair for
// the flows, on the table itself for each rule.

import { describe, test } from "node:test";
import assert from "node:assert/strict";

import { Channels, MAX_CHANNELS } from "../src/channels.js";
import { ROOT } from "../src/session.js";
import { RemoteError, remote } from "../src/response.js";
import {
  Pair,
  call,
  enc,
  establishedServer,
  events,
  ofType,
  rawRequest,
  sent,
  start,
} from "./session-util.js";

function pairWithChannels(credit: number) {
  const p = new Pair({}, { limits: { initialCredit: credit } });
  events(p.client);
  events(p.server);
  // Channel 1: the client sends (the method takes an Rx); channel 3: the server sends (a Tx).
  const r = p.client.call(
    p.now,
    ROOT,
    1n,
    call(9n, { channels: ["outgoing", "incoming"] }),
    undefined,
  );
  assert.ok(r.ok);
  assert.deepEqual(r.channels, [1n, 3n]);
  return p;
}

describe("channels on a pair", () => {
  test("open with the effective initial credit, implicitly, on both sides", () => {
    const p = pairWithChannels(2);
    // The caller's sender gets its credit when the request leaves.
    assert.deepEqual(events(p.client), [{ type: "channel-credit", conn: 0n, channel: 1n, n: 2 }]);
    p.drive();
    const evs = events(p.server);
    assert.equal(evs[0]?.type, "request");
    assert.deepEqual(evs[0]?.type === "request" && evs[0].request.channels, [
      { id: 1n, direction: "incoming" },
      { id: 3n, direction: "outgoing" },
    ]);
    // The callee's sender gets its credit right after the request event.
    assert.deepEqual(evs.slice(1), [{ type: "channel-credit", conn: 0n, channel: 3n, n: 2 }]);
    const spec = p.log.c2s.at(-1);
    assert.ok(spec?.type === "request");
    assert.deepEqual(spec.channels, [
      { id: 1n, direction: "caller-to-callee" },
      { id: 3n, direction: "callee-to-caller" },
    ]);
  });

  test("Data spends credit exactly; Credit adds exactly n", () => {
    const p = pairWithChannels(2);
    p.drive();
    events(p.client);
    events(p.server);
    assert.equal(p.client.sendData(ROOT, 1n, Uint8Array.of(1)), undefined);
    assert.equal(p.client.sendData(ROOT, 1n, Uint8Array.of(2)), undefined);
    assert.deepEqual(p.client.sendData(ROOT, 1n, Uint8Array.of(3)), { kind: "no-credit" });
    assert.equal(p.client.channelCredit(ROOT, 1n), 0);
    p.drive();
    const items = ofType(events(p.server), "channel-data");
    assert.deepEqual(
      items.map((d) => [d.channel, [...d.payload]]),
      [
        [1n, [1]],
        [1n, [2]],
      ],
    );
    p.server.grantCredit(ROOT, 1n, 3);
    p.drive();
    assert.deepEqual(events(p.client), [{ type: "channel-credit", conn: 0n, channel: 1n, n: 3 }]);
    for (let i = 0; i < 3; i++)
      assert.equal(p.client.sendData(ROOT, 1n, Uint8Array.of(i)), undefined);
    assert.deepEqual(p.client.sendData(ROOT, 1n, Uint8Array.of(9)), { kind: "no-credit" });
    p.drive();
    assert.equal(ofType(events(p.server), "channel-data").length, 3);
    assert.ok(!p.server.isClosed);
  });

  test("sending needs an open sending channel and a frame that fits", () => {
    const p = pairWithChannels(4);
    p.drive();
    assert.deepEqual(
      p.client.sendData(ROOT, 3n, Uint8Array.of(1)),
      { kind: "not-open" },
      "we receive on 3",
    );
    assert.deepEqual(p.client.sendData(ROOT, 99n, Uint8Array.of(1)), { kind: "not-open" });
    const big = p.client.sendData(ROOT, 1n, new Uint8Array(9 * 1024 * 1024));
    assert.equal(big?.kind, "too-large");
    assert.equal(p.client.channelCredit(ROOT, 1n), 4, "a refused item costs no credit");
  });

  test("Close ends the stream at the receiver and hands back its end", () => {
    const p = pairWithChannels(4);
    p.drive();
    p.server.attachChannel(ROOT, 1n, undefined);
    p.client.sendData(ROOT, 1n, Uint8Array.of(7));
    p.client.closeChannel(ROOT, 1n);
    p.drive();
    const evs = events(p.server).filter(
      (e) => e.type.startsWith("channel-data") || e.type === "channel-closed",
    );
    assert.deepEqual(
      evs.map((e) => e.type),
      ["channel-data", "channel-closed"],
    );
    assert.deepEqual(p.client.sendData(ROOT, 1n, Uint8Array.of(8)), { kind: "not-open" });
  });

  test("Reset stops the sender, which answers Close; Data crossing the Reset is dropped", () => {
    const p = pairWithChannels(4);
    p.drive();
    events(p.client);
    events(p.server);
    // The server sends on channel 3; the client gives up on it while items are in flight.
    p.hold("s2c");
    p.server.sendData(ROOT, 3n, Uint8Array.of(1));
    p.server.sendData(ROOT, 3n, Uint8Array.of(2));
    p.drive();
    p.client.resetChannel(ROOT, 3n);
    p.drive();
    assert.deepEqual(events(p.server), [
      { type: "channel-reset", conn: 0n, channel: 3n, end: undefined },
    ]);
    assert.deepEqual(p.log.s2c.at(-1), { type: "close", conn: 0n, channel: 3n });
    p.release("s2c");
    p.drive();
    assert.deepEqual(events(p.client), [], "the crossing items and the Close are absorbed");
    assert.equal(p.client.openChannels, 1, "only channel 1 is left");
    assert.ok(!p.client.isClosed && !p.server.isClosed);
  });

  // An end finished while its call still waits behind the peer's concurrency limit: the
  // matching message follows the request at once, so the peer's side of the channel ends.
  for (const [end, direction, message] of [
    ["sender closed", "outgoing", "close"],
    ["receiver given up", "incoming", "reset"],
  ] as const) {
    test(`a ${end} before its request leaves sends ${message} right after the request`, () => {
      const p = new Pair({}, { limits: { maxConcurrentRequests: 1 } });
      start(p.client, p.now, call(1n), undefined);
      const r = p.client.call(
        p.now,
        ROOT,
        p.client.nextRequestId(),
        call(2n, { channels: [direction] }),
        undefined,
      );
      assert.ok(r.ok);
      if (message === "close") p.client.closeChannel(ROOT, r.channels[0]!);
      else p.client.resetChannel(ROOT, r.channels[0]!);
      p.drive();
      p.server.respond(p.now, ROOT, 1n, [], Uint8Array.of(0));
      p.drive();
      const tail = p.log.c2s.slice(-2).map((m) => m.type);
      assert.deepEqual(tail, ["request", message]);
      assert.equal(p.client.openChannels, 0);
    });
  }

  test("a refused call's channels are ended at once by the callee", () => {
    const s = establishedServer({ limits: { maxConcurrentRequests: 0 } });
    s.handleFrame(
      1,
      rawRequest(1n, {
        channels: [
          { id: 1n, direction: "caller-to-callee" },
          { id: 3n, direction: "callee-to-caller" },
        ],
      }),
    );
    // The callee resets what it would receive and closes what it would send, then answers.
    assert.deepEqual(sent(s), [
      { type: "reset", conn: 0n, channel: 1n },
      { type: "close", conn: 0n, channel: 3n },
      { type: "response", conn: 0n, id: 1n, metadata: [], payload: remote(RemoteError.Overloaded) },
    ]);
    assert.equal(s.openChannels, 1, "channel 1 waits for the caller's Close");
    s.handleFrame(2, enc({ type: "data", conn: 0n, channel: 1n, payload: Uint8Array.of(1) }));
    s.handleFrame(2, enc({ type: "close", conn: 0n, channel: 1n }));
    assert.equal(s.openChannels, 0);
    assert.deepEqual(events(s), []);
    assert.equal(s.phase, "established");
  });

  test("a peer announcing no concurrency at all gets no calls (the limit is the minimum)", () => {
    const p = new Pair({}, { limits: { maxConcurrentRequests: 0 } });
    start(p.client, p.now, call(1n), undefined);
    p.drive();
    assert.equal(p.client.waitingCalls, 1);
  });
});

describe("the channel table", () => {
  const receiving = (credit: number) => {
    const c = new Channels<string>("acceptor");
    assert.equal(c.registerRemote(1n, "incoming", credit), 0);
    return c;
  };

  test("Data within credit is delivered; beyond it is credit-exceeded", () => {
    const c = receiving(2);
    assert.equal(c.onData(1n), "deliver");
    assert.equal(c.onData(1n), "deliver");
    assert.deepEqual(c.onData(1n), {
      rule: "credit-exceeded",
      detail: "data on channel 1 beyond the granted credit",
    });
    assert.ok(c.grant(1n, 1));
    assert.equal(c.onData(1n), "deliver");
  });

  test("Data after our Reset is dropped until the peer's Close, then unknown", () => {
    const c = receiving(1);
    assert.ok(c.reset(1n));
    assert.equal(c.onData(1n), "drop");
    assert.deepEqual(c.onClose(1n), { notify: false, end: undefined });
    assert.equal(c.size, 0);
    const v = c.onData(1n);
    assert.ok(typeof v === "object" && v.rule === "unknown-channel");
  });

  test("Data after the peer's Close is unknown-channel", () => {
    const c = receiving(4);
    assert.deepEqual(c.onClose(1n), { notify: true, end: undefined });
    const v = c.onData(1n);
    assert.ok(typeof v === "object" && v.rule === "unknown-channel");
  });

  test("remote IDs need the peer's parity and must be fresh", () => {
    const c = new Channels("acceptor");
    for (const id of [2n, 0n]) {
      const v = c.registerRemote(id, "incoming", 1);
      assert.ok(typeof v === "object" && v.rule === "wrong-parity", `${id}`);
    }
    assert.equal(c.registerRemote(3n, "incoming", 1), 0);
    const dup = c.registerRemote(3n, "incoming", 1);
    assert.ok(typeof dup === "object" && dup.rule === "duplicate-channel-id");
  });

  test("the peer cannot grow the table past MAX_CHANNELS", () => {
    const c = new Channels("acceptor");
    for (let i = 0; i < MAX_CHANNELS; i++)
      assert.equal(c.registerRemote(BigInt(2 * i + 1), "incoming", 4), 0);
    const v = c.registerRemote(BigInt(2 * MAX_CHANNELS + 1), "incoming", 4);
    assert.deepEqual(v, {
      rule: "too-many-channels",
      detail: "more than 16384 channels on one connection",
    });
  });

  test("Data or Close on our own sending channel is wrong-direction", () => {
    const c = new Channels("acceptor");
    assert.equal(c.registerRemote(5n, "outgoing", 8), 8);
    const d = c.onData(5n);
    assert.ok(typeof d === "object" && d.rule === "wrong-direction");
    const cl = c.onClose(5n);
    assert.ok("rule" in cl && cl.rule === "wrong-direction");
  });

  test("credit and reset crossing our Close are ignored", () => {
    const c = new Channels("initiator");
    const id = c.allocate("outgoing");
    assert.deepEqual(c.sendData(id), { kind: "not-open" }, "not before the request is sent");
    assert.deepEqual(c.openQueued(id, 1), { kind: "sending", credit: 1 });
    assert.equal(c.sendData(id), undefined);
    assert.deepEqual(c.sendData(id), { kind: "no-credit" });
    assert.equal(c.onCredit(id, 3), 3);
    assert.equal(c.sendData(id), undefined);
    assert.ok(c.close(id));
    assert.deepEqual(c.sendData(id), { kind: "not-open" });
    assert.equal(c.onCredit(id, 1), 0);
    assert.equal(c.onReset(id).stop, false);
    assert.deepEqual(
      c.onClose(id),
      { notify: false, end: undefined },
      "a Close for a channel we no longer know",
    );
  });

  test("abandoning closes senders and resets receivers, handing back ends", () => {
    const c = new Channels<string>("acceptor");
    c.registerRemote(1n, "outgoing", 4);
    c.registerRemote(3n, "incoming", 4);
    c.attach(1n, "tx");
    assert.deepEqual(c.abandon(1n), ["close", "tx"]);
    assert.deepEqual(c.abandon(3n), ["reset", undefined]);
    assert.equal(c.onData(3n), "drop");
    assert.deepEqual(c.onClose(3n), { notify: false, end: undefined });
    assert.equal(c.size, 0);
  });
});
