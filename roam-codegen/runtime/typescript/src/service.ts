/**
 * Typed calls and typed serving: what generated clients and dispatchers are made of.
 *
 * A {@link MethodDescriptor} (emitted per method by the generator) names a method and carries
 * its codecs and schemas. {@link invoke} makes a typed call with one over a {@link Connection};
 * {@link route} and {@link serve} turn handler functions into the driver's {@link Handler}.
 *
 * This module owns the mapping between typed values and a call's bytes: argument tuples,
 * `Result` payloads (`00`+T, `01 00`+E), channel arguments, metadata, and the handler's
 * {@link Context}. It does not touch sessions, frames or credit (the driver's), nor the
 * runtime-failure codes of a response (`response.ts`, `call-error.ts`).
 *
 * @module
 */

import { RoamError } from "./call-error.js";
import { ChannelReceiver, ChannelSender } from "./channel-ends.js";
import type { ChannelEnd } from "./channel-ends.js";
import { isErr, userError } from "./call.js";
import type { Err, RoamCall } from "./call.js";
import { ReceiverRx, SenderTx, checkChannelArgument } from "./channel.js";
import type { BoundChannel, ChannelBinder, ChannelKind } from "./channel.js";
import { decodeFrom, encodeAfter } from "./codec.js";
import type { Codec } from "./codec.js";
import type {
  CallOptions as ConnectionCallOptions,
  CallResponse,
  Connection,
  Handler,
  HandlerAnswer,
  ServedCall,
} from "./driver.js";
import { metadataEntries } from "./metadata.js";
import type { MetadataInit } from "./metadata.js";
import type { MethodSchemaBytes } from "./method-schemas.js";
import type { FieldDefaults } from "./translate.js";
import { ERR, OK, RemoteError, USER, remote } from "./response.js";
import type { Metadata, MetadataValue } from "./wire.js";

export type { ChannelKind } from "./channel.js";
export type { MetadataInit } from "./metadata.js";

/** Everything generated code knows about one method. */
export interface MethodDescriptor<A extends unknown[], T, E> {
  /** The service's name, as in the Rust trait. */
  readonly service: string;
  /** The method's name, as in the Rust trait. */
  readonly method: string;
  /** The method ID both sides agree on (`roam ids` prints it). */
  readonly id: bigint;
  /**
   * The method may run more than once without harm (`#[roam(idempotent)]` in Rust; generated
   * only when set): a reconnecting connection that loses the session while a call of it is in
   * flight makes the call again on the fresh session instead of failing it. Absent: not
   * idempotent, never made again once sent.
   */
  readonly idempotent?: boolean | undefined;
  /** The tuple of the wire arguments, in order, channel arguments left out. */
  readonly args: Codec<A>;
  /** The success value. */
  readonly ok: Codec<T>;
  /** The method's error type; `undefined` for a method that cannot fail (`E` is `never`). */
  readonly err: Codec<E> | undefined;
  /** The channel arguments, in argument order. */
  readonly channels: readonly { readonly kind: ChannelKind; readonly item: Codec<unknown> }[];
  /**
   * Our schemas of the method's payloads, announced to the peer, and the encoded literal
   * defaults a translation fills in for fields a peer's type lacks.
   */
  readonly schemas: MethodSchemaBytes & { readonly defaults?: FieldDefaults | undefined };
}

/** Options of one typed call. */
export interface CallOptions {
  /** Aborting gives the call up: the handler's signal aborts, the call rejects `cancelled`. */
  signal?: AbortSignal | undefined;
  /** How long to wait for the answer; the handler learns the deadline. */
  timeoutMs?: number | undefined;
  /** Request metadata. */
  metadata?: MetadataInit | undefined;
  /** Called with the response's metadata when an answer (a value or a user error) arrives. */
  onResponseMetadata?: ((m: ReadonlyMap<string, MetadataValue>) => void) | undefined;
  /**
   * Whether this call may be made again on a fresh session if a reconnecting connection loses
   * the session while it is in flight (instead of failing `connection_lost`); defaults to the
   * method's own {@link MethodDescriptor.idempotent}. Ignored for calls with channels.
   */
  idempotent?: boolean | undefined;
}

