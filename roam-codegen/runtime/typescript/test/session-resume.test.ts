// Resumption on the initiator (docs/protocol.md §8), against a scripted acceptor that does
// what roam-proto's does (test/resume-util.ts): the Offer/Grant negotiation, numbering and
// acknowledgements (coalesced by count, bytes and delay), the replay buffer's bound,
// detaching (link closed, keepalive, output stall), the resume Hello byte for byte with its
// proof, the answer and the exact replay, the violations, refusal and the grace period. Time is
// data: every `now` is a number the test chooses. Plus the BLAKE3 derivations against the
// reference vectors, and the bookkeeping classes on their own.

import { describe, test } from "node:test";
import assert from "node:assert/strict";

import { sessionEnded } from "../src/call-error.js";
import { describeSessionError, parseRefusal } from "../src/errors.js";
import { AckDebt, ReplayBuffer } from "../src/replay.js";
import { keyedHash, resumeProof, rotateSecret } from "../src/resume-crypto.js";
import { DEFAULT_RESUMPTION, ROOT, Session } from "../src/session.js";
import type { SessionEvent, SessionOptions } from "../src/session.js";
import { decodeMessage, encodeMessage } from "../src/wire.js";
import type { Message } from "../src/wire.js";
import { Rng, bytes, fromHex, toHex } from "./helpers.js";
import { REFUSAL, ScriptedAcceptor } from "./resume-util.js";
import { call, enc, events, hello, ofType, rawRequest, sent, start } from "./session-util.js";

const KEY = new Uint8Array(16).fill(1);
const SECRET = new Uint8Array(32).fill(2);
const NONCE = new Uint8Array(16).fill(6);
const MIB = 1 << 20;

type Client = Session<string, undefined, string>;

/**
 * A resumable initiator, established with a scripted acceptor that granted replay; keepalive
 * off unless asked (pings would only add frames). Frames the acceptor sends queue in `toClient`.
 */
function resumable(options: SessionOptions = {}, buffer = MIB) {
  const client: Client = new Session("initiator", 0, {
    keepalive: false,
    resumption: {},
    ...options,
  });
  const acc = new ScriptedAcceptor(KEY, SECRET, buffer);
  const toClient: Uint8Array[] = [];
  acc.out = (f) => toClient.push(f);
  const [h] = sent(client);
  assert.equal(h?.type, "hello");
  client.handleFrame(0, acc.grantHello());
  assert.ok(client.isResumable);
  events(client);
  return { client, acc, toClient };
}

/** The client's queued frames, raw. */
function frames(s: Session<unknown, unknown, unknown>): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let f = s.pollTransmit(); f !== undefined; f = s.pollTransmit()) out.push(f);
  return out;
}

/** Hands every frame queued for the client to it at `now`. */
function deliver(client: Client, queue: Uint8Array[], now: number): void {
  for (const f of queue.splice(0)) client.handleFrame(now, f);
}

const goodbyes = (msgs: Message[]) =>
  msgs.flatMap((m) => (m.type === "goodbye" ? [m.reason] : []));

const closedWith = <C, S, Ch>(list: SessionEvent<C, S, Ch>[]) =>
  ofType(list, "closed").map((e) => e.error);

