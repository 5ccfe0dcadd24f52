/**
 * The roam protocol messages (docs/protocol.md §3) and their postcard encoding.
 *
 * Mirrors `roam-proto/src/wire/` field for field: a {@link Message} is one frame body, the
 * `type` field names the Rust variant, and {@link MESSAGE_DISCRIMINANTS} gives its wire
 * discriminant. Knows nothing about sessions or framing; the limits a session enforces
 * (metadata size, ID parity, …) are checked there, not here.
 *
 * Decoded byte fields (`payload`, `schema`, session keys, secrets, proofs, nonces, metadata
 * bytes) are views of the frame they came from, not copies.
 *
 * @module
 */

import { DecodeError, EncodeError, Reader, Writer } from "./postcard.js";

/**
 * The protocol version this runtime speaks (`Hello.version`). 2 added `Hello.metadata`; 3 adds
 * `Hello.replay`, `Resume.proof` and the `Ack` message. Each older `Hello` lacks a field the
 * newer one ends with, so no two versions pass for one another.
 */
export const PROTOCOL_VERSION = 3;

/** Limits a side announces in its `Hello`; the effective limit is the minimum of both sides'. */
export interface Limits {
  /** Largest frame (one encoded message) the sender accepts, in bytes (`u32`). */
  maxFrameSize: number;
  /** Items a channel sender may send before the first credit grant (`u32`). */
  initialCredit: number;
  /** Requests the sender serves at once; the peer queues calls beyond it (`u32`). */
  maxConcurrentRequests: number;
}

/** roam's default limits: 8 MiB frames, 64 items of initial credit, 1024 concurrent requests. */
export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  maxFrameSize: 8 * 1024 * 1024,
  initialCredit: 64,
  maxConcurrentRequests: 1024,
});

/** Both sides' limits combined, field by field, as the handshake does. */
export function effectiveLimits(ours: Readonly<Limits>, theirs: Readonly<Limits>): Limits {
  return {
    maxFrameSize: Math.min(ours.maxFrameSize, theirs.maxFrameSize),
    initialCredit: Math.min(ours.initialCredit, theirs.initialCredit),
    maxConcurrentRequests: Math.min(ours.maxConcurrentRequests, theirs.maxConcurrentRequests),
  };
}

/** Length of a session key (`[u8; 16]`). */
export const SESSION_KEY_LEN = 16;

/** Length of the secret an acceptor grants with replay (`[u8; 32]`). */
export const REPLAY_SECRET_LEN = 32;

/** Length of the proof a resuming initiator sends (`[u8; 32]`). */
export const RESUME_PROOF_LEN = 32;

/** Length of the nonces of a resume, the resumer's and the acceptor's answer's (`[u8; 16]`). */
export const RESUME_NONCE_LEN = 16;

/**
 * A request to resume an existing session (`Hello.resume`). This runtime decodes it but never
 * resumes: an acceptor answers it with `Goodbye("resume-refused: …")`.
 */
export interface Resume {
  /** The session key the acceptor issued: exactly 16 bytes. */
  sessionKey: Uint8Array;
  /** The last session message sequence number the sender received (`u64`). */
  lastReceived: bigint;
  /** The resumer's fresh randomness, which makes each resume message unique: exactly 16 bytes. */
  nonce: Uint8Array;
  /** Proves the sender owns the session (derived from the granted secret): exactly 32 bytes. */
  proof: Uint8Array;
}

/**
 * What a `Hello` says about acknowledging and replaying session messages (`Replay` in Rust,
 * wire 0–3). This runtime always sends `off` and never resumes.
 */
