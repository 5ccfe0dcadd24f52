/**
 * The two derivations of a resume secret (docs/protocol.md §8), byte for byte as
 * `roam-proto/src/session/replay.rs` computes them: the proof a resuming initiator sends, and
 * the secret both sides move to after a resume. Both are BLAKE3 in keyed mode, keyed with the
 * current 32-byte secret, over a domain-separating context and the fields they bind.
 *
 * BLAKE3 is the runtime's own (`blake3.ts`, one chunk is all these inputs need), so the
 * runtime and generated bindings depend on no package.
 *
 * @module
 */

import { keyedHashOneChunk } from "./blake3.js";
import { concat } from "./bytes.js";

/** Domain separation of the proof (`PROOF_CONTEXT` in Rust). */
const PROOF_CONTEXT = new TextEncoder().encode("roam resume proof v1");
/** Domain separation of the rotation (`ROTATE_CONTEXT` in Rust). */
const ROTATE_CONTEXT = new TextEncoder().encode("roam resume rotate v1");

/** Length of a resume secret, and of a proof. */
export const SECRET_LEN = 32;

function check(name: string, bytes: Uint8Array, len: number): void {
  if (bytes.length !== len) throw new RangeError(`${name} is ${len} bytes, not ${bytes.length}`);
}

/** `n` as a `u64`, little-endian (Rust's `u64::to_le_bytes`). */
function u64le(n: bigint): Uint8Array {
  if (n < 0n || n > 0xffff_ffff_ffff_ffffn) throw new RangeError(`${n} is not a u64`);
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, n, true);
  return out;
}

/**
 * The proof a `Resume` carries: `BLAKE3-keyed(key = secret, "roam resume proof v1" ‖
 * sessionKey ‖ lastReceived as u64 LE ‖ nonce)`, 32 bytes. Binds the session key, the
 * resumer's position and its fresh nonce to the secret (Rust's `Secret::proof`).
 */
export function resumeProof(
  secret: Uint8Array,
  sessionKey: Uint8Array,
  lastReceived: bigint,
  nonce: Uint8Array,
): Uint8Array {
  check("a resume secret", secret, SECRET_LEN);
  check("a session key", sessionKey, 16);
  check("a resume nonce", nonce, 16);
  const input = concat([PROOF_CONTEXT, sessionKey, u64le(lastReceived), nonce]);
  return keyedHashOneChunk(secret, input);
}

/**
 * The secret after a resume: `BLAKE3-keyed(key = secret, "roam resume rotate v1" ‖ initiator
 * nonce ‖ acceptor nonce)`, 32 bytes (Rust's `Secret::rotate`). It never travels: both sides
 * derive it from what the resume exchanged.
 */
export function rotateSecret(
  secret: Uint8Array,
  initiatorNonce: Uint8Array,
  acceptorNonce: Uint8Array,
): Uint8Array {
  check("a resume secret", secret, SECRET_LEN);
  check("the initiator's nonce", initiatorNonce, 16);
  check("the acceptor's nonce", acceptorNonce, 16);
  return keyedHashOneChunk(secret, concat([ROTATE_CONTEXT, initiatorNonce, acceptorNonce]));
}

/** BLAKE3 keyed with `key` (32 bytes) over `input` (at most 1024 bytes), 32 bytes. */
export function keyedHash(key: Uint8Array, input: Uint8Array): Uint8Array {
  check("a BLAKE3 key", key, SECRET_LEN);
  return keyedHashOneChunk(key, input);
}
