/**
 * Hoard as a cluster of processes on one host: one NATS, one Postgres, two runtimes, two gateways and two
 * trackers (network nodes node-a and node-b). 200 creates spread over both nodes all reach ACTIVE, each
 * guest provisioned once, while one runtime is killed with SIGKILL half-way.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import pg from "pg";
import { createTestDatabase, dropTestDatabase, testDatabaseName } from "../kit/test-database.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inject } from "vitest";
import { freePort, startNats } from "../../bootstrap/index.js";
import { eventually } from "../kit/harness.js";
import { processesUnder } from "../kit/processes.js";

const INSTANCES = 200;
const PROJECTS = 20;

interface Proc {
  name: string;
  child: ChildProcess;
  home: string;
  output: string;
}

let base = "";
let nats: Awaited<ReturnType<typeof startNats>>;
let databaseUrl = "";
let dbName = "";
const procs: Proc[] = [];
const gateways: string[] = [];

function start(name: string, part: string, env: Record<string, string>): Promise<Proc> {
  const home = path.join(base, name);
  mkdirSync(home, { recursive: true, mode: 0o711 });
  const child = spawn(process.execPath, ["--import", "tsx", "bin/hoard.ts", "start", "--parts", part], {
    env: {
      ...process.env,
      NATS_URL: nats.url,
      // Each process connects with its parts' credentials, made by the private NATS below.
      HOARD_NATS_CREDENTIALS: nats.credentials,
      DATABASE_URL: databaseUrl,
      HOARD_HOME: home,
      HOARD_NODES: "node-a,node-b",
      HOARD_VOLUME_DRIVER: "directory",
      HOARD_HEARTBEAT_MS: "1000",
      HOARD_RATE_LIMIT_PER_MINUTE: "100000",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const proc: Proc = { name, child, home, output: "" };
  child.stdout!.on("data", (d) => (proc.output += d));
  child.stderr!.on("data", (d) => (proc.output += d));
  procs.push(proc);
  return new Promise((resolve, reject) => {
    const check = setInterval(() => {
      if (proc.output.includes("Hoard is ready")) {
        clearInterval(check);
        resolve(proc);
      }
    }, 50);
    child.once("exit", (code) => {
      clearInterval(check);
      reject(new Error(`${name} exited with ${code}:\n${proc.output}`));
    });
  });
}

async function api(method: string, gateway: string, project: string, route: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${gateway}/v1.0/${project}${route}`, { method, headers: { "content-type": "application/json" }, ...(body ? { body: JSON.stringify(body) } : {}) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

const project = (i: number) => `c1a5700000000000000000000000${String(i % PROJECTS).padStart(4, "0")}`;

beforeAll(async () => {
  base = mkdtempSync(path.join(inject("home"), "cluster-"));
  const { chmodSync } = await import("node:fs");
  chmodSync(base, 0o711);
  nats = await startNats({ dir: path.join(base, "nats"), trackers: ["node-a", "node-b"] });
  dbName = testDatabaseName(base);
  databaseUrl = await createTestDatabase(dbName);
  // The runtimes first: they migrate the schema (concurrently: knex serialises it) and declare the streams.
  await Promise.all([start("runtime-1", "runtime", {}), start("runtime-2", "runtime", {})]);
  await Promise.all([start("tracker-a", "tracker", { HOARD_NODE: "node-a" }), start("tracker-b", "tracker", { HOARD_NODE: "node-b" })]);
  for (const g of ["gateway-1", "gateway-2"]) {
    const port = await freePort();
    await start(g, "gateway", { HOARD_PORT: String(port) });
    gateways.push(`http://127.0.0.1:${port}`);
  }
}, 120_000);

afterAll(async () => {
  for (const p of procs.reverse()) {
    if (p.child.exitCode === null && p.child.signalCode === null) {
      p.child.kill("SIGINT");
      await new Promise((r) => p.child.once("exit", r));
    }
  }
  // Guests outlive their trackers on purpose; the test removes what it made.
  for (const leftover of processesUnder(base)) {
    try {
      process.kill(leftover.pid, "SIGKILL");
    } catch {
      // gone meanwhile
    }
  }
  await nats?.stop();
  await dropTestDatabase(dbName);
  if (base) rmSync(base, { recursive: true, force: true });
}, 120_000);

describe("two runtimes, two gateways, two trackers", () => {
  const ids = new Map<string, { project: string }>();

  it(`takes ${INSTANCES} creates spread over both nodes while a runtime is killed, and every one reaches ACTIVE`, async () => {
    let killed = false;
    const create = async (i: number): Promise<void> => {
      const name = `c${i}`;
      const p = project(i);
      for (let attempt = 0; ; attempt++) {
        const r = await api("POST", gateways[i % 2]!, p, "/instances", { instance: { name, flavorRef: "1", volume: { size: 1 }, datastore: { type: "redis", version: "7.0" } } }).catch(() => ({ status: 0, body: null }));
        if (r.status === 200) {
          ids.set(r.body.instance.id, { project: p });
          return;
        }
        // 503: no runtime answered in time. The create may have been recorded all the same, so look before
        // asking again, as a careful client does.
        const listed = await api("GET", gateways[(i + 1) % 2]!, p, "/instances?limit=1000").catch(() => null);
        const found = listed?.body?.instances?.find((x: { name: string }) => x.name === name);
        if (found) {
          ids.set(found.id, { project: p });
          return;
        }
        if (attempt > 20) throw new Error(`create ${name} kept failing: ${r.status} ${JSON.stringify(r.body)}`);
      }
    };
    const queue = Array.from({ length: INSTANCES }, (_, i) => i);
    const workers = Array.from({ length: 16 }, async () => {
      for (let i = queue.shift(); i !== undefined; i = queue.shift()) {
        if (!killed && i >= INSTANCES / 2) {
          killed = true;
          procs.find((p) => p.name === "runtime-1")!.child.kill("SIGKILL");
        }
        await create(i);
      }
    });
    await Promise.all(workers);
    expect(killed).toBe(true);
    expect(ids.size).toBe(INSTANCES);

    const active = await eventually(async () => {
      let n = 0;
      const byNode: Record<string, number> = {};
      for (let k = 0; k < PROJECTS; k++) {
        const r = await api("GET", gateways[k % 2]!, project(k), "/instances/detail?limit=1000");
        for (const inst of r.body.instances) {
          if (inst.status === "ACTIVE") n++;
          else if (inst.status === "ERROR") throw new Error(`instance ${inst.id} failed: ${JSON.stringify(inst.fault)}`);
        }
      }
      const rows = await new pg.Pool({ connectionString: databaseUrl, max: 1 });
      const counts = await rows.query("select node, count(*)::int as n from instances where deleted_at is null group by node");
      await rows.end();
      for (const c of counts.rows) byNode[c.node] = c.n;
      return n === INSTANCES ? byNode : undefined;
    }, 120_000, 1_000);
    // Spread over both network nodes.
    expect(Object.keys(active).sort()).toEqual(["node-a", "node-b"]);
    expect(active["node-a"]! + active["node-b"]!).toBe(INSTANCES);
    expect(Math.min(active["node-a"]!, active["node-b"]!)).toBeGreaterThanOrEqual(INSTANCES / 4);
  }, 300_000);

  it("provisioned each guest once, on the tracker of its own node", () => {
    const provisioned = new Map<string, string[]>();
    for (const node of ["a", "b"]) {
      const log = readFileSync(path.join(base, `tracker-${node}`, "hoard.log"), "utf8");
      for (const line of log.split("\n")) {
        if (!line.includes('"guest provisioned"')) continue;
        const id = JSON.parse(line).instance as string;
        provisioned.set(id, [...(provisioned.get(id) ?? []), node]);
      }
    }
    expect(provisioned.size).toBe(INSTANCES);
    for (const id of ids.keys()) expect(provisioned.get(id), id).toHaveLength(1);
  });

  it("deletes them all through the surviving runtime; no guest is left", async () => {
    for (const [id, { project: p }] of ids) {
      const r = await api("DELETE", gateways[0]!, p, `/instances/${id}`);
      expect(r.status, JSON.stringify(r.body)).toBe(202);
    }
    await eventually(async () => {
      for (let k = 0; k < PROJECTS; k++) {
        const r = await api("GET", gateways[1]!, project(k), "/instances?limit=1000");
        if (r.body.instances.length) return undefined;
      }
      return true;
    }, 120_000, 1_000);
    await eventually(async () => (processesUnder(path.join(base, "tracker-a")).length + processesUnder(path.join(base, "tracker-b")).length === 0 ? true : undefined), 30_000, 200);
  }, 200_000);
});
