/**
 * The TLS link for Node (`tls://host:port`): roam's TCP framing (`transport-tcp.ts`) inside a
 * `node:tls` connection. A `TLSSocket` is a `net.Socket`, so once the TLS handshake is done the
 * link is the TCP one; this module only sets the handshake up and says what went wrong with
 * it. Node-only like the TCP link, and kept out of what browsers load (a page reaches a roam
 * server over `wss://` instead, with `openWebSocket`).
 *
 * @example
 * ```ts
 * // A server whose certificate a private CA issued: trust that CA for this connection.
 * const link = await connectTls(9443, "roam.internal", { ca: readFileSync("ca.pem") });
 * const conn = await connect(link, { metadata: { authorization: `Bearer ${token}` } });
 * ```
 *
 * @module
 */

import { isIP } from "node:net";
import { connect as tlsConnect } from "node:tls";
import type { ConnectionOptions, TLSSocket } from "node:tls";

import { dial } from "./driver.js";
import type { Connection, DialOptions } from "./driver.js";
import { formatDuration } from "./errors.js";
import type { Link } from "./link.js";
import { tcpLink } from "./transport-tcp.js";

/**
 * How long {@link connectTls} waits for the TCP connection and the TLS handshake by default:
 * 10 s, the session's handshake timeout, which only starts once there is a link.
 */
export const TLS_CONNECT_TIMEOUT_MS = 10_000;

/** setTimeout's delay is a 32-bit signed count of ms; beyond it fires at once. */
const MAX_TIMER_DELAY = 0x7fffffff;

/**
 * How {@link connectTls} sets TLS up. `ca`, `cert`, `key` and `servername` are passed to
 * `tls.connect` as they are; `timeoutMs` and `signal` bound the wait.
 */
export interface TlsConnectOptions {
  /**
   * The CA certificates to trust (PEM), instead of Node's bundled roots: pass the server's CA
   * when a private one issued its certificate. Without it, a public CA's certificate (or one
   * from `NODE_EXTRA_CA_CERTS`) is needed.
   */
  ca?: ConnectionOptions["ca"];
  /** Our certificate chain (PEM), for a server that asks for client certificates. */
  cert?: ConnectionOptions["cert"];
  /** The private key of {@link TlsConnectOptions.cert} (PEM). */
  key?: ConnectionOptions["key"];
  /**
   * The name sent as SNI and checked against the server's certificate. Defaults to the host
   * when it is a name; for an IP address none is sent (SNI carries no addresses) and the
   * certificate must name the address itself.
   */
  servername?: string | undefined;
  /**
   * How long the TCP connection and the TLS handshake together may take
   * ({@link TLS_CONNECT_TIMEOUT_MS} by default; `Infinity` waits as long as the OS does). A
   * server that accepts the connection and never answers would otherwise hold the attempt
   * open for ever: then the socket is destroyed and the attempt rejects with `ETIMEDOUT`.
   */
  timeoutMs?: number | undefined;
  /** Aborting gives the attempt up: the socket is destroyed and it rejects with `ABORT_ERR`. */
  signal?: AbortSignal | undefined;
}

const BRAND = Symbol.for("roam.TlsConnectError");

/**
 * The TLS handshake of {@link connectTls} failed (the server's certificate was refused, or the
 * peer does not speak TLS) or was given up (it took longer than `timeoutMs`, or the signal
 * aborted). Check with {@link TlsConnectError.is} rather than `instanceof`, which breaks when
 * two copies of the runtime are loaded.
 */
