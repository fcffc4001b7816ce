/**
 * Backup strategies at the GuestSupervisor against real engines on a real btrfs pool (loop-mounted in a
 * private home under /dev/shm): each strategy backs up a guest under concurrent writes, a new guest is
 * restored from it and the first is rolled back to it, and both hold exactly the writes the backup covered.
 * Also: a damaged backup is refused by its checksum, a full backup store fails the backup and leaves nothing
 * (the engine unlocked and writable), the folder volume driver copies while locked and says so, and what an
 * interrupted backup leaves is removed at the next start. Needs root and btrfs-progs.
 */
import { execFile } from "node:child_process";
import { createHash, randomUUID } from "node:crypto";
import { existsSync, readdirSync } from "node:fs";
import { mkdir, mkdtemp, open, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import mysql from "mysql2/promise";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BtrfsVolumes, DirectoryVolumes, FilesystemBackupStore, type BackupStore } from "../drivers/index.js";
import type { BackupArtifact, ProvisionCommand } from "../events/payloads.js";
import { GuestSupervisor } from "../tracker/guests.js";
import { processesUnder } from "./processes.js";

const run = promisify(execFile);
const HOST = "127.0.0.1";
const log = pino({ level: "silent" });

let home: string;
let pool: BtrfsVolumes;
let supervisor: GuestSupervisor;
const made = new Set<string>();
const mounts: string[] = [];

function makeSupervisor(opts: { backups?: BackupStore; volumes?: BtrfsVolumes | DirectoryVolumes } = {}): GuestSupervisor {
  return new GuestSupervisor({ home, guestHost: HOST, startTimeoutMs: 60_000, stopTimeoutMs: 20_000, volumes: opts.volumes ?? pool, log, ...(opts.backups ? { backups: opts.backups } : {}) });
}

// ---- engines: how to provision one, write to it and read back what it holds ----

interface Writer {
  insert(seq: number): Promise<void>;
  close(): Promise<void>;
}

interface Kit {
  manager: string;
  version: string;
  extra: Partial<ProvisionCommand>;
  setup(at: Endpoint): Promise<void>;
  writer(at: Endpoint, w: number): Promise<Writer>;
  /** Every write the guest holds, as "w:seq". */
  rows(at: Endpoint): Promise<Set<string>>;
}

type Endpoint = { address: string; port: number };

const mariadb: Kit = {
  manager: "mariadb",
  version: "10.11",
  extra: { databases: [{ name: "app" }], users: [{ name: "app", password: "app-pw", host: "%", databases: ["app"] }] },
  async setup(at) {
    const c = await mysql.createConnection({ host: at.address, port: at.port, user: "app", password: "app-pw", database: "app" });
    await c.query("CREATE TABLE w (writer INT NOT NULL, seq INT NOT NULL, pad VARCHAR(200), PRIMARY KEY (writer, seq)) ENGINE=InnoDB");
    await c.end();
  },
  async writer(at, w) {
    const c = await mysql.createConnection({ host: at.address, port: at.port, user: "app", password: "app-pw", database: "app" });
    return {
      insert: async (seq) => void (await c.query("INSERT INTO w VALUES (?, ?, REPEAT('x', 200))", [w, seq])),
      close: () => c.end(),
    };
  },
  async rows(at) {
    const c = await mysql.createConnection({ host: at.address, port: at.port, user: "app", password: "app-pw", database: "app" });
    const [rows] = await c.query("SELECT writer, seq FROM w");
    await c.end();
    return new Set((rows as { writer: number; seq: number }[]).map((r) => `${r.writer}:${r.seq}`));
  },
};

function command(kit: Kit, overrides: Partial<ProvisionCommand> = {}): ProvisionCommand {
  const instanceId = `b-${randomUUID()}`;
  made.add(instanceId);
  return {
    instanceId,
    node: "node-1",
    manager: kit.manager,
    datastore: kit.manager,
    version: kit.version,
    flavor: { id: "1", ramMb: 512, vcpus: 1 },
    volumeSizeGb: 2,
    networkId: "net-1",
    databases: [],
    users: [],
    settings: {},
    ...kit.extra,
    ...overrides,
  };
}

