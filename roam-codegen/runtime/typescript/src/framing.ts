/**
 * Length-prefixed frames for byte-stream links (TCP, Unix sockets), docs/protocol.md §3.
 *
 * A frame is a `u32` little-endian body length followed by that many bytes (one encoded
 * message). {@link FrameDecoder} splits an incoming byte stream into frame bodies, checking
 * each length against the current maximum as soon as its 4 header bytes have arrived and
 * before keeping any of the body, so a peer that claims a 4 GiB frame costs nothing.
 * WebSocket links carry one body per binary message and need none of this.
 *
 * Owns only byte ⇄ frame splitting: it never decodes messages and never touches a socket.
 *
 * @module
 */

/** Length of the frame header (the `u32` little-endian body length). */
export const FRAME_HEADER_LEN = 4;

/** Largest body a header can describe. */
const MAX_HEADER_LEN = 0xffffffff;

/**
 * Why bytes could not be split into frames: `frame-too-large` (a header announced more than
 * the maximum; the session answers with the violation of the same name) or `truncated` (the
 * stream ended inside a frame; the violation `malformed-message`).
 */
export type FrameErrorCode = "frame-too-large" | "truncated";

/** A byte stream that is not a sequence of acceptable frames. */
export class FrameError extends Error {
  override readonly name = "FrameError";
  /** What is wrong; see {@link FrameErrorCode}. */
  readonly code: FrameErrorCode;
  /** `frame-too-large`: the announced body length; `truncated`: the bytes of the cut frame. */
  readonly length: number;
  /** `frame-too-large`: the maximum in force. */
  readonly max: number | undefined;

  constructor(code: FrameErrorCode, message: string, length: number, max?: number) {
    super(`${code}: ${message}`);
    this.code = code;
    this.length = length;
    this.max = max;
  }
}

/** The 4-byte header for a body of `length` bytes. */
export function frameHeader(length: number): Uint8Array {
  if (!Number.isInteger(length) || length < 0 || length > MAX_HEADER_LEN) {
    throw new FrameError(
      "frame-too-large",
      `a frame body of ${length} bytes has no u32 header`,
      length,
      MAX_HEADER_LEN,
    );
  }
  const h = new Uint8Array(FRAME_HEADER_LEN);
  writeHeader(h, 0, length);
  return h;
}

/**
 * One frame (header and body) in a new array. A body over `maxFrameSize` is a
 * `frame-too-large` error rather than a frame the peer would refuse.
 */
export function encodeFrame(body: Uint8Array, maxFrameSize: number = MAX_HEADER_LEN): Uint8Array {
  if (body.length > maxFrameSize || body.length > MAX_HEADER_LEN) {
    const max = Math.min(maxFrameSize, MAX_HEADER_LEN);
    throw new FrameError(
      "frame-too-large",
      `a frame body of ${body.length} bytes exceeds the maximum of ${max}`,
      body.length,
      max,
    );
  }
  const out = new Uint8Array(FRAME_HEADER_LEN + body.length);
  writeHeader(out, 0, body.length);
  out.set(body, FRAME_HEADER_LEN);
  return out;
}

function writeHeader(b: Uint8Array, at: number, length: number): void {
  b[at] = length & 0xff;
  b[at + 1] = (length >>> 8) & 0xff;
  b[at + 2] = (length >>> 16) & 0xff;
  b[at + 3] = length >>> 24;
}

/** A partial frame's body grows from this size, so a tiny trickle of bytes costs little. */
const MIN_ASSEMBLY = 64 * 1024;

/**
 * Splits a byte stream into frame bodies, incrementally.
 *
 * Feed it with {@link FrameDecoder.push} as bytes arrive and drain it with
 * {@link FrameDecoder.next} until that returns `undefined`; at the end of the stream call
 * {@link FrameDecoder.end}, which reports a frame cut short. Each header is checked against
 * {@link FrameDecoder.maxFrameSize} *at the time the frame is reached*, so a session that
 * lowers the maximum after the handshake applies it to every later frame, as in Rust.
 *
 * Memory: pushed chunks are kept by reference until their bytes are taken; a body that lies
 * inside one chunk is returned as a view of it (no copy), so do not reuse a pushed buffer. A
 * body spread over several chunks is assembled in a buffer that grows with the bytes that
 * actually arrived (never from the header's claim), up to the body's length.
 *
 * Errors are final: once {@link FrameDecoder.next} has thrown, it throws the same
 * {@link FrameError} again and later pushes are dropped unread.
 */
export class FrameDecoder {
  private max: number;
  /** Pushed chunks not fully taken yet: `chunks[first]` from `offset` on, then the rest. */
  private chunks: Uint8Array[] = [];
  private first = 0;
  private offset = 0;
  private queued = 0;
  /** Header bytes of the next frame, when they arrive split across chunks. */
  private readonly header = new Uint8Array(FRAME_HEADER_LEN);
  private headerFill = 0;
  /** Length of the frame being assembled, or -1 between frames. */
  private bodyLength = -1;
  private body: Uint8Array | undefined;
  private bodyFill = 0;
  private failure: FrameError | undefined;

  /** @param maxFrameSize largest body accepted, in bytes (before the handshake: our own limit). */
  constructor(maxFrameSize: number) {
    this.max = checkMax(maxFrameSize);
  }

  /** Largest body accepted; lower it to the effective limit once the handshake is done. */
  get maxFrameSize(): number {
    return this.max;
  }

