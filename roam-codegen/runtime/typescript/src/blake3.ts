/**
 * BLAKE3 in keyed mode for inputs of at most one chunk (1024 bytes), which is all resumption
 * needs (its inputs are under 64 bytes). Written here so the runtime, and the bindings that
 * copy it, depend on no package. The algorithm is the BLAKE3 specification's; the tests pin it
 * against the official keyed test vectors.
 *
 * @module
 */

/** The initial words (SHA-256's). */
const IV = new Uint32Array([
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
]);

/** Which message word each position takes after one round. */
const PERMUTATION = [2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8];

const CHUNK_START = 1;
const CHUNK_END = 2;
const ROOT = 8;
const KEYED_HASH = 16;

const BLOCK_LEN = 64;
/** Longest input {@link keyedHashOneChunk} takes. */
export const CHUNK_LEN = 1024;

const rotr = (x: number, n: number): number => ((x >>> n) | (x << (32 - n))) >>> 0;

function g(s: Uint32Array, a: number, b: number, c: number, d: number, x: number, y: number): void {
  s[a] = (s[a]! + s[b]! + x) >>> 0;
  s[d] = rotr(s[d]! ^ s[a]!, 16);
  s[c] = (s[c]! + s[d]!) >>> 0;
  s[b] = rotr(s[b]! ^ s[c]!, 12);
  s[a] = (s[a]! + s[b]! + y) >>> 0;
  s[d] = rotr(s[d]! ^ s[a]!, 8);
  s[c] = (s[c]! + s[d]!) >>> 0;
  s[b] = rotr(s[b]! ^ s[c]!, 7);
}

/** The compression function; returns the first 8 output words (the chaining value). */
function compress(cv: Uint32Array, block: Uint32Array, blockLen: number, flags: number): Uint32Array {
  // Chunk counter 0: one chunk only.
  const s = new Uint32Array([...cv, IV[0]!, IV[1]!, IV[2]!, IV[3]!, 0, 0, blockLen, flags]);
  let m = block;
  for (let round = 0; round < 7; round++) {
    g(s, 0, 4, 8, 12, m[0]!, m[1]!);
    g(s, 1, 5, 9, 13, m[2]!, m[3]!);
    g(s, 2, 6, 10, 14, m[4]!, m[5]!);
    g(s, 3, 7, 11, 15, m[6]!, m[7]!);
    g(s, 0, 5, 10, 15, m[8]!, m[9]!);
    g(s, 1, 6, 11, 12, m[10]!, m[11]!);
    g(s, 2, 7, 8, 13, m[12]!, m[13]!);
    g(s, 3, 4, 9, 14, m[14]!, m[15]!);
    m = Uint32Array.from(PERMUTATION, (i) => m[i]!);
  }
  const out = new Uint32Array(8);
  for (let i = 0; i < 8; i++) out[i] = (s[i]! ^ s[i + 8]!) >>> 0;
  return out;
}

/** Little-endian words of `bytes` (a multiple of 4 long). */
function words(bytes: Uint8Array): Uint32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return Uint32Array.from({ length: bytes.length / 4 }, (_, i) => view.getUint32(i * 4, true));
}

/**
 * BLAKE3 keyed with `key` (32 bytes) over `input` (at most {@link CHUNK_LEN} bytes): the
 * 32-byte hash.
 */
export function keyedHashOneChunk(key: Uint8Array, input: Uint8Array): Uint8Array {
  if (key.length !== 32) throw new RangeError(`a BLAKE3 key is 32 bytes, not ${key.length}`);
  if (input.length > CHUNK_LEN) {
    throw new RangeError(`this BLAKE3 takes at most ${CHUNK_LEN} bytes, not ${input.length}`);
  }
  let cv = words(key);
  const blocks = Math.max(1, Math.ceil(input.length / BLOCK_LEN));
  for (let i = 0; i < blocks; i++) {
    const block = new Uint8Array(BLOCK_LEN);
    const part = input.subarray(i * BLOCK_LEN, (i + 1) * BLOCK_LEN);
    block.set(part);
    let flags = KEYED_HASH;
    if (i === 0) flags |= CHUNK_START;
    if (i === blocks - 1) flags |= CHUNK_END | ROOT;
    cv = compress(cv, words(block), part.length, flags);
  }
  const out = new Uint8Array(32);
  const view = new DataView(out.buffer);
  cv.forEach((w, i) => view.setUint32(i * 4, w, true));
  return out;
}
