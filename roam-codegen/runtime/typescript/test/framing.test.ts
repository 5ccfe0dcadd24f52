import { describe, test } from "node:test";
import assert from "node:assert/strict";

import {
  encodeFrame,
  FRAME_HEADER_LEN,
  FrameDecoder,
  FrameError,
  frameHeader,
} from "../src/framing.js";
import type { FrameErrorCode } from "../src/framing.js";
import { encodeMessage, decodeMessage } from "../src/wire.js";
import { bytes, fromHex, Rng, toHex } from "./helpers.js";

const text = (s: string) => new TextEncoder().encode(s);

function expectFrameError(fn: () => unknown, code: FrameErrorCode, label = ""): FrameError {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof FrameError))
      assert.fail(`${label}: expected a FrameError, got ${String(e)}`);
    assert.equal(e.code, code, `${label}: ${e.message}`);
    return e;
  }
  assert.fail(`${label}: expected a FrameError (${code})`);
}

/** Every frame `next()` has ready now. */
function drain(d: FrameDecoder): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let f = d.next(); f !== undefined; f = d.next()) out.push(f);
  return out;
}

describe("encoding", () => {
  test("a frame is a u32 little-endian body length, then the body", () => {
    assert.equal(toHex(encodeFrame(text("hi"))), "02 00 00 00 68 69");
    assert.equal(toHex(encodeFrame(new Uint8Array(0))), "00 00 00 00");
    assert.equal(toHex(frameHeader(0x01020304)), "04 03 02 01");
    assert.equal(toHex(frameHeader(0xffffffff)), "ff ff ff ff");
    assert.equal(FRAME_HEADER_LEN, 4);
  });

  test("the pinned Request as a TCP frame", () => {
    const body = encodeMessage({
      type: "request",
      conn: 0n,
      id: 1n,
      methodId: 258n,
      metadata: [],
      channels: [],
      timeoutMicros: undefined,
      payload: bytes(4, 6),
    });
    assert.equal(toHex(encodeFrame(body)), "0b 00 00 00 02 00 01 82 02 00 00 00 02 04 06");
  });

  test("a body over the maximum is an error, not a frame", () => {
    const e = expectFrameError(() => encodeFrame(new Uint8Array(51), 50), "frame-too-large");
    assert.equal(e.length, 51);
    assert.equal(e.max, 50);
    assert.equal(encodeFrame(new Uint8Array(50), 50).length, 54);
    expectFrameError(() => frameHeader(2 ** 32), "frame-too-large");
    expectFrameError(() => frameHeader(-1), "frame-too-large");
  });
});