/** Metadata as the application reads it: a repeated key gives its first value, as in Rust. */
function metadataMap(md: Metadata): ReadonlyMap<string, MetadataValue> {
  const m = new Map<string, MetadataValue>();
  for (const [k, v] of md) if (!m.has(k)) m.set(k, v);
  return m;
}

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function nameOf(m: { readonly service: string; readonly method: string }): string {
  return `${m.service}.${m.method}`;
}

// A descriptor of any signature: route lists mix them, and route() checked each one.
type AnyDescriptor = MethodDescriptor<any, any, any>;

/**
 * Calls method `m` on `conn`. `args` are the wire arguments, `channels` the channel
 * arguments in order (position `i` is `m.channels[i]`):
 *
 * - kind `tx` (the handler sends): the `tx` of a `channel()` pair, whose `rx` the caller
 *   iterates; or any other `Tx`, which gets the items as they arrive.
 * - kind `rx` (the caller sends): the `rx` of a `channel()` pair, whose `tx` the caller
 *   writes on; or any `AsyncIterable` (an `async function*`), pulled with each item awaiting
 *   credit and closed at its end. If the iterable throws, the call is cancelled (`cancelled`,
 *   with the thrown value as `cause`); if the call ends first, the iterable is stopped with
 *   `return()`.
 *
 * Throws `TypeError` at once, before anything is sent, for a wrong channel argument or bad
 * metadata. Otherwise the call rejects with a `RoamError<E>`: `user` with the decoded error
 * when the handler answered one, `invalid_argument` for arguments that cannot be encoded,
 * `internal` for an answer that does not decode, or what the driver reports (`cancelled`,
 * `deadline_exceeded`, `unimplemented`, …).
 */
export function invoke<A extends unknown[], T, E>(
  conn: Connection,
  m: MethodDescriptor<A, T, E>,
  args: A,
  channels: readonly unknown[],
  opts: CallOptions = {},
): RoamCall<T, E> {
  const name = nameOf(m);
  if (channels.length !== m.channels.length) {
    throw new TypeError(
      `${name} takes ${m.channels.length} channel arguments, got ${channels.length}`,
    );
  }
  // Every check before any side effect: a refused call leaves its channel pairs usable.
  const seen = new Set<object>();
  const binders: ChannelBinder[] = channels.map((value, i) =>
    checkChannelArgument(m.channels[i]!.kind, value, i, seen),
  );
  const metadata = opts.metadata === undefined ? undefined : metadataEntries(opts.metadata);
  let payload: Uint8Array;
  try {
    payload = encodeAfter([], m.args, args);
  } catch (e) {
    return Promise.reject(
      new RoamError("invalid_argument", `the arguments of ${name} cannot be encoded: ${describe(e)}`, {
        cause: e,
      }),
    ) as RoamCall<T, E>;
  }
  const bound: BoundChannel[] = binders.map((bind, i) => bind(m.channels[i]!.item));

  // Our own controller: it follows the caller's signal, and a failing iterable aborts it.
  const controller = new AbortController();
  const signal = opts.signal;
  let follow: (() => void) | undefined;
  if (signal?.aborted === true) controller.abort(signal.reason);
  else if (signal !== undefined) {
    follow = () => controller.abort(signal.reason);
    signal.addEventListener("abort", follow, { once: true });
  }
  let sourceError: { readonly index: number; readonly error: unknown } | undefined;

  const options: ConnectionCallOptions = {
    signal: controller.signal,
    timeoutMs: opts.timeoutMs,
    metadata,
    channels: bound.map((b) => b.end),
    schemas: m.schemas,
    idempotent: opts.idempotent ?? m.idempotent === true,
  };
  const pending = conn.call(m.id, payload, options);
  bound.forEach((b, index) =>
    b.start((error) => {
      if (sourceError !== undefined) return;
      sourceError = { index, error };
      controller.abort(error);
    }),
  );
  const ended = (): void => {
    if (follow !== undefined) signal?.removeEventListener("abort", follow);
    for (const b of bound) b.stop();
  };
  const call = pending.then(
    (response) => {
      ended();
      return answer(m, name, response, opts.onResponseMetadata);
    },
    (e: unknown) => {
      ended();
      if (sourceError !== undefined && RoamError.is(e) && e.code === "cancelled") {
        throw new RoamError(
          "cancelled",
          `the iterable given for channel argument ${sourceError.index} of ${name} failed, so the call was cancelled`,
          { cause: sourceError.error },
        );
      }
      throw e;
    },
  );
  return call as RoamCall<T, E>;
}

