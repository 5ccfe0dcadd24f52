/**
 * Parity-based IDs (docs/protocol.md §4, `roam-proto/src/session/ids.rs`): the initiator
 * allocates odd IDs, the acceptor even ones, never 0, for requests and channels, so both sides
 * can open things on one session without coordinating.
 *
 * @module
 */

/** Which end of the link a side is: the one that connected, or the one that accepted. */
export type Role = "initiator" | "acceptor";

const U64 = 64;

/** The other side's role. */
export function peerRole(role: Role): Role {
  return role === "initiator" ? "acceptor" : "initiator";
}

/** The `n`-th ID (from 0) `role` allocates: 1, 3, 5, … or 2, 4, 6, … (wrapping at 2^64). */
export function nthId(role: Role, n: bigint): bigint {
  return BigInt.asUintN(U64, n * 2n + (role === "initiator" ? 1n : 2n));
}

/** Whether `id` is one `role` allocates (0 belongs to nobody). */
export function ownsId(role: Role, id: bigint): boolean {
  return id !== 0n && ((id & 1n) === 1n) === (role === "initiator");
}

/** Hands out one role's IDs in increasing order. */
export class IdAllocator {
  private next: bigint;

  /** An allocator for `role`'s IDs. */
  constructor(role: Role) {
    this.next = role === "initiator" ? 1n : 2n;
  }

  /** The next unused ID. */
  nextId(): bigint {
    const id = this.next;
    // 2^63 IDs at one per nanosecond last 292 years; wrapping only keeps the value a u64.
    this.next = BigInt.asUintN(U64, this.next + 2n);
    return id;
  }
}