export type Replay =
  /** 0: the sender neither numbers, acknowledges nor replays; the session cannot be resumed. */
  | { readonly type: "off" }
  /**
   * 1 (initiator): the sender keeps up to `buffer` bytes of unacknowledged messages and
   * acknowledges what it receives.
   */
  | {
      readonly type: "offer";
      /** Bytes of unacknowledged messages the sender keeps (`u32`). */
      buffer: number;
    }
  /** 2 (an acceptor answering an `offer` on a fresh session): the session is resumable. */
  | {
      readonly type: "grant";
      /** Bytes of unacknowledged messages the sender keeps (`u32`). */
      buffer: number;
      /** Proves ownership of the session on resume: exactly 32 bytes. */
      secret: Uint8Array;
    }
  /** 3 (an acceptor answering a resume): the session goes on where it left off. */
  | {
      readonly type: "resumed";
      /** The last session message sequence number the acceptor received (`u64`). */
      lastReceived: bigint;
      /** Exactly 16 bytes. */
      nonce: Uint8Array;
    };

/** The `Replay` of a side that does not replay (what this runtime always sends). */
export const REPLAY_OFF: Replay = Object.freeze({ type: "off" });

/**
 * Which way a channel listed in a request carries items: `caller-to-callee` when the method
 * takes an `Rx<T>` (wire 0), `callee-to-caller` when it takes a `Tx<T>` (wire 1).
 */
export type ChannelDirection = "caller-to-callee" | "callee-to-caller";

/** A channel bound to a request argument. */
export interface ChannelSpec {
  /** Channel ID, allocated by the caller with the caller's parity (`u64`). */
  id: bigint;
  /** Which way items flow. */
  direction: ChannelDirection;
}

/**
 * Which payload of a method a `Schema` message describes: the argument tuple (`args`, wire 0),
 * the response as `Result<T, E>` (`response`, 1), or the channel item types (`channels`, 2).
 */
export type SchemaKind = "args" | "response" | "channels";

/**
 * One metadata value: `String` (a `string`), `Bytes` (a `Uint8Array`) or `U64` (a `bigint`).
 * The JavaScript type tells the variants apart, so no tag is needed.
 */
export type MetadataValue = string | Uint8Array | bigint;

/** One metadata entry: `(key, value)`. */
export type MetadataEntry = readonly [key: string, value: MetadataValue];

/**
 * Metadata as on the wire (of a call, a response or a `Hello`): entries in order, keys may
 * repeat. The protocol's limits (64 entries, keys of at most 128 bytes) are the session's to
 * enforce.
 */
export type Metadata = readonly MetadataEntry[];

/** 0: the first message of each side. */
export interface HelloMessage {
  readonly type: "hello";
  /** {@link PROTOCOL_VERSION} of the sender (`u32`). */
  version: number;
  /** The sender's limits. */
  limits: Limits;
  /** Set by the acceptor: the random 16-byte key naming this session. */
  sessionKey?: Uint8Array | undefined;
  /** Set by an initiator that wants to resume a session. */
  resume?: Resume | undefined;
  /**
   * What the sender says about itself: the initiator's credentials (`authorization`, say),
   * which an acceptor may check before it answers with its own `Hello`. Encoded as call
   * metadata is, and held to the same limits; empty is the one byte `00`.
   */
  metadata: Metadata;
  /** Whether the sender acknowledges and replays session messages (the last field). */
  replay: Replay;
}

/** 1: the sender is ending the session. */
export interface GoodbyeMessage {
  readonly type: "goodbye";
  /** Why; starts with a stable rule name (`"<rule>: <detail>"`) on a protocol violation. */
  reason: string;
}

/** 2: a call. */
export interface RequestMessage {
  readonly type: "request";
  /** Connection (0 is the root connection). */
  conn: bigint;
  /** Request ID: odd from the initiator, even from the acceptor, never 0. */
  id: bigint;
  /** The method: first 8 bytes (little-endian) of BLAKE3 of `"<Trait>.<method>"`. */
  methodId: bigint;
  /** Call metadata. */
  metadata: Metadata;
  /** Channels bound to the method's `Tx`/`Rx` arguments, in argument order. */
  channels: readonly ChannelSpec[];
  /** How long the caller still waits, in microseconds, when the request is sent. */
  timeoutMicros?: bigint | undefined;
  /** The postcard encoding of the argument tuple. */
  payload: Uint8Array;
}