/** The typed outcome of an answer the driver resolved with (`Ok` or a user error). */
function answer<T, E>(
  m: Pick<MethodDescriptor<unknown[], T, E>, "ok" | "err">,
  name: string,
  response: CallResponse,
  onMetadata: ((m: ReadonlyMap<string, MetadataValue>) => void) | undefined,
): T {
  if (onMetadata !== undefined) {
    try {
      onMetadata(metadataMap(response.metadata));
    } catch (e) {
      throw new RoamError("internal", "onResponseMetadata threw", { cause: e });
    }
  }
  const p = response.payload;
  if (p[0] === OK) {
    try {
      return decodeFrom(m.ok, p, 1);
    } catch (e) {
      throw new RoamError("internal", `the answer of ${name} does not decode: ${describe(e)}`, {
        cause: e,
      });
    }
  }
  if (p[0] === ERR && p[1] === USER) {
    if (m.err === undefined) {
      throw new RoamError("internal", `${name} cannot fail, yet the callee answered an error`);
    }
    let value: E;
    try {
      value = decodeFrom(m.err, p, 2);
    } catch (e) {
      throw new RoamError("internal", `the error ${name} answered does not decode: ${describe(e)}`, {
        cause: e,
      });
    }
    throw userError(value, `${name} answered its error`);
  }
  throw new RoamError("internal", `the answer of ${name} is not a roam response`);
}

/** What a handler knows about the call it serves. */
export interface Context {
  /** Aborts when the caller cancels, its deadline passes, or the session ends. */
  readonly signal: AbortSignal;
  /** The request's metadata; a repeated key gives its first value. */
  readonly metadata: ReadonlyMap<string, MetadataValue>;
  /** When the caller stops waiting, on `performance.now()`'s clock, if it set a deadline. */
  readonly deadline: number | undefined;
  /** Milliseconds left before the deadline (0 once past), for passing on to calls it makes. */
  timeoutMs(): number | undefined;
  /**
   * Sets the metadata sent with the answer (replacing any set before); the caller sees it in
   * `onResponseMetadata`. Throws `TypeError` for a bad key or value.
   */
  setResponseMetadata(init: MetadataInit): void;
}

/** One method served: its descriptor and the function that runs it. Made by {@link route}. */
export interface Route {
  /** The method; `any` because one route list mixes every signature. */
  readonly descriptor: AnyDescriptor;
  run(args: unknown[], channels: readonly unknown[], ctx: Context): unknown;
}

/**
 * Serves method `m` with `run`. `channels` holds the typed channel ends in argument order:
 * a `Tx<T>` for a kind `tx` argument (the handler sends), an `Rx<T>` for kind `rx`. Return
 * the value, or `err(e)` for the method's error; a thrown `RoamError` answers its code (a
 * `permission_denied` one denies the call, its message going to the caller as the reason), and
 * anything else thrown answers `internal` without its message.
 */
