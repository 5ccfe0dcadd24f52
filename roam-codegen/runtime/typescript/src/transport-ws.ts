/**
 * The WebSocket link: one frame body per binary message, no length prefix. Works with the
 * browser's `WebSocket` and, in Node (20 has no global one), with a constructor the caller
 * injects, such as the `ws` package's. Coded against the WHATWG surface only (`binaryType`,
 * `onmessage`, `send`, `close`), so no Node built-in is imported here.
 *
 * A text message is a protocol violation (`malformed-message`), and every message is checked
 * against the frame limit as it arrives (`frame-too-large`); either ends the session with a
 * `Goodbye` naming the rule.
 *
 * @example
 * ```ts
 * // Browsers and Node 22 have a global WebSocket; on Node 20 pass the `ws` package's class.
 * const link = await openWebSocket("ws://127.0.0.1:9000/", { WebSocket: WsWebSocket });
 * const conn = await connect(link);
 * ```
 *
 * @module
 */

import { dial } from "./driver.js";
import type { Connection, DialOptions } from "./driver.js";
import { violation } from "./errors.js";
import { LinkInbox } from "./link.js";
import type { Link, LinkReceiver } from "./link.js";

/**
 * A handler slot typed with method syntax, so that sockets whose event types are richer than
 * the few fields read here (the DOM's, `ws`'s) are still accepted.
 */
type Slot<E> = { bivariant(event: E): void }["bivariant"] | null;

/** The part of the WHATWG `WebSocket` this module uses. */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  readonly bufferedAmount: number;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
  onopen: Slot<unknown>;
  onmessage: Slot<{ readonly data: unknown }>;
  onclose: Slot<{ readonly code?: number; readonly reason?: string }>;
  onerror: Slot<unknown>;
}

/** A `WebSocket` constructor: the global one, or `ws`'s. */
export type WebSocketConstructor = abstract new (
  url: string,
  protocols?: string | string[],
) => object;

/** Options of {@link openWebSocket}. */
export interface WebSocketOptions {
  /** The constructor to use; defaults to `globalThis.WebSocket`. */
  WebSocket?: WebSocketConstructor | undefined;
  /** Subprotocols to offer. */
  protocols?: string | string[] | undefined;
}

function reasonText(reason: string | undefined): string {
  return reason === undefined || reason === "" ? "" : `: ${reason}`;
}

const OPEN = 1;
const CLOSING = 2;
/** The close code for a normal end (RFC 6455 §7.4.1). */
const NORMAL_CLOSURE = 1000;

/** The {@link Link} over an open WebSocket. */
class WebSocketLink implements Link {
  private readonly socket: WebSocketLike;
  private readonly inbox = new LinkInbox();
  maxFrameSize = Number.MAX_SAFE_INTEGER;

  constructor(socket: WebSocketLike) {
    this.socket = socket;
    // The browser default is "blob" (asynchronous to read) and ws's is "nodebuffer".
    socket.binaryType = "arraybuffer";
    socket.onmessage = (ev) => this.onMessage(ev.data);
    socket.onclose = (ev) =>
      this.inbox.end({
        detail: `the WebSocket closed (code ${ev.code ?? "none"}${reasonText(ev.reason)})`,
      });
    // An error is followed by a close event, which carries the end; nothing to add here.
    socket.onerror = () => {};
  }

  get bufferedAmount(): number {
    return this.socket.bufferedAmount;
  }

  start(receiver: LinkReceiver): void {
    this.inbox.start(receiver);
  }

  private onMessage(data: unknown): void {
    if (this.inbox.isEnded) return;
    let body: Uint8Array;
    if (data instanceof ArrayBuffer) body = new Uint8Array(data);
    else if (ArrayBuffer.isView(data)) {
      body = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    } else {
      const what =
        typeof data === "string"
          ? "a text WebSocket message"
          : "a WebSocket message that is not binary";
      return this.violate(violation.malformedMessage(`${what}; roam frames are binary messages`));
    }
    if (body.length > this.maxFrameSize) {
      return this.violate(violation.frameTooLarge(body.length, this.maxFrameSize));
    }
    this.inbox.frame(body);
  }