// ---- writes under load ----

interface Write {
  writer: number;
  seq: number;
  sentAt: number;
  ackAt?: number;
}

/** Writers inserting as fast as they can, each its own sequence, recording when each write was sent and acknowledged. */
async function load(kit: Kit, at: Endpoint, writers = 3) {
  const writes: Write[] = [];
  let stopping = false;
  const loops = await Promise.all(
    Array.from({ length: writers }, async (_, w) => {
      const c = await kit.writer(at, w);
      // Wrapped: an async function returning the loop's promise would wait for the loop itself.
      return {
        done: (async () => {
          for (let seq = 1; !stopping; seq++) {
            const write: Write = { writer: w, seq, sentAt: performance.now() };
            writes.push(write);
            await c.insert(seq);
            write.ackAt = performance.now();
          }
          await c.close();
        })(),
      };
    }),
  );
  return {
    writes,
    async stop() {
      stopping = true;
      await Promise.all(loops.map((l) => l.done));
    },
  };
}

/**
 * Checks that `found` holds exactly the writes a backup covered: every write acknowledged before `from`,
 * none sent after `to`, and of each writer a prefix of its sequence (a later write never without an earlier
 * one). Returns how many writes fell between (in flight at the backup's moment), which may go either way.
 */
function expectCovered(writes: Write[], found: Set<string>, from: number, to: number): number {
  let between = 0;
  const byWriter = new Map<number, Write[]>();
  for (const w of writes) byWriter.set(w.writer, [...(byWriter.get(w.writer) ?? []), w]);
  for (const [writer, list] of byWriter) {
    const present = list.filter((w) => found.has(`${w.writer}:${w.seq}`)).map((w) => w.seq);
    expect(present, `writer ${writer}: a prefix of its writes`).toEqual(present.map((_, i) => i + 1));
    for (const w of list) {
      const has = found.has(`${w.writer}:${w.seq}`);
      if (w.ackAt !== undefined && w.ackAt < from) expect(has, `write ${w.writer}:${w.seq} acknowledged before the backup`).toBe(true);
      else if (w.sentAt > to) expect(has, `write ${w.writer}:${w.seq} sent after the backup`).toBe(false);
      else between++;
    }
  }
  // Nothing the backup holds was never written.
  const written = new Set(writes.map((w) => `${w.writer}:${w.seq}`));
  for (const f of found) expect(written.has(f), `row ${f} was written`).toBe(true);
  return between;
}

async function sha256Of(file: string): Promise<string> {
  return createHash("sha256").update(await readFile(file)).digest("hex");
}

beforeAll(async () => {
  home = await mkdtemp("/dev/shm/hoard-backups-");
  pool = new BtrfsVolumes({ dir: path.join(home, "btrfs"), initialPoolGb: 8 });
  supervisor = makeSupervisor();
  await supervisor.warm([{ manager: "mariadb", version: "10.11" }]);
}, 120_000);

afterAll(async () => {
  if (!home) return;
  const cleaner = makeSupervisor();
  const runDir = path.join(home, "run");
  const leftovers = existsSync(runDir) ? readdirSync(runDir) : [];
  for (const id of new Set([...made, ...leftovers])) await cleaner.deprovision(id).catch(() => {});
  for (const p of processesUnder(home)) process.kill(p.pid, "SIGKILL");
  for (const m of mounts.reverse()) await run("umount", [m]).catch(() => {});
  await pool.close().catch(() => {});
  await rm(home, { recursive: true, force: true });
}, 120_000);

