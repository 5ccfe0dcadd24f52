// Typed calls and serving (src/service.ts, src/channel.ts) end to end: a client connection and
// a served acceptor over an in-memory linkPair, with descriptors and routes written the way
// generated code writes them. Timeouts are hang guards only; nothing asserts how long
// anything took.

import { afterEach, describe, test } from "node:test";
import assert from "node:assert/strict";

import {
  DecodeError,
  RoamError,
  channel,
  connect,
  err,
  i32,
  i64,
  invoke,
  isCancelled,
  linkPair,
  route,
  serve,
  settle,
  string,
  tuple,
  u32,
  u64,
  unit,
} from "../src/index.js";
import type {
  Codec,
  ConnectOptions,
  Connection,
  Context,
  Err,
  MetadataValue,
  MethodDescriptor,
  MethodSchemaBytes,
  Rx,
  ServiceRoutes,
  Tx,
} from "../src/index.js";
import { ChannelReceiver, ChannelSender } from "../src/channel-ends.js";
import type { ChannelHost } from "../src/channel-ends.js";
import { ReceiverRx, SenderTx } from "../src/channel.js";
import { expectCode, within } from "./driver-util.js";

const GUARD = 10_000;

// ---- Canonical schema bytes (roam-core/src/schema.rs, format 1), enough for these methods.

const utf8 = new TextEncoder();
const str = (s: string): number[] => {
  const b = utf8.encode(s);
  return [b.length, ...b];
};
const prim = (kind: number): number[] => [0x00, kind];
const I32 = prim(8);
const I64 = prim(9);
const U32 = prim(3);
const U64 = prim(4);
const STRING = prim(14);
const UNIT = prim(15);
const tupleOf = (...items: number[][]): number[] =>
  items.length === 0 ? UNIT : [0x06, items.length, ...items.flat()];
const variant = (name: string, ...fields: number[][]): number[] =>
  fields.length === 0
    ? [...str(name), 2, 0]
    : [...str(name), 1, fields.length, ...fields.flatMap((f, i) => [...str(String(i)), 0, ...f])];
const enumOf = (name: string, ...variants: number[][]): number[] => [
  0x08,
  ...str(name),
  variants.length,
  ...variants.flat(),
];
const INFALLIBLE = enumOf("Infallible");
const resultOf = (ok: number[], okName: string, e: number[], errName: string): number[] =>
  enumOf(`Result<${okName}, ${errName}>`, variant("Ok", ok), variant("Err", e));
const channelOf = (kind: "tx" | "rx", item: number[]): number[] => [0x0a, kind === "tx" ? 0 : 1, ...item];
const canonical = (node: number[]): Uint8Array => Uint8Array.from([0x01, ...node]);

function schemas(args: number[], response: number[], channels: number[] = UNIT): MethodSchemaBytes {
  return { args: canonical(args), response: canonical(response), channels: canonical(channels) };
}

// ---- The service, as the generator would emit it.

type MathError = { tag: "DivisionByZero" } | { tag: "Overflow"; value: number };
const mathError: Codec<MathError> = {
  encode(w, v) {
    if (v.tag === "DivisionByZero") w.variant(0);
    else {
      w.variant(1);
      w.i32(v.value);
    }
  },
  decode(r) {
    const at = r.offset;
    const tag = r.variant();
    if (tag === 0) return { tag: "DivisionByZero" };
    if (tag === 1) return { tag: "Overflow", value: r.i32() };
    throw new DecodeError("unknown-variant", `MathError has no variant ${tag}`, at);
  },
};
const MATH_ERROR = enumOf("MathError", variant("DivisionByZero"), variant("Overflow", I32));

function method<A extends unknown[], T, E>(
  name: string,
  id: bigint,
  args: Codec<A>,
  ok: Codec<T>,
  errCodec: Codec<E> | undefined,
  channels: MethodDescriptor<A, T, E>["channels"],
  bytes: MethodSchemaBytes,
): MethodDescriptor<A, T, E> {
  return { service: "Calc", method: name, id, args, ok, err: errCodec, channels, schemas: bytes };
}

