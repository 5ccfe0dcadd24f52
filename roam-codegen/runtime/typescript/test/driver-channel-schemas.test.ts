// Channel schemas (docs/protocol.md §7, "Channels"): the callee announces its channel
// signature before the handler of a call with channel arguments runs; a caller translates the
// items of each channel the callee writes by that announcement (looked up once, at the
// channel's first item), and a callee refuses up front a call whose caller could not read the
// items the handler would write. The peer is either a script speaking raw frames over
// linkPair() or a second driver. Timeouts are hang guards only.

import { describe, test } from "node:test";
import assert from "node:assert/strict";

import { ChannelReceiver, ChannelSender, RoamError, connect } from "../src/driver.js";
import type { Connection, ConnectOptions, Handler, MethodSchemas } from "../src/driver.js";
import { channel as channelPair, invoke, serve, route } from "../src/index.js";
import type { Codec, MethodDescriptor, Tx } from "../src/index.js";
import { string as stringCodec, tuple as tupleCodec, u32 as u32Codec } from "../src/codec.js";
import { linkPair } from "../src/link.js";
import { Reader } from "../src/postcard.js";
import { RemoteError, remote } from "../src/response.js";
import { INFALLIBLE, resultSchema, toCanonicalBytes } from "../src/schema-model.js";
import type { Schema, StructKind } from "../src/schema-model.js";
import { DEFAULT_LIMITS, decodeMessage, encodeMessage } from "../src/wire.js";
import type { Message } from "../src/wire.js";
import { within } from "./driver-util.js";
import { fromHex, toHex } from "./helpers.js";
import { SERVER_KEY, hello } from "./session-util.js";
import { channel, enc, str, struct, tuple, u32, u64, u8, unit } from "./schema-util.js";

const GUARD = 10_000;

// ----- schemas -----

const units = (name: string, variants: readonly string[]): Schema => ({
  type: "enum",
  name,
  variants: variants.map((v) => ({ name: v, kind: "unit" as StructKind, fields: [] })),
});
const u32Result = resultSchema(u32, INFALLIBLE);

function methodSchemas(channels: Schema): MethodSchemas {
  return {
    args: toCanonicalBytes(unit),
    response: toCanonicalBytes(u32Result),
    channels: toCanonicalBytes(channels),
  };
}

const list = (items: readonly Uint8Array[]) => items.map((b) => [...b]);

// ----- a scripted peer speaking raw frames -----

interface Scripted {
  /** The driver under test. */
  readonly conn: Connection;
  /** Every frame the driver sent after its Hello, as it was sent and decoded. */
  readonly raw: Uint8Array[];
  readonly frames: Message[];
  send(msg: Message): void;
  until(what: string, done: () => boolean): Promise<void>;
  close(): Promise<void>;
}

/**
 * A driver of `role` whose peer is this script. Its Hello is sent before the driver starts,
 * and the driver's Hello is left out of `frames`.
 */
async function scripted(
  role: "initiator" | "acceptor",
  options: ConnectOptions = {},
): Promise<Scripted> {
  const [peer, link] = linkPair();
  const raw: Uint8Array[] = [];
  const frames: Message[] = [];
  const waiters = new Set<() => void>();
  let heardHello = false;
  peer.start({
    frame: (f) => {
      const m = decodeMessage(f);
      if (!heardHello && m.type === "hello") {
        heardHello = true;
        return;
      }
      raw.push(f.slice());
      frames.push(m);
      for (const w of [...waiters]) w();
    },
    closed: () => {},
  });
  peer.send(
    role === "initiator"
      ? hello(DEFAULT_LIMITS, { sessionKey: SERVER_KEY } as Partial<Message>)
      : hello(),
  );
  const conn = await within(GUARD, connect(link, { ...options, role }), "handshake");
  return {
    conn,
    raw,
    frames,
    send: (msg) => peer.send(encodeMessage(msg)),
    until: (what, done) =>
      within(
        GUARD,
        new Promise<void>((resolve) => {
          const check = () => {
            if (!done()) return;
            waiters.delete(check);
            resolve();
          };
          waiters.add(check);
          check();
        }),
        what,
      ),
    close: () => within(GUARD, conn.close(), "close"),
  };
}

