// Schema exchange end to end over linkPair(): a caller and a server whose types differ. The
// caller announces its argument and channel schemas (CallOptions.schemas), the server
// translates what it can (ConnectOptions.schemas) and answers IncompatibleSchema for what it
// cannot, without running the handler; the server announces its response schema and the
// caller translates the response. Timeouts are hang guards only.

import { describe, test } from "node:test";
import assert from "node:assert/strict";

import { ChannelReceiver, ChannelSender, RoamError, connect } from "../src/driver.js";
import type { Connection, Handler, MethodSchemas } from "../src/driver.js";
import { linkPair } from "../src/link.js";
import { Reader } from "../src/postcard.js";
import { RemoteError, remote } from "../src/response.js";
import { INFALLIBLE, resultSchema, toCanonicalBytes } from "../src/schema-model.js";
import type { Schema } from "../src/schema-model.js";
import { decodeMessage, encodeMessage } from "../src/wire.js";
import type { Message } from "../src/wire.js";
import { within } from "./driver-util.js";
import { hello } from "./session-util.js";
import {
  bool,
  channel,
  enc,
  enumOf,
  str,
  struct,
  tuple,
  u32,
  u64,
  u8,
  unit,
} from "./schema-util.js";

const GUARD = 10_000;

function schemas(args: Schema, response: Schema, channels: Schema = unit): MethodSchemas {
  return {
    args: toCanonicalBytes(args),
    response: toCanonicalBytes(response),
    channels: toCanonicalBytes(channels),
  };
}

const same = (a: Uint8Array, b: Uint8Array) => assert.deepEqual([...a], [...b]);

async function rejection(p: Promise<unknown>): Promise<RoamError> {
  try {
    await within(GUARD, p, "call");
  } catch (e) {
    assert.ok(RoamError.is(e), `a RoamError, not ${String(e)}`);
    return e;
  }
  assert.fail("the call succeeded");
}

// ----- the methods, each with the server's schemas and the caller's -----

const PLACE = 1n;
const REPORT = 2n;
const FEED = 3n;
const WATCH = 4n;

const u64Result = resultSchema(u64, INFALLIBLE);
const u32Result = resultSchema(u32, INFALLIBLE);

/** place(order: Order) -> u64: the server's Order has fewer fields, in another order. */
const serverPlace = schemas(
  tuple(
    struct("Order", [
      ["qty", u32],
      ["id", u64],
    ]),
  ),
  u64Result,
);
const callerPlace = schemas(
  tuple(
    struct("Order", [
      ["id", u64],
      ["note", str],
      ["qty", u32],
    ]),
  ),
  u64Result,
);
const badPlace = schemas(
  tuple(
    struct("Order", [
      ["id", u64],
      ["qty", str],
    ]),
  ),
  u64Result,
);

/** report(mode: u8) -> Result<Report, Oops>: the caller's Report and Oops differ. */
const serverReport = schemas(
  tuple(u8),
  resultSchema(
    struct("Report", [
      ["n", u32],
      ["debug", str],
    ]),
    enumOf("Oops", [
      ["Bad", "tuple", [["0", u8]]],
      ["Worse", "unit", []],
      ["Gone", "unit", []],
    ]),
  ),
);
const callerReport = schemas(
  tuple(u8),
  resultSchema(
    struct("Report", [
      ["n", u32],
      ["flag", bool, true],
    ]),
    enumOf("Oops", [
      ["Worse", "unit", []],
      ["Bad", "tuple", [["0", u8]]],
    ]),
  ),
);

/** feed(items: Rx<Tick>) -> u32: the handler reads ticks; the caller's have a note. */
const serverFeed = schemas(unit, u32Result, tuple(channel("rx", struct("Tick", [["n", u32]]))));
const callerFeed = schemas(
  unit,
  u32Result,
  tuple(
    channel(
      "rx",
      struct("Tick", [
        ["n", u32],
        ["note", str],
      ]),
    ),
  ),
);

/** watch(out: Tx<u64>): the handler writes; the caller reads u32, which cannot read u64. */
const serverWatch = schemas(unit, u32Result, tuple(channel("tx", u64)));
const callerWatch = schemas(unit, u32Result, tuple(channel("tx", u32)));

const SERVER_SCHEMAS = new Map<bigint, MethodSchemas>([
  [PLACE, serverPlace],
  [REPORT, serverReport],
  [FEED, serverFeed],
  [WATCH, serverWatch],
]);

class Seen {
  readonly payloads: Uint8Array[] = [];
  readonly items: Uint8Array[] = [];
  feedError: unknown;
}