/** 3: the one answer to a request. */
export interface ResponseMessage {
  readonly type: "response";
  /** Connection of the request. */
  conn: bigint;
  /** ID of the request. */
  id: bigint;
  /** Response metadata. */
  metadata: Metadata;
  /** The postcard encoding of `Result<T, RoamError<E>>`. */
  payload: Uint8Array;
}

/** 4: the caller gave up on a request. */
export interface CancelMessage {
  readonly type: "cancel";
  /** Connection of the request. */
  conn: bigint;
  /** ID of the request. */
  id: bigint;
}

/** 5: keepalive probe. */
export interface PingMessage {
  readonly type: "ping";
  /** Echoed in the `Pong`. */
  nonce: bigint;
}

/** 6: keepalive answer. */
export interface PongMessage {
  readonly type: "pong";
  /** The `Ping`'s nonce. */
  nonce: bigint;
}

/** 7: one item on a channel. */
export interface DataMessage {
  readonly type: "data";
  /** Connection of the channel. */
  conn: bigint;
  /** Channel ID. */
  channel: bigint;
  /** The postcard encoding of the item. */
  payload: Uint8Array;
}

/** 8: the sender is done; no more `Data` follows. */
export interface CloseMessage {
  readonly type: "close";
  /** Connection of the channel. */
  conn: bigint;
  /** Channel ID. */
  channel: bigint;
}

/** 9: the receiver gives up; the sender stops and answers `Close`. */
export interface ResetMessage {
  readonly type: "reset";
  /** Connection of the channel. */
  conn: bigint;
  /** Channel ID. */
  channel: bigint;
}

/** 10: the receiver allows `n` more items. */
export interface CreditMessage {
  readonly type: "credit";
  /** Connection of the channel. */
  conn: bigint;
  /** Channel ID. */
  channel: bigint;
  /** Additional items allowed (`u32`). */
  n: number;
}

/** 11: the sender's canonical schema for one payload of a method (docs/protocol.md §7). */
export interface SchemaMessage {
  readonly type: "schema";
  /** Connection the schema applies to. */
  conn: bigint;
  /** The method. */
  methodId: bigint;
  /** Which payload. */
  kind: SchemaKind;
  /** The canonical schema bytes; empty withdraws an earlier announcement. */
  schema: Uint8Array;
}

/**
 * 12: the sender has received every session message up to `received` (link-level, not
 * numbered). Only sent on a session with replay.
 */
export interface AckMessage {
  readonly type: "ack";
  /** Sequence number of the last session message received (`u64`). */
  received: bigint;
}

/** One protocol message: one frame body. */
export type Message =
  | HelloMessage
  | GoodbyeMessage
  | RequestMessage
  | ResponseMessage
  | CancelMessage
  | PingMessage
  | PongMessage
  | DataMessage
  | CloseMessage
  | ResetMessage
  | CreditMessage
  | SchemaMessage
  | AckMessage;

/** The `type` of a {@link Message}. */
export type MessageType = Message["type"];

/**
 * Message types in wire order: a type's index is its postcard discriminant (also in
 * {@link MESSAGE_DISCRIMINANTS}); 13–16 are reserved for virtual connections. New variants
 * are only ever appended.
 */
export const MESSAGE_TYPES: readonly MessageType[] = Object.freeze([
  "hello",
  "goodbye",
  "request",
  "response",
  "cancel",
  "ping",
  "pong",
  "data",
  "close",
  "reset",
  "credit",
  "schema",
  "ack",
] as const);

/** Each message type's postcard discriminant (the frame's first byte). */
export const MESSAGE_DISCRIMINANTS: Readonly<Record<MessageType, number>> = Object.freeze({
  hello: 0,
  goodbye: 1,
  request: 2,
  response: 3,
  cancel: 4,
  ping: 5,
  pong: 6,
  data: 7,
  close: 8,
  reset: 9,
  credit: 10,
  schema: 11,
  ack: 12,
});

/**
 * Which layer a message belongs to: `link` messages (`hello`, `goodbye`, `ping`, `pong`,
 * `ack`) are about the link itself; `session` messages are numbered in send order for
 * resumption.
 */