describe("negotiation", () => {
  test("an initiator with resumption offers its buffer in its Hello", () => {
    const dflt = new Session("initiator", 0, { resumption: {} });
    // Hello as without resumption, but the last field: Offer { buffer: 4 MiB } = 01 80 80 80 02.
    assert.equal(toHex(frames(dflt)[0]!), toHex(fromHex("00 03 80 80 80 04 40 80 08 00 00 00 01 80 80 80 02")));
    assert.deepEqual(dflt.config.resumption, DEFAULT_RESUMPTION);
    const small = new Session("initiator", 0, { resumption: { buffer: MIB } });
    assert.equal(toHex(frames(small)[0]!), toHex(fromHex("00 03 80 80 80 04 40 80 08 00 00 00 01 80 80 40")));
    assert.throws(() => new Session("initiator", 0, { resumption: { buffer: -1 } }), RangeError);
  });

  test("a Grant makes the session resumable; Off does not, and the link's loss ends it", () => {
    const { client } = resumable();
    assert.ok(client.isResumable);
    assert.equal(client.phase, "established");

    const plain = new Session("initiator", 0, { keepalive: false, resumption: {} });
    frames(plain);
    plain.handleFrame(0, hello(undefined, { sessionKey: KEY } as Partial<Message>));
    assert.ok(!plain.isResumable);
    events(plain);
    plain.handleLinkClosed(1, undefined, "gone");
    assert.deepEqual(closedWith(events(plain)), [{ kind: "transport", detail: "gone" }]);
  });

  test("a Grant without a session key, and an acceptor's Hello that resumes, are violations", () => {
    const noKey = new Session("initiator", 0, { resumption: {} });
    frames(noKey);
    noKey.handleFrame(
      0,
      hello(undefined, { replay: { type: "grant", buffer: 64, secret: SECRET } } as Partial<Message>),
    );
    assert.deepEqual(goodbyes(sent(noKey)), [
      "handshake: unexpected handshake message: replay granted without a session key",
    ]);
    const resuming = new Session("initiator", 0, { resumption: {} });
    frames(resuming);
    const resume = { sessionKey: KEY, lastReceived: 0n, nonce: NONCE, proof: new Uint8Array(32) };
    resuming.handleFrame(0, hello(undefined, { sessionKey: KEY, resume } as Partial<Message>));
    assert.deepEqual(goodbyes(sent(resuming)), [
      "handshake: unexpected handshake message: an acceptor's Hello cannot resume",
    ]);
  });

  test("an acceptor here grants nothing, whatever its config, and refuses resumes", () => {
    const s = new Session("acceptor", 0, { sessionKey: KEY, resumption: {} });
    const [ours] = sent(s);
    assert.ok(ours?.type === "hello");
    assert.deepEqual(ours.replay, { type: "off" });
    s.handleFrame(0, hello(undefined, { replay: { type: "offer", buffer: MIB } } as Partial<Message>));
    assert.equal(s.phase, "established");
    assert.ok(!s.isResumable);
    const t = new Session("acceptor", 0, { sessionKey: KEY, resumption: {} });
    sent(t);
    const resume = { sessionKey: KEY, lastReceived: 0n, nonce: NONCE, proof: new Uint8Array(32) };
    t.handleFrame(0, hello(undefined, { resume } as Partial<Message>));
    assert.deepEqual(goodbyes(sent(t)), ["resume-refused: this peer does not resume sessions"]);
  });
});

describe("numbering and acknowledgements", () => {
  test("every session message is kept until acknowledged; link messages are not", () => {
    const { client } = resumable();
    start(client, 0, call(1n), "a");
    start(client, 0, call(2n), "b");
    start(client, 0, call(3n), "c");
    const out = frames(client);
    assert.equal(client.sentSeq, 3);
    const total = out.reduce((n, f) => n + f.length, 0);
    assert.deepEqual(client.replayBuffered, { bytes: total, frames: 3 });
    client.handleFrame(1, enc({ type: "ping", nonce: 5n }));
    assert.deepEqual(sent(client), [{ type: "pong", nonce: 5n }]);
    assert.equal(client.replayBuffered.frames, 3, "a Pong is not numbered nor kept");
    client.handleFrame(2, enc({ type: "ack", received: 2n }));
    assert.deepEqual(client.replayBuffered, { bytes: out[2]!.length, frames: 1 });
    client.handleFrame(3, enc({ type: "ack", received: 2n }));
    assert.equal(client.replayBuffered.frames, 1, "the same Ack again changes nothing");
    client.handleFrame(4, enc({ type: "ack", received: 3n }));
    assert.deepEqual(client.replayBuffered, { bytes: 0, frames: 0 });
    assert.ok(!client.isClosed);
  });

  test("an Ack going backwards or past what was sent ends the session (rule replay)", () => {
    const a = resumable().client;
    start(a, 0, call(1n), "x");
    a.handleFrame(1, enc({ type: "ack", received: 1n }));
    a.handleFrame(2, enc({ type: "ack", received: 0n }));
    assert.deepEqual(goodbyes(sent(a)), ["replay: an Ack going backwards"]);
    assert.deepEqual(closedWith(events(a)), [
      { kind: "protocol", violation: { rule: "replay", detail: "an Ack going backwards" } },
    ]);
    const b = resumable().client;
    b.handleFrame(1, enc({ type: "ack", received: 99n }));
    assert.deepEqual(goodbyes(sent(b)), ["replay: an Ack for messages never sent"]);
  });

  test("an Ack goes at once after ackEvery messages", () => {
    const { client } = resumable({ resumption: { ackEvery: 3 } });
    client.handleFrame(1, rawRequest(2n));
    client.handleFrame(1, rawRequest(4n));
    assert.deepEqual(sent(client), [], "coalescing");
    assert.equal(client.pollTimeout(), 1 + DEFAULT_RESUMPTION.ackDelayMs, "the ack timer runs");
    client.handleFrame(2, rawRequest(6n));
    assert.deepEqual(sent(client), [{ type: "ack", received: 3n }]);
    assert.equal(client.pollTimeout(), undefined, "the ack timer is cleared");
  });

  test("an Ack goes at once after a quarter of the peer's buffer in bytes", () => {
    // The acceptor's Grant says 64 bytes: an Ack every 16 bytes received.
    const { client } = resumable({}, 64);
    client.handleFrame(1, rawRequest(2n));
    assert.deepEqual(sent(client), []);
    client.handleFrame(1, rawRequest(4n, { payload: new Uint8Array(12) }));
    assert.deepEqual(sent(client), [{ type: "ack", received: 2n }]);
  });

  test("an Ack goes ackDelay after the first unacknowledged message, coalescing what follows", () => {
    const { client } = resumable({ resumption: { ackDelayMs: 10 } });
    client.handleFrame(5, rawRequest(2n));
    assert.equal(client.pollTimeout(), 15);
    client.handleFrame(9, rawRequest(4n));
    assert.equal(client.pollTimeout(), 15, "a later message does not move the timer");
    client.handleTimeout(14);
    assert.deepEqual(sent(client), []);
    client.handleTimeout(15);
    assert.deepEqual(sent(client), [{ type: "ack", received: 2n }]);
    client.handleFrame(20, rawRequest(6n));
    assert.equal(client.pollTimeout(), 30, "armed again by the next message");
  });
});

