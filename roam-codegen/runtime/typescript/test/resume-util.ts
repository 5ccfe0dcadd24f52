// The acceptor side of resumption, scripted (a TypeScript acceptor does not resume sessions):
// what roam-proto's acceptor does per docs/protocol.md §8, written out plainly with the wire
// codec and the runtime's proof functions, so the initiator can be tested against it. Plus a
// fake server that runs such acceptors over real or in-memory links.

import assert from "node:assert/strict";

import { resumeProof, rotateSecret } from "../src/resume-crypto.js";
import type { Link } from "../src/link.js";
import { DEFAULT_LIMITS, PROTOCOL_VERSION, decodeMessage, encodeMessage, messageClass } from "../src/wire.js";
import type { HelloMessage, Message, RequestMessage } from "../src/wire.js";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

/** Why a scripted acceptor refuses a resume (the texts of Rust's `ResumeRefusal`). */
export const REFUSAL = {
  unknown: "no session with this key is kept here (it expired, or the server restarted)",
  badProof: "the resume proof does not match the session",
  gap: "the initiator's position cannot be replayed from",
  replayed: "this resume message was used before",
  unconfirmed: "too many resumes without a confirmation",
} as const;

/** One resumable session, acceptor side: numbering, the replay buffer, the secret. */
export class ScriptedAcceptor {
  readonly key: Uint8Array;
  secret: Uint8Array;
  /** The buffer our Grant announces. */
  readonly buffer: number;
  /** Session messages received from the initiator. */
  received = 0;
  /** Our session frames, in order: frame `n` (from 1) is `sent[n - 1]`. */
  private readonly sent: Uint8Array[] = [];
  /** The initiator's latest acknowledgement of our frames. */
  acked = 0;
  /** Every message the initiator sent us, in order (replays included once each). */
  readonly heard: Message[] = [];
  /** What goes to the initiator now, or nowhere without a link. */
  out: ((frame: Uint8Array) => void) | undefined;
  /** Whether our Hello granted replay (otherwise nothing is acknowledged or resumed). */
  granted = false;
  /** Every resume Hello we were sent, with whether its proof verified. */
  readonly resumes: { hello: HelloMessage; verified: boolean }[] = [];
  /**
   * The secret before the last accepted resume, while the initiator has not shown it got our
   * answer (it may resume again with the old one), and the nonces used with it.
   */
  private previous: { secret: Uint8Array; used: string[] } | undefined;

  constructor(key: Uint8Array, secret: Uint8Array, buffer = 1 << 20) {
    this.key = key;
    this.secret = secret;
    this.buffer = buffer;
  }

  /** Our answer to the initiator's first Hello: its session key and a Grant of replay. */
  grantHello(): Uint8Array {
    this.granted = true;
    return encodeMessage({
      type: "hello",
      version: PROTOCOL_VERSION,
      limits: { ...DEFAULT_LIMITS },
      sessionKey: this.key,
      resume: undefined,
      metadata: [],
      replay: { type: "grant", buffer: this.buffer, secret: this.secret },
    });
  }

  /** Sends (or, without a link, keeps) `msg`; session messages are numbered and kept. */
  send(msg: Message): void {
    const frame = encodeMessage(msg);
    if (messageClass(msg) === "session") this.sent.push(frame);
    this.out?.(frame);
  }

  /** Acknowledges everything received so far. */
  ack(): void {
    this.send({ type: "ack", received: BigInt(this.received) });
  }

  /** Our session messages so far. */
  get sentCount(): number {
    return this.sent.length;
  }

  /** A frame from the initiator on the attached link; returns it decoded. */
  receive(frame: Uint8Array): Message {
    const msg = decodeMessage(frame);
    // The initiator spoke on this link, so it holds the secret our answer rotated to.
    this.previous = undefined;
    if (messageClass(msg) === "session") {
      this.received++;
      this.heard.push(msg);
    }
    if (msg.type === "ack") {
      assert.ok(msg.received >= BigInt(this.acked), "acks never go backwards");
      assert.ok(msg.received <= BigInt(this.sent.length), "acks never exceed what was sent");
      this.acked = Number(msg.received);
    }
    return msg;
  }

