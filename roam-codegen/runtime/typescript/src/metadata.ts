/**
 * The protocol's limits on metadata (docs/protocol.md §3, `roam-proto/src/metadata.rs`), the
 * same for a request, a response and a `Hello`: at most {@link MAX_METADATA_ENTRIES} entries,
 * keys of at most {@link MAX_METADATA_KEY_LEN} UTF-8 bytes. A peer over them breaks the
 * protocol (`metadata-limit`); a local call over them is refused before anything is sent, so
 * this side never gives the peer a reason to hang up. Also how the application writes
 * metadata ({@link MetadataInit}) and how that becomes wire entries.
 *
 * @module
 */

import { utf8Length } from "./bytes.js";
import type { Metadata, MetadataEntry, MetadataValue } from "./wire.js";

/** Most entries one request, response or `Hello` may carry. */
export const MAX_METADATA_ENTRIES = 64;
/** Longest metadata key, in UTF-8 bytes. */
export const MAX_METADATA_KEY_LEN = 128;

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

/**
 * Metadata as the application writes it: an object or an iterable of pairs (a `Map`, an
 * array), keys repeating only in the iterable form. Keys must be lower-case ASCII: letters,
 * digits, `-`, `_` and `.` (gRPC's rule, so keys survive HTTP gateways unchanged).
 */
export type MetadataInit =
  | Record<string, MetadataValue>
  | Iterable<readonly [string, MetadataValue]>;

const KEY = /^[a-z0-9._-]+$/;
const U64_MAX = (1n << 64n) - 1n;

/**
 * `@internal` Checks and flattens metadata. Throws `TypeError` for a bad key or value. Stops
 * one entry past the protocol's limit, so the session refuses the call (`too_large`), or the
 * `Hello`, without an unbounded iterable being read to its end.
 */
export function metadataEntries(init: MetadataInit): Metadata {
  const source: Iterable<readonly [string, MetadataValue]> =
    typeof (init as Partial<Iterable<unknown>>)[Symbol.iterator] === "function"
      ? (init as Iterable<readonly [string, MetadataValue]>)
      : Object.entries(init);
  const out: MetadataEntry[] = [];
  for (const [key, value] of source) {
    if (typeof key !== "string" || !KEY.test(key)) {
      throw new TypeError(
        `metadata key ${JSON.stringify(key)} is not lower-case ASCII (a-z, 0-9, '-', '_', '.')`,
      );
    }
    const ok =
      typeof value === "string" ||
      value instanceof Uint8Array ||
      (typeof value === "bigint" && value >= 0n && value <= U64_MAX);
    if (!ok) {
      throw new TypeError(`metadata ${key}: a value is a string, a Uint8Array or a u64 bigint`);
    }
    out.push([key, value]);
    if (out.length > MAX_METADATA_ENTRIES) break;
  }
  return out;
}