const ADD = method<[number, number], number, never>(
  "add", 0x1001n, tuple(i32, i32), i32, undefined, [],
  schemas(tupleOf(I32, I32), resultOf(I32, "i32", INFALLIBLE, "Infallible")),
);
const DIVIDE = method<[number, number], number, MathError>(
  "divide", 0x1002n, tuple(i32, i32), i32, mathError, [],
  schemas(tupleOf(I32, I32), resultOf(I32, "i32", MATH_ERROR, "MathError")),
);
const NOTHING = schemas(UNIT, resultOf(UNIT, "()", INFALLIBLE, "Infallible"));
const FAIL_ROAM = method<[], undefined, never>("failRoam", 0x1003n, tuple(), unit, undefined, [], NOTHING);
const FAIL_PLAIN = method<[], undefined, never>("failPlain", 0x1004n, tuple(), unit, undefined, [], NOTHING);
const WHOAMI = method<[], string, never>(
  "whoami", 0x1005n, tuple(), string, undefined, [],
  schemas(UNIT, resultOf(STRING, "String", INFALLIBLE, "Infallible")),
);
const WAIT = method<[], undefined, never>("wait", 0x1006n, tuple(), unit, undefined, [], NOTHING);
const COUNT = method<[number], bigint, never>(
  "count", 0x1007n, tuple(u32), u64, undefined, [{ kind: "tx", item: u64 }],
  schemas(tupleOf(U32), resultOf(U64, "u64", INFALLIBLE, "Infallible"), tupleOf(channelOf("tx", U64))),
);
const SUM = method<[], bigint, never>(
  "sum", 0x1008n, tuple(), i64, undefined, [{ kind: "rx", item: i64 }],
  schemas(UNIT, resultOf(I64, "i64", INFALLIBLE, "Infallible"), tupleOf(channelOf("rx", I64))),
);
const ECHO = method<[], number, never>(
  "echo", 0x1009n, tuple(), u32, undefined,
  [{ kind: "rx", item: string }, { kind: "tx", item: string }],
  schemas(
    UNIT,
    resultOf(U32, "u32", INFALLIBLE, "Infallible"),
    tupleOf(channelOf("rx", STRING), channelOf("tx", STRING)),
  ),
);
const ENDLESS = method<[], undefined, never>(
  "endless", 0x100an, tuple(), unit, undefined, [{ kind: "tx", item: u32 }],
  schemas(UNIT, resultOf(UNIT, "()", INFALLIBLE, "Infallible"), tupleOf(channelOf("tx", U32))),
);
const FIRST = method<[], bigint, never>(
  "first", 0x100cn, tuple(), i64, undefined, [{ kind: "rx", item: i64 }],
  schemas(UNIT, resultOf(I64, "i64", INFALLIBLE, "Infallible"), tupleOf(channelOf("rx", I64))),
);
const DEADLINE = method<[], string, never>(
  "deadline", 0x100bn, tuple(), string, undefined, [],
  schemas(UNIT, resultOf(STRING, "String", INFALLIBLE, "Infallible")),
);
const UNSERVED = method<[], undefined, never>("unserved", 0x1fffn, tuple(), unit, undefined, [], NOTHING);

/** The handler interface the generator would emit. */
interface CalcHandler {
  add(a: number, b: number, ctx: Context): number;
  divide(a: number, b: number, ctx: Context): Promise<number | Err<MathError>>;
  failRoam(ctx: Context): Promise<undefined>;
  failPlain(ctx: Context): Promise<undefined>;
  whoami(ctx: Context): string;
  wait(ctx: Context): Promise<undefined>;
  count(n: number, out: Tx<bigint>, ctx: Context): Promise<bigint>;
  sum(numbers: Rx<bigint>, ctx: Context): Promise<bigint>;
  echo(input: Rx<string>, output: Tx<string>, ctx: Context): Promise<number>;
  endless(out: Tx<number>, ctx: Context): Promise<undefined>;
  deadline(ctx: Context): string;
  first(numbers: Rx<bigint>, ctx: Context): Promise<bigint>;
}

