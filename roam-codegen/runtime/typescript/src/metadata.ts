/**
 * The protocol's limits on call metadata (docs/protocol.md §3, `roam-proto/src/metadata.rs`):
 * at most {@link MAX_METADATA_ENTRIES} entries, keys of at most {@link MAX_METADATA_KEY_LEN}
 * UTF-8 bytes. A peer over them breaks the protocol (`metadata-limit`); a local call over them
 * is refused before anything is sent, so this side never gives the peer a reason to hang up.
 *
 * @module
 */

import type { Metadata } from "./wire.js";

/** Most entries one request or response may carry. */
export const MAX_METADATA_ENTRIES = 64;
/** Longest metadata key, in UTF-8 bytes. */
export const MAX_METADATA_KEY_LEN = 128;

/** UTF-8 length of `s` without allocating (a lone surrogate counts as U+FFFD, 3 bytes). */
function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 4;
        i++;
      } else n += 3;
    } else n += 3;
  }
  return n;
}

/**
 * Checks the protocol limits; returns which one `md` breaks (Rust's `check_limits` text), or
 * `undefined` if it is within them.
 */
export function checkMetadataLimits(md: Metadata): string | undefined {
  if (md.length > MAX_METADATA_ENTRIES) return "metadata has more than 64 entries";
  for (const [key] of md) {
    // Three bytes per UTF-16 unit at most, so short keys need no counting.
    if (key.length * 3 > MAX_METADATA_KEY_LEN && utf8Length(key) > MAX_METADATA_KEY_LEN) {
      return "metadata key longer than 128 bytes";
    }
  }
  return undefined;
}
