/**
 * `npm run bench -- security [--baseline <git revision>]`: what the security work costs a create.
 *
 *   baseline  the Hoard of `<revision>` (default: BENCH_BASELINE, else the last commit before issue 19),
 *             checked out into a detached git worktree beside this one, so guests run as root/`postgres`,
 *             without TLS and without NATS or Postgres authentication
 *   hoard     this checkout: guests under their own OS users, no capabilities, private /tmp, TLS on,
 *             authenticated NATS and Postgres
 *
 * Both run `bin/hoard.ts start` as `npm start` does, each in its own state folder under BENCH_DIR (default
 * ./.hoard-bench-security), on the same machine at the same time (idle, apart from the create being timed).
 * Creates alternate between the two, one at a time, for every engine: POST /instances → the view says
 * ACTIVE (polled every 25 ms on both sides alike). The first create of each engine on each side builds its
 * golden image and is not counted. Reported: the medians and this checkout's over the baseline's.
 */
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, rmSync, symlinkSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { BtrfsVolumes } from "../drivers/index.js";
import { callApi as api, startHoardProcess, type HoardProcess } from "./hoard-process.js";
import { median } from "./median.js";

const run = promisify(execFile);
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const DIR = path.resolve(process.env.BENCH_DIR ?? ".hoard-bench-security");
const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
/** The landed tree just before issue 19 (guests as root, no TLS, no authentication). */
const DEFAULT_BASELINE = "54abd31";
const PROJECT = "bench";
const POLL_MS = 25;

const ENGINES = [
  { type: "mariadb", version: "10.11" },
  { type: "postgresql", version: "15" },
  { type: "redis", version: "7.0" },
] as const;

const ms = (x: number) => `${x.toFixed(0)} ms`;
const sleep = (t: number) => new Promise((r) => setTimeout(r, t));

function argument(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
}

interface RunningHoard extends HoardProcess {
  label: string;
}

/** A detached worktree of `revision`, sharing this checkout's node_modules (the lock file is the same). */
async function checkout(revision: string): Promise<string> {
  const dir = path.join(DIR, "baseline-src");
  if (existsSync(dir)) await run("git", ["-C", ROOT, "worktree", "remove", "--force", dir]).catch(() => rmSync(dir, { recursive: true, force: true }));
  await run("git", ["-C", ROOT, "worktree", "prune"]);
  await run("git", ["-C", ROOT, "worktree", "add", "--detach", dir, revision]);
  symlinkSync(path.join(ROOT, "node_modules"), path.join(dir, "node_modules"));
  return dir;
}

/** One side of the comparison: a Hoard of the tree in `cwd`, in `<DIR>/<label>`. */
async function startHoard(label: string, cwd: string): Promise<RunningHoard> {
  return { label, ...(await startHoardProcess({ home: path.join(DIR, label), project: PROJECT, cwd })) };
}

/** POST /instances → the view says ACTIVE; then delete and wait for 404. Returns the create's ms. */
async function createOnce(hoard: RunningHoard, engine: (typeof ENGINES)[number], i: number): Promise<number> {
  const withUsers = engine.type !== "redis";
  const started = performance.now();
  const created = await api(hoard, "POST", "/instances", {
    instance: {
      name: `bench-${engine.type}-${i}`,
      flavorRef: "1",
      volume: { size: 1 },
      datastore: engine,
      ...(withUsers ? { databases: [{ name: "db1" }], users: [{ name: "u1", password: "bench-secret", databases: [{ name: "db1" }] }] } : {}),
    },
  });
  if (created.status !== 200) throw new Error(`${hoard.label}: create answered ${created.status}: ${JSON.stringify(created.body)}`);
  const id: string = created.body.instance.id;
  let took = NaN;
  for (;;) {
    const view = await api(hoard, "GET", `/instances/${id}`);
    const status = view.body?.instance?.status;
    if (status === "ACTIVE") {
      took = performance.now() - started;
      break;
    }
    if (status === "ERROR") throw new Error(`${hoard.label}: instance ${id} failed: ${JSON.stringify(view.body)}`);
    await sleep(POLL_MS);
  }
  const res = await api(hoard, "DELETE", `/instances/${id}`);
  if (res.status !== 202) throw new Error(`${hoard.label}: delete answered ${res.status}: ${JSON.stringify(res.body)}`);
  while ((await api(hoard, "GET", `/instances/${id}`)).status !== 404) await sleep(50);
  return took;
}

async function main() {
  const revision = argument("--baseline") ?? process.env.BENCH_BASELINE ?? DEFAULT_BASELINE;
  mkdirSync(DIR, { recursive: true });
  console.log(`Security benchmark: ${RUNS} creates per engine on each side, baseline ${revision}, in ${DIR}\n`);
  const baselineTree = await checkout(revision);
  const hoards: RunningHoard[] = [];
  const stopAll = async () => {
    for (const h of hoards) {
      await h.stop();
      // Hoard leaves its volume pool mounted for guests that outlive it; the bench deleted every guest.
      await new BtrfsVolumes({ dir: path.join(h.home, "btrfs") }).close().catch(() => {});
    }
  };
  let stopping = false;
  const onSignal = () => {
    if (stopping) return;
    stopping = true;
    void stopAll().then(() => process.exit(130));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const rows: string[] = [];
  try {
    const baseline = await startHoard("baseline", baselineTree);
    hoards.push(baseline);
    const current = await startHoard("hoard", ROOT);
    hoards.push(current);
    for (const engine of ENGINES) {
      const times = { baseline: [] as number[], hoard: [] as number[] };
      // Golden images first, on both sides, outside the medians.
      await createOnce(baseline, engine, 0);
      await createOnce(current, engine, 0);
      for (let i = 1; i <= RUNS; i++) {
        // Alternate which side goes first, so neither always runs on a warmer cache.
        const order = i % 2 ? [baseline, current] : [current, baseline];
        for (const h of order) times[h.label as "baseline" | "hoard"].push(await createOnce(h, engine, i));
        console.log(`  ${engine.type} run ${i}: baseline ${ms(times.baseline.at(-1)!)}, hoard ${ms(times.hoard.at(-1)!)}`);
      }
      const b = median(times.baseline);
      const h = median(times.hoard);
      rows.push(`| ${engine.type} ${engine.version} create → ACTIVE, median of ${RUNS} | ${ms(h)} | ${ms(b)} | ${(h / b).toFixed(2)}× (goal ≤ 1.10×) |`);
    }
  } finally {
    await stopAll();
    await run("git", ["-C", ROOT, "worktree", "remove", "--force", baselineTree]).catch(() => {});
  }
  console.log(`
| measure | hoard (guest users, TLS, authenticated parts) | baseline ${revision} | ratio |
|---|---|---|---|
${rows.join("\n")}
`);
  process.off("SIGINT", onSignal);
  process.off("SIGTERM", onSignal);
  rmSync(DIR, { recursive: true, force: true });
}

main().catch((e) => {
  console.error(`benchmark failed: ${(e as Error).stack ?? e}`);
  process.exit(1);
});
