/**
 * `npm run bench -- backup [GB …]`: backups of a MariaDB guest on a btrfs volume, with writers inserting all
 * the time, at each data size given (default 1 GB; `backup 1 5` for the 1 GB and 5 GB figures):
 *
 *   blocking    the longest any single write waited while each kind of backup ran (writes in flight at any
 *               moment of it), for the snapshot strategy (and the lock time it records), `mariadb-dump
 *               --single-transaction` (the dump strategy) and `mariabackup --backup`; and, as the floor,
 *               the longest wait in as long a time without any backup
 *   restore     (first size only) a new guest from the snapshot backup against one from the logical dump
 *   throughput  the snapshot backup's data bytes per second, start to stored, against `tar | gzip -1` of the
 *               same folder (a snapshot of it) into the same folder
 *   encryption  (first size only) snapshot backups of the same guest, encrypted (as every tracker makes them)
 *               and unencrypted (a supervisor given no keys, as before), alternating, five of each: the
 *               ratio of their median throughputs (goal ≥ 0.9×)
 *
 * Everything lives in BENCH_DIR/backup (default ./.hoard-bench/backup) and is removed at the end; BENCH_LOG=info
 * shows the tracker's own timings (e.g. of each restore's steps) on stderr. Needs root,
 * btrfs-progs, and mariadb-backup for the mariabackup row (skipped when absent).
 */