describe("the replay buffer's bound", () => {
  test("a full buffer refuses items (replay-full), holds new requests unsent; an Ack makes room", () => {
    const { client } = resumable({ resumption: { buffer: 256 } });
    const r = client.call(0, ROOT, client.nextRequestId(), call(2n, { channels: ["outgoing"] }), "stream");
    assert.ok(r.ok);
    const ch = r.channels[0]!;
    frames(client);
    const item = new Uint8Array(40);
    let sentItems = 0;
    let refused;
    for (;;) {
      refused = client.sendData(ROOT, ch, item);
      if (refused !== undefined) break;
      sentItems++;
      assert.ok(sentItems < 64, "the initial credit would run out first");
    }
    assert.deepEqual(refused, { kind: "replay-full" });
    const kept = client.replayBuffered.bytes;
    assert.ok(kept >= 256 && kept < 256 + 50, `${kept} bytes kept`);
    assert.equal(client.channelCredit(ROOT, ch), 64 - sentItems, "a refused item spends no credit");
    const seq = client.sentSeq;
    start(client, 0, call(1n), "waits");
    assert.equal(client.waitingCalls, 1, "a new request waits");
    assert.equal(client.sentSeq, seq, "unnumbered: it did not leave");
    // Answers still go, past the bound.
    client.handleFrame(1, rawRequest(2n));
    client.respond(1, ROOT, 2n, [], bytes(0));
    assert.equal(client.replayBuffered.bytes > kept, true);
    frames(client);
    events(client);
    client.handleFrame(2, enc({ type: "ack", received: BigInt(seq) }));
    assert.deepEqual(ofType(events(client), "replay-room").length, 1);
    assert.equal(client.waitingCalls, 0, "the waiting call went");
    const out = frames(client).map((f) => decodeMessage(f));
    assert.ok(out.some((m) => m.type === "request"));
    assert.equal(client.sendData(ROOT, ch, item), undefined, "items go again");
  });
});