export function messageClass(msg: Message): "link" | "session" {
  switch (msg.type) {
    case "hello":
    case "goodbye":
    case "ping":
    case "pong":
    case "ack":
      return "link";
    default:
      return "session";
  }
}

// Shared by encodeMessage: messages are encoded one at a time, and reusing the buffer spares
// an allocation per message beyond the result itself.
const scratch = new Writer(1024);

/**
 * Encodes a message into a new frame body. Throws {@link EncodeError} for a field outside its
 * Rust type's range (for example a negative ID or a session key that is not 16 bytes), and a
 * `TypeError` for a field of the wrong JavaScript type.
 */
export function encodeMessage(msg: Message): Uint8Array {
  try {
    writeMessage(scratch, msg);
    return scratch.finish();
  } catch (e) {
    scratch.reset();
    throw e;
  }
}

/**
 * Decodes one frame body. Throws {@link DecodeError} if the bytes are not exactly one valid
 * message: trailing bytes are an error, as in Rust, so that two implementations cannot
 * disagree about where a message ends.
 */
export function decodeMessage(bytes: Uint8Array): Message {
  const r = new Reader(bytes);
  const msg = readMessage(r);
  r.finish();
  return msg;
}

/**
 * The `version` of a frame that starts like a `Hello` (tag 0, then the version varint),
 * whether or not the rest decodes: another version's `Hello` may have other fields (version
 * 1's had no `metadata`, version 2's no `replay`), and its version still says which.
 * `undefined` for any other frame, or one cut inside the varint.
 */
export function helloVersion(frame: Uint8Array): number | undefined {
  if (frame[0] !== 0) return undefined;
  try {
    return new Reader(frame, 1).u32();
  } catch {
    return undefined;
  }
}

/** Appends a message to `w` (for callers that build frames in their own writer). */
export function writeMessage(w: Writer, msg: Message): void {
  switch (msg.type) {
    case "hello":
      w.variant(0);
      w.u32(msg.version);
      w.u32(msg.limits.maxFrameSize);
      w.u32(msg.limits.initialCredit);
      w.u32(msg.limits.maxConcurrentRequests);
      if (msg.sessionKey === undefined) {
        w.optionTag(false);
      } else {
        w.optionTag(true);
        writeSessionKey(w, msg.sessionKey);
      }
      if (msg.resume === undefined) {
        w.optionTag(false);
      } else {
        w.optionTag(true);
        writeSessionKey(w, msg.resume.sessionKey);
        w.u64(msg.resume.lastReceived);
        writeFixed(w, msg.resume.nonce, RESUME_NONCE_LEN, "a resume nonce");
        writeFixed(w, msg.resume.proof, RESUME_PROOF_LEN, "a resume proof");
      }
      writeMetadata(w, msg.metadata);
      writeReplay(w, msg.replay);
      return;
    case "goodbye":
      w.variant(1);
      w.string(msg.reason);
      return;
    case "request":
      w.variant(2);
      w.u64(msg.conn);
      w.u64(msg.id);
      w.u64(msg.methodId);
      writeMetadata(w, msg.metadata);
      w.seqLength(msg.channels.length);
      for (const ch of msg.channels) {
        w.u64(ch.id);
        w.variant(directionIndex(ch.direction));
      }
      if (msg.timeoutMicros === undefined) {
        w.optionTag(false);
      } else {
        w.optionTag(true);
        w.u64(msg.timeoutMicros);
      }
      w.bytes(msg.payload);
      return;
    case "response":
      w.variant(3);
      w.u64(msg.conn);
      w.u64(msg.id);
      writeMetadata(w, msg.metadata);
      w.bytes(msg.payload);
      return;
    case "cancel":
      w.variant(4);
      w.u64(msg.conn);
      w.u64(msg.id);
      return;
    case "ping":
      w.variant(5);
      w.u64(msg.nonce);
      return;
    case "pong":
      w.variant(6);
      w.u64(msg.nonce);
      return;
    case "data":
      w.variant(7);
      w.u64(msg.conn);
      w.u64(msg.channel);
      w.bytes(msg.payload);
      return;
    case "close":
      w.variant(8);
      w.u64(msg.conn);
      w.u64(msg.channel);
      return;
    case "reset":
      w.variant(9);
      w.u64(msg.conn);
      w.u64(msg.channel);
      return;
    case "credit":
      w.variant(10);
      w.u64(msg.conn);
      w.u64(msg.channel);
      w.u32(msg.n);
      return;
    case "schema":
      w.variant(11);
      w.u64(msg.conn);
      w.u64(msg.methodId);
      w.variant(schemaKindIndex(msg.kind));
      w.bytes(msg.schema);
      return;
    case "ack":
      w.variant(12);
      w.u64(msg.received);
      return;
    default:
      throw new TypeError(`not a roam message type: ${String((msg as { type: unknown }).type)}`);
  }
}