export function route<A extends unknown[], T, E>(
  m: MethodDescriptor<A, T, E>,
  run: (args: A, channels: readonly unknown[], ctx: Context) => Promise<T | Err<E>> | T | Err<E>,
): Route {
  return { descriptor: m, run: (args, channels, ctx) => run(args as A, channels, ctx) };
}

/** The routes of one service, as generated `…Routes(handler)` functions return them. */
export interface ServiceRoutes {
  readonly service: string;
  readonly routes: readonly Route[];
}

/** What {@link serve} builds: pass both to `connect`. */
export interface Served {
  /** The driver handler that dispatches to the routes. */
  readonly handler: Handler;
  /** Our schemas of a served method, by ID. */
  schemas(methodId: bigint): MethodSchemaBytes | undefined;
}

/**
 * One handler for all the methods of `services`. Throws at once if two routes share a method
 * ID. A call to a method not served answers `unimplemented`; arguments or channels that do
 * not match the method answer `invalid_argument`.
 *
 * @example
 * ```ts
 * const served = serve(calculatorRoutes(impl));
 * const conn = await connect(link, { role: "acceptor", handler: served.handler, schemas: served.schemas });
 * ```
 */
export function serve(...services: ServiceRoutes[]): Served {
  const routes = new Map<bigint, Route>();
  for (const s of services) {
    for (const r of s.routes) {
      const d = r.descriptor;
      const before = routes.get(d.id);
      if (before !== undefined) {
        const a = before.descriptor;
        throw new Error(
          `method ID 0x${d.id.toString(16)} is served twice: by ${a.service}.${a.method} and ${d.service}.${d.method}`,
        );
      }
      routes.set(d.id, r);
    }
  }
  return {
    handler: (call) => dispatch(routes, call),
    schemas: (methodId) => routes.get(methodId)?.descriptor.schemas,
  };
}

/** The typed ends of a served call's channels, or `undefined` if they do not fit the method. */
function typedChannels(
  m: AnyDescriptor,
  ends: readonly ChannelEnd[],
): unknown[] | undefined {
  if (ends.length !== m.channels.length) return undefined;
  const out: unknown[] = [];
  for (let i = 0; i < ends.length; i++) {
    const end = ends[i]!;
    const { kind, item } = m.channels[i]!;
    if (kind === "tx" && end instanceof ChannelSender) out.push(new SenderTx(end, item));
    else if (kind === "rx" && end instanceof ChannelReceiver) out.push(new ReceiverRx(end, item));
    else return undefined;
  }
  return out;
}

async function dispatch(routes: ReadonlyMap<bigint, Route>, call: ServedCall): Promise<HandlerAnswer> {
  const r = routes.get(call.methodId);
  if (r === undefined) return remote(RemoteError.UnknownMethod);
  const m = r.descriptor;
  const channels = typedChannels(m, call.channels);
  if (channels === undefined) return remote(RemoteError.InvalidPayload);
  let args: unknown[];
  try {
    args = decodeFrom(m.args, call.payload, 0);
  } catch {
    return remote(RemoteError.InvalidPayload);
  }
  let responseMetadata: Metadata = [];
  const deadline = call.deadline;
  const ctx: Context = {
    signal: call.signal,
    metadata: metadataMap(call.metadata),
    deadline,
    timeoutMs: () => (deadline === undefined ? undefined : Math.max(0, deadline - performance.now())),
    setResponseMetadata: (init) => {
      responseMetadata = metadataEntries(init);
    },
  };
  // A throw goes to the driver, which answers a RoamError's code or `internal`.
  const out = await r.run(args, channels, ctx);
  let payload: Uint8Array;
  if (isErr(out)) {
    if (m.err === undefined) {
      throw new Error(`${nameOf(m)} cannot fail, yet its handler returned err(…)`);
    }
    payload = encodeAfter([ERR, USER], m.err, out.error);
  } else {
    payload = encodeAfter([OK], m.ok, out);
  }
  return responseMetadata.length === 0 ? payload : { payload, metadata: responseMetadata };
}