describe("decoding", () => {
  test("frames split across partial reads (as in Rust)", () => {
    const all = new Uint8Array([...encodeFrame(text("hello")), ...encodeFrame(text("!"))]);
    const d = new FrameDecoder(100);
    const out: string[] = [];
    for (const byte of all) {
      d.push(bytes(byte));
      for (const f of drain(d)) out.push(new TextDecoder().decode(f));
    }
    assert.deepEqual(out, ["hello", "!"]);
    assert.equal(d.buffered, 0);
    d.end();
  });

  test("several frames in one chunk come out as views of it, with no copy", () => {
    const chunk = new Uint8Array([
      ...encodeFrame(text("ab")),
      ...encodeFrame(text("")),
      ...encodeFrame(text("cde")),
    ]);
    const d = new FrameDecoder(100);
    d.push(chunk);
    const frames = drain(d);
    assert.deepEqual(
      frames.map((f) => new TextDecoder().decode(f)),
      ["ab", "", "cde"],
    );
    assert.equal(frames[0]!.buffer, chunk.buffer);
    assert.equal(frames[2]!.byteOffset, 4 + 2 + 4 + 4);
  });

  test("a header over the maximum is refused as soon as it is complete, before any body", () => {
    const d = new FrameDecoder(1024);
    d.push(bytes(0xff, 0xff));
    assert.equal(d.next(), undefined);
    d.push(bytes(0xff, 0xff, 1, 2, 3));
    const e = expectFrameError(() => d.next(), "frame-too-large");
    assert.equal(e.length, 0xffffffff);
    assert.equal(e.max, 1024);
    assert.match(e.message, /frame of 4294967295 bytes exceeds the maximum of 1024/);
    assert.equal(d.buffered, 0, "nothing kept for the refused frame");
    // The error is final; later bytes are dropped unread.
    d.push(new Uint8Array(10_000));
    assert.equal(d.buffered, 0);
    expectFrameError(() => d.next(), "frame-too-large", "again");
    expectFrameError(() => d.end(), "frame-too-large", "at the end");
  });

  test("exactly the maximum is accepted; one more is not", () => {
    const d = new FrameDecoder(8);
    d.push(encodeFrame(new Uint8Array(8).fill(1)));
    assert.equal(drain(d)[0]!.length, 8);
    d.push(fromHex("09 00 00 00"));
    expectFrameError(() => d.next(), "frame-too-large");
  });

  test("frames before a too-large header are still delivered", () => {
    const d = new FrameDecoder(16);
    d.push(
      new Uint8Array([
        ...encodeFrame(text("ok")),
        ...fromHex("11 00 00 00"),
        ...new Uint8Array(17),
      ]),
    );
    assert.equal(new TextDecoder().decode(d.next()!), "ok");
    expectFrameError(() => d.next(), "frame-too-large");
  });

  test("lowering the maximum after the handshake applies to the next frame", () => {
    const d = new FrameDecoder(1000);
    d.push(
      new Uint8Array([...encodeFrame(new Uint8Array(500)), ...encodeFrame(new Uint8Array(500))]),
    );
    assert.equal(d.next()!.length, 500);
    d.maxFrameSize = 100;
    assert.equal(d.maxFrameSize, 100);
    expectFrameError(() => d.next(), "frame-too-large");
    assert.throws(() => new FrameDecoder(-1), RangeError);
    assert.throws(() => new FrameDecoder(2 ** 32), RangeError);
  });

  test("the stream ending inside a frame is truncation (as in Rust)", () => {
    const d = new FrameDecoder(1024);
    d.push(bytes(10, 0, 0, 0, 1, 2));
    assert.equal(d.next(), undefined);
    assert.equal(d.buffered, 6);
    const e = expectFrameError(() => d.end(), "truncated");
    assert.equal(e.length, 6);
    assert.equal(e.max, undefined);
    new FrameDecoder(1024).end();
    const partialHeader = new FrameDecoder(1024);
    partialHeader.push(bytes(1, 0));
    assert.equal(partialHeader.next(), undefined);
    expectFrameError(() => partialHeader.end(), "truncated", "inside the header");
    const unread = new FrameDecoder(1024);
    unread.push(bytes(1, 0, 0, 0));
    expectFrameError(() => unread.end(), "truncated", "header pushed, never pulled");
  });

  test("a large frame assembled from many chunks", () => {
    const rng = new Rng(11);
    const body = rng.bytes(300_000);
    const frame = encodeFrame(body);
    const d = new FrameDecoder(1 << 20);
    let got: Uint8Array | undefined;
    for (let at = 0; at < frame.length;) {
      const n = 1 + rng.below(5000);
      d.push(frame.subarray(at, at + n));
      at += n;
      const f = d.next();
      if (f !== undefined) {
        assert.equal(got, undefined);
        got = f;
      }
      assert.ok(d.buffered <= at, "never more buffered than received");
    }
    assert.ok(got !== undefined);
    assert.ok(got.length === body.length && got.every((b, i) => b === body[i]));
  });

  test("a trickle of single bytes is assembled without waste", () => {
    const body = new Uint8Array(3000).map((_, i) => i & 0xff);
    const frame = encodeFrame(body);
    const d = new FrameDecoder(1 << 20);
    for (let i = 0; i < frame.length - 1; i++) {
      d.push(frame.subarray(i, i + 1));
      assert.equal(d.next(), undefined);
    }
    d.push(frame.subarray(frame.length - 1));
    assert.deepEqual(d.next(), body);
  });

  test("random frames under random chunking come out unchanged (seeded)", () => {
    const rng = new Rng(0xf4a3e);
    for (let round = 0; round < 200; round++) {
      const bodies = Array.from({ length: rng.below(10) }, () =>
        rng.bytes(rng.below(rng.below(4) === 0 ? 2000 : 12)),
      );
      const stream = new Uint8Array(bodies.reduce((n, b) => n + FRAME_HEADER_LEN + b.length, 0));
      let at = 0;
      for (const b of bodies) {
        stream.set(encodeFrame(b), at);
        at += FRAME_HEADER_LEN + b.length;
      }
      const d = new FrameDecoder(4096);
      const out: Uint8Array[] = [];
      for (let p = 0; p < stream.length;) {
        const n = rng.below(3) === 0 ? 1 : 1 + rng.below(300);
        d.push(stream.subarray(p, p + n));
        p += n;
        out.push(...drain(d));
      }
      d.end();
      assert.deepEqual(out.map(toHex), bodies.map(toHex), `round ${round}`);
    }
  });

  test("frames carry messages end to end", () => {
    const msgs = [
      { type: "ping", nonce: 1n },
      { type: "goodbye", reason: "shutting down" },
    ] as const;
    const d = new FrameDecoder(1 << 23);
    for (const m of msgs) d.push(encodeFrame(encodeMessage(m)));
    assert.deepEqual(drain(d).map(decodeMessage), msgs);
  });
});
