// The exact frames the TypeScript session emits, byte for byte, against what the Rust session
// sends for the same steps. Expected bytes are written out by hand from docs/protocol.md §3
// (field order, varints) and agree with the vectors pinned in test/wire.test.ts and
// roam-proto's wire tests. Also the schema announcement rules of §7 and src/response.ts.

import { describe, test } from "node:test";
import assert from "node:assert/strict";

import { ROOT, Session } from "../src/session.js";
import {
  INCOMPATIBLE,
  MAX_INCOMPATIBLE_TEXT,
  PERMISSION_DENIED,
  RemoteError,
  incompatible,
  permissionDenied,
  remote,
  remoteErrorName,
} from "../src/response.js";
import { Reader } from "../src/postcard.js";
import { bytes, fromHex, toHex } from "./helpers.js";
import { Pair, SERVER_KEY, call, events, ofType, start } from "./session-util.js";

// version 3, limits 8 MiB / 64 / 1024, session key, resume None, metadata [], replay Off.
const HELLO_INITIATOR = "00 03 80 80 80 04 40 80 08 00 00 00 00";
const HELLO_ACCEPTOR = "00 03 80 80 80 04 40 80 08 01 " + "09 ".repeat(16) + "00 00 00";

function frames(s: Session<unknown, unknown, unknown>): string[] {
  const out: string[] = [];
  for (let f = s.pollTransmit(); f !== undefined; f = s.pollTransmit()) out.push(toHex(f));
  return out;
}

const hex = (...h: string[]) => h.map((x) => toHex(fromHex(x)));

/** An initiator and an acceptor wired by hand, with their Hellos checked and exchanged. */
function handshake(): { client: Session; server: Session } {
  const client = new Session("initiator", 0);
  const server = new Session("acceptor", 0, { sessionKey: SERVER_KEY });
  const [ch] = frames(client);
  const [sh] = frames(server);
  assert.equal(ch, toHex(fromHex(HELLO_INITIATOR)));
  assert.equal(sh, toHex(fromHex(HELLO_ACCEPTOR)));
  client.handleFrame(0, fromHex(sh!));
  server.handleFrame(0, fromHex(ch!));
  events(client);
  events(server);
  assert.deepEqual(frames(client), []);
  assert.deepEqual(frames(server), []);
  return { client, server };
}

