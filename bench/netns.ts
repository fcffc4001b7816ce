/**
 * `npm run bench -- netns`: what the netns network driver costs, side by side with the host driver.
 *
 *   create   POST /instances → the `instance.active` event for a MariaDB with a database and a user, each in
 *            a new project, so on netns every create also makes its tenant network (the worst case)
 *   delete   DELETE → 404, so on netns every delete also removes the network (namespace, leg, rules)
 *   driver   the driver calls alone: place a guest in a new network, in an existing one, release a guest,
 *            release a network's last guest (host: place is a free-port probe, release nothing)
 *
 * Both control planes run in this process, one after the other, on the same private NATS and Postgres and
 * the same filesystem (BENCH_DIR, default ./.hoard-bench-netns); `BENCH_RUNS` (default 10) creates each, the
 * median compared. The first create of each builds the golden image and is not counted. Needs root.
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import path from "node:path";
import pg from "pg";
import { connectAs, startNats, startPostgres } from "../bootstrap/index.js";
import { loadConfig } from "../config/index.js";
import { cgroupScope, HostNetwork, NetnsNetwork, netnsUnavailable } from "../drivers/index.js";
import type { InstanceStateEvent } from "../events/index.js";
import { createLog, startControlPlane } from "../local/index.js";
import { median } from "./median.js";

const RUNS = Number(process.env.BENCH_RUNS ?? 10);
const DRIVER_RUNS = 20;
const DIR = path.resolve(process.env.BENCH_DIR ?? ".hoard-bench-netns");

const ms = (x: number) => `${x.toFixed(x < 10 ? 1 : 0)} ms`;
const sleep = (t: number) => new Promise((r) => setTimeout(r, t));

/** Creates and deletes through a whole control plane on `driver`; returns the create and delete times. */
async function endToEnd(driver: "host" | "netns", natsUrl: string, natsCredentials: string, adminUrl: string): Promise<{ create: number[]; delete: number[]; firstCreate: number }> {
  const dbName = `hoard_bench_${driver}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`drop database if exists ${dbName} with (force)`);
  await admin.query(`create database ${dbName}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${dbName}`;
  const config = loadConfig({ HOARD_HOME: path.join(DIR, driver), HOARD_NATS_CREDENTIALS: natsCredentials }, { gateway: { port: 0 }, networkDriver: driver, logLevel: "info", rateLimitPerMinute: 1_000_000 });
  const plane = await startControlPlane({ config, databaseUrl: url.toString(), natsUrl, log: createLog(config, { console: false }) });
  const nc = await connectAs(natsUrl, natsCredentials, "admin");
  const api = async (method: string, project: string, route: string, body?: unknown) => {
    const res = await fetch(`${plane.gatewayUrl}/v1.0/${project}${route}`, {
      method,
      headers: { "content-type": "application/json", accept: "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  };
  const once = async (i: number): Promise<{ create: number; delete: number }> => {
    const project = `bench-${driver}-${i}`;
    const events = nc.subscribe(`hoard.events.${project}.instance.>`);
    const started = performance.now();
    const created = await api("POST", project, "/instances", {
      instance: { name: `b${i}`, flavorRef: "1", volume: { size: 1 }, datastore: { type: "mariadb", version: "10.11" }, databases: [{ name: "db1" }], users: [{ name: "u1", password: "bench-secret", databases: [{ name: "db1" }] }] },
    });
    if (created.status !== 200) throw new Error(`create answered ${created.status}: ${JSON.stringify(created.body)}`);
    const id: string = created.body.instance.id;
    let create = NaN;
    for await (const msg of events) {
      const event = msg.json<{ type: string; data: InstanceStateEvent }>();
      if (event.data.instanceId !== id) continue;
      if (event.type === "instance.error") throw new Error(`instance ${id} failed: ${JSON.stringify(event.data)}`);
      if (event.type === "instance.active") {
        create = performance.now() - started;
        break;
      }
    }
    events.unsubscribe();
    const deleting = performance.now();
    const res = await api("DELETE", project, `/instances/${id}`);
    if (res.status !== 202) throw new Error(`delete answered ${res.status}: ${JSON.stringify(res.body)}`);
    while ((await api("GET", project, `/instances/${id}`)).status !== 404) await sleep(10);
    // The instance is gone from the API once the tracker reported the guest removed (network included).
    return { create, delete: performance.now() - deleting };
  };
  try {
    const first = await once(0);
    console.log(`  first create (builds the golden image): ${ms(first.create)}`);
    const out = { create: [] as number[], delete: [] as number[], firstCreate: first.create };
    for (let i = 1; i <= RUNS; i++) {
      const r = await once(i);
      out.create.push(r.create);
      out.delete.push(r.delete);
      console.log(`  run ${i}: create ${ms(r.create)}, delete ${ms(r.delete)}`);
    }
    return out;
  } finally {
    await nc.close();
    await plane.stop();
    const supervisor = plane.tracker?.supervisor;
    for (const id of supervisor?.list() ?? []) await supervisor!.deprovision(id);
    await supervisor?.closeVolumes();
  }
}

/** The driver calls alone, median of DRIVER_RUNS each. */
async function driverCalls(): Promise<Record<string, { host: number; netns: number }>> {
  const home = mkdtempSync(path.join(DIR, "driver-"));
  const netns = new NetnsNetwork({ home, scope: cgroupScope(home) });
  await netns.open();
  const host = new HostNetwork("127.0.0.1");
  const none = { has: () => false };
  const t = { newNetwork: [] as number[], sameNetwork: [] as number[], release: [] as number[], releaseLast: [] as number[], hostPlace: [] as number[], hostRelease: [] as number[] };
  const time = async (into: number[], work: () => Promise<unknown>) => {
    const s = performance.now();
    await work();
    into.push(performance.now() - s);
  };
  for (let i = 0; i < DRIVER_RUNS; i++) {
    const net = `bench-net-${i}`;
    await time(t.newNetwork, () => netns.place(net, `a${i}`, 3306, none));
    await time(t.sameNetwork, () => netns.place(net, `b${i}`, 3306, none));
    await time(t.release, () => netns.release(net, `b${i}`));
    await time(t.releaseLast, () => netns.release(net, `a${i}`));
    await time(t.hostPlace, () => host.place(net, `a${i}`, 3306, none));
    await time(t.hostRelease, () => host.release());
  }
  rmSync(home, { recursive: true, force: true });
  return {
    "place, new network": { host: median(t.hostPlace), netns: median(t.newNetwork) },
    "place, existing network": { host: median(t.hostPlace), netns: median(t.sameNetwork) },
    "release": { host: median(t.hostRelease), netns: median(t.release) },
    "release, last of its network": { host: median(t.hostRelease), netns: median(t.releaseLast) },
  };
}

async function main() {
  const why = await netnsUnavailable();
  if (why) throw new Error(why);
  rmSync(DIR, { recursive: true, force: true });
  mkdirSync(DIR, { recursive: true, mode: 0o711 });
  console.log(`netns network driver benchmark: ${RUNS} creates per driver, in ${DIR}\n`);
  const nats = await startNats({ dir: path.join(DIR, "nats"), trackers: ["local"] });
  const postgres = await startPostgres({ dir: path.join(DIR, "postgres") });
  try {
    const results: Record<string, Awaited<ReturnType<typeof endToEnd>>> = {};
    for (const driver of ["host", "netns"] as const) {
      console.log(`${driver}: POST /instances → instance.active, then DELETE → 404`);
      results[driver] = await endToEnd(driver, nats.url, nats.credentials, postgres.url);
    }
    console.log("driver calls alone");
    const calls = await driverCalls();
    const h = results.host!;
    const n = results.netns!;
    const row = (what: string, a: number, b: number) => `| ${what} | ${ms(a)} | ${ms(b)} | ${a >= 1 ? `${(b / a).toFixed(2)}×` : "—"} |`;
    console.log(`\n| measure (median) | host | netns | netns / host |\n| --- | --- | --- | --- |`);
    console.log(row(`create → instance.active (new project each, ${RUNS} runs)`, median(h.create), median(n.create)));
    console.log(row(`delete → 404 (${RUNS} runs)`, median(h.delete), median(n.delete)));
    for (const [what, v] of Object.entries(calls)) console.log(row(`driver: ${what} (${DRIVER_RUNS} runs)`, v.host, v.netns));
  } finally {
    await postgres.stop();
    await nats.stop();
    rmSync(DIR, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
