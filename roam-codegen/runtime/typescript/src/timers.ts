/**
 * The session's time as data (`roam-proto/src/session/timer.rs` and `deadlines.rs`): a fixed
 * table of named timers, and the per-call deadlines both ways in a min-heap. The session arms
 * and clears them; the driver only asks for the earliest and reports when it passed.
 *
 * Times are milliseconds on the caller's monotonic clock. A time that is not a finite number
 * within `Number.MAX_SAFE_INTEGER` means "never" (as a `Duration` too long for Rust's clock
 * leaves a timer disarmed).
 *
 * @module
 */

/** The session's own timers, by slot. */
export const Timer = Object.freeze({
  /** The peer's `Hello` must arrive before this. */
  Handshake: 0,
  /** Send the next keepalive `Ping` then. */
  KeepAliveSend: 1,
  /** The `Pong` for the outstanding `Ping` must arrive before this. */
  PongTimeout: 2,
  /** Draining: handlers still running then are stopped and the session closes. */
  DrainGrace: 3,
  /** Closing: give up flushing the final frames then. */
  CloseLinger: 4,
  /** Output blocked: the peer has read none of our queued frames since this was armed. */
  OutputStall: 5,
  /** Resumable session: acknowledge what was received by then (coalescing acks). */
  Ack: 6,
  /** Resumable session without a link: end it then, unless it was resumed. */
  Grace: 7,
} as const);

/** One of the {@link Timer} slots. */
export type TimerId = (typeof Timer)[keyof typeof Timer];

/**
 * The order expired timers are handled in. `OutputStall` precedes `PongTimeout`: while output
 * is blocked the pong wait defers to the stall deadline, and at that instant the stall must
 * be the one that fires.
 */
const ORDER: readonly TimerId[] = [
  Timer.Handshake,
  Timer.KeepAliveSend,
  Timer.OutputStall,
  Timer.PongTimeout,
  Timer.DrainGrace,
  Timer.CloseLinger,
  Timer.Ack,
  Timer.Grace,
];

/** `from + after`, or `undefined` when that is "never". */
export function timeAfter(from: number, after: number): number | undefined {
  const at = from + Math.max(0, after);
  return Number.isFinite(at) && at <= Number.MAX_SAFE_INTEGER ? at : undefined;
}

/** When each {@link Timer} fires, if armed. */
export class TimerTable {
  private readonly at: (number | undefined)[] = ORDER.map(() => undefined);

  /** Arms `timer` to fire at `at` (replacing any earlier setting). */
  set(timer: TimerId, at: number): void {
    this.at[timer] = at;
  }

  /** Arms `timer` to fire `after` ms from `from`; a delay of "never" disarms it. */
  setAfter(timer: TimerId, from: number, after: number): void {
    this.at[timer] = timeAfter(from, after);
  }

  /** Disarms `timer`. */
  clear(timer: TimerId): void {
    this.at[timer] = undefined;
  }

  /** Disarms every timer. */
  clearAll(): void {
    this.at.fill(undefined);
  }

  /** When `timer` fires, if armed. */
  get(timer: TimerId): number | undefined {
    return this.at[timer];
  }

  /** The earliest armed time. */
  next(): number | undefined {
    let min: number | undefined;
    for (const t of this.at) if (t !== undefined && (min === undefined || t < min)) min = t;
    return min;
  }

  /** Disarms and returns the first timer (in handling order) that is due at `now`. */
  takeExpired(now: number): TimerId | undefined {
    for (const timer of ORDER) {
      const at = this.at[timer];
      if (at !== undefined && at <= now) {
        this.at[timer] = undefined;
        return timer;
      }
    }
    return undefined;
  }
}

/** Whose call a deadline belongs to: one we made (0) or one we serve (1). */
export type Side = 0 | 1;
/** A call we made: we stop waiting and send `Cancel`. */
export const OUTGOING: Side = 0;
/** A call we serve: we stop the handler and answer `DeadlineExceeded`. */
export const INCOMING: Side = 1;

/** One call's deadline. The call's table entry holds it, so removal needs no search. */
export interface Deadline {
  readonly at: number;
  readonly side: Side;
  readonly conn: bigint;
  readonly id: bigint;
  /** Position in the heap; -1 once removed. */
  index: number;
}

/** Rust orders deadlines as `(at, side, conn, id)` tuples; ties resolve the same way here. */
function before(a: Deadline, b: Deadline): boolean {
  if (a.at !== b.at) return a.at < b.at;
  if (a.side !== b.side) return a.side < b.side;
  if (a.conn !== b.conn) return a.conn < b.conn;
  return a.id < b.id;
}

/**
 * The deadlines of the calls in flight, earliest first. Entries are removed when their call
 * completes, so the heap never outgrows the calls in flight.
 */
export class Deadlines {
  private readonly heap: Deadline[] = [];

  /** Records a deadline; keep the returned handle to {@link Deadlines.remove} it. */
  insert(at: number, side: Side, conn: bigint, id: bigint): Deadline {
    const d: Deadline = { at, side, conn, id, index: this.heap.length };
    this.heap.push(d);
    this.up(d.index);
    return d;
  }

  /** Forgets a deadline (its call completed first); removing one twice is harmless. */
  remove(d: Deadline): void {
    const i = d.index;
    if (i < 0 || this.heap[i] !== d) return;
    d.index = -1;
    const last = this.heap.pop()!;
    if (i < this.heap.length) {
      this.heap[i] = last;
      last.index = i;
      this.down(i);
      this.up(last.index);
    }
  }

  /** The earliest deadline's time. */
  next(): number | undefined {
    return this.heap[0]?.at;
  }

  /** Removes and returns the earliest deadline if it is due at `now`. */
  popExpired(now: number): Deadline | undefined {
    const top = this.heap[0];
    if (top === undefined || top.at > now) return undefined;
    this.remove(top);
    return top;
  }

  /** Forgets every deadline. */
  clear(): void {
    for (const d of this.heap) d.index = -1;
    this.heap.length = 0;
  }

  /** Deadlines recorded. */
  get size(): number {
    return this.heap.length;
  }

  private swap(i: number, j: number): void {
    const a = this.heap[i]!;
    const b = this.heap[j]!;
    this.heap[i] = b;
    this.heap[j] = a;
    a.index = j;
    b.index = i;
  }

  private up(i: number): void {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(this.heap[i]!, this.heap[parent]!)) return;
      this.swap(i, parent);
      i = parent;
    }
  }

  private down(i: number): void {
    const n = this.heap.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && before(this.heap[l]!, this.heap[m]!)) m = l;
      if (r < n && before(this.heap[r]!, this.heap[m]!)) m = r;
      if (m === i) return;
      this.swap(i, m);
      i = m;
    }
  }
}
