// A deterministic pair of sessions, as in roam-proto/src/session/tests/util.rs: two Sessions,
// the wire between them as queues, and a virtual clock. Time moves only when a test says so;
// faults are edits of the wire. Plus helpers for scripting one session with raw frames.

import assert from "node:assert/strict";

import { Session } from "../src/session.js";
import type { OutgoingCall, SessionEvent, SessionOptions, CallStart } from "../src/session.js";
import { decodeMessage, encodeMessage, PROTOCOL_VERSION, DEFAULT_LIMITS } from "../src/wire.js";
import type { Limits, Message, Metadata } from "../src/wire.js";

export type Way = "c2s" | "s2c";

/** The acceptor's key in every pair. */
export const SERVER_KEY = new Uint8Array(16).fill(9);

/** Steps a drive may take before the test is failed as a livelock. */
const MAX_STEPS = 10_000;

export class Pair<C = undefined, S = undefined, Ch = undefined> {
  readonly client: Session<C, S, Ch>;
  readonly server: Session<C, S, Ch>;
  now = 0;
  /** One-way delay of every frame, in ms. */
  latency = 0;
  private readonly wire: Record<Way, [number, Uint8Array][]> = { c2s: [], s2c: [] };
  private readonly held: Record<Way, boolean> = { c2s: false, s2c: false };
  private readonly lost: Record<Way, boolean> = { c2s: false, s2c: false };
  /** Every frame each side put on the wire, decoded, in order. */
  readonly log: Record<Way, Message[]> = { c2s: [], s2c: [] };

  /** A pair with these options, handshake done (its events are left for the test). */
  constructor(client: SessionOptions = {}, server: SessionOptions = {}) {
    this.client = new Session<C, S, Ch>("initiator", 0, client);
    this.server = new Session<C, S, Ch>("acceptor", 0, { sessionKey: SERVER_KEY, ...server });
    this.drive();
  }

  /** Holds back frames travelling `way` (delivered late, on release). */
  hold(way: Way): void {
    this.held[way] = true;
  }

  release(way: Way): void {
    this.held[way] = false;
  }

  /** Frames travelling `way` are lost from now on. */
  blackhole(way: Way): void {
    this.lost[way] = true;
  }

  /** The link dies: frames in flight are lost and both sides are told. */
  disconnect(): void {
    this.wire.c2s.length = 0;
    this.wire.s2c.length = 0;
    this.client.handleLinkClosed(this.now, undefined, "link died");
    this.server.handleLinkClosed(this.now, undefined, "link died");
  }

  private collect(): boolean {
    const at = this.now + this.latency;
    let moved = false;
    for (const [way, s] of [
      ["c2s", this.client],
      ["s2c", this.server],
    ] as const) {
      for (let f = s.pollTransmit(); f !== undefined; f = s.pollTransmit()) {
        moved = true;
        this.log[way].push(decodeMessage(f));
        if (!this.lost[way]) this.wire[way].push([at, f]);
      }
    }
    return moved;
  }

  private deliver(): boolean {
    let delivered = false;
    for (const [way, s] of [
      ["c2s", this.server],
      ["s2c", this.client],
    ] as const) {
      const q = this.wire[way];
      while (!this.held[way] && q.length > 0 && q[0]![0] <= this.now) {
        s.handleFrame(this.now, q.shift()![1]);
        delivered = true;
      }
    }
    return delivered;
  }

  /** Moves frames both ways at the current time until both sides are idle. */
  drive(): void {
    for (let i = 0; i < MAX_STEPS; i++) {
      const moved = this.collect();
      const delivered = this.deliver();
      if (!moved && !delivered) return;
    }
    assert.fail(`sessions did not go idle within ${MAX_STEPS} steps`);
  }

  private nextEvent(): number | undefined {
    const times = [this.client.pollTimeout(), this.server.pollTimeout()];
    for (const way of ["c2s", "s2c"] as const) {
      if (!this.held[way]) times.push(this.wire[way][0]?.[0]);
    }
    let min: number | undefined;
    for (const t of times) if (t !== undefined && (min === undefined || t < min)) min = t;
    return min;
  }

  private tick(): void {
    this.client.handleTimeout(this.now);
    this.server.handleTimeout(this.now);
  }

  /** Lets `ms` of virtual time pass, jumping from event to event. */
  advance(ms: number): void {
    const until = this.now + ms;
    for (let i = 0; i < MAX_STEPS; i++) {
      this.drive();
      const at = this.nextEvent();
      if (at !== undefined && at <= until) {
        this.now = Math.max(this.now, at);
        this.tick();
      } else {
        this.now = until;
        this.tick();
        this.drive();
        return;
      }
    }
    assert.fail(`time did not reach its target within ${MAX_STEPS} steps`);
  }