function handler(seen: Seen): Handler {
  return async (call) => {
    seen.payloads.push(call.payload);
    switch (call.methodId) {
      case PLACE: {
        // The server's straight-line decoder of (Order { qty, id },).
        const r = new Reader(call.payload);
        const qty = r.u32();
        const id = r.u64();
        r.finish();
        return enc((w) => (w.variant(0), w.u64(id * 1000n + BigInt(qty))));
      }
      case REPORT:
        switch (call.payload[0]) {
          case 0:
            return enc((w) => (w.variant(0), w.u32(5), w.string("dbg")));
          case 1:
            return enc((w) => (w.variant(1), w.variant(0), w.variant(0), w.u8(9)));
          case 2:
            return enc((w) => (w.variant(1), w.variant(0), w.variant(2)));
          default:
            throw new RoamError("unavailable", "not now");
        }
      case FEED: {
        const rx = call.channels[0];
        assert.ok(rx instanceof ChannelReceiver);
        let sum = 0;
        try {
          for await (const item of rx) {
            seen.items.push(item);
            const r = new Reader(item);
            sum += r.u32();
            r.finish();
          }
        } catch (e) {
          seen.feedError = e;
          return remote(RemoteError.InvalidPayload);
        }
        return enc((w) => (w.variant(0), w.u32(sum)));
      }
      default:
        return remote(RemoteError.UnknownMethod);
    }
  };
}

async function pair(
  seen: Seen,
): Promise<{ client: Connection; server: Connection; close: () => Promise<void> }> {
  const [a, b] = linkPair();
  const [client, server] = await within(
    GUARD,
    Promise.all([
      connect(a),
      connect(b, {
        role: "acceptor",
        handler: handler(seen),
        schemas: (id) => SERVER_SCHEMAS.get(id),
      }),
    ]),
    "handshake",
  );
  const close = async () => {
    await within(GUARD, Promise.all([client.close(), server.close()]), "close");
  };
  return { client, server, close };
}

