#!/usr/bin/env node
/**
 * `node bin/launch.mjs <start|test|bench|chaos> [args…]`: what `npm start`, `npm test`, `npm run bench` and
 * `npm run chaos` run.
 * Plain JavaScript on purpose: it runs before node_modules (and so tsx) exists, installs the npm dependencies
 * when they are missing or stale, then hands over to the TypeScript entry points.
 */
import { spawn } from "node:child_process";
import { readFileSync, rmSync, statSync } from "node:fs";
import { constants } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { HOARD_NODE_FLAGS } from "./node-flags.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const REPORT = ".vitest-report.json";

/** Runs a command in the repo root with our terminal, forwarding SIGINT/SIGTERM; resolves to its exit code. */
function run(cmd, args) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: root, stdio: "inherit" });
    // A terminal Ctrl-C reaches the child directly too; forwarding covers signals sent to us alone (kill, CI).
    const forward = (signal) => child.kill(signal);
    process.on("SIGINT", forward);
    process.on("SIGTERM", forward);
    child.on("error", (e) => {
      console.error(`could not run ${cmd}: ${e.message}`);
      resolve(127);
    });
    child.on("exit", (code, signal) => {
      process.off("SIGINT", forward);
      process.off("SIGTERM", forward);
      // The shell convention for "killed by a signal".
      resolve(code ?? 128 + (constants.signals[signal] ?? 0));
    });
  });
}

function mtime(file) {
  try {
    return statSync(path.join(root, file)).mtimeMs;
  } catch {
    return null;
  }
}

/** npm writes node_modules/.package-lock.json on every install, so it dates the installed tree. */
async function ensureNodeModules() {
  const installed = mtime("node_modules/.package-lock.json");
  const lock = mtime("package-lock.json");
  const manifest = mtime("package.json");
  const stale = installed === null || (lock !== null && lock > installed) || (manifest !== null && manifest > installed);
  if (!stale) return;
  const command = lock !== null ? "ci" : "install";
  console.log(`Installing npm dependencies (npm ${command}): node_modules is ${installed === null ? "missing" : "older than package.json or package-lock.json"}`);
  const code = await run("npm", [command]);
  if (code !== 0) {
    console.error(`npm ${command} failed (exit ${code})`);
    process.exit(code);
  }
}

async function ensurePackages(purpose) {
  const code = await run(process.execPath, ["--import", "tsx", "bootstrap/ensure.ts", purpose]);
  if (code !== 0) process.exit(code);
}

/** The final summary line from vitest's JSON report, or null when there is no readable report. */
function summary() {
  let report;
  try {
    report = JSON.parse(readFileSync(path.join(root, REPORT), "utf8"));
  } catch {
    return null;
  }
  const skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
  // A file that fails to load fails no test, so say so apart from the count.
  const brokenFiles = (report.testResults ?? []).filter((f) => f.status === "failed" && !(f.assertionResults ?? []).some((t) => t.status === "failed"));
  const lines = brokenFiles.map((f) => `${path.relative(root, f.name)} failed to run: ${(f.message ?? "").split("\n")[0]}`);
  lines.push(`${report.numPassedTests ?? 0} passed, ${report.numFailedTests ?? 0} failed${skipped ? `, ${skipped} skipped` : ""}`);
  return lines.join("\n");
}

async function test(args) {
  await ensurePackages("test");
  rmSync(path.join(root, REPORT), { force: true }); // so a crashed run cannot report the previous run's numbers
  const code = await run("npx", ["vitest", "run", "--reporter=default", "--reporter=json", `--outputFile=${REPORT}`, ...args]);
  const line = summary();
  if (line === null) {
    console.log(`no test report (${REPORT}) was written; vitest exited with ${code}`);
    return code === 0 ? 1 : code;
  }
  console.log(line);
  return code;
}

const [command, ...args] = process.argv.slice(2);
if (!["start", "test", "bench", "chaos"].includes(command ?? "")) {
  console.error("usage: node bin/launch.mjs <start|test|bench|chaos> [args…]");
  process.exit(2);
}

await ensureNodeModules();
if (command === "start") {
  process.exit(await run(process.execPath, [...HOARD_NODE_FLAGS, "--import", "tsx", "bin/hoard.ts", "start", ...args]));
} else if (command === "test") {
  process.exit(await test(args));
} else if (command === "chaos") {
  // The crash harness's long form: `npm run chaos -- --trials 300 [--seed N]` (see test/system/chaos/run.ts).
  await ensurePackages("test");
  process.exit(await run(process.execPath, ["--import", "tsx", "test/system/chaos/run.ts", ...args]));
} else {
  await ensurePackages("server");
  // `npm run bench` measures instance creation; `-- pipeline` the event pipeline; `-- netns` the netns network driver; `-- backup` backups;
  // `-- security` a create against the tree before the security work; `-- tls` a TLS connection to a guest against plaintext.
  const [which, ...rest] = ["pipeline", "netns", "backup", "security", "tls"].includes(args[0] ?? "") ? args : ["run", ...args];
  process.exit(await run(process.execPath, ["--import", "tsx", `bench/${which}.ts`, ...rest]));
}