  set maxFrameSize(value: number) {
    this.max = checkMax(value);
  }

  /** Bytes received and not yet returned as frames (headers included). */
  get buffered(): number {
    const assembling = this.bodyLength >= 0 ? FRAME_HEADER_LEN + this.bodyFill : 0;
    return this.queued + this.headerFill + assembling;
  }

  /**
   * Adds bytes from the stream (kept by reference, not copied). Call
   * {@link FrameDecoder.next} until it returns `undefined` after every push: headers are
   * checked there, so an oversize frame is refused before any more of it is taken in.
   */
  push(chunk: Uint8Array): void {
    if (this.failure !== undefined || chunk.length === 0) return;
    this.chunks.push(chunk);
    this.queued += chunk.length;
  }

  /**
   * The next complete frame body, or `undefined` when more bytes are needed. Throws
   * {@link FrameError} `frame-too-large` for a header over the maximum.
   */
  next(): Uint8Array | undefined {
    if (this.failure !== undefined) throw this.failure;
    if (this.bodyLength < 0) {
      const length = this.takeHeader();
      if (length < 0) return undefined;
      if (length > this.max) {
        this.failure = new FrameError(
          "frame-too-large",
          `frame of ${length} bytes exceeds the maximum of ${this.max}`,
          length,
          this.max,
        );
        this.chunks = [];
        this.first = 0;
        this.offset = 0;
        this.queued = 0;
        throw this.failure;
      }
      const chunk = this.chunks[this.first];
      if (chunk !== undefined && chunk.length - this.offset >= length) {
        // The common case: the whole body is in one chunk, so hand out a view of it.
        const start = this.offset;
        this.consume(length);
        return chunk.subarray(start, start + length);
      }
      if (length === 0) return new Uint8Array(0);
      this.bodyLength = length;
      this.bodyFill = 0;
    }
    return this.fillBody();
  }

  /**
   * Marks the end of the stream. Throws {@link FrameError} `truncated` if part of a frame
   * was received (call it after {@link FrameDecoder.next} has returned `undefined`).
   */
  end(): void {
    if (this.failure !== undefined) throw this.failure;
    const buffered = this.buffered;
    if (buffered === 0) return;
    this.failure = new FrameError(
      "truncated",
      `the stream ended inside a frame (${buffered} bytes buffered)`,
      buffered,
    );
    throw this.failure;
  }

  /** Reads the next header if all of it is there: the body length, or -1. */
  private takeHeader(): number {
    const chunk = this.chunks[this.first];
    if (chunk === undefined) return -1;
    if (this.headerFill === 0 && chunk.length - this.offset >= FRAME_HEADER_LEN) {
      const p = this.offset;
      const length =
        (chunk[p]! | (chunk[p + 1]! << 8) | (chunk[p + 2]! << 16) | (chunk[p + 3]! << 24)) >>> 0;
      this.consume(FRAME_HEADER_LEN);
      return length;
    }
    // Split header: gather it byte by byte (at most 4) across chunks.
    while (this.headerFill < FRAME_HEADER_LEN) {
      const c = this.chunks[this.first];
      if (c === undefined) return -1;
      this.header[this.headerFill++] = c[this.offset]!;
      this.consume(1);
    }
    this.headerFill = 0;
    const h = this.header;
    return (h[0]! | (h[1]! << 8) | (h[2]! << 16) | (h[3]! << 24)) >>> 0;
  }

  /** Copies queued bytes into the body being assembled; returns it once complete. */
  private fillBody(): Uint8Array | undefined {
    const length = this.bodyLength;
    while (this.bodyFill < length) {
      const chunk = this.chunks[this.first];
      if (chunk === undefined) return undefined;
      const take = Math.min(length - this.bodyFill, chunk.length - this.offset);
      this.growBody(this.bodyFill + take);
      this.body!.set(chunk.subarray(this.offset, this.offset + take), this.bodyFill);
      this.bodyFill += take;
      this.consume(take);
    }
    // growBody caps the buffer at the body length, so it is exactly full now.
    const body = this.body!;
    this.body = undefined;
    this.bodyLength = -1;
    this.bodyFill = 0;
    return body;
  }

  /** Makes the assembly buffer hold at least `need` bytes, doubling, capped at the body length. */
  private growBody(need: number): void {
    const current = this.body;
    if (current !== undefined && current.length >= need) return;
    let cap = Math.max(current === undefined ? MIN_ASSEMBLY : current.length * 2, need);
    cap = Math.min(cap, this.bodyLength);
    const next = new Uint8Array(cap);
    if (current !== undefined) next.set(current.subarray(0, this.bodyFill));
    this.body = next;
  }

  /** Drops `n` bytes (all within the first chunk) from the front of the queue. */
  private consume(n: number): void {
    this.offset += n;
    this.queued -= n;
    const chunk = this.chunks[this.first]!;
    if (this.offset < chunk.length) return;
    this.offset = 0;
    this.first++;
    if (this.first === this.chunks.length) {
      this.chunks.length = 0;
      this.first = 0;
    } else if (this.first >= 1024 && this.first * 2 >= this.chunks.length) {
      // Many tiny chunks: compact now and then instead of shifting on every one.
      this.chunks.splice(0, this.first);
      this.first = 0;
    }
  }
}

function checkMax(value: number): number {
  if (!Number.isInteger(value) || value < 0 || value > MAX_HEADER_LEN) {
    throw new RangeError(`a maximum frame size is a u32, not ${value}`);
  }
  return value;
}