describe("detaching", () => {
  test("a lost link detaches: the queue is dropped, keepalive stops, the grace timer runs", () => {
    const { client } = resumable({ keepalive: { intervalMs: 1000, timeoutMs: 2000 } });
    start(client, 0, call(1n), "a");
    client.handleLinkClosed(5, undefined, "gone");
    assert.deepEqual(events(client), [
      { type: "detached", error: { kind: "transport", detail: "gone" } },
    ]);
    assert.ok(client.isDetached && !client.isClosed);
    assert.deepEqual(frames(client), []);
    assert.equal(client.pollTimeout(), 5 + DEFAULT_RESUMPTION.graceMs, "only the grace timer");
    // A second report (the link's other half, say) is about a link already given up.
    client.handleLinkClosed(6, undefined, "again");
    assert.deepEqual(events(client), [], "detached once");
    assert.ok(!client.isClosed);
  });

  test("giving up ends the session with the given error; a Goodbye only with a link", () => {
    const { client } = resumable();
    start(client, 0, call(1n), "a");
    frames(client);
    client.handleLinkClosed(1, undefined, "gone");
    events(client);
    const error = { kind: "transport", detail: "no new link" } as const;
    client.giveUp(2, error);
    assert.deepEqual(closedWith(events(client)), [error]);
    assert.deepEqual(frames(client), [], "no link, no Goodbye");
    assert.deepEqual(client.takeReleased().calls, ["a"]);
    const linked = resumable().client;
    linked.giveUp(1, error);
    assert.deepEqual(goodbyes(sent(linked)), [
      "transport error: no new link; the peer may have crashed or the network dropped",
    ]);
  });

  test("detached, commands go on into the replay buffer; new requests wait unnumbered", () => {
    const { client, acc, toClient } = resumable();
    const r = client.call(0, ROOT, client.nextRequestId(), call(2n, { channels: ["outgoing", "incoming"] }), "s");
    assert.ok(r.ok);
    for (const f of frames(client)) acc.receive(f);
    acc.send(rawRequestMsg(2n));
    deliver(client, toClient, 1);
    events(client);
    client.handleLinkClosed(2, undefined, "gone");
    events(client);
    const before = client.replayBuffered.frames;
    client.respond(3, ROOT, 2n, [], bytes(0, 7));
    client.grantCredit(ROOT, r.channels[1]!, 5);
    assert.equal(client.sendData(ROOT, r.channels[0]!, bytes(9)), undefined);
    assert.equal(client.replayBuffered.frames, before + 3);
    assert.deepEqual(frames(client), [], "nothing goes without a link");
    const seq = client.sentSeq;
    start(client, 3, call(1n), "later");
    assert.equal(client.waitingCalls, 1);
    assert.equal(client.sentSeq, seq);
    // A frame from the old link is ignored.
    client.handleFrame(4, enc({ type: "response", conn: 0n, id: 1n, metadata: [], payload: bytes(0) }));
    assert.deepEqual(events(client), []);
    assert.ok(!client.isClosed);
  });

  test("silence past the keepalive timeout detaches", () => {
    const { client } = resumable({ keepalive: { intervalMs: 1000, timeoutMs: 2000 } });
    client.handleTimeout(1000);
    assert.deepEqual(sent(client), [{ type: "ping", nonce: 1n }]);
    client.handleTimeout(3000);
    assert.deepEqual(events(client), [
      { type: "detached", error: { kind: "timed-out", what: "keepalive", afterMs: 2000 } },
    ]);
    assert.deepEqual(sent(client), [], "no Goodbye to a dead link");
  });

  test("an output stall detaches a resumable session, without a Goodbye", () => {
    const { client } = resumable({ outputStallTimeoutMs: 500 });
    client.handleOutput(0, "blocked");
    client.handleTimeout(500);
    assert.deepEqual(events(client), [
      { type: "detached", error: { kind: "timed-out", what: "output-stalled", afterMs: 500 } },
    ]);
    assert.deepEqual(sent(client), []);
  });
});

/** A Request from the acceptor (even ID). */
function rawRequestMsg(id: bigint): Message {
  return decodeMessage(rawRequest(id));
}