function calcRoutes(h: CalcHandler): ServiceRoutes {
  return {
    service: "Calc",
    routes: [
      route(ADD, ([a, b], _ch, ctx) => h.add(a, b, ctx)),
      route(DIVIDE, ([a, b], _ch, ctx) => h.divide(a, b, ctx)),
      route(FAIL_ROAM, (_a, _ch, ctx) => h.failRoam(ctx)),
      route(FAIL_PLAIN, (_a, _ch, ctx) => h.failPlain(ctx)),
      route(WHOAMI, (_a, _ch, ctx) => h.whoami(ctx)),
      route(WAIT, (_a, _ch, ctx) => h.wait(ctx)),
      route(COUNT, ([n], ch, ctx) => h.count(n, ch[0] as Tx<bigint>, ctx)),
      route(SUM, (_a, ch, ctx) => h.sum(ch[0] as Rx<bigint>, ctx)),
      route(ECHO, (_a, ch, ctx) => h.echo(ch[0] as Rx<string>, ch[1] as Tx<string>, ctx)),
      route(ENDLESS, (_a, ch, ctx) => h.endless(ch[0] as Tx<number>, ctx)),
      route(DEADLINE, (_a, _ch, ctx) => h.deadline(ctx)),
      route(FIRST, (_a, ch, ctx) => h.first(ch[0] as Rx<bigint>, ctx)),
    ],
  };
}

/** Resolves once, with the first value given. */
class Signal<T> {
  fire: (v: T) => void = () => {};
  readonly fired: Promise<T> = new Promise((r) => (this.fire = r));
}

/** A handler implementation that reports what it saw. */
class Calc implements CalcHandler {
  readonly waitStarted = new Signal<void>();
  readonly waitAborted = new Signal<unknown>();
  readonly endlessStopped = new Signal<unknown>();
  readonly sumAborted = new Signal<unknown>();

  add(a: number, b: number): number {
    return a + b;
  }
  async divide(a: number, b: number): Promise<number | Err<MathError>> {
    if (b === 0) return err({ tag: "DivisionByZero" });
    const q = a / b;
    if (!Number.isInteger(q)) return err({ tag: "Overflow", value: a });
    return q;
  }
  async failRoam(): Promise<undefined> {
    throw new RoamError("resource_exhausted", "too busy");
  }
  async failPlain(): Promise<undefined> {
    throw new Error("secret database password");
  }
  whoami(ctx: Context): string {
    const user = ctx.metadata.get("user");
    ctx.setResponseMetadata({ "served-by": "calc", attempt: 2n });
    return typeof user === "string" ? user : "anonymous";
  }
  async wait(ctx: Context): Promise<undefined> {
    this.waitStarted.fire();
    await new Promise<void>((resolve) =>
      ctx.signal.addEventListener("abort", () => {
        this.waitAborted.fire(ctx.signal.reason);
        resolve();
      }),
    );
    return undefined;
  }
  async count(n: number, out: Tx<bigint>): Promise<bigint> {
    for (let i = 0; i < n; i++) await out.send(BigInt(i));
    return BigInt(n);
  }
  async sum(numbers: Rx<bigint>, ctx: Context): Promise<bigint> {
    ctx.signal.addEventListener("abort", () => this.sumAborted.fire(ctx.signal.reason));
    let total = 0n;
    for await (const x of numbers) total += x;
    return total;
  }
  async echo(input: Rx<string>, output: Tx<string>): Promise<number> {
    let n = 0;
    for await (const s of input) {
      await output.send(s.toUpperCase());
      n++;
    }
    output.close();
    return n;
  }
  async endless(out: Tx<number>): Promise<undefined> {
    try {
      for (let i = 0; ; i++) await out.send(i);
    } catch (e) {
      this.endlessStopped.fire({ error: e, closed: out.closed });
    }
    return undefined;
  }
  deadline(ctx: Context): string {
    return `${ctx.deadline !== undefined} ${ctx.timeoutMs()}`;
  }
  async first(numbers: Rx<bigint>): Promise<bigint> {
    return (await numbers.recv()) ?? -1n;
  }
}

interface Setup {
  readonly client: Connection;
  readonly server: Connection;
  readonly impl: Calc;
  readonly close: () => Promise<void>;
}