  private violate(v: ReturnType<typeof violation.malformedMessage>): void {
    // Reported as the link's end, so the session writes its Goodbye and then closes.
    this.inbox.end({ detail: v.detail, violation: v });
  }

  send(frame: Uint8Array): void {
    if (this.socket.readyState !== OPEN) return;
    try {
      this.socket.send(frame);
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      this.inbox.end({ detail: `WebSocket send failed: ${why}` });
    }
  }

  close(): void {
    if (this.socket.readyState >= CLOSING) return;
    try {
      // Buffered messages are sent before the close frame.
      this.socket.close(NORMAL_CLOSURE, "");
    } catch {
      // Already closing.
    }
  }
}

/**
 * A link over an already-open WebSocket (a server's accepted socket, or one opened by the
 * application). Its handler slots are taken over.
 */
export function webSocketLink(socket: WebSocketLike): Link {
  return new WebSocketLink(socket);
}

/**
 * Opens a WebSocket to `url` and resolves with its link once it is open. Throws a
 * `TypeError` when there is no `WebSocket` (Node 20 without a flag): pass `ws`'s as
 * `options.WebSocket`. A socket that closes unopened rejects with an `Error` whose `cause` is
 * the error the implementation reported, where it reports one: `ws` gives Node's (a refused
 * `wss://` certificate has its OpenSSL `code`, `UNABLE_TO_VERIFY_LEAF_SIGNATURE` say), while
 * browsers say nothing about why, by design.
 */
export function openWebSocket(url: string, options: WebSocketOptions = {}): Promise<Link> {
  const Ctor =
    options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (Ctor === undefined) {
    return Promise.reject(
      new TypeError(
        "no global WebSocket here (Node 20?): pass one, e.g. " +
          "openWebSocket(url, { WebSocket }) with the WebSocket class of the ws package",
      ),
    );
  }
  return new Promise<Link>((resolve, reject) => {
    let socket: WebSocketLike;
    try {
      type Concrete = new (url: string, protocols?: string | string[]) => WebSocketLike;
      const Concrete = Ctor as unknown as Concrete;
      socket =
        options.protocols === undefined ? new Concrete(url) : new Concrete(url, options.protocols);
    } catch (e) {
      reject(e);
      return;
    }
    socket.binaryType = "arraybuffer";
    let failure: Error | undefined;
    socket.onopen = () => resolve(new WebSocketLink(socket));
    // `ws` hands over the underlying error as the event's `error`; the WHATWG event has none.
    socket.onerror = (ev) => {
      const error = (ev as { error?: unknown } | null)?.error;
      if (failure === undefined && error instanceof Error) failure = error;
    };
    socket.onclose = (ev) => {
      const why = failure === undefined ? "" : `: ${failure.message}`;
      const text = `the WebSocket to ${url} closed unopened (code ${ev.code ?? "none"})${why}`;
      reject(failure === undefined ? new Error(text) : new Error(text, { cause: failure }));
    };
  });
}

/** Options of {@link dialWebSocket}: how to open each WebSocket, and {@link DialOptions}. */
export interface DialWebSocketOptions extends WebSocketOptions, DialOptions {}

/**
 * Connects over WebSockets to `url` and keeps the connection going: {@link dial} with links
 * from {@link openWebSocket} (the same URL, constructor and subprotocols each time). A lost
 * link is replaced and the session resumed; see {@link dial} for what happens when it cannot
 * be.
 *
 * @example
 * ```ts
 * const conn = await dialWebSocket("wss://api.example.com/roam", {
 *   metadata: { authorization: `Bearer ${token}` },
 * });
 * conn.onStateChange(({ state }) => console.log("roam:", state));
 * ```
 */
export function dialWebSocket(
  url: string,
  options: DialWebSocketOptions = {},
): Promise<Connection> {
  const { WebSocket, protocols, ...rest } = options;
  return dial(() => openWebSocket(url, { WebSocket, protocols }), rest);
}