/** Takes one message off `r`; the caller decides whether bytes may follow. */
export function readMessage(r: Reader): Message {
  const at = r.offset;
  const tag = r.variant();
  switch (tag) {
    case 0: {
      const version = r.u32();
      const limits: Limits = {
        maxFrameSize: r.u32(),
        initialCredit: r.u32(),
        maxConcurrentRequests: r.u32(),
      };
      const sessionKey = r.optionTag() ? r.raw(SESSION_KEY_LEN) : undefined;
      let resume: Resume | undefined;
      if (r.optionTag()) {
        const key = r.raw(SESSION_KEY_LEN);
        const lastReceived = r.u64();
        const nonce = r.raw(RESUME_NONCE_LEN);
        resume = { sessionKey: key, lastReceived, nonce, proof: r.raw(RESUME_PROOF_LEN) };
      }
      const metadata = readMetadata(r);
      const replay = readReplay(r);
      return { type: "hello", version, limits, sessionKey, resume, metadata, replay };
    }
    case 1:
      return { type: "goodbye", reason: r.string() };
    case 2: {
      const conn = r.u64();
      const id = r.u64();
      const methodId = r.u64();
      const metadata = readMetadata(r);
      // A ChannelSpec takes at least 2 bytes (id, direction).
      const count = r.seqLength(2);
      const channels: ChannelSpec[] = [];
      for (let i = 0; i < count; i++) {
        channels.push({ id: r.u64(), direction: readDirection(r) });
      }
      const timeoutMicros = r.optionTag() ? r.u64() : undefined;
      const payload = r.bytes();
      return { type: "request", conn, id, methodId, metadata, channels, timeoutMicros, payload };
    }
    case 3: {
      const conn = r.u64();
      const id = r.u64();
      const metadata = readMetadata(r);
      return { type: "response", conn, id, metadata, payload: r.bytes() };
    }
    case 4: {
      const conn = r.u64();
      return { type: "cancel", conn, id: r.u64() };
    }
    case 5:
      return { type: "ping", nonce: r.u64() };
    case 6:
      return { type: "pong", nonce: r.u64() };
    case 7: {
      const conn = r.u64();
      const channel = r.u64();
      return { type: "data", conn, channel, payload: r.bytes() };
    }
    case 8: {
      const conn = r.u64();
      return { type: "close", conn, channel: r.u64() };
    }
    case 9: {
      const conn = r.u64();
      return { type: "reset", conn, channel: r.u64() };
    }
    case 10: {
      const conn = r.u64();
      const channel = r.u64();
      return { type: "credit", conn, channel, n: r.u32() };
    }
    case 11: {
      const conn = r.u64();
      const methodId = r.u64();
      const kind = readSchemaKind(r);
      return { type: "schema", conn, methodId, kind, schema: r.bytes() };
    }
    case 12:
      return { type: "ack", received: r.u64() };
    default:
      throw new DecodeError(
        "unknown-variant",
        tag >= 13 && tag <= 16
          ? `message ${tag} is reserved for virtual connections, which protocol version ` +
            `${PROTOCOL_VERSION} does not have`
          : `no message has discriminant ${tag}`,
        at,
      );
  }
}

function writeSessionKey(w: Writer, key: Uint8Array): void {
  writeFixed(w, key, SESSION_KEY_LEN, "a session key");
}

