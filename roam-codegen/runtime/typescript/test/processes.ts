/**
 * The Rust programs the cross-language tests talk to (built by `scripts/generate.mjs` before
 * the tests compile), a fresh test PKI from the `test-pki` binary, and how to open a link to a
 * `ws://`, `wss://`, `tcp://` or `tls://` URL from Node.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { createInterface } from "node:readline";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import WebSocket from "ws";

import type { Link } from "../src/link.js";
import { connectTcp } from "../src/transport-tcp.js";
import { connectTls } from "../src/transport-tls.js";
import { openWebSocket } from "../src/transport-ws.js";
import type { WebSocketConstructor } from "../src/transport-ws.js";

/** The repository root, from `build/test/` of this package. */
export const repo = fileURLToPath(new URL("../../../../../", import.meta.url));
const target = process.env["CARGO_TARGET_DIR"] ?? join(repo, "target");

/** The path of a binary cargo built in the debug profile. */
export const bin = (name: string): string => join(target, "debug", name);

/** A certificate and its private key, as PEM. */
export interface CertAndKey {
  readonly cert: Buffer;
  readonly key: Buffer;
}

/** A test PKI made at test time by the `test-pki` binary (`roam_tests::pki`), as PEM. */
export interface Pki {
  /** The directory the files were written to (a fresh one under the OS temp directory). */
  readonly dir: string;
  /** The CA that signed `server` and `client`. */
  readonly ca: Buffer;
  /** Valid for `127.0.0.1` and `localhost`. */
  readonly server: CertAndKey;
  /** Signed by `ca`; its SAN URI is {@link PKI_CLIENT_URI}. */
  readonly client: CertAndKey;
  /** A CA nobody trusts. */
  readonly rogueCa: Buffer;
  /** A client certificate signed by `rogueCa`. */
  readonly rogueClient: CertAndKey;
}

/** The SAN URI of {@link Pki.client} (`roam_tests::pki::CLIENT_URI`). */
export const PKI_CLIENT_URI = "spiffe://roam.test/client";

/**
 * Runs `test-pki` into a fresh directory and reads what it wrote: new keys on every call, so
 * no certificate or key is ever checked in.
 */
export function makePki(): Pki {
  const program = bin("test-pki");
  if (!existsSync(program)) {
    throw new Error(`${program} is missing: run node scripts/generate.mjs first`);
  }
  const dir = mkdtempSync(join(tmpdir(), "roam-pki-"));
  const run = spawnSync(program, [dir], { stdio: ["ignore", "inherit", "inherit"] });
  if (run.error !== undefined) throw new Error(`${program} did not run: ${run.error.message}`);
  if (run.status !== 0) {
    throw new Error(`${program} ${dir} failed (${String(run.status ?? run.signal)})`);
  }
  const pem = (name: string): Buffer => readFileSync(join(dir, name));
  const pair = (name: string): CertAndKey => ({
    cert: pem(`${name}.pem`),
    key: pem(`${name}-key.pem`),
  });
  return {
    dir,
    ca: pem("ca.pem"),
    server: pair("server"),
    client: pair("client"),
    rogueCa: pem("rogue-ca.pem"),
    rogueClient: pair("rogue-client"),
  };
}

/** Hang guard only: a server that does not start within this is a failure, not a slow pass. */
const START_GUARD_MS = 60_000;

/** A server process and the URL it listens on. */
export interface Server {
  readonly process: ChildProcess;
  readonly url: string;
  /** Stops it: closing stdin is its signal to drain and exit; SIGKILL covers a hang. */
  stop(): void;
}

/**
 * Starts `program` with `url` (port 0) and any further arguments (`--tls-dir DIR`, say), and
 * waits for the `listening on URL` line.
 */
export function startServer(
  program: string,
  url: string,
  args: readonly string[] = [],
): Promise<Server> {
  const child = spawn(bin(program), [url, ...args], { stdio: ["pipe", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    const guard = setTimeout(() => reject(new Error(`no server on ${url}`)), START_GUARD_MS);
    child.once("exit", (code) => reject(new Error(`the server exited (${String(code)})`)));
    const lines = createInterface({ input: child.stdout! });
    lines.on("line", (line) => {
      const found = /^listening on (\S+)/.exec(line);
      if (found?.[1] !== undefined) {
        clearTimeout(guard);
        resolve({
          process: child,
          url: found[1],
          stop: () => {
            child.stdin?.end();
            child.kill("SIGKILL");
          },
        });
      }
    });
  });
}

/** The host and port of a `tcp://host:port` or `tls://host:port` URL. */
export function hostPort(url: string): { host: string; port: number } {
  const parsed = new URL(url.replace(/^(tcp|tls):/, "http:"));
  const port = Number(parsed.port);
  assert.ok(port > 0, `a port in ${url}`);
  // An IPv6 host comes back bracketed, as in the URL.
  return { host: parsed.hostname.replace(/^\[(.*)\]$/, "$1"), port };
}

/** The port of a `tcp://host:port` URL. */
export function tcpPort(url: string): number {
  return hostPort(url).port;
}

/**
 * `ws`'s WebSocket class trusting `ca` for `wss://`. `openWebSocket` constructs its socket the
 * WHATWG way (`new WebSocket(url, protocols)`), and `ws` takes TLS options only as a third
 * argument, so a subclass adds it: what a Node application with a private CA does too.
 */
export function webSocketTrusting(ca: string | Buffer): WebSocketConstructor {
  class Trusting extends WebSocket {
    constructor(url: string, protocols?: string | string[]) {
      super(url, protocols ?? [], { ca });
    }
  }
  return Trusting as unknown as WebSocketConstructor;
}

/** Options of {@link openLink}. */
export interface LinkOptions {
  /** CA certificates (PEM) to trust for `tls://` and `wss://`, instead of Node's roots. */
  readonly ca?: string | Buffer | undefined;
}

/**
 * A link to `url`: WebSocket (with `ws`'s constructor, Node 20 has none; for `wss://`, one
 * trusting `options.ca` when given), TCP, or TLS over TCP (`tls://`, trusting `options.ca`).
 */
export function openLink(url: string, options: LinkOptions = {}): Promise<Link> {
  const { ca } = options;
  if (url.startsWith("tcp://")) return connectTcp(tcpPort(url), "127.0.0.1");
  if (url.startsWith("tls://")) {
    const { host, port } = hostPort(url);
    return connectTls(port, host, ca === undefined ? {} : { ca });
  }
  const Ctor =
    ca !== undefined && url.startsWith("wss://")
      ? webSocketTrusting(ca)
      : (WebSocket as unknown as WebSocketConstructor);
  return openWebSocket(url, { WebSocket: Ctor });
}

/** The transports every cross-language suite runs on, as URLs to bind (port 0). */
export const TRANSPORTS = [
  ["WebSocket", "ws://127.0.0.1:0"],
  ["TCP", "tcp://127.0.0.1:0"],
] as const;
