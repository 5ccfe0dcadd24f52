// The session's timer table and deadline heap (roam-proto/src/session/timer.rs, deadlines.rs).

import { describe, test } from "node:test";
import assert from "node:assert/strict";

import { Deadlines, INCOMING, OUTGOING, Timer, TimerTable } from "../src/timers.js";
import type { Deadline } from "../src/timers.js";
import { Rng } from "./helpers.js";

describe("timers", () => {
  test("the earliest armed timer comes first and fires once", () => {
    const t = new TimerTable();
    assert.equal(t.next(), undefined);
    t.set(Timer.PongTimeout, 5000);
    t.set(Timer.Handshake, 2000);
    assert.equal(t.next(), 2000);
    assert.equal(t.takeExpired(1000), undefined);
    assert.equal(t.takeExpired(6000), Timer.Handshake);
    assert.equal(t.takeExpired(6000), Timer.PongTimeout);
    assert.equal(t.takeExpired(6000), undefined);
    assert.equal(t.next(), undefined);
  });

  test("the output stall is handled before the pong wait due at the same time", () => {
    const t = new TimerTable();
    t.set(Timer.PongTimeout, 10);
    t.set(Timer.OutputStall, 10);
    assert.equal(t.takeExpired(10), Timer.OutputStall);
  });

  test("a delay of forever never fires", () => {
    const t = new TimerTable();
    t.setAfter(Timer.DrainGrace, 0, Infinity);
    t.setAfter(Timer.CloseLinger, 1, Number.MAX_SAFE_INTEGER);
    t.setAfter(Timer.Handshake, 0, Number.NaN);
    assert.equal(t.next(), undefined);
  });
});

describe("deadlines", () => {
  test("expired deadlines come out in (time, side, conn, id) order", () => {
    const d = new Deadlines();
    d.insert(30, INCOMING, 0n, 2n);
    d.insert(10, OUTGOING, 0n, 1n);
    const gone = d.insert(20, OUTGOING, 0n, 3n);
    d.insert(10, INCOMING, 0n, 0n);
    d.remove(gone);
    d.remove(gone);
    assert.equal(d.next(), 10);
    const out: bigint[] = [];
    for (let x = d.popExpired(40); x !== undefined; x = d.popExpired(40)) out.push(x.id);
    assert.deepEqual(out, [1n, 0n, 2n]);
    assert.equal(d.size, 0);
  });

  test("random inserts and removals agree with a sorted list", () => {
    const rng = new Rng(7);
    const d = new Deadlines();
    const live: Deadline[] = [];
    for (let i = 0; i < 5000; i++) {
      if (live.length > 0 && rng.below(3) === 0) {
        const [x] = live.splice(rng.below(live.length), 1);
        d.remove(x!);
      } else {
        live.push(
          d.insert(rng.below(1000), rng.below(2) === 0 ? OUTGOING : INCOMING, 0n, BigInt(i)),
        );
      }
      if (i % 500 === 0) {
        const want = Math.min(...live.map((x) => x.at));
        assert.equal(d.next(), live.length === 0 ? undefined : want);
      }
    }
    const sorted = [...live].sort((a, b) => a.at - b.at || a.side - b.side || Number(a.id - b.id));
    const out: Deadline[] = [];
    for (let x = d.popExpired(1e9); x !== undefined; x = d.popExpired(1e9)) out.push(x);
    assert.deepEqual(
      out.map((x) => x.id),
      sorted.map((x) => x.id),
    );
  });
});