describe("resuming", () => {
  test("the resume Hello, byte for byte", () => {
    const { client, acc, toClient } = resumable({ resumption: { buffer: MIB } });
    for (const id of [2n, 4n, 6n, 8n, 10n]) acc.send(rawRequestMsg(id));
    deliver(client, toClient, 1);
    events(client);
    frames(client);
    assert.equal(client.resume(2, NONCE), false, "attached: nothing to resume");
    client.handleLinkClosed(2, undefined, "gone");
    assert.throws(() => client.resume(3, new Uint8Array(15)), RangeError);
    assert.equal(client.resume(3, NONCE), true);
    const [h, ...more] = frames(client);
    assert.deepEqual(more, [], "only the Hello goes before the answer");
    const proof = resumeProof(SECRET, KEY, 5n, NONCE);
    // As docs/protocol.md §8's example, with the real proof and a 1 MiB Offer.
    const expected =
      "00 03 80 80 80 04 40 80 08 00 01 " +
      "01 ".repeat(16) +
      "05 " +
      "06 ".repeat(16) +
      toHex(proof) +
      " 00 01 80 80 40";
    assert.equal(toHex(h!), toHex(fromHex(expected)));
    const msg = decodeMessage(h!);
    assert.ok(msg.type === "hello" && msg.resume !== undefined);
    assert.ok(acc.answerResume(msg, new Uint8Array(16).fill(3)).refused === undefined, "it verifies");
    // While the answer is awaited, session messages are kept, not sent.
    client.respond(4, ROOT, 2n, [], bytes(0));
    assert.deepEqual(frames(client), []);
    assert.equal(client.resume(4, NONCE), false, "one resume at a time");
  });

  test("the answer replays exactly the unacknowledged frames after lastReceived, then the rest", () => {
    const { client, acc } = resumable();
    for (const m of [1n, 2n, 3n, 4n]) start(client, 0, call(m), `call ${m}`);
    const out = frames(client);
    assert.equal(out.length, 4);
    // The acceptor got three of them and acknowledged one; the fourth was lost with the link.
    for (const f of out.slice(0, 3)) acc.receive(f);
    client.handleFrame(1, enc({ type: "ack", received: 1n }));
    // It answered the first while the link was down.
    client.handleLinkClosed(2, undefined, "gone");
    events(client);
    acc.out = undefined;
    acc.send({ type: "response", conn: 0n, id: 1n, metadata: [], payload: bytes(0, 42) });
    start(client, 3, call(5n), "call 5");
    assert.ok(client.resume(4, NONCE));
    const [h] = frames(client);
    const answer = acc.answerResume(decodeMessage(h!) as Extract<Message, { type: "hello" }>, new Uint8Array(16).fill(3));
    assert.equal(answer.refused, undefined);
    for (const f of answer.frames) client.handleFrame(5, f);
    const evs = events(client);
    assert.deepEqual(ofType(evs, "resumed"), [{ type: "resumed", replayed: 1 }]);
    assert.deepEqual(ofType(evs, "response").map((e) => [e.call, toHex(e.payload)]), [["call 1", "00 2a"]]);
    const after = frames(client);
    // The fourth request exactly as first sent, the call made meanwhile, and an Ack.
    assert.equal(toHex(after[0]!), toHex(out[3]!));
    const rest = after.slice(1).map((f) => decodeMessage(f));
    assert.equal(rest.length, 2);
    assert.ok(rest[0]?.type === "request" && rest[0].methodId === 5n);
    // Sent on the answer itself, before the acceptor's replay (frames of their own) arrived.
    assert.deepEqual(rest[1], { type: "ack", received: 0n });
    assert.ok(!client.isDetached);
    // The replayed answer is acknowledged like any message: after the ack delay.
    assert.equal(client.pollTimeout(), 5 + DEFAULT_RESUMPTION.ackDelayMs, "the grace timer is gone");
    client.handleTimeout(5 + DEFAULT_RESUMPTION.ackDelayMs);
    assert.deepEqual(sent(client), [{ type: "ack", received: 1n }]);
  });

  test("the secret rotates: the next proof is keyed with the derived secret", () => {
    const { client, acc, toClient } = resumable();
    const theirs = new Uint8Array(16).fill(3);
    client.handleLinkClosed(1, undefined, "gone");
    client.resume(2, NONCE);
    const first = decodeMessage(frames(client)[0]!) as Extract<Message, { type: "hello" }>;
    for (const f of acc.answerResume(first, theirs).frames) client.handleFrame(3, f);
    frames(client);
    acc.send(rawRequestMsg(2n));
    deliver(client, toClient, 4);
    client.handleLinkClosed(5, undefined, "gone again");
    const second = new Uint8Array(16).fill(8);
    client.resume(6, second);
    const h = decodeMessage(frames(client)[0]!) as Extract<Message, { type: "hello" }>;
    const next = rotateSecret(SECRET, NONCE, theirs);
    assert.equal(toHex(h.resume!.proof), toHex(resumeProof(next, KEY, 1n, second)));
    assert.notEqual(toHex(h.resume!.proof), toHex(resumeProof(SECRET, KEY, 1n, second)));
    assert.equal(acc.answerResume(h, new Uint8Array(16).fill(4)).refused, undefined);
    assert.deepEqual(acc.resumes.map((r) => r.verified), [true, true]);
  });

  test("violations in the answer end the session, naming the rule", () => {
    const cases: [string, (acc: ScriptedAcceptor) => Uint8Array, string][] = [
      [
        "another session's key",
        () => resumedHello(new Uint8Array(16).fill(9), 0n),
        "handshake: unexpected handshake message: the answer resumed another session",
      ],
      [
        "a position beyond what was sent",
        () => resumedHello(KEY, 9n),
        "replay: the peer resumed from messages never sent or already acknowledged",
      ],
      [
        "a position already acknowledged",
        () => resumedHello(KEY, 0n),
        "replay: the peer resumed from messages never sent or already acknowledged",
      ],
      [
        "a message before the answer",
        () => enc({ type: "ack", received: 0n }),
        "handshake: unexpected handshake message: a message before the resume was answered",
      ],
      [
        "a Hello that does not resume",
        (acc) => acc.grantHello(),
        "handshake: unexpected handshake message: the answer to a resume must resume the session",
      ],
    ];
    for (const [what, answer, reason] of cases) {
      const { client, acc } = resumable();
      start(client, 0, call(1n), "a");
      start(client, 0, call(2n), "b");
      frames(client);
      client.handleFrame(1, enc({ type: "ack", received: 1n }));
      client.handleLinkClosed(2, undefined, "gone");
      client.resume(3, NONCE);
      frames(client);
      events(client);
      client.handleFrame(4, answer(acc));
      assert.deepEqual(goodbyes(sent(client)), [reason], what);
      assert.equal(closedWith(events(client))[0]?.kind, "protocol", what);
    }
  });

  test("a refused resume ends the session: refused by resume, its calls released", () => {
    const { client } = resumable();
    start(client, 0, call(1n), "in flight");
    frames(client);
    client.handleLinkClosed(1, undefined, "gone");
    start(client, 2, call(2n), "never sent");
    client.resume(3, NONCE);
    frames(client);
    events(client);
    client.handleFrame(4, enc({ type: "goodbye", reason: `resume-refused: ${REFUSAL.unknown}` }));
    const [error] = closedWith(events(client));
    assert.deepEqual(error, { kind: "refused", by: "resume", reason: REFUSAL.unknown });
    const released = client.takeReleased();
    assert.deepEqual(released.calls.sort(), ["in flight", "never sent"]);
    assert.deepEqual(released.unsent, ["never sent"]);
    assert.equal(
      describeSessionError(error!),
      `the server refused the session (resume-refused): ${REFUSAL.unknown}; ` +
        "start a fresh session; calls that were in flight did not complete",
    );
    assert.equal(sessionEnded(error!).code, "connection_lost", "the session had begun");
    assert.deepEqual(parseRefusal("resume-refused: gone"), { by: "resume", reason: "gone" });
    assert.deepEqual(sent(client), [], "nothing is said to a refusal");
  });

  test("any other Goodbye while resuming ends the session as closed by the peer", () => {
    const { client } = resumable();
    client.handleLinkClosed(1, undefined, "gone");
    client.resume(2, NONCE);
    frames(client);
    events(client);
    client.handleFrame(3, enc({ type: "goodbye", reason: "shutting down" }));
    assert.deepEqual(closedWith(events(client)), [{ kind: "closed-by-peer", reason: "shutting down" }]);
  });

  test("no answer in time detaches again; the grace period counts from the first loss", () => {
    const { client } = resumable({ handshakeTimeoutMs: 10_000, resumption: { graceMs: 60_000 } });
    start(client, 0, call(1n), "a");
    frames(client);
    client.handleLinkClosed(0, undefined, "gone");
    events(client);
    client.resume(1000, NONCE);
    frames(client);
    assert.equal(client.pollTimeout(), 11_000);
    client.handleTimeout(11_000);
    assert.deepEqual(events(client), [
      { type: "detached", error: { kind: "timed-out", what: "handshake", afterMs: 10_000 } },
    ]);
    // A new link lost before its answer detaches again too.
    client.resume(12_000, NONCE);
    frames(client);
    client.handleLinkClosed(12_001, undefined, "lost again");
    assert.equal(ofType(events(client), "detached").length, 1);
    assert.equal(client.pollTimeout(), 60_000, "the grace timer was not re-armed");
    client.handleTimeout(59_999);
    assert.ok(!client.isClosed);
    client.handleTimeout(60_000);
    const [error] = closedWith(events(client));
    assert.deepEqual(error, { kind: "timed-out", what: "resume-grace", afterMs: 60_000 });
    assert.equal(
      describeSessionError(error!),
      "the link was lost and the session was not resumed within its 60s grace period; start a fresh session",
    );
    assert.deepEqual(client.takeReleased().calls, ["a"]);
  });
});