  /** Advances until `done` holds or `limit` ms pass; returns the time it took. */
  advanceUntil(limit: number, done: (p: this) => boolean): number | undefined {
    const start = this.now;
    for (let i = 0; i < MAX_STEPS; i++) {
      this.drive();
      if (done(this)) return this.now - start;
      const at = this.nextEvent();
      if (at === undefined || at > start + limit) return undefined;
      this.now = Math.max(this.now, at);
      this.tick();
    }
    assert.fail(`no outcome within ${MAX_STEPS} steps`);
  }
}

/** Every event `s` has queued. */
export function events<C, S, Ch>(s: Session<C, S, Ch>): SessionEvent<C, S, Ch>[] {
  const out: SessionEvent<C, S, Ch>[] = [];
  for (let e = s.pollEvent(); e !== undefined; e = s.pollEvent()) out.push(e);
  return out;
}

/** The events of one type. */
export function ofType<C, S, Ch, T extends SessionEvent<C, S, Ch>["type"]>(
  list: SessionEvent<C, S, Ch>[],
  type: T,
): Extract<SessionEvent<C, S, Ch>, { type: T }>[] {
  return list.filter((e): e is Extract<SessionEvent<C, S, Ch>, { type: T }> => e.type === type);
}

/** A plain call with a 2-byte payload. */
export function call(methodId: bigint, over: Partial<OutgoingCall> = {}): OutgoingCall {
  return { methodId, payload: Uint8Array.of(1, 2), ...over };
}

/** Starts a call with the session's own IDs; fails the test if it is refused. */
export function start<C, S, Ch>(
  s: Session<C, S, Ch>,
  now: number,
  c: OutgoingCall,
  attach: C,
): bigint {
  const r: CallStart<C> = s.call(now, 0n, s.nextRequestId(), c, attach);
  if (!r.ok) assert.fail(`call refused: ${JSON.stringify(r.reason, big)}`);
  return r.id;
}

export function big(_k: string, v: unknown): unknown {
  return typeof v === "bigint" ? `${v}n` : v;
}

export const enc = (msg: Message): Uint8Array => encodeMessage(msg);

export function hello(limits: Limits = DEFAULT_LIMITS, over: Partial<Message> = {}): Uint8Array {
  return enc({
    type: "hello",
    version: PROTOCOL_VERSION,
    limits: { ...limits },
    sessionKey: undefined,
    resume: undefined,
    metadata: [],
    replay: { type: "off" },
    ...over,
  } as Message);
}

export function rawRequest(
  id: bigint,
  over: Partial<Extract<Message, { type: "request" }>> = {},
): Uint8Array {
  return enc({
    type: "request",
    conn: 0n,
    id,
    methodId: 5n,
    metadata: [],
    channels: [],
    timeoutMicros: undefined,
    payload: new Uint8Array(0),
    ...over,
  });
}

/** An acceptor that completed its handshake with a scripted client (output drained). */
export function establishedServer(options: SessionOptions = {}): Session {
  const s = new Session("acceptor", 0, { sessionKey: new Uint8Array(16).fill(1), ...options });
  s.handleFrame(0, hello());
  sent(s);
  events(s);
  return s;
}

/** An initiator that completed its handshake with a scripted server (output drained). */
export function establishedClient(options: SessionOptions = {}): Session {
  const s = new Session("initiator", 0, options);
  s.handleFrame(0, hello(DEFAULT_LIMITS, { sessionKey: SERVER_KEY } as Partial<Message>));
  sent(s);
  events(s);
  return s;
}

/** Every frame `s` has queued, decoded. */
export function sent<C, S, Ch>(s: Session<C, S, Ch>): Message[] {
  const out: Message[] = [];
  for (let f = s.pollTransmit(); f !== undefined; f = s.pollTransmit()) out.push(decodeMessage(f));
  return out;
}

/** The reason of the `Goodbye` among `s`'s queued frames. */
export function goodbyeReason<C, S, Ch>(s: Session<C, S, Ch>): string | undefined {
  for (const m of sent(s)) if (m.type === "goodbye") return m.reason;
  return undefined;
}

/** Metadata with one entry more than the protocol allows. */
export function oversizedMetadata(): Metadata {
  return Array.from({ length: 65 }, (_, i) => [`k${i}`, "v"] as const);
}
