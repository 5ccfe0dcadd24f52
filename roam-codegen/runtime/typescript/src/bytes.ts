/**
 * Byte and UTF-8 arithmetic the runtime needs in several places: joining byte arrays, and the
 * UTF-8 length of a string (or its longest prefix within a length) without encoding it.
 *
 * @module
 */

/** `parts` joined into one array. */
export function concat(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * The UTF-8 bytes and the UTF-16 units of the character of `s` at unit `i` (a lone surrogate
 * counts as U+FFFD, 3 bytes, as `TextEncoder` writes it).
 */
function charAt(s: string, i: number): [bytes: number, units: number] {
  const c = s.charCodeAt(i);
  if (c < 0x80) return [1, 1];
  if (c < 0x800) return [2, 1];
  if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
    const d = s.charCodeAt(i + 1);
    if (d >= 0xdc00 && d <= 0xdfff) return [4, 2];
  }
  return [3, 1];
}

/** UTF-8 length of `s` without allocating. */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; ) {
    const [bytes, units] = charAt(s, i);
    n += bytes;
    i += units;
  }
  return n;
}

/** The longest prefix of `s` whose UTF-8 encoding is at most `room` bytes (whole characters). */
export function utf8Prefix(s: string, room: number): string {
  let n = 0;
  let i = 0;
  while (i < s.length) {
    const [bytes, units] = charAt(s, i);
    if (n + bytes > room) break;
    n += bytes;
    i += units;
  }
  return s.slice(0, i);
}
