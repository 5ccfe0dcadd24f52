/**
 * TLS and credentials against the real Rust runtime: the Rust `interop-server` (its own
 * process) listens on `wss://` and on `tls://` with a certificate from a CA it makes at start
 * (written to `--tls-dir`), and admits only sessions whose `Hello` carries
 * `authorization: Bearer <--token>`. Generated TypeScript clients connect with the CA and the
 * token and call, stream and read the identity the server gave the session; a wrong or missing
 * token is refused before the session begins, and a client without the CA refuses the
 * server's certificate.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import * as roam from "../gen/kitchen/runtime/index.js";
import { createProbeClient } from "../gen/kitchen/index.js";
import { createCalculatorClient, createNumbersClient } from "../gen/calculator/index.js";
import * as calcRoam from "../gen/calculator/runtime/index.js";
import { TlsConnectError } from "../src/transport-tls.js";
import { openLink, startServer } from "./processes.js";
import type { Server } from "./processes.js";

const TOKEN = "the-token-of-the-tls-auth-test";
const CREDENTIALS = { authorization: `Bearer ${TOKEN}` };

/** Items streamed from the server: enough to span many TLS records. */
const STREAMED = 10_000n;

/**
 * What OpenSSL calls a chain that ends at no CA the client trusts: the first when the server
 * sends its certificate alone, the second when it sends its CA along.
 */
const UNTRUSTED: readonly unknown[] = [
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "SELF_SIGNED_CERT_IN_CHAIN",
];

/** The transports with TLS, as URLs to bind (port 0). */
const SECURE = [
  ["WebSocket over TLS", "wss://127.0.0.1:0"],
  ["TLS over TCP", "tls://127.0.0.1:0"],
] as const;

/** What `p` rejected with; fails the test if it resolved. */
async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  assert.fail("expected a rejection");
}

function suite(name: string, bindUrl: string) {
  describe(`TLS and a bearer token against the Rust server over ${name}`, () => {
    let server: Server | undefined;
    let dir: string | undefined;
    let ca: Buffer;

    before(async () => {
      // A directory of its own per server: the CA of one run is never read by another.
      dir = mkdtempSync(join(tmpdir(), "roam-tls-auth-"));
      server = await startServer("interop-server", bindUrl, ["--tls-dir", dir, "--token", TOKEN]);
      // Written before the server says it is listening.
      ca = readFileSync(join(dir, "ca.pem"));
    });

    after(() => {
      server?.stop();
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    });

    test("with the CA and the token: a call, a stream and the session's identity", async () => {
      const url = server!.url;
      const calcConn = await calcRoam.connect(await openLink(url, { ca }), {
        metadata: CREDENTIALS,
      });
      const conn = await roam.connect(await openLink(url, { ca }), { metadata: CREDENTIALS });
      try {
        assert.equal(await createCalculatorClient(calcConn).add(2, 40), 42);
        const [tx, rx] = calcRoam.channel<bigint>();
        const call = createNumbersClient(calcConn).count(STREAMED, tx);
        let expected = 0n;
        for await (const n of rx) {
          if (n !== expected) assert.equal(n, expected);
          expected++;
        }
        assert.equal(expected, STREAMED);
        await call;
        // The name the server's authenticator gave the token, as the handler sees it.
        assert.equal(await createProbeClient(conn).identity(), "token-holder");
      } finally {
        await conn.close();
        await calcConn.close();
      }
    });

    for (const [what, metadata] of [
      ["a wrong token", { authorization: "Bearer not-the-token" }],
      ["a token without its scheme", { authorization: TOKEN }],
      ["no token", undefined],
    ] as const) {
      test(`${what}: the server refuses the session before it begins`, async () => {
        const link = await openLink(server!.url, { ca });
        const e = await rejection(roam.connect(link, { metadata }));
        assert.ok(roam.RoamError.is(e), String(e));
        assert.equal(e.code, "handshake_failed", e.message);
        const why = e.sessionError;
        assert.ok(why?.kind === "refused", JSON.stringify(why));
        assert.equal(why.by, "authentication");
        assert.match(why.reason, /bearer token/);
        assert.match(e.message, /^the server refused the session \(unauthenticated\): /);
      });
    }

    test("without the CA, this side refuses the server's certificate", async () => {
      const e = await rejection(openLink(server!.url));
      if (bindUrl.startsWith("tls:")) {
        assert.ok(TlsConnectError.is(e), String(e));
        assert.equal(e.certificate, true);
        assert.ok(UNTRUSTED.includes(e.code), e.code);
        assert.match(e.message, /`ca`/);
      } else {
        // `ws` reports Node's TLS error, which openWebSocket keeps as the cause.
        assert.ok(e instanceof Error, String(e));
        const code = (e.cause as { code?: unknown } | undefined)?.code;
        assert.ok(UNTRUSTED.includes(code), `${String(code)}: ${e.message}`);
      }
    });
  });
}

for (const [name, url] of SECURE) suite(name, url);