describe("frames byte for byte", () => {
  test("Hello both ways, a call and its answer", () => {
    const { client, server } = handshake();
    start(client, 0, { methodId: 258n, payload: bytes(4, 6) }, undefined);
    const [req] = frames(client);
    // Request { conn 0, id 1, method 258 (82 02), metadata [], channels [], None, [04 06] }
    assert.equal(req, toHex(fromHex("02 00 01 82 02 00 00 00 02 04 06")));
    server.handleFrame(1, fromHex(req!));
    server.respond(1, ROOT, 1n, [], bytes(0, 42));
    assert.deepEqual(frames(server), hex("03 00 01 00 02 00 2a"));
  });

  test("an initiator's credentials travel at the end of its Hello", () => {
    const client = new Session("initiator", 0, { metadata: [["authorization", "Bearer t"]] });
    // metadata [("authorization" (0d + 13 bytes), String (00) "Bearer t" (08 + 8 bytes))]
    assert.deepEqual(
      frames(client),
      hex(
        "00 03 80 80 80 04 40 80 08 00 00 01 0d 61 75 74 68 6f 72 69 7a 61 74 69 6f 6e" +
          " 00 08 42 65 61 72 65 72 20 74 00",
      ),
    );
  });

  test("a deadline travels as timeout_micros; a cancel is conn and id", () => {
    const { client } = handshake();
    start(client, 0, { methodId: 258n, payload: bytes(4, 6), timeoutMs: 1000 }, undefined);
    // timeout_micros Some(1_000_000) = 01 c0 84 3d
    assert.deepEqual(frames(client), hex("02 00 01 82 02 00 00 01 c0 84 3d 02 04 06"));
    client.cancel(ROOT, 1n);
    assert.deepEqual(frames(client), hex("04 00 01"));
  });

  test("metadata entries: key, then the tagged value", () => {
    const { client } = handshake();
    start(
      client,
      0,
      {
        methodId: 1n,
        payload: bytes(),
        metadata: [
          ["trace-id", "abc"],
          ["n", 300n],
        ],
      },
      undefined,
    );
    assert.deepEqual(
      frames(client),
      hex("02 00 01 01 02 08 74 72 61 63 65 2d 69 64 00 03 61 62 63 01 6e 02 ac 02 00 00 00"),
    );
  });

  test("a channel: the request lists it, Data spends credit, Credit and Close", () => {
    const { client, server } = handshake();
    const r = client.call(
      0,
      ROOT,
      7n,
      { methodId: 258n, payload: bytes(4, 6), channels: ["outgoing"] },
      undefined,
    );
    assert.ok(r.ok && r.channels[0] === 1n);
    // channels [(1, CallerToCallee)] = 01 01 00
    const [req] = frames(client);
    assert.equal(req, toHex(fromHex("02 00 07 82 02 00 01 01 00 00 02 04 06")));
    server.handleFrame(1, fromHex(req!));
    assert.equal(client.sendData(ROOT, 1n, bytes(9)), undefined);
    client.closeChannel(ROOT, 1n);
    assert.deepEqual(frames(client), hex("07 00 01 01 09", "08 00 01"));
    const s2 = handshake();
    s2.server.handleFrame(1, fromHex(req!));
    s2.server.grantCredit(ROOT, 1n, 200);
    s2.server.resetChannel(ROOT, 1n);
    assert.deepEqual(frames(s2.server), hex("0a 00 01 c8 01", "09 00 01"));
  });

  test("keepalive: Ping with nonce 1, answered Pong 1", () => {
    const client = new Session("initiator", 0, {
      keepalive: { intervalMs: 1000, timeoutMs: 1000 },
    });
    const server = new Session("acceptor", 0, { sessionKey: SERVER_KEY, keepalive: false });
    client.handleFrame(0, fromHex(frames(server)[0]!));
    server.handleFrame(0, fromHex(frames(client)[0]!));
    client.handleTimeout(1000);
    const [ping] = frames(client);
    assert.equal(ping, "05 01");
    server.handleFrame(1000, fromHex(ping!));
    assert.deepEqual(frames(server), ["06 01"]);
  });

  test("runtime answers and Goodbyes", () => {
    const { server } = handshake();
    const limited = new Session("acceptor", 0, {
      sessionKey: SERVER_KEY,
      limits: { maxConcurrentRequests: 0 },
    });
    limited.handleFrame(0, fromHex(HELLO_INITIATOR));
    frames(limited);
    limited.handleFrame(1, fromHex("02 00 01 82 02 00 00 00 02 04 06"));
    assert.deepEqual(frames(limited), hex("03 00 01 00 02 01 05"), "Overloaded");
    server.handleFrame(1, fromHex(HELLO_INITIATOR));
    const text = "handshake: unexpected handshake message: Hello sent twice";
    const ascii = Array.from(text, (c) => c.charCodeAt(0).toString(16).padStart(2, "0")).join(" ");
    assert.deepEqual(frames(server), hex(`01 ${text.length.toString(16)} ${ascii}`));
    const { client } = handshake();
    client.close(0, "shutting down");
    assert.deepEqual(frames(client), hex("01 0d 73 68 75 74 74 69 6e 67 20 64 6f 77 6e"));
  });
});