export class TlsConnectError extends Error {
  override readonly name = "TlsConnectError";
  /**
   * Node's code for what failed: OpenSSL's name for a refused certificate
   * (`UNABLE_TO_VERIFY_LEAF_SIGNATURE`, `SELF_SIGNED_CERT_IN_CHAIN`,
   * `DEPTH_ZERO_SELF_SIGNED_CERT`, `CERT_HAS_EXPIRED`, …), `ERR_TLS_CERT_ALTNAME_INVALID` for a
   * certificate that does not name the server, an `ERR_SSL_…` code for a failed handshake;
   * `ETIMEDOUT` when the attempt took longer than `timeoutMs`, `ABORT_ERR` when its signal
   * aborted.
   */
  readonly code: string;
  /**
   * Whether the server's certificate was refused (rather than the handshake failing or being
   * given up).
   */
  readonly certificate: boolean;
  /**
   * Whether another attempt may succeed: not when the certificate was refused (it will be
   * again). {@link dialTls} stops trying at such an error.
   */
  readonly retryable: boolean;

  constructor(code: string, certificate: boolean, message: string, options: { cause?: unknown }) {
    super(message, { cause: options.cause });
    this.code = code;
    this.certificate = certificate;
    this.retryable = !certificate;
    (this as Record<symbol, unknown>)[BRAND] = true;
  }

  /** Whether `e` is a {@link TlsConnectError} from any copy of the runtime. */
  static is(e: unknown): e is TlsConnectError {
    return typeof e === "object" && e !== null && (e as Record<symbol, unknown>)[BRAND] === true;
  }
}

/** OpenSSL's codes for a chain that ends at no CA this side trusts. */
const UNTRUSTED = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "CERT_UNTRUSTED",
]);

/** What to do about a refused certificate, by its code. */
function certificateAdvice(code: string, name: string): string {
  if (UNTRUSTED.has(code)) {
    return (
      "it is not issued by a CA this client trusts: pass the server's CA certificate (PEM) as " +
      "`ca`, or add it to NODE_EXTRA_CA_CERTS"
    );
  }
  if (code === "ERR_TLS_CERT_ALTNAME_INVALID") {
    return (
      `it does not name ${name}: connect with a name the certificate was issued for, or pass ` +
      "that name as `servername`"
    );
  }
  if (code === "CERT_HAS_EXPIRED" || code === "CERT_NOT_YET_VALID") {
    return "it is outside its validity period: renew it, or check this machine's clock";
  }
  return "check the server's certificate and the `ca` given to this client";
}

/** The error for a TLS handshake that failed after the TCP connection was made. */
function handshakeError(e: Error, socket: TLSSocket, where: string, name: string): TlsConnectError {
  // Set by Node when it refused the certificate; `null` when the handshake failed otherwise.
  const refused: unknown = socket.authorizationError;
  const nodeCode = (e as { code?: unknown }).code;
  if (typeof refused === "string" && refused !== "") {
    const code = typeof nodeCode === "string" ? nodeCode : refused;
    const advice = certificateAdvice(code, name);
    return new TlsConnectError(
      code,
      true,
      `the TLS certificate of ${where} was refused (${code}: ${e.message}); ${advice}`,
      { cause: e },
    );
  }
  const code = typeof nodeCode === "string" ? nodeCode : "ERR_TLS_HANDSHAKE";
  return new TlsConnectError(
    code,
    false,
    `the TLS handshake with ${where} failed (${code}: ${e.message}); check that the server ` +
      "speaks TLS on this port (tls://, not tcp://)",
    { cause: e },
  );
}

/** The error for an attempt that took longer than `ms`: how far it got says where to look. */
function timeoutError(where: string, ms: number, connected: boolean): TlsConnectError {
  const after = formatDuration(ms);
  const message = connected
    ? `the TLS handshake with ${where} did not finish within ${after}; check that the ` +
      "server speaks TLS on this port (tls://, not tcp://), or give it a longer `timeoutMs`"
    : `no TCP connection to ${where} within ${after}; check the address and that the server ` +
      "is reachable, or give it a longer `timeoutMs`";
  return new TlsConnectError("ETIMEDOUT", false, message, {});
}