/** Connections still open: closed after each test, so a failing test cannot leak them. */
const open = new Set<() => Promise<void>>();

afterEach(async () => {
  const closers = [...open];
  open.clear();
  await Promise.all(closers.map((c) => c()));
});

/** A client and an acceptor serving `served` over an in-memory link pair. */
async function connected(served: ReturnType<typeof serve>): Promise<Omit<Setup, "impl">> {
  const [a, b] = linkPair();
  const acceptor: ConnectOptions = {
    role: "acceptor",
    handler: served.handler,
    schemas: served.schemas,
  };
  const [client, server] = await within(
    GUARD,
    Promise.all([connect(a), connect(b, acceptor)]),
    "handshake",
  );
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= within(GUARD, Promise.all([client.close(), server.close()]), "close").then(
      () => {},
    ));
  open.add(close);
  return { client, server, close };
}

async function setup(): Promise<Setup> {
  const impl = new Calc();
  return { ...(await connected(serve(calcRoutes(impl)))), impl };
}


const tick = () => new Promise<void>((r) => setTimeout(r, 5));

describe("typed calls over a served connection", { timeout: 60_000 }, () => {
  test("a unary call answers its value", async () => {
    const { client, server, close } = await setup();
    assert.equal(await within(GUARD, invoke(client, ADD, [2, 3], []), "add"), 5);
    assert.equal(await invoke(client, ADD, [-(2 ** 31), 0], []), -(2 ** 31));
    const many = await within(
      GUARD,
      Promise.all(Array.from({ length: 100 }, (_, i) => invoke(client, ADD, [i, i], []))),
      "100 adds",
    );
    assert.deepEqual(many, Array.from({ length: 100 }, (_, i) => 2 * i));
    assert.equal(server.isClosed, false);
    await close();
  });

  test("a user error arrives typed, through settle and through await", async () => {
    const { client, close } = await setup();
    const r = await within(GUARD, settle(invoke(client, DIVIDE, [1, 0], [])), "divide by zero");
    assert.ok(!r.ok);
    assert.equal(r.error.code, "user");
    const value: MathError | undefined = r.error.value;
    assert.deepEqual(value, { tag: "DivisionByZero" });

    const e = await expectCode(invoke(client, DIVIDE, [7, 2], []), "user");
    assert.deepEqual(e.value, { tag: "Overflow", value: 7 });
    assert.equal(e.retryable, false);

    const ok = await settle(invoke(client, DIVIDE, [6, 3], []));
    assert.deepEqual(ok, { ok: true, value: 2 });
    await close();
  });

  test("runtime failures: unknown method, thrown RoamError, thrown Error", async () => {
    const { client, server, close } = await setup();
    await expectCode(invoke(client, UNSERVED, [], []), "unimplemented");
    const busy = await expectCode(invoke(client, FAIL_ROAM, [], []), "resource_exhausted");
    assert.equal(busy.retryable, true);
    const internal = await expectCode(invoke(client, FAIL_PLAIN, [], []), "internal");
    assert.doesNotMatch(internal.message, /secret|password/);
    // The client serves nothing: the server calling it is answered unimplemented.
    await expectCode(invoke(server, ADD, [1, 1], []), "unimplemented");
    assert.equal(server.isClosed, false);
    await close();
  });

  test("arguments that do not decode are answered invalid_argument", async () => {
    const { client, close } = await setup();
    // ADD takes (i32, i32): one varint is not enough, and trailing bytes are refused too.
    await expectCode(client.call(ADD.id, Uint8Array.of(2)), "invalid_argument");
    await expectCode(client.call(ADD.id, Uint8Array.of(2, 4, 6)), "invalid_argument");
    // SUM expects one Rx channel; a call listing none does not fit the method.
    await expectCode(client.call(SUM.id, new Uint8Array(0)), "invalid_argument");
    await close();
  });

  test("arguments that cannot be encoded reject invalid_argument; the channel stays usable", async () => {
    const { client, close } = await setup();
    await expectCode(invoke(client, ADD, [2 ** 40, 1], []), "invalid_argument");
    const [tx, rx] = channel<bigint>();
    await expectCode(invoke(client, COUNT, [-1], [tx]), "invalid_argument");
    // Nothing was bound: the same pair serves the next call.
    const call = invoke(client, COUNT, [3], [tx]);
    const got: bigint[] = [];
    for await (const x of rx) got.push(x);
    assert.deepEqual(got, [0n, 1n, 2n]);
    assert.equal(await within(GUARD, call, "count"), 3n);
    await close();
  });

  test("metadata reaches the handler, and the handler's reaches onResponseMetadata", async () => {
    const { client, close } = await setup();
    let seen: ReadonlyMap<string, MetadataValue> | undefined;
    const who = await within(
      GUARD,
      invoke(client, WHOAMI, [], [], {
        metadata: { user: "ada", "trace-id": 7n },
        onResponseMetadata: (m) => (seen = m),
      }),
      "whoami",
    );
    assert.equal(who, "ada");
    assert.equal(seen?.get("served-by"), "calc");
    assert.equal(seen?.get("attempt"), 2n);
    // The iterable form; a repeated key reads as its first value on the other side.
    const again = await invoke(client, WHOAMI, [], [], {
      metadata: [
        ["user", "grace"],
        ["user", "later"],
      ],
    });
    assert.equal(again, "grace");
    assert.throws(() => invoke(client, WHOAMI, [], [], { metadata: { User: "x" } }), TypeError);
    assert.throws(
      () => invoke(client, WHOAMI, [], [], { metadata: { n: -1n } }),
      TypeError,
    );
    // Over the protocol's 64 entries: refused before anything is sent.
    const tooMany = Array.from({ length: 100 }, (_, i) => [`k${i}`, "v"] as const);
    await expectCode(invoke(client, WHOAMI, [], [], { metadata: tooMany }), "too_large");
    await close();
  });

  test("the handler sees the caller's deadline", async () => {
    const { client, close } = await setup();
    const [has, left] = (await invoke(client, DEADLINE, [], [], { timeoutMs: 5000 })).split(" ");
    assert.equal(has, "true");
    assert.ok(Number(left) > 0 && Number(left) <= 5000, left);
    assert.equal(await invoke(client, DEADLINE, [], []), "false undefined");
    await close();
  });

  test("aborting the caller's signal aborts the handler's ctx.signal", async () => {
    const { client, impl, close } = await setup();
    const ac = new AbortController();
    const call = invoke(client, WAIT, [], [], { signal: ac.signal });
    await within(GUARD, impl.waitStarted.fired, "the handler started");
    ac.abort(new Error("user gave up"));
    const e = await expectCode(call, "cancelled");
    assert.ok(isCancelled(e));
    assert.equal((e.cause as Error).message, "user gave up");
    const reason = await within(GUARD, impl.waitAborted.fired, "the handler's signal");
    assert.ok(RoamError.is(reason) && reason.code === "cancelled");
    // Already aborted: refused at once.
    await expectCode(invoke(client, ADD, [1, 2], [], { signal: AbortSignal.abort() }), "cancelled");
    await close();
  });
});