function resumedHello(key: Uint8Array, lastReceived: bigint): Uint8Array {
  return encodeMessage({
    type: "hello",
    version: 3,
    limits: { maxFrameSize: 1 << 23, initialCredit: 64, maxConcurrentRequests: 1024 },
    sessionKey: key,
    resume: undefined,
    metadata: [],
    replay: { type: "resumed", lastReceived, nonce: new Uint8Array(16).fill(3) },
  });
}

describe("end to end with the scripted acceptor", () => {
  test("links cut at seeded random points lose and repeat nothing", () => {
    const CALLS = 150;
    const ITEMS = 300;
    for (let seed = 1; seed <= 6; seed++) {
      const rng = new Rng(seed);
      const { client, acc, toClient } = resumable({ resumption: { ackEvery: 4, buffer: 2048 } });
      const toAcceptor: Uint8Array[] = [];
      const stream = client.call(0, ROOT, client.nextRequestId(), call(9n, { channels: ["outgoing"] }), "stream");
      assert.ok(stream.ok);
      const up = stream.channels[0]!;
      let credit = 0;
      let sentUp = 0;
      const gotUp: number[] = [];
      const expected = new Map<bigint, string>();
      const answers = new Map<bigint, string[]>();
      const pending: bigint[] = [];
      const heardIds = new Set<bigint>();
      let calls = 0;
      let cuts = 0;
      let linked = true;
      let now = 0;
      acc.out = (f) => {
        if (linked) toClient.push(f);
      };
      for (let step = 0; step < 20_000; step++) {
        now++;
        if (calls < CALLS && rng.below(3) === 0) {
          const id = client.nextRequestId();
          const payload = Uint8Array.of(calls & 0xff, calls >> 8);
          const r = client.call(now, ROOT, id, call(1n, { payload }), `c${calls}`);
          assert.ok(r.ok);
          expected.set(id, toHex(Uint8Array.of(0, ...payload)));
          calls++;
        }
        while (credit > 0 && sentUp < ITEMS) {
          const refused = client.sendData(ROOT, up, Uint8Array.of(sentUp & 0xff, sentUp >> 8));
          if (refused?.kind === "replay-full") break;
          assert.equal(refused, undefined);
          sentUp++;
          credit--;
        }
        if (pending.length > 0 && rng.below(2) === 0) {
          const id = pending.splice(rng.below(pending.length), 1)[0]!;
          const req = acc.heard.find((m) => m.type === "request" && m.id === id) as Extract<Message, { type: "request" }>;
          acc.send({ type: "response", conn: 0n, id, metadata: [], payload: Uint8Array.of(0, ...req.payload) });
        }
        if (linked) {
          for (let f = client.pollTransmit(); f !== undefined; f = client.pollTransmit()) toAcceptor.push(f);
          // Some of what is in flight arrives now, the rest later (or never, if cut).
          const n = rng.below(toAcceptor.length + 1);
          for (const f of toAcceptor.splice(0, n)) {
            const m = acc.receive(f);
            if (m.type === "request") {
              assert.ok(!heardIds.has(m.id), `seed ${seed}: request ${m.id} delivered twice`);
              heardIds.add(m.id);
              if (m.methodId === 1n) pending.push(m.id);
            } else if (m.type === "data") {
              gotUp.push(m.payload[0]! | (m.payload[1]! << 8));
              acc.send({ type: "credit", conn: 0n, channel: up, n: 1 });
            }
            if (acc.received % 3 === 0 && m.type !== "ack") acc.ack();
          }
          const k = rng.below(toClient.length + 1);
          for (const f of toClient.splice(0, k)) client.handleFrame(now, f);
        }
        client.handleTimeout(now);
        for (const e of events(client)) {
          if (e.type === "response") {
            const list = answers.get(e.id) ?? [];
            list.push(toHex(e.payload));
            answers.set(e.id, list);
          } else if (e.type === "channel-credit" && e.channel === up) credit += e.n;
          else if (e.type === "closed") assert.fail(`seed ${seed}: closed: ${JSON.stringify(e.error)}`);
          else if (e.type === "call-failed") assert.fail(`seed ${seed}: a call failed`);
        }
        if (linked && cuts < 15 && rng.below(40) === 0) {
          // The link dies: what is in flight either way is lost; both sides go on.
          linked = false;
          toAcceptor.length = 0;
          toClient.length = 0;
          client.handleLinkClosed(now, undefined, "cut");
          cuts++;
        } else if (!linked && rng.below(5) === 0) {
          const nonce = Uint8Array.from({ length: 16 }, () => rng.below(256));
          assert.ok(client.resume(now, nonce));
          const h = decodeMessage(client.pollTransmit()!) as Extract<Message, { type: "hello" }>;
          const answer = acc.answerResume(h, Uint8Array.from({ length: 16 }, () => rng.below(256)));
          assert.equal(answer.refused, undefined, `seed ${seed}: the resume verifies`);
          linked = true;
          toClient.push(...answer.frames);
        }
        if (answers.size === CALLS && gotUp.length === ITEMS) break;
      }
      assert.ok(cuts >= 5, `seed ${seed}: only ${cuts} cuts`);
      assert.equal(answers.size, CALLS, `seed ${seed}: every call answered`);
      for (const [id, got] of answers) assert.deepEqual(got, [expected.get(id)], `seed ${seed}: call ${id}`);
      assert.deepEqual(gotUp, Array.from({ length: ITEMS }, (_, i) => i), `seed ${seed}: items in order, once`);
      assert.ok(acc.resumes.every((r) => r.verified));
    }
  });
});