describe("replay (version 3): always Off, and an Ack is a violation", () => {
  const goodbye = (text: string) => {
    const ascii = Array.from(text, (c) => c.charCodeAt(0).toString(16).padStart(2, "0")).join(" ");
    return toHex(fromHex(`01 ${text.length.toString(16)} ${ascii}`));
  };

  test("an initiator's Offer { 1 MiB } is answered by our Hello's Off, and nothing else", () => {
    const server = new Session("acceptor", 0, { sessionKey: SERVER_KEY });
    assert.deepEqual(frames(server), hex(HELLO_ACCEPTOR));
    // The default initiator Hello with replay Offer { buffer: 1048576 } (01 80 80 40).
    server.handleFrame(0, fromHex("00 03 80 80 80 04 40 80 08 00 00 00 01 80 80 40"));
    assert.equal(server.phase, "established");
    assert.deepEqual(frames(server), []);
    server.handleFrame(1, fromHex("02 00 01 82 02 00 00 00 02 04 06"));
    server.respond(1, ROOT, 1n, [], bytes(0, 42));
    assert.deepEqual(frames(server), hex("03 00 01 00 02 00 2a"));
  });

  test("Ack { received: 5 } (0c 05) ends either side with a replay Goodbye", () => {
    const { client, server } = handshake();
    for (const s of [client, server]) {
      s.handleFrame(1, fromHex("0c 05"));
      assert.deepEqual(frames(s), [goodbye("replay: an Ack on a session without replay")]);
      assert.ok(s.isClosed);
    }
  });

  test("a Grant to our initiator, which offered nothing, is a handshake violation", () => {
    const client = new Session("initiator", 0);
    assert.deepEqual(frames(client), hex(HELLO_INITIATOR));
    // The acceptor's Hello with replay Grant { buffer: 64, secret: [4; 32] } (02 40 04…).
    client.handleFrame(
      0,
      fromHex(
        "00 03 80 80 80 04 40 80 08 01 " + "09 ".repeat(16) + "00 00 02 40 " + "04 ".repeat(32),
      ),
    );
    assert.deepEqual(frames(client), [
      goodbye("handshake: unexpected handshake message: replay granted but not offered"),
    ]);
    assert.equal(client.phase, "closing");
  });

  test("a version-2 Hello is answered version-mismatch, not malformed-message", () => {
    const server = new Session("acceptor", 0, { sessionKey: SERVER_KEY });
    frames(server);
    server.handleFrame(0, fromHex("00 02 80 80 80 04 40 80 08 00 00 00"));
    assert.deepEqual(frames(server), [
      goodbye(
        "version-mismatch: peer speaks protocol version 2, this side speaks 3; " +
          "upgrade the older side",
      ),
    ]);
  });
});

describe("schema announcements", () => {
  const U64 = bytes(1, 0, 4);
  const STRING = bytes(1, 0, 9);

  test("announced once per method before its first request, again when it changes", () => {
    const { client } = handshake();
    const c = (schema: Uint8Array | undefined) =>
      start(client, 0, { methodId: 258n, payload: bytes(4, 6), argsSchema: schema }, undefined);
    c(U64);
    // Schema { conn 0, method 258, Args, [01 00 04] } before the request
    assert.deepEqual(
      frames(client),
      hex("0b 00 82 02 00 03 01 00 04", "02 00 01 82 02 00 00 00 02 04 06"),
    );
    c(U64);
    c(Uint8Array.from(U64));
    assert.deepEqual(
      frames(client).map((f) => f.slice(0, 2)),
      ["02", "02"],
      "the same schema (even another copy of its bytes) is not sent again",
    );
    c(STRING);
    assert.deepEqual(frames(client)[0], toHex(fromHex("0b 00 82 02 00 03 01 00 09")));
    // A type without a schema withdraws the one announced before, once.
    c(undefined);
    assert.deepEqual(frames(client)[0], toHex(fromHex("0b 00 82 02 00 00")));
    c(undefined);
    assert.deepEqual(frames(client).length, 1);
  });

  test("the channels schema goes with a request that has channels; the response schema with the first response", () => {
    const p = new Pair();
    events(p.client);
    events(p.server);
    start(
      p.client,
      p.now,
      call(5n, { channels: ["outgoing"], argsSchema: U64, channelsSchema: STRING }),
      undefined,
    );
    p.drive();
    assert.deepEqual(
      p.log.c2s.slice(-3).map((m) => (m.type === "schema" ? `schema:${m.kind}` : m.type)),
      ["schema:args", "schema:channels", "request"],
    );
    const [req] = ofType(events(p.server), "request");
    assert.deepEqual(req?.request.argsSchema?.canonical, U64);
    assert.deepEqual(req?.request.channelsSchema?.canonical, STRING);
    p.server.respond(p.now, ROOT, 1n, [], bytes(0, 1), U64);
    p.drive();
    assert.deepEqual(
      p.log.s2c.slice(-2).map((m) => (m.type === "schema" ? `schema:${m.kind}` : m.type)),
      ["schema:response", "response"],
    );
    const [resp] = ofType(events(p.client), "response");
    assert.deepEqual(resp?.schema?.canonical, U64);
    assert.equal(resp?.schema?.kind, "response");
  });

  test("a runtime-level answer carries no schema and withdraws nothing", () => {
    const p = new Pair();
    start(p.client, p.now, call(5n), undefined);
    start(p.client, p.now, call(5n), undefined);
    p.drive();
    p.server.respond(p.now, ROOT, 1n, [], bytes(0, 1), U64);
    p.server.respond(p.now, ROOT, 3n, [], remote(RemoteError.Unavailable));
    p.drive();
    assert.equal(p.log.s2c.filter((m) => m.type === "schema").length, 1);
  });

  test("a schema the peer's frames cannot carry is not sent", () => {
    const p = new Pair({}, { limits: { maxFrameSize: 128 } });
    start(p.client, p.now, call(5n, { argsSchema: new Uint8Array(120) }), undefined);
    p.drive();
    assert.equal(p.log.c2s.filter((m) => m.type === "schema").length, 0);
    assert.equal(p.log.c2s.filter((m) => m.type === "request").length, 1);
    assert.ok(!p.server.isClosed);
  });

  test("an empty announcement from the peer withdraws its schema", () => {
    const p = new Pair();
    start(p.client, p.now, call(5n, { argsSchema: U64 }), undefined);
    start(p.client, p.now, call(5n), undefined);
    p.drive();
    const reqs = ofType(events(p.server), "request");
    assert.deepEqual(reqs[0]?.request.argsSchema?.canonical, U64);
    assert.equal(reqs[1]?.request.argsSchema, undefined);
    assert.equal(p.server.remoteSchemas, 0);
  });
});