function requestOf(s: Scripted): Extract<Message, { type: "request" }> {
  const r = s.frames.find((m) => m.type === "request");
  assert.ok(r?.type === "request", "the driver sent its request");
  return r;
}

/** What a receiver got: every item until it ended, and the error it failed with, if any. */
async function drain(rx: ChannelReceiver): Promise<{ items: number[][]; error: unknown }> {
  const items: number[][] = [];
  try {
    for (;;) {
      const r = await within(GUARD, rx.next(), "an item");
      if (r.done === true) return { items, error: undefined };
      items.push([...r.value]);
    }
  } catch (error) {
    return { items, error };
  }
}

function roamError(e: unknown): RoamError {
  assert.ok(RoamError.is(e), `a RoamError, not ${String(e)}`);
  return e;
}

const kinds = (frames: readonly Message[]) =>
  frames.map((m) => (m.type === "schema" ? `schema:${m.kind}` : m.type));

/** The peer's `channels` announcement for `methodId`. */
const channelsSchema = (methodId: bigint, schema: Uint8Array): Message => ({
  type: "schema",
  conn: 0n,
  methodId,
  kind: "channels",
  schema,
});

const item = (channel: bigint, payload: Uint8Array): Message => ({
  type: "data",
  conn: 0n,
  channel,
  payload,
});

/** `Ok(n)` of a `u32` method, answering call `id`. */
const okU32 = (id: bigint, n: number): Message => ({
  type: "response",
  conn: 0n,
  id,
  metadata: [],
  payload: enc((w) => (w.variant(0), w.u32(n))),
});

// ----- a TypeScript caller reading what the callee writes -----