describe("typed channels over a served connection", { timeout: 60_000 }, () => {
  test("a Tx (handler to caller) stream of 10,000 u64 items, summed exactly", async () => {
    const { client, close } = await setup();
    const n = 10_000;
    const [tx, rx] = channel<bigint>();
    const call = invoke(client, COUNT, [n], [tx]);
    let sum = 0n;
    let count = 0;
    await within(
      GUARD,
      (async () => {
        for await (const x of rx) {
          assert.equal(x, BigInt(count), "in order");
          sum += x;
          count++;
        }
      })(),
      "the stream",
    );
    assert.equal(count, n);
    assert.equal(sum, (BigInt(n) * BigInt(n - 1)) / 2n);
    assert.equal(await within(GUARD, call, "count"), BigInt(n));
    // The pair's tx went to the call: sending on it here is refused.
    await expectCode(tx.send(1n), "channel_closed");
    assert.equal(tx.closed, true);
    await close();
  });

  test("an Rx (caller to handler) fed by an async function*", async () => {
    const { client, close } = await setup();
    let finished = false;
    async function* numbers(): AsyncGenerator<bigint> {
      try {
        for (let i = 1n; i <= 1000n; i++) yield i;
        yield -(2n ** 63n);
      } finally {
        finished = true;
      }
    }
    const total = await within(GUARD, invoke(client, SUM, [], [numbers()]), "sum");
    assert.equal(total, 500500n - 2n ** 63n);
    assert.equal(finished, true);
    await close();
  });

  test("an Rx fed through channel(): recv on the handler side, send + close here", async () => {
    const { client, close } = await setup();
    const [tx, rx] = channel<bigint>();
    const call = invoke(client, SUM, [], [rx]);
    for (let i = 0n; i < 5000n; i++) await tx.send(i);
    tx.close();
    assert.equal(tx.closed, true);
    assert.equal(await within(GUARD, call, "sum"), (5000n * 4999n) / 2n);
    await expectCode(tx.send(1n), "channel_closed");
    await close();
  });

  test("Tx.send before the pair is bound waits, then flows in order", async () => {
    const { client, close } = await setup();
    const [tx, rx] = channel<bigint>();
    let firstSent = false;
    const first = tx.send(40n).then(() => (firstSent = true));
    const second = tx.send(2n);
    // A close made before binding follows the queued items.
    tx.close();
    await tick();
    assert.equal(firstSent, false, "nothing to send to before the call");
    const call = invoke(client, SUM, [], [rx]);
    await within(GUARD, Promise.all([first, second]), "the queued sends");
    assert.equal(firstSent, true);
    assert.equal(await within(GUARD, call, "sum"), 42n);
    await close();
  });

  test("a bidirectional method echoes item by item", async () => {
    const { client, close } = await setup();
    const [inTx, inRx] = channel<string>();
    const [outTx, outRx] = channel<string>();
    const call = invoke(client, ECHO, [], [inRx, outTx]);
    for (const word of ["roam", "über", "😀"]) {
      await inTx.send(word);
      // A true echo: each answer arrives before the next word is sent.
      assert.equal(await within(GUARD, outRx.recv(), "an echo"), word.toUpperCase());
    }
    inTx.close();
    assert.equal(await within(GUARD, outRx.recv(), "the end"), undefined);
    assert.equal(await within(GUARD, call, "echo"), 3);
    await close();
  });

  test("breaking out of for await resets the channel: the handler's send rejects", async () => {
    const { client, impl, close } = await setup();
    const [tx, rx] = channel<number>();
    const call = invoke(client, ENDLESS, [], [tx]);
    let count = 0;
    for await (const x of rx) {
      assert.equal(x, count);
      if (++count === 5) break;
    }
    const stopped = (await within(GUARD, impl.endlessStopped.fired, "the sender stopped")) as {
      error: unknown;
      closed: boolean;
    };
    assert.ok(RoamError.is(stopped.error) && stopped.error.code === "channel_reset");
    assert.equal(stopped.closed, true, "the handler's Tx reports closed after the reset");
    assert.equal(await within(GUARD, call, "endless"), undefined);
    // The iterator is done for good.
    assert.equal(await rx.recv(), undefined);
    assert.equal(client.isClosed, false);
    await close();
  });

  test("an iterable that throws cancels the call; the handler's signal aborts", async () => {
    const { client, impl, close } = await setup();
    async function* failing(): AsyncGenerator<bigint> {
      yield 1n;
      await tick();
      throw new Error("the source broke");
    }
    const e = await expectCode(invoke(client, SUM, [], [failing()]), "cancelled");
    assert.equal((e.cause as Error).message, "the source broke");
    await within(GUARD, impl.sumAborted.fired, "the handler's signal");
    await close();
  });

  test("when the call ends first, the iterable is stopped with return()", async () => {
    const { client, close } = await setup();
    let pulls = 0;
    const returned = new Signal<void>();
    // Yields one item, then waits for more that never come: only return() ends it.
    let release: () => void = () => {};
    const hanging: AsyncIterable<bigint> = {
      [Symbol.asyncIterator]: () => ({
        next: async () => {
          if (pulls++ === 0) return { done: false, value: 7n };
          await new Promise<void>((r) => (release = r));
          return { done: true, value: undefined };
        },
        return: async () => {
          returned.fire();
          release();
          return { done: true, value: undefined };
        },
      }),
    };
    // FIRST answers after one item, while the pump still waits on the iterable.
    assert.equal(await within(GUARD, invoke(client, FIRST, [], [hanging]), "first"), 7n);
    await within(GUARD, returned.fired, "return() after the call ended");
    assert.equal(pulls, 2);
    await close();
  });

  test("an async function* is finished (its finally runs) when the call ends first", async () => {
    const { client, close } = await setup();
    const finished = new Signal<void>();
    async function* endless(): AsyncGenerator<bigint> {
      try {
        for (let i = 1n; ; i++) yield i;
      } finally {
        finished.fire();
      }
    }
    assert.equal(await within(GUARD, invoke(client, FIRST, [], [endless()]), "first"), 1n);
    await within(GUARD, finished.fired, "the generator's finally");
    await close();
  });

  test("an item that does not decode fails the handler's Rx with invalid_argument", async () => {
    const { client, close } = await setup();
    const raw = new ChannelSender();
    const call = client.call(SUM.id, new Uint8Array(0), { channels: [raw] });
    await raw.send(Uint8Array.of(2)); // i64 1
    await raw.send(Uint8Array.of(0x80)); // a truncated varint
    // The handler's for-await throws RoamError(invalid_argument): that is its answer, and the
    // channel was reset.
    await expectCode(call, "invalid_argument");
    await expectCode(raw.send(Uint8Array.of(2)), "channel_reset");
    await close();
  });

  test("wrong channel arguments are a TypeError before anything is sent", async () => {
    const { client, close } = await setup();
    const [tx, rx] = channel<bigint>();
    assert.throws(() => invoke(client, COUNT, [1], [42]), TypeError);
    assert.throws(() => invoke(client, COUNT, [1], [rx]), TypeError, "an Rx where a Tx belongs");
    assert.throws(() => invoke(client, SUM, [], [tx]), TypeError, "a Tx where an Rx belongs");
    assert.throws(() => invoke(client, SUM, [], [{}]), TypeError);
    assert.throws(() => invoke(client, COUNT, [1], []), TypeError, "a missing channel");
    const [a, b] = channel<string>();
    assert.throws(() => invoke(client, ECHO, [], [b, a]), TypeError, "one pair for two arguments");
    // A pair already handed to a call cannot go to another.
    const first = invoke(client, COUNT, [2], [tx]);
    assert.throws(() => invoke(client, COUNT, [2], [tx]), TypeError);
    const got: bigint[] = [];
    for await (const x of rx) got.push(x);
    assert.deepEqual(got, [0n, 1n]);
    await within(GUARD, first, "count");
    await close();
  });

  test("any Tx can take a handler's stream: items are forwarded as they arrive", async () => {
    const { client, close } = await setup();
    const got: bigint[] = [];
    let closed = false;
    const sink: Tx<bigint> = {
      send: async (v) => {
        got.push(v);
      },
      close: () => {
        closed = true;
      },
      get closed() {
        return closed;
      },
    };
    assert.equal(await within(GUARD, invoke(client, COUNT, [100], [sink]), "count"), 100n);
    // The items may trail the answer: wait for the stream's end.
    for (let i = 0; i < 200 && !closed; i++) await tick();
    assert.equal(closed, true);
    assert.deepEqual(got, Array.from({ length: 100 }, (_, i) => BigInt(i)));
    await close();
  });
});

