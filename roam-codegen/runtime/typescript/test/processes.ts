/**
 * The Rust programs the cross-language tests talk to (built by `scripts/generate.mjs` before
 * the tests compile), and how to open a link to a `ws://` or `tcp://` URL from Node.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import WebSocket from "ws";

import type { Link } from "../src/link.js";
import { connectTcp } from "../src/transport-tcp.js";
import { openWebSocket } from "../src/transport-ws.js";
import type { WebSocketConstructor } from "../src/transport-ws.js";

/** The repository root, from `build/test/` of this package. */
export const repo = fileURLToPath(new URL("../../../../../", import.meta.url));
const target = process.env["CARGO_TARGET_DIR"] ?? join(repo, "target");

/** The path of a binary cargo built in the debug profile. */
export const bin = (name: string): string => join(target, "debug", name);

/** Hang guard only: a server that does not start within this is a failure, not a slow pass. */
const START_GUARD_MS = 60_000;

/** A server process and the URL it listens on. */
export interface Server {
  readonly process: ChildProcess;
  readonly url: string;
  /** Stops it: closing stdin is its signal to drain and exit; SIGKILL covers a hang. */
  stop(): void;
}

/** Starts `program` with `url` (port 0) and waits for the `listening on URL` line. */
export function startServer(program: string, url: string): Promise<Server> {
  const child = spawn(bin(program), [url], { stdio: ["pipe", "pipe", "inherit"] });
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

/** The port of a `tcp://host:port` URL. */
export function tcpPort(url: string): number {
  const port = Number(new URL(url.replace(/^tcp:/, "http:")).port);
  assert.ok(port > 0, `a port in ${url}`);
  return port;
}

/** A link to `url`: WebSocket (with `ws`'s constructor, Node 20 has none) or TCP. */
export function openLink(url: string): Promise<Link> {
  if (url.startsWith("tcp://")) return connectTcp(tcpPort(url), "127.0.0.1");
  return openWebSocket(url, { WebSocket: WebSocket as unknown as WebSocketConstructor });
}

/** The transports every cross-language suite runs on, as URLs to bind (port 0). */
export const TRANSPORTS = [
  ["WebSocket", "ws://127.0.0.1:0"],
  ["TCP", "tcp://127.0.0.1:0"],
] as const;