describe("a caller reads the items the callee writes by the callee's channel schema", () => {
  const METHOD = 7n;
  /** Ours: an Rx (we write) first, so the Tx channels are arguments 1 to 6. */
  const ours = methodSchemas(
    tuple(
      channel("rx", u8),
      channel(
        "tx",
        struct("Tick", [
          ["n", u32],
          ["note", str, true],
        ]),
      ),
      channel("tx", struct("Tick", [["n", u32]])),
      channel(
        "tx",
        struct("Pair", [
          ["a", u32],
          ["b", str],
        ]),
      ),
      channel("tx", struct("Point", [["x", u32]])),
      channel("tx", units("Level", ["Low", "High"])),
      channel("tx", u64),
    ),
  );
  /** The callee's: one difference per channel, each compatible. */
  const theirs = toCanonicalBytes(
    tuple(
      // A channel we write: its item type is the callee's business, not ours.
      channel("rx", str),
      // We have an extra defaulted field.
      channel("tx", struct("Tick", [["n", u32]])),
      // The callee has a field we lack.
      channel(
        "tx",
        struct("Tick", [
          ["n", u32],
          ["extra", u64],
        ]),
      ),
      // The fields in another order.
      channel(
        "tx",
        struct("Pair", [
          ["b", str],
          ["a", u32],
        ]),
      ),
      // Another name for the same type.
      channel("tx", struct("Spot", [["x", u32]])),
      // Variants reordered, and one we do not have.
      channel("tx", units("Level", ["High", "Low", "Max"])),
      // The same item type.
      channel("tx", u64),
    ),
  );

  test("compatible differences are translated, in order, per channel", async () => {
    const s = await scripted("initiator");
    try {
      const tx = new ChannelSender();
      const rxs = [1, 2, 3, 4, 5, 6].map(() => new ChannelReceiver());
      const answer = s.conn.call(METHOD, new Uint8Array(0), {
        schemas: ours,
        channels: [tx, ...rxs],
      });
      tx.close();
      await s.until("the request", () => s.frames.some((m) => m.type === "request"));
      const req = requestOf(s);
      assert.deepEqual(
        req.channels.map((c) => c.direction),
        ["caller-to-callee", ...rxs.map(() => "callee-to-caller")],
      );
      const ids = req.channels.map((c) => c.id);
      const data = (k: number, payload: Uint8Array) => s.send(item(ids[k]!, payload));
      s.send(channelsSchema(METHOD, theirs));
      // Interleaved across the channels, as a handler writing several streams would.
      data(1, enc((w) => w.u32(1)));
      data(5, enc((w) => w.variant(0))); // High
      data(2, enc((w) => (w.u32(5), w.u64(99_999n))));
      data(3, enc((w) => (w.string("x"), w.u32(7))));
      data(4, enc((w) => w.u32(3)));
      data(6, enc((w) => w.u64(1n << 40n)));
      data(1, enc((w) => w.u32(2)));
      data(5, enc((w) => w.variant(1))); // Low
      data(5, enc((w) => w.variant(0))); // High
      data(3, enc((w) => (w.string(""), w.u32(8))));
      data(5, enc((w) => w.variant(2))); // Max: we have no such variant
      for (const k of [1, 2, 3, 4, 5, 6]) s.send({ type: "close", conn: 0n, channel: ids[k]! });
      s.send(okU32(req.id, 9));

      const got = await Promise.all(rxs.map(drain));
      // Read as our own encoder lays the same values out.
      assert.deepEqual(got[0], {
        items: list([enc((w) => (w.u32(1), w.string(""))), enc((w) => (w.u32(2), w.string("")))]),
        error: undefined,
      });
      assert.deepEqual(got[1], { items: list([enc((w) => w.u32(5))]), error: undefined });
      assert.deepEqual(got[2], {
        items: list([enc((w) => (w.u32(7), w.string("x"))), enc((w) => (w.u32(8), w.string("")))]),
        error: undefined,
      });
      assert.deepEqual(got[3], { items: list([enc((w) => w.u32(3))]), error: undefined });
      assert.deepEqual(got[5], { items: list([enc((w) => w.u64(1n << 40n))]), error: undefined });
      // Our Low is 0 and High is 1; the items before the unknown variant arrive, then it fails.
      assert.deepEqual(got[4]!.items, [[1], [0], [1]]);
      const e = roamError(got[4]!.error);
      assert.equal(e.code, "incompatible_schema");
      assert.ok(e.message.startsWith("cannot read an item of channel argument 5: "), e.message);
      assert.ok(e.message.includes("`Max`"), e.message);
      // The failed channel is reset so the callee's sender stops; the others end normally.
      await s.until("the reset", () => s.frames.some((m) => m.type === "reset"));
      assert.deepEqual(
        s.frames.filter((m) => m.type === "reset").map((m) => m.type === "reset" && m.channel),
        [ids[5]],
      );
      assert.deepEqual([...(await within(GUARD, answer, "answer")).payload], [0, 9]);
    } finally {
      await s.close();
    }
  });

  test("an item type ours cannot read fails that channel's receive, naming field and types", async () => {
    const s = await scripted("initiator");
    try {
      const mine = methodSchemas(
        tuple(
          channel("tx", struct("Tick", [["n", u32]])),
          channel(
            "tx",
            struct("Tick", [
              ["n", u32],
              ["m", u8],
            ]),
          ),
          channel("tx", u32),
        ),
      );
      const callee = toCanonicalBytes(
        tuple(
          channel("tx", struct("Tick", [["n", str]])),
          channel("tx", struct("Tick", [["n", u32]])),
          channel("tx", u32),
        ),
      );
      const rxs = [0, 1, 2].map(() => new ChannelReceiver());
      const answer = s.conn.call(METHOD, new Uint8Array(0), { schemas: mine, channels: rxs });
      await s.until("the request", () => s.frames.some((m) => m.type === "request"));
      const req = requestOf(s);
      const ids = req.channels.map((c) => c.id);
      s.send(channelsSchema(METHOD, callee));
      s.send(item(ids[0]!, enc((w) => w.string("one"))));
      s.send(item(ids[1]!, enc((w) => w.u32(1))));
      s.send(item(ids[2]!, enc((w) => w.u32(4))));
      s.send(item(ids[2]!, enc((w) => w.u32(5))));
      for (const id of ids) s.send({ type: "close", conn: 0n, channel: id });
      s.send(okU32(req.id, 0));
      const [changed, missing, fine] = await Promise.all(rxs.map(drain));

      assert.deepEqual(changed!.items, [], "nothing is handed over");
      const e1 = roamError(changed!.error);
      assert.equal(e1.code, "incompatible_schema");
      assert.ok(
        e1.message.startsWith(
          "cannot read the items of channel argument 0: the writer's type cannot be read as " +
            "the reader's type (1 problem):",
        ),
        e1.message,
      );
      assert.ok(
        e1.message.includes("`Tick.n`: the writer sends `String` but the reader expects `u32`"),
        e1.message,
      );

      assert.deepEqual(missing!.items, []);
      const e2 = roamError(missing!.error);
      assert.equal(e2.code, "incompatible_schema");
      assert.ok(e2.message.startsWith("cannot read the items of channel argument 1: "), e2.message);
      assert.ok(
        e2.message.includes(
          "field `Tick.m`: the reader's type `Tick` requires `m: u8`, which the writer's " +
            "type `Tick` does not send",
        ),
        e2.message,
      );

      // A channel whose items we can read is not affected by the others.
      assert.deepEqual(fine, { items: [[4], [5]], error: undefined });
      await s.until("the resets", () => s.frames.filter((m) => m.type === "reset").length === 2);
      assert.deepEqual(
        s.frames.filter((m) => m.type === "reset").map((m) => m.type === "reset" && m.channel),
        [ids[0], ids[1]],
      );
      // The call and its channels are independent: the answer still arrives.
      assert.deepEqual([...(await within(GUARD, answer, "answer")).payload], [0, 0]);
    } finally {
      await s.close();
    }
  });

  test("the announcement is looked up once per channel, at its first item", async () => {
    const s = await scripted("initiator");
    try {
      const tick = struct("Tick", [
        ["n", u32],
        ["note", str, true],
      ]);
      const mine = methodSchemas(tuple(channel("tx", tick)));
      const older = toCanonicalBytes(tuple(channel("tx", struct("Tick", [["n", u32]]))));
      const one = async (announce: Uint8Array | undefined, items: Uint8Array[]) => {
        const before = s.frames.filter((m) => m.type === "request").length;
        const rx = new ChannelReceiver();
        const answer = s.conn.call(METHOD, new Uint8Array(0), { schemas: mine, channels: [rx] });
        await s.until(
          "the request",
          () => s.frames.filter((m) => m.type === "request").length > before,
        );
        const req = s.frames.filter((m) => m.type === "request")[before];
        assert.ok(req?.type === "request");
        const id = req.channels[0]!.id;
        const send = (payload: Uint8Array) => s.send(item(id, payload));
        if (announce !== undefined) s.send(channelsSchema(METHOD, announce));
        send(items[0]!);
        // The callee changes its announcement after the first item: this channel keeps the
        // plan it looked up, the next channel of the method gets the new one.
        s.send(channelsSchema(METHOD, mine.channels));
        for (const later of items.slice(1)) send(later);
        s.send({ type: "close", conn: 0n, channel: id });
        s.send(okU32(req.id, 0));
        const got = await drain(rx);
        await within(GUARD, answer, "answer");
        return got;
      };
      const firstLayout = [enc((w) => w.u32(1)), enc((w) => w.u32(2)), enc((w) => w.u32(3))];
      assert.deepEqual(await one(older, firstLayout), {
        items: [1, 2, 3].map((n) => [...enc((w) => (w.u32(n), w.string("")))]),
        error: undefined,
      });
      // Now the callee's announcement is ours exactly: items are handed over as they are.
      const ourLayout = [
        enc((w) => (w.u32(4), w.string("d"))),
        enc((w) => (w.u32(5), w.string(""))),
      ];
      assert.deepEqual(await one(undefined, ourLayout), {
        items: list(ourLayout),
        error: undefined,
      });
    } finally {
      await s.close();
    }
  });

  test("nothing announced, the same schema, or no schemas: items are taken as they are", async () => {
    const s = await scripted("initiator");
    try {
      const mine = methodSchemas(
        tuple(
          channel(
            "tx",
            struct("Tick", [
              ["n", u32],
              ["note", str, true],
            ]),
          ),
        ),
      );
      const different = toCanonicalBytes(tuple(channel("tx", struct("Tick", [["n", u32]]))));
      let calls = 0;
      const one = async (
        method: bigint,
        announce: Uint8Array | undefined,
        schemas: MethodSchemas | undefined,
      ) => {
        const rx = new ChannelReceiver();
        const answer = s.conn.call(method, new Uint8Array(0), { schemas, channels: [rx] });
        calls++;
        const requests = () => s.frames.filter((m) => m.type === "request");
        await s.until("the request", () => requests().length === calls);
        const req = requests()[calls - 1];
        assert.ok(req?.type === "request");
        const id = req.channels[0]!.id;
        if (announce !== undefined) s.send(channelsSchema(method, announce));
        // One byte: not even a whole item of our type, so any translation would show.
        s.send(item(id, Uint8Array.of(9)));
        s.send({ type: "close", conn: 0n, channel: id });
        s.send(okU32(req.id, 0));
        const got = await drain(rx);
        await within(GUARD, answer, "answer");
        return got;
      };
      const asIs = { items: [[9]], error: undefined };
      assert.deepEqual(await one(10n, undefined, mine), asIs, "nothing announced");
      assert.deepEqual(await one(11n, mine.channels, mine), asIs, "the same schema");
      assert.deepEqual(await one(12n, different, undefined), asIs, "a call without schemas");
      // With our schemas and that announcement, the same byte is translated.
      assert.deepEqual(await one(12n, undefined, mine), { items: [[9, 0]], error: undefined });
    } finally {
      await s.close();
    }
  });
});