/**
 * Connects to `host:port` over TLS and resolves with the link once the handshake is done and
 * the server's certificate is accepted. Rejects with a {@link TlsConnectError} when the
 * handshake fails (a certificate this side does not trust, one that names another server, a
 * peer that is not a TLS server) or is given up (`ETIMEDOUT` after `timeoutMs`, `ABORT_ERR`
 * when `signal` aborts; the socket is destroyed), with Node's own error when the TCP
 * connection cannot be made (`ECONNREFUSED`, …), as `connectTcp` does, and with a
 * `RangeError` for a `timeoutMs` that is negative or not a number.
 */
export function connectTls(
  port: number,
  host = "127.0.0.1",
  options: TlsConnectOptions = {},
): Promise<Link> {
  const { timeoutMs = TLS_CONNECT_TIMEOUT_MS, signal } = options;
  if (typeof timeoutMs !== "number" || !(timeoutMs >= 0)) {
    return Promise.reject(
      new RangeError(`timeoutMs must be a number of ms from 0 to Infinity, not ${timeoutMs}`),
    );
  }
  const servername = options.servername ?? (isIP(host) === 0 ? host : undefined);
  const where = `${host}:${port}`;
  if (signal?.aborted === true) {
    return Promise.reject(
      new TlsConnectError("ABORT_ERR", false, `connecting to ${where} over TLS was aborted`, {
        cause: signal.reason,
      }),
    );
  }
  const settings: ConnectionOptions = { port, host };
  if (options.ca !== undefined) settings.ca = options.ca;
  if (options.cert !== undefined) settings.cert = options.cert;
  if (options.key !== undefined) settings.key = options.key;
  if (servername !== undefined) settings.servername = servername;
  return new Promise<Link>((resolve, reject) => {
    const socket = tlsConnect(settings);
    let connected = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    // Whatever ends the attempt first stops the others from acting on the socket, which
    // belongs to the link once the handshake is done.
    const settled = () => {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      signal?.removeEventListener("abort", onAbort);
    };
    const giveUp = (e: TlsConnectError) => {
      settled();
      socket.off("error", onError);
      // A socket destroyed without an error emits none; one still in flight has nowhere to go.
      socket.on("error", () => {});
      socket.destroy();
      reject(e);
    };
    const onAbort = () =>
      giveUp(
        new TlsConnectError("ABORT_ERR", false, `connecting to ${where} over TLS was aborted`, {
          cause: signal?.reason,
        }),
      );
    const onError = (e: Error) => {
      settled();
      reject(connected ? handshakeError(e, socket, where, servername ?? host) : e);
    };
    socket.once("connect", () => (connected = true));
    socket.once("error", onError);
    socket.once("secureConnect", () => {
      settled();
      socket.off("error", onError);
      resolve(tcpLink(socket));
    });
    if (Number.isFinite(timeoutMs)) {
      timer = setTimeout(
        () => giveUp(timeoutError(where, timeoutMs, connected)),
        Math.min(timeoutMs, MAX_TIMER_DELAY),
      );
    }
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** Options of {@link dialTls}: how to make each TLS connection, and {@link DialOptions}. */
export interface DialTlsOptions extends Omit<TlsConnectOptions, "signal">, DialOptions {}

/**
 * Connects over TLS to `host:port` and keeps the connection going: {@link dial} with links from
 * {@link connectTls}, each made with the same TLS options (CA, client certificate, server
 * name). A lost link is replaced and the session resumed; see {@link dial} for what happens
 * when it cannot be. A certificate the client refuses would be refused on every attempt, so
 * that {@link TlsConnectError} (`retryable: false`) ends the attempts at once.
 */
export function dialTls(
  port: number,
  host = "127.0.0.1",
  options: DialTlsOptions = {},
): Promise<Connection> {
  const { ca, cert, key, servername, timeoutMs, ...rest } = options;
  const tls: TlsConnectOptions = { ca, cert, key, servername, timeoutMs };
  return dial((signal) => connectTls(port, host, { ...tls, signal }), rest);
}