  /**
   * Answers a resume `Hello` as Rust's `accept_resume` does: checks the key and the proof
   * against the current secret, then answers `Resumed { received, nonce }` followed by every
   * frame the initiator has not received, and rotates the secret. A refusal is the Goodbye.
   */
  answerResume(hello: HelloMessage, nonce: Uint8Array): { frames: Uint8Array[]; refused?: string } {
    const r = hello.resume;
    assert.ok(r !== undefined, "a resume Hello");
    assert.equal(hello.sessionKey, undefined, "a resume Hello names no session key of its own");
    assert.equal(hello.replay.type, "offer", "a resume Hello offers replay");
    const proves = (secret: Uint8Array) =>
      hex(resumeProof(secret, this.key, r.lastReceived, r.nonce)) === hex(r.proof);
    const sameKey = hex(r.sessionKey) === hex(this.key);
    const current = sameKey && proves(this.secret);
    const previous = sameKey && !current && this.previous !== undefined && proves(this.previous.secret);
    this.resumes.push({ hello, verified: current || previous });
    const refuse = (why: string) => ({
      frames: [encodeMessage({ type: "goodbye", reason: `resume-refused: ${why}` })],
      refused: why,
    });
    if (!sameKey) return refuse(REFUSAL.unknown);
    if (!current && !previous) return refuse(REFUSAL.badProof);
    if (previous && this.previous!.used.includes(hex(r.nonce))) return refuse(REFUSAL.replayed);
    if (previous && this.previous!.used.length >= 16) return refuse(REFUSAL.unconfirmed);
    const last = Number(r.lastReceived);
    if (last < this.acked || last > this.sent.length) return refuse(REFUSAL.gap);
    this.acked = last;
    const answer = encodeMessage({
      type: "hello",
      version: PROTOCOL_VERSION,
      limits: { ...DEFAULT_LIMITS },
      sessionKey: this.key,
      resume: undefined,
      metadata: [],
      replay: { type: "resumed", lastReceived: BigInt(this.received), nonce },
    });
    // The secret the proof was made with is kept until the initiator confirms (Rust's
    // `Ownership::accept`), with the nonces used under it.
    const base = previous ? this.previous! : { secret: this.secret, used: [] as string[] };
    base.used.push(hex(r.nonce));
    this.previous = base;
    this.secret = rotateSecret(base.secret, r.nonce, nonce);
    return { frames: [answer, ...this.sent.slice(last)] };
  }
}

/** One link accepted by a {@link FakeServer}. */
export interface Accepted {
  readonly link: Link;
  /** The session this link carries, once its first Hello said which. */
  acceptor: ScriptedAcceptor | undefined;
  /** The initiator's first frame on this link. */
  hello: HelloMessage | undefined;
  closed: boolean;
}

let keyCounter = 0;

/**
 * A server that speaks the acceptor side by script over any links it is handed: a new
 * session's Hello is answered with a Grant (or Off), a resume is verified and answered (or
 * refused, when the test says so), requests go to `onRequest`, and every session message
 * received is acknowledged at once unless `holdAcks` is set.
 */
export class FakeServer {
  readonly sessions: ScriptedAcceptor[] = [];
  readonly links: Accepted[] = [];
  /** Grant replay to an initiator that offers it (otherwise answer Off). */
  grant = true;
  /** Refuse every resume with this reason (as a server that lost the session would). */
  refuseResumes: string | undefined;
  /** Don't acknowledge what arrives (the initiator's replay buffer fills). */
  holdAcks = false;
  /** Hello metadata of every link, in order. */
  readonly helloMetadata: unknown[] = [];
  /** Called with each request; the default answers it at once with its own payload. */
  onRequest: (acc: ScriptedAcceptor, req: RequestMessage) => void = (acc, req) =>
    acc.send({ type: "response", conn: 0n, id: req.id, metadata: [], payload: Uint8Array.of(0, ...req.payload) });
  /** Called with every other session message. */
  onMessage: (acc: ScriptedAcceptor, msg: Message) => void = () => {};