// ----- a TypeScript callee -----

describe("a callee announces its channel signature and checks its items can be read", () => {
  const WATCH = 4n;
  const TICKS = 5n;
  const PLAIN = 6n;
  const serverTick = struct("Tick", [
    ["n", u32],
    ["at", u64],
  ]);
  const SERVER = new Map<bigint, MethodSchemas>([
    [WATCH, methodSchemas(tuple(channel("tx", u64)))],
    [TICKS, methodSchemas(tuple(channel("tx", serverTick)))],
  ]);

  function handler(runs: bigint[]): Handler {
    return async (call) => {
      runs.push(call.methodId);
      const out = call.channels[0];
      assert.ok(out instanceof ChannelSender);
      switch (call.methodId) {
        case WATCH:
        case PLAIN:
          await out.send(enc((w) => w.u64(10n)));
          await out.send(enc((w) => w.u64(20n)));
          return enc((w) => (w.variant(0), w.u32(2)));
        case TICKS:
          await out.send(enc((w) => (w.u32(1), w.u64(100n))));
          return enc((w) => (w.variant(0), w.u32(1)));
        default:
          return remote(RemoteError.UnknownMethod);
      }
    };
  }

  const request = (id: bigint, methodId: bigint, channel: bigint): Message => ({
    type: "request",
    conn: 0n,
    id,
    methodId,
    metadata: [],
    channels: [{ id: channel, direction: "callee-to-caller" }],
    timeoutMicros: undefined,
    payload: new Uint8Array(0),
  });

  function answered(s: Scripted, id: bigint): Extract<Message, { type: "response" }> | undefined {
    const r = s.frames.find((m) => m.type === "response" && m.id === id);
    return r?.type === "response" ? r : undefined;
  }

  /** The text of an `IncompatibleSchema` answer. */
  function incompatibleText(payload: Uint8Array): string {
    assert.deepEqual([...payload.subarray(0, 2)], [1, 8], "Err(IncompatibleSchema)");
    const r = new Reader(payload, 2);
    const text = r.string();
    r.finish();
    return text;
  }

  test("the channel schema goes out once per method, before the handler's first item", async () => {
    const runs: bigint[] = [];
    const s = await scripted("acceptor", {
      handler: handler(runs),
      schemas: (id) => SERVER.get(id),
    });
    try {
      const exchange = async (id: bigint, methodId: bigint, channel: bigint) => {
        const from = s.frames.length;
        s.send(request(id, methodId, channel));
        await s.until(`answer ${id}`, () => answered(s, id) !== undefined);
        return { kinds: kinds(s.frames.slice(from)), raw: s.raw.slice(from) };
      };
      const first = await exchange(1n, WATCH, 1n);
      assert.deepEqual(first.kinds, [
        "schema:channels",
        "data",
        "data",
        "close",
        "schema:response",
        "response",
      ]);
      // Schema{conn 0, method 4, kind Channels, (Tx<u64>,)}: tag 0b, conn, method, kind 2, the
      // length, then the canonical bytes (format 1, a tuple of 1, Channel Tx of primitive u64).
      assert.equal(toHex(first.raw[0]!), toHex(fromHex("0b 00 04 02 07 01 06 01 0a 00 00 04")));
      assert.equal(
        toHex(first.raw[0]!),
        toHex(
          encodeMessage({
            type: "schema",
            conn: 0n,
            methodId: WATCH,
            kind: "channels",
            schema: toCanonicalBytes(tuple(channel("tx", u64))),
          }),
        ),
      );
      // The same method again: nothing new to announce.
      const again = await exchange(3n, WATCH, 3n);
      assert.deepEqual(again.kinds, ["data", "data", "close", "response"]);
      // Another method: its own announcement, once.
      const other = await exchange(5n, TICKS, 5n);
      assert.deepEqual(other.kinds, [
        "schema:channels",
        "data",
        "close",
        "schema:response",
        "response",
      ]);
      const announced = s.frames.filter((m) => m.type === "schema" && m.kind === "channels");
      assert.deepEqual(
        announced.map((m) => m.type === "schema" && [m.methodId, toHex(m.schema)]),
        [
          [WATCH, toHex(SERVER.get(WATCH)!.channels)],
          [TICKS, toHex(SERVER.get(TICKS)!.channels)],
        ],
      );
      assert.deepEqual((await exchange(7n, TICKS, 7n)).kinds, ["data", "close", "response"]);
      // A method served without schemas announces nothing.
      const plain = await exchange(9n, PLAIN, 9n);
      assert.deepEqual(plain.kinds, ["data", "data", "close", "response"]);
      assert.deepEqual(runs, [WATCH, WATCH, TICKS, TICKS, PLAIN]);
    } finally {
      await s.close();
    }
  });

  test("a caller that cannot read the items is refused before the handler runs", async () => {
    const runs: bigint[] = [];
    const s = await scripted("acceptor", {
      handler: handler(runs),
      schemas: (id) => SERVER.get(id),
    });
    try {
      const announce = (methodId: bigint, itemType: Schema) =>
        s.send(channelsSchema(methodId, toCanonicalBytes(tuple(channel("tx", itemType)))));
      // The caller needs a field the handler's Tick does not have.
      announce(
        TICKS,
        struct("Tick", [
          ["n", u32],
          ["m", u8],
        ]),
      );
      s.send(request(1n, TICKS, 1n));
      await s.until("answer 1", () => answered(s, 1n) !== undefined);
      assert.equal(
        incompatibleText(answered(s, 1n)!.payload),
        "channel argument 0: the writer's type cannot be read as the reader's type (1 problem):\n" +
          "  - field `Tick.m`: the reader's type `Tick` requires `m: u8`, which the writer's " +
          "type `Tick` does not send; give it a default with #[facet(default)], or add it in a " +
          "new method instead",
      );
      // A primitive that changed kind: both types are named.
      announce(WATCH, u32);
      s.send(request(3n, WATCH, 3n));
      await s.until("answer 3", () => answered(s, 3n) !== undefined);
      const changed = incompatibleText(answered(s, 3n)!.payload);
      assert.ok(
        changed.startsWith(
          "channel argument 0: the writer's type cannot be read as the reader's type (1 problem):\n" +
            "  - the top-level value: the writer sends `u64` but the reader expects `u32`",
        ),
        changed,
      );
      // Neither handler ran, nothing was announced, and the channels were closed at once.
      assert.deepEqual(runs, []);
      assert.deepEqual(kinds(s.frames), ["close", "response", "close", "response"]);

      // The caller lacks a field the handler writes (it skips it), under another type name.
      announce(TICKS, struct("Stamp", [["n", u32]]));
      s.send(request(5n, TICKS, 5n));
      await s.until("answer 5", () => answered(s, 5n) !== undefined);
      assert.deepEqual(runs, [TICKS]);
      const served = s.frames.slice(4);
      assert.deepEqual(kinds(served), [
        "schema:channels",
        "data",
        "close",
        "schema:response",
        "response",
      ]);
      const data = served.find((m) => m.type === "data");
      // Written as the handler's type: the caller translates.
      assert.ok(data?.type === "data");
      assert.deepEqual([...data.payload], [...enc((w) => (w.u32(1), w.u64(100n)))]);
      assert.deepEqual([...answered(s, 5n)!.payload], [0, 1]);
    } finally {
      await s.close();
    }
  });
});