describe("response payloads (src/response.ts)", () => {
  test("remote codes are Err + code", () => {
    assert.deepEqual([...remote(RemoteError.UnknownMethod)], [1, 1]);
    assert.deepEqual([...remote(RemoteError.Internal)], [1, 7]);
    assert.equal(remoteErrorName(5), "Overloaded");
    assert.equal(remoteErrorName(42), undefined);
  });

  test("incompatible(text) is Err, 8, then a postcard string", () => {
    assert.equal(toHex(incompatible("ab")), "01 08 02 61 62");
    const long = "x".repeat(300);
    const b = incompatible(long);
    assert.equal(toHex(b.subarray(0, 4)), toHex(bytes(1, INCOMPATIBLE, 0xac, 0x02)));
    assert.equal(new Reader(b, 2).string(), long);
  });

  test("permissionDenied(reason) is Err, 9, then a postcard string (Rust's test vector)", () => {
    assert.equal(toHex(permissionDenied("no")), "01 09 02 6e 6f");
    assert.equal(PERMISSION_DENIED, 9);
    const long = "é".repeat(200);
    const b = permissionDenied(long);
    assert.equal(toHex(b.subarray(0, 4)), toHex(bytes(1, PERMISSION_DENIED, 0x90, 0x03)));
    assert.equal(new Reader(b, 2).string(), long);
  });

  test("texts over the limit are cut at a character boundary, as Rust cuts them", () => {
    const text = "😀".repeat(MAX_INCOMPATIBLE_TEXT + 5);
    const r = new Reader(incompatible(text), 2);
    const got = r.string();
    assert.equal(got, "😀".repeat(MAX_INCOMPATIBLE_TEXT) + " … (cut; see the callee's logs)");
    assert.equal(
      new Reader(incompatible("é".repeat(MAX_INCOMPATIBLE_TEXT)), 2).string(),
      "é".repeat(MAX_INCOMPATIBLE_TEXT),
    );
    // A refusal's reason is cut the same way.
    assert.equal(
      new Reader(permissionDenied("x".repeat(MAX_INCOMPATIBLE_TEXT + 1)), 2).string(),
      "x".repeat(MAX_INCOMPATIBLE_TEXT) + " … (cut; see the callee's logs)",
    );
  });
});