/** A `[u8; len]`: exactly `len` raw bytes, no length prefix. */
function writeFixed(w: Writer, bytes: Uint8Array, len: number, what: string): void {
  if (bytes.length !== len) {
    throw new EncodeError("invalid-length", `${what} is ${len} bytes, not ${bytes.length}`);
  }
  w.raw(bytes);
}

function writeReplay(w: Writer, replay: Replay): void {
  switch (replay.type) {
    case "off":
      w.variant(0);
      return;
    case "offer":
      w.variant(1);
      w.u32(replay.buffer);
      return;
    case "grant":
      w.variant(2);
      w.u32(replay.buffer);
      writeFixed(w, replay.secret, REPLAY_SECRET_LEN, "a replay secret");
      return;
    case "resumed":
      w.variant(3);
      w.u64(replay.lastReceived);
      writeFixed(w, replay.nonce, RESUME_NONCE_LEN, "a resume nonce");
      return;
    default:
      throw new TypeError(`not a replay: ${String((replay as { type: unknown }).type)}`);
  }
}

function readReplay(r: Reader): Replay {
  const at = r.offset;
  const tag = r.variant();
  switch (tag) {
    case 0:
      return { type: "off" };
    case 1:
      return { type: "offer", buffer: r.u32() };
    case 2: {
      const buffer = r.u32();
      return { type: "grant", buffer, secret: r.raw(REPLAY_SECRET_LEN) };
    }
    case 3: {
      const lastReceived = r.u64();
      return { type: "resumed", lastReceived, nonce: r.raw(RESUME_NONCE_LEN) };
    }
    default:
      throw new DecodeError("unknown-variant", `no Replay has discriminant ${tag}`, at);
  }
}

function writeMetadata(w: Writer, md: Metadata): void {
  w.seqLength(md.length);
  for (const [key, value] of md) {
    w.string(key);
    if (typeof value === "string") {
      w.variant(0);
      w.string(value);
    } else if (value instanceof Uint8Array) {
      w.variant(1);
      w.bytes(value);
    } else if (typeof value === "bigint") {
      w.variant(2);
      w.u64(value);
    } else {
      throw new TypeError(
        `metadata value for ${JSON.stringify(key)} is not a string, Uint8Array or bigint`,
      );
    }
  }
}

function readMetadata(r: Reader): MetadataEntry[] {
  // An entry takes at least 3 bytes: key length, value tag, one byte of value.
  const count = r.seqLength(3);
  const entries: MetadataEntry[] = [];
  for (let i = 0; i < count; i++) {
    const key = r.string();
    const at = r.offset;
    const tag = r.variant();
    let value: MetadataValue;
    if (tag === 0) value = r.string();
    else if (tag === 1) value = r.bytes();
    else if (tag === 2) value = r.u64();
    else throw new DecodeError("unknown-variant", `no MetadataValue has discriminant ${tag}`, at);
    entries.push([key, value]);
  }
  return entries;
}

function directionIndex(d: ChannelDirection): number {
  if (d === "caller-to-callee") return 0;
  if (d === "callee-to-caller") return 1;
  throw new TypeError(`not a channel direction: ${String(d)}`);
}

function readDirection(r: Reader): ChannelDirection {
  const at = r.offset;
  const tag = r.variant();
  if (tag === 0) return "caller-to-callee";
  if (tag === 1) return "callee-to-caller";
  throw new DecodeError("unknown-variant", `no ChannelDirection has discriminant ${tag}`, at);
}

function schemaKindIndex(k: SchemaKind): number {
  if (k === "args") return 0;
  if (k === "response") return 1;
  if (k === "channels") return 2;
  throw new TypeError(`not a schema kind: ${String(k)}`);
}

function readSchemaKind(r: Reader): SchemaKind {
  const at = r.offset;
  const tag = r.variant();
  if (tag === 0) return "args";
  if (tag === 1) return "response";
  if (tag === 2) return "channels";
  throw new DecodeError("unknown-variant", `no SchemaKind has discriminant ${tag}`, at);
}
