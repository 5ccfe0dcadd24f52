/**
 * Which schemas a session has announced and which the peer has (docs/protocol.md §7,
 * `roam-proto/src/session/schemas.rs`).
 *
 * Owns: for each (method, payload kind), what we last announced (so each schema is sent once,
 * before its first use, and again only if ours changes) and the peer's latest announcement,
 * bounded in count ({@link MAX_REMOTE_SCHEMAS}), per schema ({@link MAX_SCHEMA_BYTES}) and in
 * total ({@link MAX_SCHEMA_TABLE_BYTES}). Must not: interpret schemas or translate payloads;
 * the layer above does, and keeps what it derives in {@link PeerSchema.derived}.
 *
 * Schemas are opaque canonical bytes here. Two schemas are the same when their bytes are (the
 * Rust table compares content hashes of the same bytes, which is equivalent).
 *
 * @module
 */

import { violation } from "./errors.js";
import type { ProtocolViolation } from "./errors.js";
import type { SchemaKind } from "./wire.js";

/**
 * Most (method, kind) schemas a peer may announce on one session. Far above any real service
 * set; it only keeps a hostile peer from growing the table without bound.
 */
export const MAX_REMOTE_SCHEMAS = 4096;

/** Largest canonical schema a side announces or accepts; a larger type is not announced. */
export const MAX_SCHEMA_BYTES = 64 * 1024;

/** Most canonical schema bytes the peer may have announced on one session at a time. */
export const MAX_SCHEMA_TABLE_BYTES = 1024 * 1024;

/**
 * Checks announced canonical bytes before the session keeps them: returns why they are not a
 * valid schema of a `kind` payload (the `bad-schema` detail), or `undefined` to accept them.
 * The session itself only enforces the size bounds; the schema grammar lives in the layer
 * that interprets schemas.
 */
export type SchemaValidator = (kind: SchemaKind, canonical: Uint8Array) => string | undefined;

/** The peer's schema for one payload of one method, as announced on a connection. */
export interface PeerSchema {
  /** The method it describes. */
  readonly methodId: bigint;
  /** Which payload of the method. */
  readonly kind: SchemaKind;
  /** The announced canonical bytes (a copy: the frame they came in is not kept alive). */
  readonly canonical: Uint8Array;
  /**
   * Free for the layer above (a compiled translation plan, say), so it lives and dies with the
   * announcement it was derived from.
   */
  derived: unknown;
}

/** What to send before a message that uses a (method, kind). */
export type Announcement =
  /** The peer already has the right schema (or none, and we have none). */
  | { readonly kind: "nothing" }
  /** Send this schema. */
  | { readonly kind: "schema"; readonly schema: Uint8Array }
  /** Send an empty schema: the one announced before no longer applies. */
  | { readonly kind: "retract" };

const NOTHING: Announcement = Object.freeze({ kind: "nothing" });
const RETRACT: Announcement = Object.freeze({ kind: "retract" });

function kindIndex(kind: SchemaKind): 0 | 1 | 2 {
  return kind === "args" ? 0 : kind === "response" ? 1 : 2;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Three slots per method, one per {@link SchemaKind}. */
type Slots<T> = [T | undefined, T | undefined, T | undefined];

/** The schema table of one connection. */
export class SchemaTable {
  /** What we last announced per (method, kind); `null` after a retraction. */
  private readonly announced = new Map<bigint, Slots<Uint8Array | null>>();
  private readonly received = new Map<bigint, Slots<PeerSchema>>();
  private receivedCount = 0;
  private receivedBytes = 0;

  /**
   * What must be announced before the next use of `(methodId, kind)` with our schema `local`
   * (`undefined`: not describable); records it as announced. Generated code passes the same
   * `Uint8Array` for every call, so the common case is one identity comparison.
   */
  announcement(methodId: bigint, kind: SchemaKind, local: Uint8Array | undefined): Announcement {
    const ours = local !== undefined && local.length <= MAX_SCHEMA_BYTES ? local : undefined;
    const k = kindIndex(kind);
    let slots = this.announced.get(methodId);
    const last = slots?.[k];
    if (ours !== undefined) {
      if (last !== undefined && last !== null && sameBytes(last, ours)) return NOTHING;
      if (slots === undefined) {
        slots = [undefined, undefined, undefined];
        this.announced.set(methodId, slots);
      }
      slots[k] = ours;
      return { kind: "schema", schema: ours };
    }
    if (slots !== undefined && last !== undefined && last !== null) {
      slots[k] = null;
      return RETRACT;
    }
    return NOTHING;
  }

  /**
   * Records the peer's announcement; it applies to every later message of that method. An
   * empty schema withdraws the previous one. Returns the violation if the bytes break a bound
   * or `validate` rejects them.
   */
  receive(
    methodId: bigint,
    kind: SchemaKind,
    schema: Uint8Array,
    validate?: SchemaValidator,
  ): ProtocolViolation | undefined {
    const k = kindIndex(kind);
    const slots = this.received.get(methodId);
    const old = slots?.[k];
    if (schema.length === 0) {
      if (slots !== undefined && old !== undefined) {
        slots[k] = undefined;
        this.receivedCount--;
        this.receivedBytes -= old.canonical.length;
        if (slots[0] === undefined && slots[1] === undefined && slots[2] === undefined) {
          this.received.delete(methodId);
        }
      }
      return undefined;
    }
    if (schema.length > MAX_SCHEMA_BYTES) {
      return violation.badSchema(
        methodId,
        `${schema.length} bytes, more than the ${MAX_SCHEMA_BYTES} a schema may take`,
      );
    }
    // Same schema again: keep the entry and whatever was derived from it.
    if (old !== undefined && sameBytes(old.canonical, schema)) return undefined;
    const oldLen = old?.canonical.length ?? 0;
    if (old === undefined && this.receivedCount >= MAX_REMOTE_SCHEMAS) {
      return violation.tooManySchemas(MAX_REMOTE_SCHEMAS);
    }
    if (this.receivedBytes - oldLen + schema.length > MAX_SCHEMA_TABLE_BYTES) {
      return violation.badSchema(
        methodId,
        `the session's schemas would take more than ${MAX_SCHEMA_TABLE_BYTES} bytes`,
      );
    }
    const problem = validate?.(kind, schema);
    if (problem !== undefined) return violation.badSchema(methodId, problem);
    const entry: PeerSchema = { methodId, kind, canonical: schema.slice(), derived: undefined };
    if (slots === undefined) {
      const fresh: Slots<PeerSchema> = [undefined, undefined, undefined];
      fresh[k] = entry;
      this.received.set(methodId, fresh);
    } else {
      slots[k] = entry;
    }
    if (old === undefined) this.receivedCount++;
    this.receivedBytes += schema.length - oldLen;
    return undefined;
  }

  /** The peer's current schema for `(methodId, kind)`, if it announced one. */
  remote(methodId: bigint, kind: SchemaKind): PeerSchema | undefined {
    return this.received.get(methodId)?.[kindIndex(kind)];
  }

  /** Number of (method, kind) schemas the peer has announced and not withdrawn. */
  get remoteCount(): number {
    return this.receivedCount;
  }

  /** Canonical bytes the peer's announcements take. */
  get remoteBytes(): number {
    return this.receivedBytes;
  }

  /** Forgets everything (the session ended). */
  clear(): void {
    this.announced.clear();
    this.received.clear();
    this.receivedCount = 0;
    this.receivedBytes = 0;
  }
}