import { execFile, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { chmod, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import mysql from "mysql2/promise";
import { pino } from "pino";
import { BtrfsVolumes, masterKeysFor } from "../drivers/index.js";
import { socketPath } from "../datastores/mariadb/connection.js";
import type { BackupArtifact, ProvisionCommand } from "../events/payloads.js";
import { GuestSupervisor } from "../tracker/guests/index.js";
import { median } from "./median.js";

const run = promisify(execFile);
const DIR = path.resolve(process.env.BENCH_DIR ?? ".hoard-bench", "backup");
const SIZES = process.argv.slice(2).map(Number).filter((n) => n > 0);
const GB = 1024 ** 3;
const WRITERS = 4;
/** Encrypted and unencrypted backups of the encryption figure, each. */
const ROUNDS = 5;

const ms = (x: number) => `${x < 10 ? x.toFixed(1) : x.toFixed(0)} ms`;
const mbps = (bytes: number, millis: number) => bytes / 1024 ** 2 / (millis / 1000);
const sleep = (t: number) => new Promise((r) => setTimeout(r, t));

interface Sample {
  start: number;
  end: number;
}

/** Writers inserting one row at a time, each write's start and end kept. */
async function startWriters(at: { address: string; port: number }) {
  const samples: Sample[] = [];
  let stopping = false;
  const loops = await Promise.all(
    Array.from({ length: WRITERS }, async (_, w) => {
      const c = await mysql.createConnection({ host: at.address, port: at.port, user: "bench", password: "bench-pw", database: "bench" });
      return {
        done: (async () => {
          while (!stopping) {
            const start = performance.now();
            await c.query("INSERT INTO writes (writer, v) VALUES (?, REPEAT('w', 100))", [w]);
            samples.push({ start, end: performance.now() });
          }
          await c.end();
        })(),
      };
    }),
  );
  return {
    /** The longest wait of a write that was in flight at any moment of [from, to]. */
    maxWait(from: number, to: number): number {
      let max = 0;
      for (const s of samples) if (s.end >= from && s.start <= to) max = Math.max(max, s.end - s.start);
      return max;
    },
    count: () => samples.length,
    async stop() {
      stopping = true;
      await Promise.all(loops.map((l) => l.done));
    },
  };
}

async function timed<T>(work: () => Promise<T>): Promise<{ value: T; from: number; to: number; ms: number }> {
  const from = performance.now();
  const value = await work();
  const to = performance.now();
  return { value, from, to, ms: to - from };
}

async function du(dir: string): Promise<number> {
  return Number((await run("du", ["-sb", dir])).stdout.split("\t")[0]);
}

/** Fills the guest's `bench.data` until its data folder holds `gb` GB: rows of 1 KB, half random hex, half repeated text. */
async function fill(at: { address: string; port: number }, dataDir: string, gb: number): Promise<number> {
  const c = await mysql.createConnection({ host: at.address, port: at.port, user: "bench", password: "bench-pw", database: "bench" });
  await c.query("CREATE TABLE data (id BIGINT AUTO_INCREMENT PRIMARY KEY, pad VARCHAR(1100)) ENGINE=InnoDB");
  let size = await du(dataDir);
  while (size < gb * GB) {
    await c.query("INSERT INTO data (pad) SELECT CONCAT(HEX(RANDOM_BYTES(256)), REPEAT(CHAR(65 + seq % 26), 512)) FROM seq_1_to_200000");
    size = await du(dataDir);
    process.stdout.write(`\r  loading: ${(size / GB).toFixed(2)} GB`);
  }
  process.stdout.write("\n");
  await c.end();
  return size;
}

async function hasMariabackup(): Promise<boolean> {
  return run("mariabackup", ["--version"]).then(
    () => true,
    () => false,
  );
}

async function main(): Promise<void> {
  const sizes = SIZES.length ? SIZES : [1];
  if (process.getuid?.() !== 0) throw new Error("the backup benchmark needs root (it mounts a btrfs pool)");
  await rm(DIR, { recursive: true, force: true });
  await mkdir(DIR, { recursive: true });
  await chmod(DIR, 0o711);
  const pool = new BtrfsVolumes({ dir: path.join(DIR, "btrfs"), initialPoolGb: 16 });
  const { keys } = await masterKeysFor({ home: DIR });
  const options = { home: DIR, guestHost: "127.0.0.1", startTimeoutMs: 300_000, stopTimeoutMs: 120_000, volumes: pool, log: pino({ level: process.env.BENCH_LOG ?? "silent" }, pino.destination(2)) };
  // Backups encrypted, as the tracker makes them.
  const supervisor = new GuestSupervisor({ ...options, keys });
  const guests: string[] = [];
  const withMariabackup = await hasMariabackup();
  const rows: string[] = [];
  const summary: string[] = [];
  console.log(`Backup benchmark: MariaDB on a btrfs volume, ${WRITERS} writers inserting throughout, sizes ${sizes.join(", ")} GB (${DIR})\n`);
  try {
    for (const [index, gb] of sizes.entries()) {
      const cmd: ProvisionCommand = {
        instanceId: `bench-${gb}g-${randomUUID().slice(0, 8)}`,
        node: "bench",
        manager: "mariadb",
        datastore: "mariadb",
        version: "10.11",
        flavor: { id: "bench", ramMb: 2048, vcpus: 2 },
        volumeSizeGb: Math.ceil(gb * 3) + 2,
        networkId: "bench",
        databases: [{ name: "bench" }],
        users: [{ name: "bench", password: "bench-pw", host: "%", databases: ["bench"] }],
        settings: {},
      };
      guests.push(cmd.instanceId);
      const at = await supervisor.provision(cmd);
      const dataDir = path.join(pool.path(cmd.instanceId), "data");
      console.log(`${gb} GB:`);
      const bytes = await fill(at, dataDir, gb);
      const setup = await mysql.createConnection({ host: at.address, port: at.port, user: "bench", password: "bench-pw", database: "bench" });
      await setup.query("CREATE TABLE writes (id BIGINT AUTO_INCREMENT PRIMARY KEY, writer INT, v VARCHAR(200)) ENGINE=InnoDB");
      await setup.end();
      const writers = await startWriters(at);
      await sleep(2_000);

      // The floor: the longest wait in as long as a snapshot backup takes, with no backup at all.
      const edges: Record<string, number> = {};
      const snapshot = await timed(() => supervisor.backup({ instanceId: cmd.instanceId, node: "bench", backupId: `snap-${gb}`, strategy: "mariadb-snapshot" }, { onLock: (edge) => (edges[edge] = performance.now()) }));
      const dataKey = snapshot.value.newDataKey!;
      const snapshotWait = writers.maxWait(snapshot.from, snapshot.to);
      // The writes that met the lock: in flight at any moment between asking for it and its release.
      const lockWait = writers.maxWait(edges.locked! - (snapshot.value.artifact.lockMs ?? 0), edges.unlocked!);
      await sleep(1_000);
      const idleFrom = performance.now();
      await sleep(Math.min(snapshot.ms, 30_000));
      const idleWait = writers.maxWait(idleFrom, performance.now());
      const artifact: BackupArtifact = snapshot.value.artifact;

      // `tar | gzip -1` of the same folder (an O(1) snapshot of the volume, so it reads what the backup read).
      const snapDir = await pool.snapshot(cmd.instanceId, "bench-tar");
      const tarFile = path.join(DIR, "backups", `tar-gzip-${gb}.tar.gz`);
      const tar = await timed(() => run("bash", ["-c", 'set -o pipefail; tar -cf - -C "$1" data | gzip -1 > "$2"', "bash", snapDir, tarFile], { maxBuffer: 1 << 20 }));
      const tarBytes = (await du(tarFile));
      await pool.deleteSnapshot(cmd.instanceId, "bench-tar");
      await rm(tarFile, { force: true });

      const dump = await timed(async () => (await supervisor.backup({ instanceId: cmd.instanceId, node: "bench", backupId: `dump-${gb}`, strategy: "mariadb-dump", dataKey })).artifact);
      const dumpWait = writers.maxWait(dump.from, dump.to);

      let mb: { ms: number; wait: number } | undefined;
      if (withMariabackup) {
        const secret = (await readFile(path.join(DIR, "run", cmd.instanceId, "admin.secret"), "utf8")).trim();
        const cnf = path.join(DIR, "mariabackup.cnf");
        await writeFile(cnf, `[client]\nuser=root\npassword=${secret}\nsocket=${socketPath({ runDir: path.join(DIR, "run", cmd.instanceId) })}\n`, { mode: 0o600 });
        const target = path.join(DIR, `mariabackup-${gb}`);
        const r = await timed(
          () =>
            new Promise<void>((resolve, reject) => {
              const child = spawn("mariabackup", [`--defaults-extra-file=${cnf}`, "--backup", `--datadir=${dataDir}`, `--target-dir=${target}`], { stdio: ["ignore", "ignore", "pipe"] });
              let err = "";
              child.stderr.on("data", (c: Buffer) => (err = (err + c.toString()).slice(-2000)));
              child.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`mariabackup failed: ${err}`))));
            }),
        );
        mb = { ms: r.ms, wait: writers.maxWait(r.from, r.to) };
        await rm(target, { recursive: true, force: true });
        await rm(cnf, { force: true });
      }

      const ours = mbps(artifact.dataBytes, snapshot.ms);
      const theirs = mbps(bytes, tar.ms);
      rows.push(
        `| ${gb} GB | snapshot strategy | ${ms(artifact.lockMs ?? 0)} | ${ms(lockWait)} | ${ms(snapshotWait)} | ${(snapshot.ms / 1000).toFixed(1)} s | ${(artifact.sizeBytes / 1024 ** 2).toFixed(0)} MB |`,
        `| ${gb} GB | mariadb-dump --single-transaction | — | — | ${ms(dumpWait)} | ${(dump.ms / 1000).toFixed(1)} s | ${(dump.value.sizeBytes / 1024 ** 2).toFixed(0)} MB |`,
        mb ? `| ${gb} GB | mariabackup --backup | — | — | ${ms(mb.wait)} | ${(mb.ms / 1000).toFixed(1)} s | (uncompressed copy) |` : `| ${gb} GB | mariabackup | not installed (apt-get install mariadb-backup) | | | | |`,
        `| ${gb} GB | no backup (floor) | — | — | ${ms(idleWait)} | | |`,
      );
      summary.push(
        `${gb} GB: lock of the snapshot strategy ${ms(artifact.lockMs ?? 0)} (${artifact.notes ?? ""}); longest wait of a write that met it ${ms(lockWait)}`,
        `${gb} GB: longest write wait during the whole backup: snapshot ${ms(snapshotWait)}, dump ${ms(dumpWait)} (${(dumpWait / snapshotWait).toFixed(1)}×)${mb ? `, mariabackup ${ms(mb.wait)} (${(mb.wait / snapshotWait).toFixed(1)}×)` : ""}, none ${ms(idleWait)}`,
        `${gb} GB: throughput: snapshot backup ${ours.toFixed(0)} MB/s (${(bytes / GB).toFixed(2)} GB in ${(snapshot.ms / 1000).toFixed(1)} s, ${(artifact.sizeBytes / 1024 ** 2).toFixed(0)} MB stored) vs tar | gzip -1 ${theirs.toFixed(0)} MB/s (${(tar.ms / 1000).toFixed(1)} s, ${(tarBytes / 1024 ** 2).toFixed(0)} MB): ${(ours / theirs).toFixed(2)}× (goal ≥ 0.8×)`,
      );

      // Encryption's cost: the same backup through a supervisor without keys (it adopts the guest), alternating.
      if (index === 0) {
        const plain = new GuestSupervisor(options);
        await plain.adopt();
        const runs: Record<"sealed" | "plain", number[]> = { sealed: [], plain: [] };
        // Which goes first alternates: on a shared machine the one after another backup (btrfs cleaning up its
        // snapshot, the page cache) is not in the same place as the first.
        for (let round = 0; round < ROUNDS; round++) {
          const pair = [["plain", plain], ["sealed", supervisor]] as const;
          for (const [kind, sup] of round % 2 ? [pair[1], pair[0]] : pair) {
            const r = await timed(() => sup.backup({ instanceId: cmd.instanceId, node: "bench", backupId: `${kind}-${gb}-${round}`, strategy: "mariadb-snapshot", dataKey }));
            if (Boolean(r.value.artifact.encryption) !== (kind === "sealed")) throw new Error(`the ${kind} backup came out ${r.value.artifact.encryption ? "encrypted" : "unencrypted"}`);
            runs[kind].push(mbps(r.value.artifact.dataBytes, r.ms));
            await sup.deleteBackup(r.value.artifact);
          }
        }
        const [sealedMbps, plainMbps] = [median(runs.sealed), median(runs.plain)];
        summary.push(`${gb} GB: encryption: snapshot backup encrypted (AES-256-GCM) ${sealedMbps.toFixed(0)} MB/s vs unencrypted ${plainMbps.toFixed(0)} MB/s (medians of ${ROUNDS} runs each, alternating: ${runs.sealed.map((x) => x.toFixed(0)).join("/")} vs ${runs.plain.map((x) => x.toFixed(0)).join("/")}): ${(sealedMbps / plainMbps).toFixed(2)}× (goal ≥ 0.9×)`);
      }

      // The restore figure is of the first size (1 GB by default): replaying a dump of 5 GB takes a long time.
      if (index === 0) {
        const fromSnapshot = await timed(() => supervisor.provision({ ...cmd, instanceId: `${cmd.instanceId}-rs`, databases: [], users: [], restore: artifact, restoreKey: dataKey }));
        guests.push(`${cmd.instanceId}-rs`);
        await supervisor.deprovision(`${cmd.instanceId}-rs`);
        const fromDump = await timed(() => supervisor.provision({ ...cmd, instanceId: `${cmd.instanceId}-rd`, databases: [], users: [], restore: dump.value, restoreKey: dataKey }));
        guests.push(`${cmd.instanceId}-rd`);
        await supervisor.deprovision(`${cmd.instanceId}-rd`);
        summary.push(`${gb} GB: restore into a new guest: snapshot backup ${(fromSnapshot.ms / 1000).toFixed(1)} s vs logical dump replay ${(fromDump.ms / 1000).toFixed(1)} s: ${(fromDump.ms / fromSnapshot.ms).toFixed(1)}× faster (goal ≥ 10×)`);
      }
      await writers.stop();
      console.log(`  ${writers.count()} writes during the measurements`);
      for (const line of summary.filter((l) => l.startsWith(`${gb} GB:`))) console.log(`  ${line}`);
      await supervisor.deleteBackup(artifact);
      await supervisor.deleteBackup(dump.value);
      await supervisor.deprovision(cmd.instanceId);
    }
    console.log("\n| data | backup | lock_ms | longest wait of a write meeting the lock | longest write wait during the backup | backup time | stored |\n| --- | --- | --- | --- | --- | --- | --- |");
    for (const r of rows) console.log(r);
    console.log("");
    for (const s of summary) console.log(s);
  } finally {
    for (const id of guests) await supervisor.deprovision(id).catch(() => {});
    await pool.close().catch((err: Error) => console.error(`could not unmount the bench pool: ${err.message}`));
    await rm(DIR, { recursive: true, force: true });
  }
}

await main();