describe("schema exchange between two drivers", () => {
  test("arguments with an extra field are translated for the handler; incompatible ones are refused", async () => {
    const seen = new Seen();
    const { client, close } = await pair(seen);
    try {
      const args = enc((w) => (w.u64(42n), w.string("gift wrap"), w.u32(3)));
      const answer = await within(
        GUARD,
        client.call(PLACE, args, { schemas: callerPlace }),
        "place",
      );
      same(
        answer.payload,
        enc((w) => (w.variant(0), w.u64(42_003n))),
      );
      same(
        seen.payloads[0]!,
        enc((w) => (w.u32(3), w.u64(42n))),
      );
      // Same method, a changed schema: announced again, and refused without the handler.
      const e = await rejection(
        client.call(
          PLACE,
          enc((w) => (w.u64(1n), w.string("x"))),
          { schemas: badPlace },
        ),
      );
      assert.equal(e.code, "incompatible_schema");
      assert.ok(
        e.message.startsWith(
          "the peer cannot read our arguments: the writer's type cannot be read",
        ),
        e.message,
      );
      assert.ok(
        e.message.includes("`.0.qty`: the writer sends `String` but the reader expects `u32`"),
        e.message,
      );
      assert.equal(seen.payloads.length, 1, "the handler did not run");
      // Back to the compatible schema: translated again.
      await within(GUARD, client.call(PLACE, args, { schemas: callerPlace }), "place again");
      assert.equal(seen.payloads.length, 2);
      // A caller with the server's own schema: nothing to translate, the bytes pass as they are.
      const raw = enc((w) => (w.u32(7), w.u64(8n)));
      const plain = await within(
        GUARD,
        client.call(PLACE, raw, { schemas: serverPlace }),
        "same schema",
      );
      same(
        plain.payload,
        enc((w) => (w.variant(0), w.u64(8007n))),
      );
    } finally {
      await close();
    }
  });

  test("the response is translated for the caller, Ok and user error alike", async () => {
    const seen = new Seen();
    const { client, close } = await pair(seen);
    try {
      const call = (mode: number) =>
        client.call(REPORT, Uint8Array.of(mode), { schemas: callerReport });
      // Ok(Report { n: 5, debug }) read as Report { n: 5, flag: false }.
      same((await within(GUARD, call(0), "ok")).payload, Uint8Array.of(0, 5, 0));
      // Err(User(Bad(9))): the caller's Bad is variant 1.
      same((await within(GUARD, call(1), "user error")).payload, Uint8Array.of(1, 0, 1, 9));
      // A variant the caller's Oops does not have.
      const gone = await rejection(call(2));
      assert.equal(gone.code, "incompatible_schema");
      assert.ok(gone.message.includes("`Gone`"), gone.message);
      // Runtime failures carry no typed value and pass untouched.
      assert.equal((await rejection(call(3))).code, "unavailable");
      // A caller without schemas gets the server's bytes.
      same(
        (await within(GUARD, client.call(REPORT, Uint8Array.of(0)), "raw")).payload,
        enc((w) => (w.variant(0), w.u32(5), w.string("dbg"))),
      );
      // An incompatible response schema: the caller's Report needs a field the server lacks.
      const strict = schemas(
        tuple(u8),
        resultSchema(
          struct("Report", [
            ["n", u32],
            ["must", u8],
          ]),
          INFALLIBLE,
        ),
      );
      const e = await rejection(client.call(REPORT, Uint8Array.of(0), { schemas: strict }));
      assert.equal(e.code, "incompatible_schema");
      assert.ok(e.message.startsWith("cannot read the peer's response: "), e.message);
      assert.ok(e.message.includes("field `Report.must`"), e.message);
    } finally {
      await close();
    }
  });

  test("items the handler reads are translated from the caller's item type", async () => {
    const seen = new Seen();
    const { client, close } = await pair(seen);
    try {
      const tx = new ChannelSender();
      const answer = client.call(FEED, new Uint8Array(0), { schemas: callerFeed, channels: [tx] });
      for (const [n, note] of [
        [1, "a"],
        [2, "bb"],
        [39, ""],
      ] as const) {
        await within(GUARD, tx.send(enc((w) => (w.u32(n), w.string(note)))), "send");
      }
      tx.close();
      same(
        (await within(GUARD, answer, "feed")).payload,
        enc((w) => (w.variant(0), w.u32(42))),
      );
      assert.deepEqual(
        seen.items.map((b) => [...b]),
        [[1], [2], [39]],
      );

      // An item that does not match the caller's own schema fails the handler's loop.
      const bad = new ChannelSender();
      const failing = client.call(FEED, new Uint8Array(0), {
        schemas: callerFeed,
        channels: [bad],
      });
      await within(GUARD, bad.send(Uint8Array.of(1, 9)), "bad item");
      assert.equal((await rejection(failing)).code, "invalid_argument");
      assert.ok(RoamError.is(seen.feedError) && seen.feedError.code === "invalid_argument");

      // An incompatible item type: refused before the handler runs.
      const before = seen.payloads.length;
      const strict = schemas(unit, u32Result, tuple(channel("rx", struct("Tick", [["m", u32]]))));
      const refused = await rejection(
        client.call(FEED, new Uint8Array(0), { schemas: strict, channels: [new ChannelSender()] }),
      );
      assert.equal(refused.code, "incompatible_schema");
      assert.ok(refused.message.includes("channel argument 0: "), refused.message);
      assert.equal(seen.payloads.length, before);
    } finally {
      await close();
    }
  });

  test("items the handler writes that the caller cannot read are refused before it runs", async () => {
    const seen = new Seen();
    const { client, close } = await pair(seen);
    try {
      const e = await rejection(
        client.call(WATCH, new Uint8Array(0), {
          schemas: callerWatch,
          channels: [new ChannelReceiver()],
        }),
      );
      assert.equal(e.code, "incompatible_schema");
      assert.ok(
        e.message.includes(
          "channel argument 0: the writer's type cannot be read as the reader's type (1 problem):\n" +
            "  - the top-level value: the writer sends `u64` but the reader expects `u32`",
        ),
        e.message,
      );
      assert.equal(seen.payloads.length, 0, "the handler did not run");
    } finally {
      await close();
    }
  });

  test("the server announces its response schema with typed answers only", async () => {
    const [raw, link] = linkPair();
    const frames: Message[] = [];
    let notify: () => void = () => {};
    raw.start({
      frame: (f) => {
        frames.push(decodeMessage(f));
        notify();
      },
      closed: () => {},
    });
    const until = (pred: () => boolean) =>
      within(
        GUARD,
        new Promise<void>((resolve) => {
          notify = () => pred() && resolve();
          notify();
        }),
        "frames",
      );
    raw.send(hello());
    const server = await within(
      GUARD,
      connect(link, {
        role: "acceptor",
        handler: handler(new Seen()),
        schemas: (id) => SERVER_SCHEMAS.get(id),
      }),
      "handshake",
    );
    const request = (id: bigint, mode: number) =>
      encodeMessage({
        type: "request",
        conn: 0n,
        id,
        methodId: REPORT,
        metadata: [],
        channels: [],
        timeoutMicros: undefined,
        payload: Uint8Array.of(mode),
      });
    const responses = () => frames.filter((m) => m.type === "response").length;
    raw.send(request(1n, 3));
    await until(() => responses() === 1);
    raw.send(request(3n, 0));
    await until(() => responses() === 2);
    raw.send(request(5n, 1));
    await until(() => responses() === 3);
    const kinds = frames
      .filter((m) => m.type !== "hello")
      .map((m) => (m.type === "schema" ? `schema:${m.kind}` : m.type));
    assert.deepEqual(kinds, ["response", "schema:response", "response", "response"]);
    const schema = frames.find((m) => m.type === "schema");
    assert.ok(schema?.type === "schema");
    assert.equal(schema.methodId, REPORT);
    same(schema.schema, serverReport.response);
    await server.close();
  });
});