// ----- typed, both sides TypeScript -----

describe("typed channels whose item types differ between caller and callee", () => {
  const ID = 0x5151n;
  interface ServerTick {
    n: number;
    at: number;
  }
  interface ClientTick {
    n: number;
    label: string;
  }
  const serverTick: Codec<ServerTick> = {
    encode: (w, v) => (w.u32(v.n), w.u32(v.at)),
    decode: (r) => ({ n: r.u32(), at: r.u32() }),
  };
  // The caller's Tick has its fields in another order, and one the handler's lacks.
  const clientTick: Codec<ClientTick> = {
    encode: (w, v) => (w.string(v.label), w.u32(v.n)),
    decode: (r) => ({ label: r.string(), n: r.u32() }),
  };
  const descriptor = <T>(item: Codec<T>, tick: Schema): MethodDescriptor<[], number, never> => ({
    service: "Clock",
    method: "ticks",
    id: ID,
    args: tupleCodec(),
    ok: u32Codec,
    err: undefined,
    channels: [{ kind: "tx", item: item as Codec<unknown> }],
    schemas: methodSchemas(tuple(channel("tx", tick))),
  });
  const SERVED = descriptor(
    serverTick,
    struct("Tick", [
      ["n", u32],
      ["at", u32],
    ]),
  );
  const CALLED = descriptor(
    clientTick,
    struct("Tick", [
      ["label", str, true],
      ["n", u32],
    ]),
  );

  test("the caller's typed Rx gets the handler's items as its own type", async () => {
    let runs = 0;
    const served = serve({
      service: "Clock",
      routes: [
        route(SERVED, async (_args, channels) => {
          runs++;
          const out = channels[0] as Tx<ServerTick>;
          for (const n of [1, 2, 3]) await out.send({ n, at: n * 1000 });
          return 3;
        }),
      ],
    });
    const [a, b] = linkPair();
    const [client, server] = await within(
      GUARD,
      Promise.all([
        connect(a),
        connect(b, { role: "acceptor", handler: served.handler, schemas: served.schemas }),
      ]),
      "handshake",
    );
    try {
      const [tx, rx] = channelPair<ClientTick>();
      const call = invoke(client, CALLED, [], [tx]);
      const got: ClientTick[] = [];
      for await (const t of rx) got.push(t);
      assert.deepEqual(got, [
        { n: 1, label: "" },
        { n: 2, label: "" },
        { n: 3, label: "" },
      ]);
      assert.equal(await within(GUARD, call, "call"), 3);

      // A caller item type the handler's cannot become: refused, and the handler never runs.
      const strict = descriptor(
        stringCodec,
        struct("Tick", [
          ["n", u32],
          ["zone", str],
        ]),
      );
      const [tx2] = channelPair<string>();
      const e = await within(GUARD, invoke(client, strict, [], [tx2]), "strict").then(
        () => assert.fail("the call succeeded"),
        (err: unknown) => roamError(err),
      );
      assert.equal(e.code, "incompatible_schema");
      assert.ok(e.message.includes("field `Tick.zone`"), e.message);
      assert.equal(runs, 1);
    } finally {
      await within(GUARD, Promise.all([client.close(), server.close()]), "close");
    }
  });
});
