/**
 * The long form of the crash harness: `npm run chaos -- [--trials N] [--seed S] [--operations N]
 * [--faults N] [--kinds runtime,tracker,nats,postgres] [--datastores redis,mariadb,postgresql] [--volumes directory|btrfs]
 * [--stop-on-failure]`. Prints one line per trial and a summary; exits 1 if any trial broke
 * an invariant, naming the seeds to replay (HOARD_CHAOS_SEED=<seed> npx vitest run test/system/chaos.test.ts,
 * or `npm run chaos -- --trials 1 --seed <seed>`).
 */
import { chmodSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { FAULT_KINDS, type FaultKind } from "./cluster.js";
import { DATASTORES, runChaos, type Datastore } from "./harness.js";
import type { VolumeDriver } from "./invariants.js";

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
}
const num = (name: string, fallback: number) => {
  const v = flag(name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) {
    console.error(`--${name} takes a whole number, not '${v}'`);
    process.exit(2);
  }
  return n;
};

function datastoresOf(text: string): Datastore[] {
  const names = text.split(",").map((k) => k.trim());
  const unknown = names.filter((k) => !(k in DATASTORES));
  if (unknown.length) {
    console.error(`--datastores takes ${Object.keys(DATASTORES).join(", ")} (comma-separated), not '${unknown.join(", ")}'`);
    process.exit(2);
  }
  return names as Datastore[];
}

function kindsOf(text: string): FaultKind[] {
  const kinds = text.split(",").map((k) => k.trim());
  const unknown = kinds.filter((k) => !(FAULT_KINDS as readonly string[]).includes(k));
  if (unknown.length) {
    console.error(`--kinds takes ${FAULT_KINDS.join(", ")} (comma-separated), not '${unknown.join(", ")}'`);
    process.exit(2);
  }
  return kinds as FaultKind[];
}

function volumeDriverOf(text: string): VolumeDriver {
  if (text !== "directory" && text !== "btrfs") {
    console.error(`--volumes takes directory or btrfs, not '${text}'`);
    process.exit(2);
  }
  return text;
}

const seedText = flag("seed") ?? process.env.HOARD_CHAOS_SEED;
const opts = {
  trials: num("trials", 300),
  operations: num("operations", 12),
  faults: num("faults", 2),
  quietTimeoutMs: num("quiet-ms", 180_000),
  stopOnFailure: process.argv.includes("--stop-on-failure"),
  ...(flag("kinds") ? { kinds: kindsOf(flag("kinds")!) } : {}),
  ...(flag("datastores") ? { datastores: datastoresOf(flag("datastores")!) } : {}),
  ...(flag("volumes") ? { volumeDriver: volumeDriverOf(flag("volumes")!) } : {}),
  ...(seedText !== undefined ? { seed: num("seed", Number(seedText)) } : {}),
};
// tmpfs like the tests: guest data folders and Postgres are much faster there.
const parent = existsSync("/dev/shm") ? "/dev/shm" : os.tmpdir();
const base = mkdtempSync(path.join(parent, "hoard-chaos-"));
chmodSync(base, 0o755);
const started = Date.now();
console.log(`crash harness: ${opts.trials} trials of ${opts.operations} operations and ${opts.faults} faults each, ${(opts.datastores ?? ["redis"]).join("/")} instances on ${opts.volumeDriver ?? "directory"} volumes, in ${base}`);
// Ctrl-C ends the run after the trial under way, so the cluster and its guests are stopped and removed.
let stop = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    console.log(`${signal}: stopping after this trial`);
    stop = true;
  });
}
const summary = await runChaos({ ...opts, base, log: (line) => console.log(line), stopRequested: () => stop });
const minutes = ((Date.now() - started) / 60_000).toFixed(1);
console.log(`\n${summary.trials.length} trials in ${minutes} min; faults injected: ${Object.entries(summary.faults).map(([k, n]) => `${k} ${n}`).join(", ")}`);
const ops: Record<string, number> = {};
for (const t of summary.trials) for (const [k, n] of Object.entries(t.operations)) ops[k] = (ops[k] ?? 0) + n;
console.log(`503 answers (each asked again, up to three times): ${summary.trials.reduce((n, t) => n + t.unavailable, 0)}`);
console.log(`operations (final answer): ${Object.entries(ops).sort().map(([k, n]) => `${k}: ${n}`).join(", ")}`);
if (summary.failedSeeds.length) {
  console.log(`FAILED seeds: ${summary.failedSeeds.join(", ")} (replay: npm run chaos -- --trials 1 --seed <seed>)`);
  console.log(`state kept for inspection in ${base}`);
  process.exit(1);
}
rmSync(base, { recursive: true, force: true });
console.log("every invariant held");