describe("typed ends over untyped ones", () => {
  /** A host that records what the ends ask of it. */
  function host() {
    const resets: bigint[] = [];
    const closes: bigint[] = [];
    const sent: Uint8Array[] = [];
    let credit = 0;
    const h: ChannelHost = {
      sendData: (_ch, payload) => {
        sent.push(payload);
        credit--;
        return undefined;
      },
      credit: () => credit,
      closeChannel: (ch) => closes.push(ch),
      resetChannel: (ch) => resets.push(ch),
      grantCredit: () => {},
      waitForRoom: () => {},
    };
    return { h, resets, closes, sent, grant: (n: number) => (credit += n) };
  }

  test("an item that does not decode fails the Rx for good and resets the channel", async () => {
    const { h, resets } = host();
    const end = new ChannelReceiver();
    end.bind(h, 5n, 16);
    const rx = new ReceiverRx(end, i64);
    end.push(Uint8Array.of(2));
    end.push(Uint8Array.of(0x80));
    end.push(Uint8Array.of(4));
    assert.equal(await rx.recv(), 1n);
    const e = await expectCode(rx.recv(), "invalid_argument");
    assert.ok(e.cause instanceof DecodeError && e.cause.code === "truncated");
    assert.deepEqual(resets, [5n]);
    // The stream cannot be trusted past the bad item: later receives fail the same way.
    await expectCode(rx.recv(), "invalid_argument");
  });

  test("a Tx encodes items, waits for credit, and closes after what is still waiting", async () => {
    const { h, closes, sent, grant } = host();
    const end = new ChannelSender();
    end.bind(h, 9n);
    const tx = new SenderTx(end, string);
    const a = tx.send("a");
    const b = tx.send("b");
    tx.close();
    assert.equal(tx.closed, true);
    await expectCode(tx.send("c"), "channel_closed");
    assert.equal(sent.length, 0, "no credit yet");
    assert.deepEqual(closes, [], "the close waits for the items");
    grant(2);
    end.onCredit();
    await Promise.all([a, b]);
    assert.deepEqual(
      sent.map((p) => [...p]),
      [
        [1, 0x61],
        [1, 0x62],
      ],
    );
    await tick();
    assert.deepEqual(closes, [9n]);
    await expectCode(new SenderTx(new ChannelSender(), u32).send(-1), "invalid_argument");
  });
});

