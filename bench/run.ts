/**
 * `npm run bench`: how fast Hoard turns a create into a usable MariaDB, against doing it by hand.
 *
 *   baseline  mariadb-install-db on a fresh data directory + start mariadbd + first `SELECT 1` answered
 *   hoard     POST /instances → the `instance.active` event, through the whole pipeline (gateway, function,
 *             outbox, JetStream, tracker, golden-image clone, engine start, users and databases, result
 *             handler, event), on `npm start`'s own process
 *
 * Both use the same engine options and the same filesystem (BENCH_DIR, default ./.hoard-bench). Each is run
 * `BENCH_RUNS` times (default 10) and the median is compared. Hoard's first create builds the golden image
 * and is reported on its own, not in the median. Also reported: the control plane's own share of a create
 * (the total minus the engine's start and readiness, from the tracker's log) and the control plane's memory
 * at rest (VmRSS of the Hoard process; NATS and Postgres are infrastructure and are listed apart).
 */
import { execFile, spawn } from "node:child_process";
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import type { NatsConnection } from "@nats-io/transport-node";
import mysql from "mysql2/promise";
import { connectAs, freePort } from "../bootstrap/index.js";
import { callApi as api, startHoardProcess, stopChild, type HoardProcess as RunningHoard } from "./hoard-process.js";
import { median } from "./median.js";
import { bufferPoolMb, engineOptions as mariadbEngineOptions } from "../datastores/mariadb/strategy.js";
import { BtrfsVolumes } from "../drivers/index.js";
import type { InstanceStateEvent } from "../events/index.js";

const run = promisify(execFile);
const RUNS = Number(process.env.BENCH_RUNS ?? 10);
const DIR = path.resolve(process.env.BENCH_DIR ?? ".hoard-bench");
const PROJECT = "bench";
const FLAVOR_RAM_MB = 512; // flavor 1, m1.tiny
const POLL_MS = 25; // the same readiness poll the MariaDB strategy uses

const ms = (x: number) => `${x.toFixed(0)} ms`;
const sleep = (t: number) => new Promise((r) => setTimeout(r, t));

/** The engine options Hoard's MariaDB strategy gives a flavor-1 guest, so both sides run the same engine. */
const engineOptions = () => mariadbEngineOptions(bufferPoolMb(FLAVOR_RAM_MB), process.getuid?.() === 0);

/** One bare MariaDB: install-db, start, first SELECT 1. Returns the milliseconds it took. */
async function baselineOnce(i: number): Promise<number> {
  const dir = path.join(DIR, "baseline", String(i));
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const dataDir = path.join(dir, "data");
  const socket = path.join(dir, "mysqld.sock");
  const port = await freePort();
  const started = performance.now();
  await run("mariadb-install-db", [...engineOptions(), `--datadir=${dataDir}`, "--auth-root-authentication-method=normal", "--skip-test-db"]);
  const server = spawn("mariadbd", [...engineOptions(), `--datadir=${dataDir}`, "--bind-address=127.0.0.1", `--port=${port}`, `--socket=${socket}`, `--pid-file=${path.join(dir, "mariadbd.pid")}`], { stdio: "ignore" });
  try {
    for (;;) {
      try {
        const conn = await mysql.createConnection({ socketPath: socket, user: "root" });
        await conn.query("SELECT 1");
        await conn.end();
        break;
      } catch {
        if (server.exitCode !== null) throw new Error(`mariadbd exited with ${server.exitCode} in baseline run ${i}`);
        await sleep(POLL_MS);
      }
    }
    return performance.now() - started;
  } finally {
    await stopChild(server, "SIGTERM");
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The tracker's own timings of one provision (from hoard.log). */
function provisionTimings(log: string, instanceId: string): Record<string, number> {
  for (const line of readFileSync(log, "utf8").split("\n").reverse()) {
    if (!line.includes(instanceId) || !line.includes('"guest provisioned"')) continue;
    return JSON.parse(line).ms as Record<string, number>;
  }
  throw new Error(`hoard.log has no 'guest provisioned' line for ${instanceId}`);
}

function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) : NaN;
}

