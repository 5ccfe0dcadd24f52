// Builds the Rust programs the TypeScript tests talk to and writes the generated bindings the
// tests import, with the real CLI: `roam gen typescript` on the calculator example and on the
// kitchen sink (every type shape roam accepts, plus the Probe service), into gen/ (ignored by
// git; rewritten on every run, so the tests always exercise what the CLI emits now).
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const repo = fileURLToPath(new URL("../../../../", import.meta.url));
const here = fileURLToPath(new URL("../", import.meta.url));
const target = process.env.CARGO_TARGET_DIR ?? join(repo, "target");

function run(cmd, args, cwd) {
  const r = spawnSync(cmd, args, { cwd, stdio: "inherit" });
  if (r.status !== 0) {
    console.error(`${cmd} ${args.join(" ")} failed (${r.status ?? r.signal})`);
    process.exit(1);
  }
}

run(
  "cargo",
  [
    "build",
    "--quiet",
    "-p", "roam-cli",
    "-p", "roam-examples", "--bin", "calculator-server",
    "-p", "roam-tests", "--bin", "interop-server", "--bin", "interop-client", "--bin", "test-pki",
    "--bin", "roam",
  ],
  repo,
);

const roam = join(target, "debug", "roam");
const bindings = {
  calculator: ["examples/src/lib.rs", "examples/src/numbers.rs"],
  kitchen: [
    "roam-codegen/tests/kitchen_sink/types.rs",
    "roam-codegen/tests/kitchen_sink/service.rs",
    "tests/src/kitchen.rs",
  ],
};
for (const [name, sources] of Object.entries(bindings)) {
  // Paths relative to the repository, so the generated headers do not depend on the checkout.
  run(roam, ["gen", "typescript", "--out", join(here, "gen", name), ...sources], repo);
}