describe("channel() without a connection", () => {
  test("an in-memory channel: a send resolves when its item is received", async () => {
    const [tx, rx] = channel<number>();
    let sent = false;
    const p = tx.send(1).then(() => (sent = true));
    await tick();
    assert.equal(sent, false);
    assert.equal(await rx.recv(), 1);
    await p;
    assert.equal(sent, true);
    // A receive waiting for a send gets it at once.
    const next = rx.recv();
    await tx.send(2);
    assert.equal(await next, 2);
    tx.close();
    assert.equal(tx.closed, true);
    assert.equal(await rx.recv(), undefined);
    await expectCode(tx.send(3), "channel_closed");
  });

  test("cancelling the Rx rejects waiting and later sends with channel_reset", async () => {
    const [tx, rx] = channel<number>();
    const waiting = tx.send(1);
    rx.cancel();
    await expectCode(waiting, "channel_reset");
    await expectCode(tx.send(2), "channel_reset");
    assert.equal(tx.closed, true);
    assert.equal(await rx.recv(), undefined);
  });

  test("unawaited sends are bounded, and a cancel rejects the queued ones", async () => {
    const [tx, rx] = channel<number>();
    const pending: Promise<void>[] = [];
    for (let i = 0; i < 1024; i++) pending.push(tx.send(i));
    await expectCode(tx.send(1024), "resource_exhausted");
    rx.cancel();
    const outcomes = await Promise.allSettled(pending);
    assert.ok(
      outcomes.every(
        (o) => o.status === "rejected" && RoamError.is(o.reason) && o.reason.code === "channel_reset",
      ),
    );
  });
});

describe("serve", () => {
  test("two routes with one method ID are refused when built", () => {
    const impl = new Calc();
    assert.throws(
      () => serve(calcRoutes(impl), { service: "Copy", routes: [route(ADD, () => 1)] }),
      /served twice/,
    );
  });

  test("schemas are looked up by method ID", () => {
    const served = serve(calcRoutes(new Calc()));
    assert.equal(served.schemas(ADD.id), ADD.schemas);
    assert.equal(served.schemas(COUNT.id), COUNT.schemas);
    assert.equal(served.schemas(UNSERVED.id), undefined);
  });

  test("a handler returning err() for a method that cannot fail answers internal", async () => {
    const served = serve({
      service: "Bad",
      routes: [route(ADD, () => err("nope") as unknown as number)],
    });
    const { client, close } = await connected(served);
    await expectCode(invoke(client, ADD, [1, 2], []), "internal");
    await close();
  });
});