/** create → instance.active event; then delete and wait for instance.deleted. Returns the create's ms. */
async function hoardOnce(hoard: RunningHoard, nc: NatsConnection, i: number): Promise<{ totalMs: number; id: string }> {
  const active = nc.subscribe(`hoard.events.${PROJECT}.instance.>`);
  try {
    const started = performance.now();
    const created = await api(hoard, "POST", "/instances", {
      instance: {
        name: `bench-${i}`,
        flavorRef: "1",
        volume: { size: 1 },
        datastore: { type: "mariadb", version: "10.11" },
        databases: [{ name: "db1" }],
        users: [{ name: "u1", password: "bench-secret", databases: [{ name: "db1" }] }],
      },
    });
    if (created.status !== 200) throw new Error(`create answered ${created.status}: ${JSON.stringify(created.body)}`);
    const id: string = created.body.instance.id;
    let totalMs = NaN;
    for await (const msg of active) {
      const event = msg.json<{ type: string; data: InstanceStateEvent }>();
      if (event.data.instanceId !== id) continue;
      if (event.type === "instance.error") throw new Error(`instance ${id} failed: ${JSON.stringify(event.data)}`);
      if (event.type === "instance.active") {
        totalMs = performance.now() - started;
        break;
      }
    }
    return { totalMs, id };
  } finally {
    active.unsubscribe();
  }
}

async function deleteAndWait(hoard: RunningHoard, id: string): Promise<void> {
  const res = await api(hoard, "DELETE", `/instances/${id}`);
  if (res.status !== 202) throw new Error(`delete answered ${res.status}: ${JSON.stringify(res.body)}`);
  while ((await api(hoard, "GET", `/instances/${id}`)).status !== 404) await sleep(50);
}

async function main() {
  mkdirSync(DIR, { recursive: true });
  console.log(`Hoard benchmark: ${RUNS} runs each, in ${DIR}\n`);

  console.log("baseline: mariadb-install-db + start + SELECT 1");
  const baseline: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    baseline.push(await baselineOnce(i));
    console.log(`  run ${i + 1}: ${ms(baseline[i]!)}`);
  }

  console.log("\nhoard: POST /instances → instance.active");
  const hoard = await startHoardProcess({ home: path.join(DIR, "hoard"), project: PROJECT });
  let stopping = false;
  const onSignal = () => {
    if (stopping) return;
    stopping = true;
    void hoard.stop().then(() => process.exit(130));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const nc = await connectAs(hoard.natsUrl, hoard.natsCredentials, "admin");
  const totals: number[] = [];
  const shares: number[] = [];
  const engine: number[] = [];
  let firstMs = NaN;
  let restKb = NaN;
  try {
    const warm = await hoardOnce(hoard, nc, 0);
    firstMs = warm.totalMs;
    console.log(`  first create (builds the golden image; not in the median): ${ms(firstMs)}`);
    await deleteAndWait(hoard, warm.id);
    for (let i = 1; i <= RUNS; i++) {
      const { totalMs, id } = await hoardOnce(hoard, nc, i);
      const t = provisionTimings(hoard.log, id);
      const engineMs = (t.start_ms ?? 0) + (t.ready_ms ?? 0);
      totals.push(totalMs);
      engine.push(engineMs);
      shares.push(totalMs - engineMs);
      console.log(`  run ${i}: ${ms(totalMs)} (engine start ${ms(engineMs)}, clone ${ms(t.clone_ms ?? 0)}, control plane ${ms(totalMs - engineMs)})`);
      await deleteAndWait(hoard, id);
    }
    await sleep(3_000); // at rest: no request in flight, heartbeats only
    restKb = rssKb(hoard.child.pid!);
  } finally {
    await nc.close();
    await hoard.stop();
    // Hoard leaves its volume pool mounted for guests that outlive it; the bench deleted every guest.
    await new BtrfsVolumes({ dir: path.join(DIR, "hoard", "btrfs") }).close().catch(() => {});
  }

  const b = median(baseline);
  const h = median(totals);
  const share = median(shares);
  const rssMb = restKb / 1024;
  console.log(`
| measure | hoard | baseline / goal | ratio |
|---|---|---|---|
| create → usable, median of ${RUNS} | ${ms(h)} | ${ms(b)} (install-db + start + SELECT 1) | ${(h / b).toFixed(2)}× (goal ≤ 0.50×) |
| control plane share of a create, median | ${ms(share)} | goal < 150 ms | ${(share / 150).toFixed(2)}× of goal |
| engine start + ready inside a create, median | ${ms(median(engine))} | | |
| first create of a version (golden image) | ${ms(firstMs)} | | |
| control plane RSS at rest | ${rssMb.toFixed(0)} MB | goal < 200 MB | ${(rssMb / 200).toFixed(2)}× of goal |
`);
  process.off("SIGINT", onSignal);
  process.off("SIGTERM", onSignal);
  rmSync(DIR, { recursive: true, force: true });
}

main().catch((e) => {
  console.error(`benchmark failed: ${(e as Error).stack ?? e}`);
  process.exit(1);
});