/** Backs up under load, restores into a new guest, rolls the first back, and checks both against the writes. */
function strategyCycle(kit: Kit, strategy: string, opts: { lock: boolean }) {
  describe(`${strategy}`, () => {
    let source: ProvisionCommand;
    let at: Endpoint;
    let artifact: BackupArtifact;
    let writes: Write[];
    let from = 0;
    let to = 0;
    let restored: Set<string>;

    it("backs up a guest under concurrent writes; the file is what the artifact says", async () => {
      source = command(kit);
      at = await supervisor.provision(source);
      await kit.setup(at);
      const writing = await load(kit, at);
      writes = writing.writes;
      await new Promise((r) => setTimeout(r, 400));
      const edges: Record<string, number> = {};
      const called = performance.now();
      artifact = await supervisor.backup({ instanceId: source.instanceId, node: "node-1", backupId: `k-${randomUUID()}`, strategy }, { onLock: (edge) => (edges[edge] = performance.now()) });
      const returned = performance.now();
      // Writes go on after the backup, and must not be in it.
      await new Promise((r) => setTimeout(r, 300));
      await writing.stop();
      if (opts.lock) {
        expect(edges.locked).toBeGreaterThan(called);
        expect(edges.unlocked).toBeGreaterThan(edges.locked!);
        // Covered: what was acknowledged before the lock was granted; a write sent after it waited for the unlock.
        from = edges.locked!;
        to = edges.locked!;
        expect(artifact.lockMs).toBeGreaterThan(0);
      } else {
        from = called;
        to = returned;
      }
      expect(artifact).toMatchObject({ strategy, manager: kit.manager, version: kit.version });
      const file = path.join(home, "backups", artifact.location);
      expect(await sha256Of(file)).toBe(artifact.checksum);
      expect((await readFile(file)).length).toBe(artifact.sizeBytes);
      expect(artifact.dataBytes).toBeGreaterThan(0);
      // Nothing of the backup is left but its file: no snapshot, no scratch folder.
      expect(await pool.listSnapshots(source.instanceId)).toEqual([]);
      expect(existsSync(path.join(home, "backup-work")) ? readdirSync(path.join(home, "backup-work")) : []).toEqual([]);
      console.log(`${strategy}: ${writes.filter((w) => w.ackAt).length} writes, lock ${artifact.lockMs} ms${artifact.notes ? ` (${artifact.notes})` : ""}, ${artifact.dataBytes} bytes → ${artifact.sizeBytes}`);
    });

    it("restores into a new guest holding exactly the writes the backup covered, with the backup's users and its own admin secret", async () => {
      const target = command(kit, { restore: artifact, databases: [], users: [] });
      const endpoint = await supervisor.provision(target);
      restored = await kit.rows(endpoint);
      const between = expectCovered(writes, restored, from, to);
      if (opts.lock) expect(between).toBeLessThanOrEqual(3);
      const secrets = await Promise.all([source, target].map((c) => readFile(path.join(home, "run", c.instanceId, "admin.secret"), "utf8")));
      expect(secrets[0]).not.toBe(secrets[1]);
      expect((await supervisor.health()).find((g) => g.instanceId === target.instanceId)?.health).toBe("HEALTHY");
      await supervisor.deprovision(target.instanceId);
    });

    it("rolls the guest back in place to the same writes", async () => {
      await supervisor.rollback({ instanceId: source.instanceId, node: "node-1", backupId: `r-${randomUUID()}`, artifact });
      expect(await kit.rows(at)).toEqual(restored);
      expect((await supervisor.health()).find((g) => g.instanceId === source.instanceId)?.health).toBe("HEALTHY");
      // Still writable after the rollback.
      const w = await kit.writer(at, 99);
      await w.insert(1);
      await w.close();
      await supervisor.deleteBackup(artifact);
      await supervisor.deleteBackup(artifact);
      expect(existsSync(path.join(home, "backups", artifact.location))).toBe(false);
      await supervisor.deprovision(source.instanceId);
    });
  });
}

strategyCycle(mariadb, "mariadb-snapshot", { lock: true });
strategyCycle(mariadb, "mariadb-dump", { lock: false });
