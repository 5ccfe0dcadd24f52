/**
 * The TCP link for Node (and runtimes with `node:net`): frames with a 4-byte little-endian
 * length prefix, split by {@link FrameDecoder}. With `transport-tls.ts`, which runs this link
 * over a `TLSSocket`, the only runtime modules that import Node built-ins, kept apart so that
 * browser bundles never see `node:net`.
 *
 * @example
 * ```ts
 * const conn = await connect(await connectTcp(9000, "127.0.0.1"));
 * ```
 *
 * @module
 */

import { createConnection } from "node:net";
import type { Socket } from "node:net";

import { dial } from "./driver.js";
import type { Connection, DialOptions } from "./driver.js";
import { violation } from "./errors.js";
import { FrameDecoder, FrameError, frameHeader } from "./framing.js";
import { LinkInbox } from "./link.js";
import type { Link, LinkReceiver } from "./link.js";

/**
 * How long a closing socket may take to write its last bytes before it is destroyed (the
 * session's close linger by default): a peer that stops reading cannot hold it open.
 */
export const TCP_CLOSE_TIMEOUT_MS = 2_000;

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** The {@link Link} over a connected socket. */
class TcpLink implements Link {
  private readonly socket: Socket;
  private readonly inbox = new LinkInbox();
  private readonly decoder = new FrameDecoder(0xffffffff);
  private closing = false;

  constructor(socket: Socket) {
    this.socket = socket;
    // Frames are small and latency-bound; Nagle would hold a lone answer back.
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("end", () => this.onEnd());
    socket.on("error", (e) => this.inbox.end({ detail: describe(e) }));
    socket.on("close", () => this.inbox.end({ detail: "the peer closed the connection" }));
  }

  get maxFrameSize(): number {
    return this.decoder.maxFrameSize;
  }

  set maxFrameSize(value: number) {
    this.decoder.maxFrameSize = Math.min(value, 0xffffffff);
  }

  get bufferedAmount(): number {
    return this.socket.writableLength;
  }

  start(receiver: LinkReceiver): void {
    this.inbox.start(receiver);
  }

  private onData(chunk: Buffer): void {
    if (this.inbox.isEnded) return;
    // Node hands each read a fresh buffer, so the decoder may keep views of it.
    this.decoder.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    try {
      for (let f = this.decoder.next(); f !== undefined; f = this.decoder.next()) {
        if (!this.inbox.frame(f)) return;
      }
    } catch (e) {
      this.onFrameError(e);
    }
  }

  private onEnd(): void {
    try {
      this.decoder.end();
      this.inbox.end({ detail: "the peer closed the connection" });
    } catch (e) {
      this.onFrameError(e);
    }
  }

  private onFrameError(e: unknown): void {
    if (e instanceof FrameError && e.code === "frame-too-large") {
      const v = violation.frameTooLarge(e.length, e.max ?? this.decoder.maxFrameSize);
      this.inbox.end({ detail: v.detail, violation: v });
    } else if (e instanceof FrameError) {
      const v = violation.malformedMessage(
        `the link ended inside a frame (${e.length} bytes buffered)`,
      );
      this.inbox.end({ detail: v.detail, violation: v });
    } else {
      this.inbox.end({ detail: describe(e) });
    }
    this.socket.pause();
  }

  send(frame: Uint8Array): void {
    if (this.socket.destroyed || !this.socket.writable) return;
    // Corked so header and body leave in one write.
    this.socket.cork();
    this.socket.write(frameHeader(frame.length));
    this.socket.write(frame);
    this.socket.uncork();
  }

  close(): void {
    if (this.socket.destroyed || this.closing) return;
    this.closing = true;
    // FIN after the queued bytes; the socket is destroyed once they are written, so a peer
    // that never closes its side cannot keep it open, nor one that never reads.
    const giveUp = setTimeout(() => this.socket.destroy(), TCP_CLOSE_TIMEOUT_MS);
    giveUp.unref();
    this.socket.end(() => {
      clearTimeout(giveUp);
      this.socket.destroy();
    });
  }
}

/**
 * A link over an already-connected socket: one a `net.Server` accepted, say, or a `TLSSocket`
 * once its handshake is done (a `tls.Server`'s `secureConnection`), framed the same way.
 */
export function tcpLink(socket: Socket): Link {
  return new TcpLink(socket);
}

/** Connects to `host:port` and resolves with the link once the socket is connected. */
export function connectTcp(port: number, host = "127.0.0.1"): Promise<Link> {
  return new Promise<Link>((resolve, reject) => {
    const socket = createConnection({ port, host });
    const onError = (e: Error) => reject(e);
    socket.once("error", onError);
    socket.once("connect", () => {
      socket.off("error", onError);
      resolve(new TcpLink(socket));
    });
  });
}

/**
 * Connects over TCP to `host:port` and keeps the connection going: {@link dial} with links from
 * {@link connectTcp}. A lost link is replaced and the session resumed; see {@link dial} for
 * what happens when it cannot be.
 */
export function dialTcp(
  port: number,
  host = "127.0.0.1",
  options: DialOptions = {},
): Promise<Connection> {
  return dial(() => connectTcp(port, host), options);
}
