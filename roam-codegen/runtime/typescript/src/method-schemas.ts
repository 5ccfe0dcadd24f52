/**
 * The canonical schema bytes of one method's three payloads, as generated code carries them
 * (docs/protocol.md §7). The driver announces them before first use and compares them with
 * the peer's announcements; equal bytes mean the generated codecs read the peer's payloads
 * directly, different bytes mean a translation (or an `incompatible_schema` failure).
 *
 * @module
 */

/** Our schemas of one method, each the canonical bytes of `roam_core::schema::Schema`. */
export interface MethodSchemaBytes {
  /** The argument tuple (the wire arguments, channels excluded). */
  readonly args: Uint8Array;
  /** The response: `Result<T, E>` (E is `Infallible` for a method that cannot fail). */
  readonly response: Uint8Array;
  /** The tuple of the channel arguments' `Channel` schemas (unit for none). */
  readonly channels: Uint8Array;
}
