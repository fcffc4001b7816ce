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
import { mkdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { Redis } from "ioredis";
import mysql from "mysql2/promise";
import pg from "pg";
import { pino } from "pino";
import { connectAs } from "../../bootstrap/index.js";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { natsGuestCaller } from "../../runtime/guest-caller.js";
import { serveGuestCalls } from "../../tracker/calls.js";
import { Readable } from "node:stream";
import { backupStoreFrom, BtrfsVolumes, DirectoryVolumes, FilesystemBackupStore, masterKeysFor } from "../../drivers/index.js";
import { S3BackupStore } from "../../drivers/backup-store/s3.js";
import type { BackupArtifact, ProvisionCommand } from "../../events/payloads.js";
import { GuestSupervisor } from "../../tracker/guests/index.js";
import { GUEST_HOST as HOST, supervisorHome } from "../kit/supervisor-home.js";

const run = promisify(execFile);
const log = pino({ level: "silent" });

let pool: BtrfsVolumes;
const mounts: string[] = [];
const guests = supervisorHome({
  parent: "/dev/shm",
  prefix: "hoard-backups-",
  idPrefix: "b-",
  defaults: { manager: "mariadb", version: "10.11", flavor: { id: "1", ramMb: 512, vcpus: 1 }, volumeSizeGb: 2 },
  warm: [
    { manager: "mariadb", version: "10.11" },
    { manager: "postgresql", version: "15" },
    { manager: "redis", version: "7.0" },
  ],
  supervisor(home) {
    pool = new BtrfsVolumes({ dir: path.join(home, "btrfs"), initialPoolGb: 8 });
    return { startTimeoutMs: 60_000, stopTimeoutMs: 20_000, volumes: pool, log };
  },
  async cleanup() {
    for (const m of mounts.reverse()) await run("umount", [m]).catch(() => {});
    await pool.close().catch(() => {});
  },
  hookTimeoutMs: 120_000,
});

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

const postgresql: Kit = {
  manager: "postgresql",
  version: "15",
  extra: { databases: [{ name: "app" }], users: [{ name: "app", password: "app-pw", host: "%", databases: ["app"] }] },
  async setup(at) {
    const c = await pgConnect(at);
    await c.query("CREATE TABLE w (writer INT NOT NULL, seq INT NOT NULL, pad TEXT, PRIMARY KEY (writer, seq))");
    await c.end();
  },
  async writer(at, w) {
    const c = await pgConnect(at);
    return {
      insert: async (seq) => void (await c.query("INSERT INTO w VALUES ($1, $2, repeat('x', 200))", [w, seq])),
      close: () => c.end(),
    };
  },
  async rows(at) {
    const c = await pgConnect(at);
    const { rows } = await c.query<{ writer: number; seq: number }>("SELECT writer, seq FROM w");
    await c.end();
    return new Set(rows.map((r) => `${r.writer}:${r.seq}`));
  },
};

async function pgConnect(at: Endpoint): Promise<pg.Client> {
  const c = new pg.Client({ host: at.address, port: at.port, user: "app", password: "app-pw", database: "app" });
  await c.connect();
  return c;
}

const redis: Kit = {
  manager: "redis",
  version: "7.0",
  extra: { users: [{ name: "app", password: "app-pw", host: "%", databases: [] }] },
  async setup() {},
  async writer(at, w) {
    const c = new Redis({ host: at.address, port: at.port, username: "app", password: "app-pw", lazyConnect: true });
    await c.connect();
    return {
      insert: async (seq) => void (await c.set(`w:${w}:${seq}`, "x".repeat(200))),
      close: async () => void (await c.quit()),
    };
  },
  async rows(at) {
    const c = new Redis({ host: at.address, port: at.port, username: "app", password: "app-pw", lazyConnect: true });
    await c.connect();
    const keys: string[] = [];
    let cursor = "0";
    do {
      const [next, batch] = await c.scan(cursor, "MATCH", "w:*", "COUNT", 1000);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== "0");
    await c.quit();
    return new Set(keys.map((k) => k.slice(2)));
  },
};

function command(kit: Kit, overrides: Partial<ProvisionCommand> = {}): ProvisionCommand {
  return guests.command({ manager: kit.manager, datastore: kit.manager, version: kit.version, ...kit.extra, ...overrides });
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

/** Backs up under load, restores into a new guest, rolls the first back, and checks both against the writes. */
function strategyCycle(kit: Kit, strategy: string, opts: { lock: boolean }) {
  describe(`${strategy}`, () => {
    // One story, one test: the rollback must land on exactly what the restore holds, and the backup is then deleted.
    it("backs up a guest under concurrent writes, restores a new guest and rolls the first back in place, both to exactly the writes the backup covered", { timeout: 180_000 }, async () => {
      // The backup, under concurrent writes; the file is what the artifact says.
      const source = command(kit);
      const at = await guests.supervisor.provision(source);
      await kit.setup(at);
      const writing = await load(kit, at);
      const writes = writing.writes;
      await new Promise((r) => setTimeout(r, 400));
      const edges: Record<string, number> = {};
      const called = performance.now();
      const artifact = (await guests.supervisor.backup({ instanceId: source.instanceId, node: "node-1", backupId: `k-${randomUUID()}`, strategy }, { onLock: (edge) => (edges[edge] = performance.now()) })).artifact;
      const returned = performance.now();
      // Writes go on after the backup, and must not be in it.
      await new Promise((r) => setTimeout(r, 300));
      await writing.stop();
      let from: number;
      let to: number;
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
      const file = path.join(guests.home, "backups", artifact.location);
      expect(await sha256Of(file)).toBe(artifact.checksum);
      expect((await readFile(file)).length).toBe(artifact.sizeBytes);
      expect(artifact.dataBytes).toBeGreaterThan(0);
      // Nothing of the backup is left but its file: no snapshot, no scratch folder.
      expect(await pool.listSnapshots(source.instanceId)).toEqual([]);
      expect(existsSync(path.join(guests.home, "backup-work")) ? readdirSync(path.join(guests.home, "backup-work")) : []).toEqual([]);
      console.log(`${strategy}: ${writes.filter((w) => w.ackAt).length} writes, lock ${artifact.lockMs} ms${artifact.notes ? ` (${artifact.notes})` : ""}, ${artifact.dataBytes} bytes → ${artifact.sizeBytes}`);

      // The restore into a new guest: exactly the writes the backup covered, the backup's users, its own admin secret.
      const target = command(kit, { restore: artifact, databases: [], users: [] });
      const endpoint = await guests.supervisor.provision(target);
      const restored = await kit.rows(endpoint);
      const between = expectCovered(writes, restored, from, to);
      if (opts.lock) expect(between).toBeLessThanOrEqual(3);
      const secrets = await Promise.all([source, target].map((c) => readFile(path.join(guests.home, "run", c.instanceId, "admin.secret"), "utf8")));
      expect(secrets[0]).not.toBe(secrets[1]);
      // Whatever re-keyed the backup's admin account is gone once the guest is secured.
      expect(readdirSync(path.join(guests.home, "run", target.instanceId)).filter((f) => /init\.sql|bootstrap\.secret/.test(f))).toEqual([]);
      expect((await guests.supervisor.health()).find((g) => g.instanceId === target.instanceId)?.health).toBe("HEALTHY");
      await guests.supervisor.deprovision(target.instanceId);

      // The rollback in place, to the same writes.
      await guests.supervisor.rollback({ instanceId: source.instanceId, node: "node-1", backupId: `r-${randomUUID()}`, artifact });
      expect(await kit.rows(at)).toEqual(restored);
      expect((await guests.supervisor.health()).find((g) => g.instanceId === source.instanceId)?.health).toBe("HEALTHY");
      // Still writable after the rollback.
      const w = await kit.writer(at, 99);
      await w.insert(1);
      await w.close();
      await guests.supervisor.deleteBackup(artifact);
      await guests.supervisor.deleteBackup(artifact);
      expect(existsSync(path.join(guests.home, "backups", artifact.location))).toBe(false);
      await guests.supervisor.deprovision(source.instanceId);
    });
  });
}

strategyCycle(mariadb, "mariadb-snapshot", { lock: true });
strategyCycle(mariadb, "mariadb-dump", { lock: false });
strategyCycle(postgresql, "postgresql-snapshot", { lock: false });
strategyCycle(postgresql, "pg_dump", { lock: false });
strategyCycle(redis, "redis-rdb", { lock: false });

describe("safety", () => {
  let source: ProvisionCommand;
  let at: Endpoint;
  let artifact: BackupArtifact;

  /** A write that must go through promptly: it would hang behind a lock left held. */
  async function writable(endpoint: Endpoint, seq: number): Promise<void> {
    const c = await mysql.createConnection({ host: endpoint.address, port: endpoint.port, user: "app", password: "app-pw", database: "app" });
    try {
      await c.query({ sql: "INSERT INTO w VALUES (7, ?, 'after')", timeout: 5_000 }, [seq]);
    } finally {
      await c.end();
    }
  }

  beforeAll(async () => {
    source = command(mariadb);
    at = await guests.supervisor.provision(source);
    await mariadb.setup(at);
    const w = await mariadb.writer(at, 1);
    for (let seq = 1; seq <= 50; seq++) await w.insert(seq);
    await w.close();
    artifact = (await guests.supervisor.backup({ instanceId: source.instanceId, node: "node-1", backupId: `s-${randomUUID()}` })).artifact;
  }, 120_000);

  it("refuses a damaged backup by its checksum, leaving nothing made and the guest untouched", async () => {
    const file = path.join(guests.home, "backups", artifact.location);
    const original = await readFile(file);
    const damaged = Buffer.from(original);
    const before = await mariadb.rows(at);
    damaged[Math.floor(damaged.length / 2)]! ^= 0x01;
    await writeFile(file, damaged);
    try {
      await expect(guests.supervisor.verifyBackup(artifact)).rejects.toMatchObject({ code: "BACKUP_FILE_DAMAGED", message: expect.stringMatching(/does not match its checksum/) });
      const target = command(mariadb, { restore: artifact });
      await expect(guests.supervisor.provision(target)).rejects.toThrow(/does not match its checksum/);
      expect(existsSync(path.join(guests.home, "run", target.instanceId))).toBe(false);
      expect(await pool.exists(target.instanceId)).toBe(false);
      await expect(guests.supervisor.rollback({ instanceId: source.instanceId, node: "node-1", backupId: "r-damaged", artifact })).rejects.toThrow(/does not match its checksum/);
      // The 50 rows it was made with, and whatever the other tests wrote (writer 7): all there, none lost.
      const rows = await mariadb.rows(at);
      expect(rows).toEqual(before);
      expect([...rows].filter((r) => r.startsWith("1:"))).toHaveLength(50);
      // A file cut short is caught by its size.
      await writeFile(file, original.subarray(0, original.length - 1));
      await expect(guests.supervisor.verifyBackup(artifact)).rejects.toMatchObject({ code: "BACKUP_FILE_WRONG_SIZE", message: expect.stringMatching(/damaged/) });
      await rm(file);
      await expect(guests.supervisor.verifyBackup(artifact)).rejects.toMatchObject({ code: "BACKUP_FILE_MISSING", message: expect.stringMatching(/missing/) });
    } finally {
      await writeFile(file, original);
    }
    await guests.supervisor.verifyBackup(artifact);
  });

  it("reports a backup again, without making it again over its file, when its command comes again (NATS lost the ack)", async () => {
    const cmd = { instanceId: source.instanceId, node: "node-1", backupId: `s-${randomUUID()}` };
    const first = (await guests.supervisor.backup(cmd)).artifact;
    const file = path.join(guests.home, "backups", first.location);
    const before = await stat(file);
    // The data moves on: a backup made now would be another file with another checksum.
    await writable(at, 900);
    expect((await guests.supervisor.backup(cmd)).artifact).toEqual(first);
    expect((await stat(file)).mtimeMs).toBe(before.mtimeMs);
    await guests.supervisor.verifyBackup(first);
  });

  it("answers backup.verify over NATS for a function that checks a file before accepting it", async () => {
    const nc = await connectAs(inject("natsUrl"), inject("natsCredentials"), "admin");
    const node = `verify-${randomUUID().slice(0, 8)}`;
    const sub = serveGuestCalls(nc, node, guests.supervisor, log);
    try {
      const caller = natsGuestCaller(nc, 10_000);
      await caller.verifyBackup(node, artifact);
      await expect(caller.verifyBackup(node, { ...artifact, checksum: "0".repeat(64) })).rejects.toMatchObject({ code: "BACKUP_FILE_DAMAGED", message: expect.stringMatching(/does not match its checksum/) });
      await expect(caller.verifyBackup(node, { ...artifact, location: `${source.instanceId}/nothing.tar.zst` })).rejects.toMatchObject({ code: "BACKUP_FILE_MISSING", message: expect.stringMatching(/missing/) });
      // No tracker on that node: the caller may retry later.
      await expect(natsGuestCaller(nc, 500).verifyBackup("no-such-node", artifact)).rejects.toMatchObject({ code: "UNAVAILABLE" });
    } finally {
      await sub.drain();
      await nc.close();
    }
  });

  it("fails a backup into a full store with the reason, leaving nothing, the engine unlocked and writable", async () => {
    const tiny = path.join(guests.home, "tiny-store");
    await mkdir(tiny);
    await run("mount", ["-t", "tmpfs", "-o", "size=256k", "tmpfs", tiny]);
    mounts.push(tiny);
    const full = guests.makeSupervisor({ backups: new FilesystemBackupStore(tiny) });
    await full.adopt();
    await expect(full.backup({ instanceId: source.instanceId, node: "node-1", backupId: `f-${randomUUID()}` })).rejects.toThrow(/The backup failed: the backup store .* is full \(ENOSPC\)/);
    const left = (await run("find", [tiny, "-type", "f"])).stdout.trim();
    expect(left).toBe("");
    expect(await pool.listSnapshots(source.instanceId)).toEqual([]);
    expect(existsSync(path.join(guests.home, "backup-work")) ? readdirSync(path.join(guests.home, "backup-work")) : []).toEqual([]);
    await writable(at, 1);
    expect((await full.health()).find((g) => g.instanceId === source.instanceId)?.health).toBe("HEALTHY");
  });

  it("releases the lock when the tracker dies holding it, and the next start removes what the backup left", async () => {
    const backupId = `d-${randomUUID()}`;
    const script = [
      `const { GuestSupervisor } = await import(${JSON.stringify(path.resolve("tracker/guests/index.ts"))});`,
      `const { BtrfsVolumes } = await import(${JSON.stringify(path.resolve("drivers/index.ts"))});`,
      `const { pino } = await import("pino");`,
      `const sup = new GuestSupervisor({ home: ${JSON.stringify(guests.home)}, guestHost: "${HOST}", startTimeoutMs: 30000, volumes: new BtrfsVolumes({ dir: ${JSON.stringify(path.join(guests.home, "btrfs"))} }), log: pino({ level: "silent" }) });`,
      `await sup.adopt();`,
      // Dies the moment the lock is granted, before the snapshot: as a tracker killed mid-backup.
      `await sup.backup({ instanceId: ${JSON.stringify(source.instanceId)}, node: "node-1", backupId: ${JSON.stringify(backupId)} }, { onLock: () => process.kill(process.pid, "SIGKILL") });`,
    ].join("\n");
    const died = await new Promise<string | null>((resolve) => {
      execFile(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { timeout: 30_000 }, (err) => resolve((err as { signal?: string } | null)?.signal ?? null));
    });
    expect(died).toBe("SIGKILL");
    // Its scratch folder is still there; the lock is not.
    expect(existsSync(path.join(guests.home, "backup-work", backupId))).toBe(true);
    await writable(at, 2);
    // Leftovers of another kind: a backup snapshot and a partial file in the store.
    await pool.snapshot(source.instanceId, `backup-${backupId}`);
    await mkdir(path.join(guests.home, "backups", source.instanceId), { recursive: true });
    await writeFile(path.join(guests.home, "backups", source.instanceId, `.partial-0123-${backupId}.tar.zst`), "half");
    const next = guests.makeSupervisor();
    await next.adopt();
    expect(existsSync(path.join(guests.home, "backup-work", backupId))).toBe(false);
    expect(await pool.listSnapshots(source.instanceId)).toEqual([]);
    expect(readdirSync(path.join(guests.home, "backups", source.instanceId)).filter((f) => f.startsWith(".partial-"))).toEqual([]);
    // The backup made before is untouched.
    await next.verifyBackup(artifact);
  });

  it("puts the data from before back when a rollback was cut short by a crash", async () => {
    const before = await mariadb.rows(at);
    await guests.supervisor.stop(source.instanceId);
    // As a tracker killed mid-rollback leaves it: the old data set aside, the backup's half unpacked.
    const volume = pool.path(source.instanceId);
    await run("mv", [path.join(volume, "data"), path.join(volume, ".before-rollback-crash")]);
    await mkdir(path.join(volume, "data"));
    await mkdir(path.join(volume, ".rollback-crash", "data"), { recursive: true });
    const next = guests.makeSupervisor();
    await next.adopt();
    expect(readdirSync(volume).filter((e) => e.startsWith("."))).toEqual([]);
    await next.start(source.instanceId);
    expect(await mariadb.rows(at)).toEqual(before);
    await guests.supervisor.adopt();
  });

  it("copies the volume while locked on the folder volume driver, says so, and restores from it", async () => {
    const folders = guests.makeSupervisor({ volumes: new DirectoryVolumes(path.join(guests.home, "folder-volumes")) });
    const cmd = command(mariadb);
    const endpoint = await folders.provision(cmd);
    await mariadb.setup(endpoint);
    const w = await mariadb.writer(endpoint, 3);
    for (let seq = 1; seq <= 20; seq++) await w.insert(seq);
    await w.close();
    const copied = (await folders.backup({ instanceId: cmd.instanceId, node: "node-1", backupId: `c-${randomUUID()}` })).artifact;
    expect(copied.notes).toMatch(/copied while the lock was held/);
    expect(copied.lockMs).toBeGreaterThan(0);
    const target = command(mariadb, { restore: copied });
    const restoredAt = await folders.provision(target);
    expect((await mariadb.rows(restoredAt)).size).toBe(20);
    await folders.deprovision(target.instanceId);
    await folders.deprovision(cmd.instanceId);
    expect(readdirSync(path.join(guests.home, "folder-volumes")).filter((f) => !f.startsWith("."))).toEqual([]);
  });
});

describe("S3-compatible backup store", () => {
  // s3rver: an S3 REST API server (SigV4, multipart uploads) over a local folder, as npm brings it; no other
  // S3-compatible server can run on this machine (MinIO and Ceph RGW with its single-node store are not packaged).
  let server: { run(): Promise<{ port: number }>; close(): Promise<void> };
  let store: S3BackupStore;
  let s3: GuestSupervisor;

  beforeAll(async () => {
    // @ts-expect-error s3rver ships no type declarations
    const { default: S3rver } = (await import("s3rver")) as unknown as { default: new (opts: object) => typeof server };
    const directory = path.join(guests.home, "s3rver");
    await mkdir(directory);
    server = new S3rver({ address: HOST, port: 0, directory, silent: true, configureBuckets: [{ name: "hoard-backups" }] });
    const { port } = await server.run();
    store = (await backupStoreFrom({ home: guests.home, url: "s3://hoard-backups/node-1", s3: { endpoint: `http://${HOST}:${port}`, accessKeyId: "S3RVER", secretAccessKey: "S3RVER", partBytes: 5 * 1024 * 1024 } })) as S3BackupStore;
    expect(store).toBeInstanceOf(S3BackupStore);
    s3 = guests.makeSupervisor({ backups: store });
  });

  afterAll(async () => {
    store?.close();
    await server?.close();
  });

  it("stores a snapshot backup as a multipart object, restores from it, and refuses it once changed", async () => {
    const source = command(mariadb);
    const at = await s3.provision(source);
    await mariadb.setup(at);
    const w = await mariadb.writer(at, 5);
    for (let seq = 1; seq <= 30; seq++) await w.insert(seq);
    await w.close();
    // 12 MB that do not compress: the upload takes three parts.
    const c = await mysql.createConnection({ host: at.address, port: at.port, user: "app", password: "app-pw", database: "app" });
    await c.query("CREATE TABLE noise (id INT PRIMARY KEY, v VARBINARY(1024)) SELECT seq AS id, RANDOM_BYTES(1024) AS v FROM seq_1_to_12000");
    const [[sum]] = (await c.query("SELECT SUM(CRC32(v)) AS s FROM noise")) as unknown as [[{ s: string }]];
    await c.end();
    const artifact = (await s3.backup({ instanceId: source.instanceId, node: "node-1", backupId: `3-${randomUUID()}` })).artifact;
    expect(artifact.sizeBytes).toBeGreaterThan(10 * 1024 * 1024);
    expect(await store.size(artifact.location)).toBe(artifact.sizeBytes);
    const target = command(mariadb, { restore: artifact });
    const restoredAt = await s3.provision(target);
    expect((await mariadb.rows(restoredAt)).size).toBe(30);
    const r = await mysql.createConnection({ host: restoredAt.address, port: restoredAt.port, user: "app", password: "app-pw", database: "app" });
    expect(((await r.query("SELECT SUM(CRC32(v)) AS s FROM noise")) as unknown as [[{ s: string }]])[0][0].s).toBe(sum.s);
    await r.end();
    await s3.deprovision(target.instanceId);
    // Another object under the same key: the checksum tells.
    await store.put(artifact.location, Readable.from([Buffer.from("not a backup")]));
    await expect(s3.verifyBackup(artifact)).rejects.toMatchObject({ code: "BACKUP_FILE_WRONG_SIZE" });
    await s3.deleteBackup(artifact);
    await s3.deleteBackup(artifact);
    await expect(s3.verifyBackup(artifact)).rejects.toMatchObject({ code: "BACKUP_FILE_MISSING" });
    await s3.deprovision(source.instanceId);
  });
});

describe("encrypted dumps (a supervisor with backup keys)", () => {
  // The dump strategies are replayed into the engine: each frame must authenticate before the engine sees it.
  for (const [kit, strategy] of [[mariadb, "mariadb-dump"], [postgresql, "pg_dump"]] as const) {
    it(`${strategy}: stored encrypted, replayed with the data key into a new guest and in place, refused without it`, async () => {
      await mkdir(path.join(guests.home, `keys-${strategy}`), { recursive: true });
      const { keys } = await masterKeysFor({ home: path.join(guests.home, `keys-${strategy}`) });
      const sealed = guests.makeSupervisor({ keys });
      const source = command(kit);
      const at = await sealed.provision(source);
      await kit.setup(at);
      const w = await kit.writer(at, 1);
      for (let seq = 1; seq <= 25; seq++) await w.insert(seq);
      await w.close();
      const made = await sealed.backup({ instanceId: source.instanceId, node: "node-1", backupId: `e-${randomUUID()}`, strategy });
      expect(made.artifact.encryption?.keyId).toBe(made.newDataKey?.keyId);
      const file = path.join(guests.home, "backups", made.artifact.location);
      expect((await readFile(file)).subarray(0, 8).toString()).toBe("HOARDBK1");
      expect(await sha256Of(file)).toBe(made.artifact.checksum);
      const target = command(kit, { restore: made.artifact, restoreKey: made.newDataKey!, databases: [], users: [] });
      expect(await kit.rows(await sealed.provision(target))).toEqual(await kit.rows(at));
      await sealed.deprovision(target.instanceId);
      const without = command(kit, { restore: made.artifact, databases: [], users: [] });
      await expect(sealed.provision(without)).rejects.toThrow(/encrypted with data key .* which was not given/);
      expect(existsSync(path.join(guests.home, "run", without.instanceId))).toBe(false);
      const w2 = await kit.writer(at, 2);
      await w2.insert(1);
      await w2.close();
      await sealed.rollback({ instanceId: source.instanceId, node: "node-1", backupId: `er-${randomUUID()}`, artifact: made.artifact, dataKey: made.newDataKey! });
      expect([...(await kit.rows(at))].filter((r) => r.startsWith("2:"))).toEqual([]);
      await sealed.deleteBackup(made.artifact);
      await sealed.deprovision(source.instanceId);
    });
  }
});