describe("the derivations (BLAKE3 keyed, docs/protocol.md §8)", () => {
  const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

  test("keyed BLAKE3 matches the reference test vectors", () => {
    // BLAKE3's test_vectors.json: key "whats the Elvish word for friend", input i % 251.
    const key = new TextEncoder().encode("whats the Elvish word for friend");
    const input = (n: number) => Uint8Array.from({ length: n }, (_, i) => i % 251);
    const vectors: [number, string][] = [
      [0, "92b2b75604ed3c761f9d6f62392c8a9227ad0ea3f09573e783f1498a4ed60d26"],
      [1, "6d7878dfff2f485635d39013278ae14f1454b8c0a3a2d34bc1ab38228a80c95b"],
      [1023, "c951ecdf03288d0fcc96ee3413563d8a6d3589547f2c2fb36d9786470f1b9d6e"],
      [1024, "75c46f6f3d9eb4f55ecaaee480db732e6c2105546f1e675003687c31719c7ba4"],
    ];
    for (const [n, want] of vectors) assert.equal(hex(keyedHash(key, input(n))), want, `${n} bytes`);
  });

  test("the proof and the rotation, pinned", () => {
    // Rust: Secret([1; 32]).proof(&[2; 16], 7, &[3; 16]) and .rotate(&[3; 16], &[4; 16]).
    // Checked against an independent BLAKE3 implementation (not noble's); the Rust side pins
    // the same values.
    const secret = new Uint8Array(32).fill(1);
    assert.equal(
      hex(resumeProof(secret, new Uint8Array(16).fill(2), 7n, new Uint8Array(16).fill(3))),
      "efb072756ffba663437435df8fb961a640704628f1a22e55d0e1b9adbf1726b2",
    );
    assert.equal(
      hex(rotateSecret(secret, new Uint8Array(16).fill(3), new Uint8Array(16).fill(4))),
      "1f1611375ddfd2de72b4a8b43a5e4eb43d24e54e350cf46f1a3cd9c51012cb50",
    );
    // The proof is the keyed hash of context ‖ key ‖ u64 LE ‖ nonce, nothing else.
    const input = new Uint8Array([
      ...new TextEncoder().encode("roam resume proof v1"),
      ...new Uint8Array(16).fill(2),
      7, 0, 0, 0, 0, 0, 0, 0,
      ...new Uint8Array(16).fill(3),
    ]);
    assert.equal(hex(keyedHash(secret, input)), hex(resumeProof(secret, new Uint8Array(16).fill(2), 7n, new Uint8Array(16).fill(3))));
  });

  test("a proof binds every field, and rotation changes the secret", () => {
    const s = new Uint8Array(32).fill(1);
    const key = new Uint8Array(16).fill(2);
    const nonce = new Uint8Array(16).fill(3);
    const proof = hex(resumeProof(s, key, 7n, nonce));
    assert.notEqual(hex(resumeProof(s, key, 8n, nonce)), proof);
    assert.notEqual(hex(resumeProof(s, new Uint8Array(16), 7n, nonce)), proof);
    assert.notEqual(hex(resumeProof(s, key, 7n, new Uint8Array(16))), proof);
    const next = rotateSecret(s, nonce, new Uint8Array(16).fill(4));
    assert.notEqual(hex(resumeProof(next, key, 7n, nonce)), proof);
    assert.equal(hex(next), hex(rotateSecret(s, nonce, new Uint8Array(16).fill(4))), "both sides agree");
    assert.notEqual(hex(next), hex(rotateSecret(s, nonce, new Uint8Array(16).fill(5))));
    assert.throws(() => resumeProof(new Uint8Array(31), key, 7n, nonce), RangeError);
    assert.throws(() => resumeProof(s, key, -1n, nonce), RangeError);
  });
});

describe("bookkeeping", () => {
  test("acks free frames in order and report room once", () => {
    const buf = new ReplayBuffer(10, 0);
    for (let i = 0; i < 3; i++) buf.push(new Uint8Array(4));
    assert.ok(buf.isFull);
    buf.wait();
    assert.equal(buf.ack(1n), true, "8 bytes left, under the bound");
    assert.equal(buf.ack(1n), false, "the same ack again frees nothing");
    assert.equal(buf.ack(0n), "backwards");
    assert.equal(buf.ack(4n), "ahead");
    assert.deepEqual([buf.length, buf.bytes], [2, 8]);
    assert.equal(buf.ack(3n), false, "nobody waited");
    assert.equal(buf.length, 0);
    assert.equal(new ReplayBuffer(10, 5).ack(4n), "backwards", "numbering starts after what was sent");
  });

  test("ack debt is due after enough messages or bytes", () => {
    const debt = new AckDebt(3, 100);
    assert.equal(debt.received(10), "later");
    assert.equal(debt.received(10), "armed");
    assert.equal(debt.received(10), "now");
    debt.paid();
    assert.ok(!debt.owed);
    assert.equal(debt.received(100), "now");
  });
});