  accept(link: Link): Accepted {
    const a: Accepted = { link, acceptor: undefined, hello: undefined, closed: false };
    this.links.push(a);
    link.start({
      frame: (body) => this.frame(a, body),
      closed: () => {
        a.closed = true;
        if (a.acceptor?.out !== undefined && this.current(a.acceptor) === a) a.acceptor.out = undefined;
      },
    });
    return a;
  }

  /** The link a session runs over now. */
  current(acc: ScriptedAcceptor): Accepted | undefined {
    for (let i = this.links.length - 1; i >= 0; i--) {
      const l = this.links[i]!;
      if (l.acceptor === acc && !l.closed) return l;
    }
    return undefined;
  }

  /** Cuts the link session `acc` runs over (frames in flight may be lost). */
  cut(acc: ScriptedAcceptor): void {
    const l = this.current(acc);
    acc.out = undefined;
    if (l !== undefined) {
      l.closed = true;
      l.link.close();
    }
  }

  private frame(a: Accepted, body: Uint8Array): void {
    if (a.closed) return;
    if (a.hello === undefined) {
      const msg = decodeMessage(body);
      assert.equal(msg.type, "hello", "the first frame is a Hello");
      const hello = msg as HelloMessage;
      a.hello = hello;
      this.helloMetadata.push(hello.metadata);
      if (hello.resume !== undefined) return this.resume(a, hello);
      const acc = new ScriptedAcceptor(
        Uint8Array.from({ length: 16 }, (_, i) => (i + 7 * ++keyCounter) & 0xff),
        Uint8Array.from({ length: 32 }, (_, i) => (i * 3 + keyCounter) & 0xff),
      );
      this.sessions.push(acc);
      a.acceptor = acc;
      acc.out = (f) => a.link.send(f);
      if (this.grant && hello.replay.type === "offer") a.link.send(acc.grantHello());
      else
        a.link.send(
          encodeMessage({
            type: "hello",
            version: PROTOCOL_VERSION,
            limits: { ...DEFAULT_LIMITS },
            sessionKey: acc.key,
            resume: undefined,
            metadata: [],
            replay: { type: "off" },
          }),
        );
      return;
    }
    const acc = a.acceptor;
    if (acc === undefined) return;
    const msg = acc.receive(body);
    if (messageClass(msg) !== "session") {
      if (msg.type === "ping") acc.send({ type: "pong", nonce: msg.nonce });
      return;
    }
    if (msg.type === "request") this.onRequest(acc, msg);
    else this.onMessage(acc, msg);
    if (!this.holdAcks && acc.granted) acc.ack();
  }

  private resume(a: Accepted, hello: HelloMessage): void {
    const key = hex(hello.resume!.sessionKey);
    const acc = this.sessions.find((s) => hex(s.key) === key);
    const nonce = Uint8Array.from({ length: 16 }, () => (Math.random() * 256) | 0);
    if (acc === undefined || this.refuseResumes !== undefined) {
      if (acc !== undefined) acc.answerResume(hello, nonce);
      const why = this.refuseResumes ?? REFUSAL.unknown;
      a.link.send(encodeMessage({ type: "goodbye", reason: `resume-refused: ${why}` }));
      a.closed = true;
      a.link.close();
      return;
    }
    const answer = acc.answerResume(hello, nonce);
    if (answer.refused !== undefined) {
      for (const f of answer.frames) a.link.send(f);
      a.closed = true;
      a.link.close();
      return;
    }
    // The old link, if the server still had it, is given up for the new one.
    const old = this.current(acc);
    if (old !== undefined && old !== a) {
      old.closed = true;
      old.link.close();
    }
    a.acceptor = acc;
    acc.out = (f) => a.link.send(f);
    for (const f of answer.frames) a.link.send(f);
  }
}

/** Resolves once `cond` holds, checking after every macrotask; a hang guard, not a timer. */
export async function until(cond: () => boolean, what: string, guardMs = 10_000): Promise<void> {
  const deadline = Date.now() + guardMs;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`hung waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}
