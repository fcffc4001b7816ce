/**
 * `npm run bench -- pipeline`: how many events per second Hoard's work pipeline carries, with one and with
 * two runtime processes, against raw JetStream publish + consume + ack of the same number of messages.
 *
 * The pipeline's event is a tracker heartbeat for one guest (of 100, in turn): JetStream durable consumer → the
 * instance-heartbeat function → a Postgres transaction that records it (what every tracker sends every
 * two seconds for every guest). Time runs from the first publish until the consumer has nothing pending.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdirSync, rmSync } from "node:fs";
import path from "node:path";
import { AckPolicy, jetstream, jetstreamManager, RetentionPolicy, StorageType } from "@nats-io/jetstream";
import { connectAs, startNats, startPostgres } from "../bootstrap/index.js";
import { makeEvent, sources, workEvents } from "../events/index.js";
import { connect, insertInstance, migrate, resolveNetwork, seed } from "../store/index.js";
// @ts-expect-error plain JavaScript module shared with the launcher (bin/launch.mjs), which runs before tsx
import { HOARD_NODE_FLAGS } from "../bin/node-flags.mjs";

const N = Number(process.env.BENCH_EVENTS ?? 5_000);
const INSTANCES = 100;
const DIR = path.resolve(process.env.BENCH_DIR ?? ".hoard-bench-pipeline");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function startRuntime(name: string, env: Record<string, string>): Promise<ChildProcess> {
  const home = path.join(DIR, name);
  mkdirSync(home, { recursive: true });
  const child = spawn(process.execPath, [...HOARD_NODE_FLAGS, "--import", "tsx", "bin/hoard.ts", "start", "--parts", "runtime"], {
    env: { ...process.env, ...env, HOARD_HOME: home, HOARD_LOG_LEVEL: "warn" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  return new Promise((resolve, reject) => {
    child.stdout!.on("data", (d) => {
      out += d;
      if (out.includes("Hoard is ready")) resolve(child);
    });
    child.stderr!.on("data", (d) => (out += d));
    child.once("exit", (code) => reject(new Error(`${name} exited with ${code}:\n${out}`)));
  });
}

async function main() {
  rmSync(DIR, { recursive: true, force: true });
  mkdirSync(DIR, { recursive: true, mode: 0o755 });
  const nats = await startNats({ dir: path.join(DIR, "nats") });
  const pg = await startPostgres({ dir: path.join(DIR, "postgres") });
  const env = { NATS_URL: nats.url, HOARD_NATS_CREDENTIALS: nats.credentials, DATABASE_URL: pg.url };
  const db = connect(pg.url);
  const nc = await connectAs(nats.url, nats.credentials, "admin");
  const children: ChildProcess[] = [];
  try {
    await migrate(db, () => seed(db));
    // Instances on node-bench for the heartbeats to update (one guest per event, round robin).
    const instanceIds = Array.from({ length: INSTANCES }, () => randomUUID());
    await db.transaction(async (trx) => {
      const network = await resolveNetwork(trx, "bench", undefined, "node-bench", randomUUID);
      const version = await trx("datastore_versions").first();
      for (const [i, id] of instanceIds.entries()) {
        await insertInstance(trx, { id, project_id: "bench", name: `hb${i}`, flavor_id: "1", datastore_version_id: version.id, network_id: network!.id, node: "node-bench", availability_zone: null, access: { is_public: false }, configuration_id: null, auto_restart: false }, { id: randomUUID(), sizeGb: 1 });
      }
    });
    const instanceId = instanceIds[0]!;
    let next = 0;
    const js = jetstream(nc);
    const jsm = await jetstreamManager(nc);
    const kind = workEvents.guestHeartbeat;
    let clock = Date.now();

    /** Publishes N heartbeats and waits until the runtimes' consumer has acked them all; returns events/s. */
    const pipeline = async (label: string): Promise<number> => {
      const started = performance.now();
      for (let i = 0; i < N; i += 500) {
        await Promise.all(
          Array.from({ length: Math.min(500, N - i) }, () => {
            clock += 1;
            const data = kind.data.parse({ node: "node-bench", at: new Date(clock).toISOString(), guests: [{ instanceId: instanceIds[next++ % INSTANCES]!, health: "HEALTHY" }] });
            return js.publish(kind.subject(), JSON.stringify(makeEvent(kind.type, sources.tracker("node-bench"), data)));
          }),
        );
      }
      for (;;) {
        const info = await jsm.consumers.info("HOARD_WORK", "instance-heartbeat");
        if (info.num_pending === 0 && info.num_ack_pending === 0) break;
        await sleep(20);
      }
      const rate = N / ((performance.now() - started) / 1000);
      console.log(`  ${label}: ${N} events in ${((N / rate) * 1000).toFixed(0)} ms = ${rate.toFixed(0)} events/s`);
      return rate;
    };

    console.log(`Hoard pipeline benchmark: ${N} heartbeat events each way\n`);
    children.push(await startRuntime("runtime-1", env));
    const one = await pipeline("1 runtime ");
    children.push(await startRuntime("runtime-2", env));
    const two = await pipeline("2 runtimes");

    // Raw JetStream: the same number of messages through a stream and a durable consumer, acked, no handler.
    await jsm.streams.add({ name: "BENCH_RAW", subjects: ["bench.raw"], retention: RetentionPolicy.Workqueue, storage: StorageType.File });
    await jsm.consumers.add("BENCH_RAW", { durable_name: "raw", ack_policy: AckPolicy.Explicit, filter_subject: "bench.raw" });
    const consumer = await js.consumers.get("BENCH_RAW", "raw");
    const payload = JSON.stringify(makeEvent(kind.type, sources.tracker("node-bench"), { node: "node-bench", at: new Date().toISOString(), guests: [{ instanceId, health: "HEALTHY" }] }));
    const rawStart = performance.now();
    const consumed = (async () => {
      let n = 0;
      const messages = await consumer.consume({ max_messages: 1_000 });
      for await (const m of messages) {
        m.ack();
        if (++n === N) break;
      }
    })();
    for (let i = 0; i < N; i += 500) await Promise.all(Array.from({ length: Math.min(500, N - i) }, () => js.publish("bench.raw", payload)));
    await consumed;
    const raw = N / ((performance.now() - rawStart) / 1000);
    console.log(`  raw JetStream publish + consume + ack: ${raw.toFixed(0)} messages/s`);

    console.log(`
| measure | events/s | against raw JetStream |
|---|---|---|
| pipeline, 1 runtime | ${one.toFixed(0)} | ${(one / raw).toFixed(2)}× |
| pipeline, 2 runtimes | ${two.toFixed(0)} | ${(two / raw).toFixed(2)}× (${(two / one).toFixed(2)}× of 1 runtime) |
| raw JetStream | ${raw.toFixed(0)} | 1.00× |
`);
  } finally {
    for (const c of children) {
      c.kill("SIGINT");
      await new Promise((r) => c.once("exit", r));
    }
    await nc.close();
    await db.destroy();
    await pg.stop();
    await nats.stop();
    rmSync(DIR, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(`benchmark failed: ${(e as Error).stack ?? e}`);
  process.exit(1);
});
