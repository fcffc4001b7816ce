/**
 * Backups end to end through the real CLI and HTTP: a MariaDB instance written to by two sequential writers
 * is backed up while they keep writing (status BACKUP, backup NEW → COMPLETED with its size, lock time,
 * strategy and checksum), restored into a new instance and rolled back in place — both hold exactly the
 * rows committed before the backup's lock, i.e. a gap-free prefix of each writer's rows that contains every
 * row acknowledged before the request. Also: 422 for an instance not ACTIVE and for a second backup while
 * one runs; restore refused for a missing (404), FAILED (409), other-datastore (400), too-large (403) or
 * damaged (409) backup; delete removes the file and the row.
 */
import { existsSync, readdirSync } from "node:fs";
import { open, readFile } from "node:fs/promises";
import path from "node:path";
import mysql from "mysql2/promise";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually, startHoard, type Hoard } from "../kit/harness.js";

const P = "b4c0b4c0b4c0b4c0b4c0b4c0b4c0b4c0";
let hoard: Hoard;

beforeAll(async () => {
  // Three backups per project: the quota test fills it.
  hoard = await startHoard({ quotas: { instances: 10, ram: -1, volumes: 40, backups: 3 } });
});
afterAll(async () => {
  await hoard?.stop();
});

const cli = (project: string, ...args: string[]) => hoard.openstack(project, ["database", ...args]);
const showInstance = async (project: string, id: string) => (await hoard.api("GET", project, `/instances/${id}`)).body.instance;
const showBackup = async (project: string, id: string) => (await hoard.api("GET", project, `/backups/${id}`)).body.backup;
const untilInstance = (project: string, id: string, ok: (i: any) => boolean, ms = 60_000) => eventually(async () => {
  const i = await showInstance(project, id);
  return ok(i) ? i : undefined;
}, ms, 100);
const untilBackup = (project: string, id: string, status: string, ms = 120_000) => eventually(async () => {
  const b = await showBackup(project, id);
  if (b?.status === "FAILED" && status !== "FAILED") throw new Error(`backup failed: ${b.fail_reason}`);
  return b?.status === status ? b : undefined;
}, ms, 100);
const healthy = (i: any) => i.status === "ACTIVE" && i.operating_status === "HEALTHY";

type Endpoint = { address: string; port: number };
const connect = (at: Endpoint) => mysql.createConnection({ host: at.address, port: at.port, user: "app", password: "app-pw", database: "app" });
const endpoint = (i: any): Endpoint => ({ address: i.addresses[0].address, port: i.addresses[0].port });

/** A writer inserting 1, 2, 3, … into its own table, one autocommitted row at a time. */
class Writer {
  acked = 0;
  private stopped = false;
  private done: Promise<void> = Promise.resolve();
  constructor(readonly table: string) {}
  start(at: Endpoint): void {
    this.done = (async () => {
      const c = await connect(at);
      try {
        while (!this.stopped) {
          await c.query(`insert into ${this.table} (id) values (?)`, [this.acked + 1]);
          this.acked++;
        }
      } finally {
        await c.end();
      }
    })();
  }
  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }
}

const idsOf = async (at: Endpoint, table: string): Promise<number[]> => {
  const c = await connect(at);
  try {
    const [rows] = await c.query(`select id from ${table} order by id`);
    return (rows as { id: number }[]).map((r) => r.id);
  } finally {
    await c.end();
  }
};

/** The rows a backup holds must be 1..k (nothing lost, nothing after the lock) with every row acked before the request. */
function expectPrefix(ids: number[], ackedBefore: number, ackedAfter: number): number {
  const k = ids.length;
  expect(ids).toEqual(Array.from({ length: k }, (_, i) => i + 1));
  expect(k).toBeGreaterThanOrEqual(ackedBefore);
  expect(k).toBeLessThanOrEqual(ackedAfter);
  return k;
}

/**
 * Records every status an instance shows, and every status its newest backup shows, until stopped (polling
 * fast, so a short state is seen).
 */
function watchStatuses(project: string, id: string): { stop(): Promise<string[]>; backups: string[] } {
  const seen: string[] = [];
  const backups: string[] = [];
  let stopped = false;
  const note = (list: string[], s: string | undefined) => {
    if (s && list[list.length - 1] !== s) list.push(s);
  };
  const loop = (async () => {
    while (!stopped) {
      const [i, b] = await Promise.all([showInstance(project, id), hoard.api("GET", project, `/instances/${id}/backups`)]);
      note(seen, i.status);
      note(backups, b.body.backups[0]?.status);
      await new Promise((r) => setTimeout(r, 20));
    }
  })().catch(() => undefined);
  // One last look once the loop has ended: its last round may have been answered just before the change the
  // caller waited for, and the state the caller saw must be in the list too.
  const stop = async () => {
    stopped = true;
    await loop;
    const [i, b] = await Promise.all([showInstance(project, id), hoard.api("GET", project, `/instances/${id}/backups`)]);
    note(seen, i.status);
    note(backups, b.body.backups[0]?.status);
    return seen;
  };
  return { stop, backups };
}

/** Where the tracker's filesystem store keeps a backup's file. */
const storeFile = (location: string) => path.join(hoard.config.home, "backups", location);

/** A MariaDB instance with the `app` database and its user, in `project`, ACTIVE and HEALTHY. */
const freshSource = (project: string, name: string) =>
  hoard.createActive(project, {
    name,
    datastore: { type: "mariadb", version: "10.11" },
    databases: [{ name: "app" }],
    users: [{ name: "app", password: "app-pw", databases: [{ name: "app" }] }],
  });

/** A COMPLETED backup of `source`, taken over HTTP; returns once the instance is HEALTHY again. */
async function freshBackup(project: string, source: { id: string }, name: string): Promise<any> {
  const r = await hoard.api("POST", project, "/backups", { backup: { name, instance: source.id } });
  expect(r.status, JSON.stringify(r.body)).toBe(202);
  const done = await untilBackup(project, r.body.backup.id, "COMPLETED");
  await untilInstance(project, source.id, healthy);
  return done;
}

/** Kills a guest's engine as a crash would, so the tracker cannot back it up; waits until it shows SHUTDOWN. */
async function killEngine(project: string, source: { id: string }): Promise<void> {
  const pid = JSON.parse(await readFile(path.join(hoard.config.home, "run", source.id, "guest.json"), "utf8")).pid as number;
  process.kill(pid, "SIGKILL");
  await untilInstance(project, source.id, (i) => i.operating_status === "SHUTDOWN", 20_000);
}

/** The types of the public backup events of `project` that a subscriber gets from now on. */
async function heardBackupEvents(project: string): Promise<{ types: string[]; stop(): void }> {
  const types: string[] = [];
  const sub = hoard.nc.subscribe(`hoard.events.${project}.backup.>`, {
    callback: (_e, m) => {
      types.push(m.json<{ type: string }>().type);
    },
  });
  // The server has the subscription before the test makes the first event.
  await hoard.nc.flush();
  return { types, stop: () => sub.unsubscribe() };
}

describe("backups of a MariaDB instance", () => {
  // Each test works in a project of its own (quotas and listings are per project), on instances it makes,
  // except `kept`: an instance and its COMPLETED backup that tests only read (a change they make to either
  // is undone before they end).
  const K = "b4c0b4c0b4c0b4c0b4c0b4c0b4c0a000";
  const kept: { source: any; backup: any } = { source: undefined, backup: undefined };

  beforeAll(async () => {
    kept.source = await freshSource(K, "bk-kept");
    kept.backup = await freshBackup(K, kept.source, "bk-kept");
  });

  it("backs up through the CLI while writes go on (NEW, the instance in BACKUP, then COMPLETED with size, lock_ms, strategy and checksum), lists and shows it, restores it into a new instance and rolls the source back in place, each holding exactly the rows committed before the lock", { timeout: 240_000 }, async () => {
    // One story: the restore and the rollback are judged by what the writers had acknowledged around the backup.
    const source = await freshSource(P, "bk-src");
    const at = endpoint(source);
    const writers = [new Writer("w1"), new Writer("w2")];
    const c = await connect(at);
    for (const w of writers) await c.query(`create table ${w.table} (id int primary key) engine=InnoDB`);
    await c.end();
    for (const w of writers) w.start(at);
    try {
      await eventually(async () => (writers.every((w) => w.acked > 50) ? true : undefined), 20_000, 50);

      // Backed up through the CLI while writes go on.
      const ackedBefore = writers.map((w) => w.acked);
      const statuses = watchStatuses(P, source.id);
      const r = await cli(P, "backup", "create", "bk1", "--instance", source.id, "--description", "first", "-f", "json");
      expect(r.code, r.stderr).toBe(0);
      expect(r.json.name).toBe("bk1");
      expect(r.json.status).toBe("NEW");
      expect(r.json.instance_id).toBe(source.id);
      const backup = await untilBackup(P, r.json.id, "COMPLETED");
      const ackedAfter = writers.map((w) => w.acked);
      await untilInstance(P, source.id, (i) => i.status === "ACTIVE");
      // The instance showed BACKUP while the backup ran, and ACTIVE before and after.
      expect(await statuses.stop()).toEqual(["ACTIVE", "BACKUP", "ACTIVE"]);
      // NEW may pass quicker than a poll; BUILDING lasts the whole backup.
      expect(statuses.backups.filter((x) => x !== "NEW")).toEqual(["BUILDING", "COMPLETED"]);
      expect(statuses.backups.every((x) => ["NEW", "BUILDING", "COMPLETED"].includes(x))).toBe(true);
      expect(backup.size).toBeGreaterThan(0);
      expect(backup.checksum).toMatch(/^[0-9a-f]{64}$/);
      // MariaDB's default: FLUSH TABLES WITH READ LOCK around a volume snapshot.
      expect(backup.strategy).toBe("mariadb-snapshot");
      expect(backup.lock_ms).toBeTypeOf("number");
      expect(backup.datastore).toEqual({ type: "mariadb", version: "10.11", version_id: expect.any(String) });
      expect(backup.locationRef).toBeTruthy();
      expect(existsSync(storeFile(backup.locationRef))).toBe(true);
      // Writes went on during and after the backup.
      await eventually(async () => (writers.every((w, i) => w.acked > ackedAfter[i]! + 20) ? true : undefined), 20_000, 50);

      // Listed and shown through the CLI: all backups, by instance id, per instance, and by name.
      const all = await cli(P, "backup", "list", "-f", "json");
      expect(all.code, all.stderr).toBe(0);
      expect(all.json.map((b: any) => b.ID)).toContain(backup.id);
      const byInstance = await cli(P, "backup", "list", "--instance-id", source.id, "-f", "json");
      expect(byInstance.code, byInstance.stderr).toBe(0);
      expect(byInstance.json.map((b: any) => b.ID)).toEqual([backup.id]);
      const perInstance = await cli(P, "backup", "list", "instance", source.id, "-f", "json");
      expect(perInstance.code, perInstance.stderr).toBe(0);
      expect(perInstance.json.map((b: any) => b.ID)).toEqual([backup.id]);
      const shown = await cli(P, "backup", "show", "bk1", "-f", "json");
      expect(shown.code, shown.stderr).toBe(0);
      expect(shown.json.status).toBe("COMPLETED");
      expect(shown.json.id).toBe(backup.id);
      const byDatastore = await hoard.api("GET", P, "/backups?datastore=postgresql");
      expect(byDatastore.body.backups).toEqual([]);
      expect((await hoard.api("GET", P, "/backups?datastore=mariadb")).body.backups.map((b: any) => b.id)).toEqual([backup.id]);
      // Trove pages backups by offset; a full last page has no next link.
      const page = await hoard.api("GET", P, "/backups?limit=1");
      expect(page.body.backups).toHaveLength(1);
      expect(page.body.links).toBeUndefined();
      const badMarker = await hoard.api("GET", P, "/backups?marker=abc");
      expect(badMarker.status).toBe(400);
      expect(badMarker.body.badRequest.message).toContain("offset");

      // Restored into a new instance through the CLI, holding exactly the rows committed before the lock.
      const created = await cli(P, "instance", "create", "bk-restored", "--flavor", "1", "--size", "1", "--backup", backup.id, "-f", "json");
      expect(created.code, created.stderr).toBe(0);
      const restored = await untilInstance(P, created.json.id, (i) => {
        if (i.status === "ERROR") throw new Error(`restore failed: ${JSON.stringify(i.fault)}`);
        return healthy(i);
      }, 120_000);
      expect(restored.datastore).toMatchObject({ type: "mariadb", version: "10.11" });
      const held: number[] = [];
      for (const [i, w] of writers.entries()) held[i] = expectPrefix(await idsOf(endpoint(restored), w.table), ackedBefore[i]!, ackedAfter[i]!);
      // The source went on past the backup.
      for (const [i, w] of writers.entries()) expect((await idsOf(at, w.table)).length).toBeGreaterThan(held[i]!);

      // Rolled back in place to exactly the same rows; the instance shows ROLLBACK, then ACTIVE.
      for (const w of writers) await w.stop();
      const rollbackStatuses = watchStatuses(P, source.id);
      const rollback = await hoard.api("POST", P, `/instances/${source.id}/action`, { rollback: { backupRef: backup.id } });
      expect(rollback.status, JSON.stringify(rollback.body)).toBe(202);
      await untilInstance(P, source.id, (i) => {
        if (i.fault) throw new Error(`rollback failed: ${i.fault.message}`);
        return healthy(i);
      }, 120_000);
      expect(await rollbackStatuses.stop()).toEqual(["ACTIVE", "ROLLBACK", "ACTIVE"]);
      for (const [i, w] of writers.entries()) expect(await idsOf(at, w.table)).toEqual(Array.from({ length: held[i]! }, (_, j) => j + 1));
    } finally {
      for (const w of writers) await w.stop();
    }
  });

  it("refuses a second backup while one runs, and a backup of an instance that is not ACTIVE, with 422", async () => {
    const R = "b4c0b4c0b4c0b4c0b4c0b4c0b4c0a001";
    const source = await freshSource(R, "bk-race");
    const [a, b] = await Promise.all([
      hoard.api("POST", R, "/backups", { backup: { name: "race-a", instance: source.id } }),
      hoard.api("POST", R, "/backups", { backup: { name: "race-b", instance: source.id } }),
    ]);
    expect([a.status, b.status].sort()).toEqual([202, 422]);
    const won = a.status === 202 ? a : b;
    const lost = a.status === 202 ? b : a;
    expect(won.body.backup.status).toBe("NEW");
    expect(lost.body.unprocessableEntity.message).toMatch(/backup|BACKUP/);
    // While it runs (or right after), one more is refused or, once done, accepted: never two at once.
    await untilBackup(R, won.body.backup.id, "COMPLETED");
    const building = await hoard.api("POST", R, "/instances", { instance: { name: "bk-building", flavorRef: "1", volume: { size: 1 }, datastore: { type: "mariadb", version: "10.11" } } });
    expect(building.status).toBe(200);
    const notActive = await hoard.api("POST", R, "/backups", { backup: { name: "too-soon", instance: building.body.instance.id } });
    expect(notActive.status).toBe(422);
    expect(notActive.body.unprocessableEntity.message).toContain("BUILD");
    const missing = await hoard.api("POST", R, "/backups", { backup: { name: "nobody", instance: "00000000-0000-4000-8000-000000000000" } });
    expect(missing.status).toBe(404);
    const noName = await hoard.api("POST", R, "/backups", { backup: { instance: source.id } });
    expect(noName.status).toBe(400);
    expect(noName.body.badRequest.message).toContain("backup.name");
    await untilInstance(R, building.body.instance.id, healthy);
    expect((await hoard.api("DELETE", R, `/backups/${won.body.backup.id}`)).status).toBe(202);
  });

  it("refuses restores from a missing (404), other-datastore (400) or too-large (403) backup, creating nothing", async () => {
    const backup = kept.backup;
    const before = (await hoard.api("GET", K, "/instances")).body.instances.length;
    const create = (extra: Record<string, unknown>) => hoard.api("POST", K, "/instances", { instance: { name: "bk-bad", flavorRef: "1", volume: { size: 1 }, ...extra } });
    const missing = await create({ restorePoint: { backupRef: "00000000-0000-4000-8000-000000000000" } });
    expect(missing.status).toBe(404);
    expect(missing.body.itemNotFound.message).toContain("Backup");
    const other = await create({ restorePoint: { backupRef: backup.id }, datastore: { type: "postgresql", version: "15" } });
    expect(other.status).toBe(400);
    expect(other.body.badRequest.message).toContain("mariadb 10.11");
    // A backup holding more data than the volume: its record says so (the check needs no 2 GB of real data).
    const db = new pg.Client({ connectionString: hoard.databaseUrl });
    await db.connect();
    try {
      await db.query("update backups set artifact = jsonb_set(artifact, '{dataBytes}', to_jsonb(3 * 1024 * 1024 * 1024::bigint)) where id = $1", [backup.id]);
      const big = await create({ restorePoint: { backupRef: backup.id } });
      expect(big.status).toBe(403);
      expect(big.body.forbidden.message).toContain("at least 3 GB");
    } finally {
      await db.query("update backups set artifact = jsonb_set(artifact, '{dataBytes}', to_jsonb($2::bigint)) where id = $1", [backup.id, backup.data_size]);
      await db.end();
    }
    expect((await hoard.api("GET", K, "/instances")).body.instances.length).toBe(before);
  });

  it("refuses a restore and a rollback from a damaged backup file with 409, and from a FAILED backup with 409", async () => {
    // The damaged file is the kept backup's, mended before the test goes on.
    const file = storeFile(kept.backup.locationRef);
    const original = await readFile(file);
    const fh = await open(file, "r+");
    try {
      const byte = Buffer.from([original[original.length >> 1]! ^ 0xff]);
      await fh.write(byte, 0, 1, original.length >> 1);
    } finally {
      await fh.close();
    }
    try {
      const restore = await hoard.api("POST", K, "/instances", { instance: { name: "bk-corrupt", flavorRef: "1", volume: { size: 1 }, restorePoint: { backupRef: kept.backup.id } } });
      expect(restore.status).toBe(409);
      expect(restore.body.conflict.message).toContain("checksum");
      const rollback = await hoard.api("POST", K, `/instances/${kept.source.id}/action`, { rollback: { backupRef: kept.backup.id } });
      expect(rollback.status).toBe(409);
      expect((await showInstance(K, kept.source.id)).status).toBe("ACTIVE");
    } finally {
      const fh2 = await open(file, "r+");
      await fh2.write(original, 0, original.length, 0);
      await fh2.close();
    }

    // A backup that fails for real, of an instance of this test's own: the engine is killed, so the tracker
    // cannot back it up.
    const F = "b4c0b4c0b4c0b4c0b4c0b4c0b4c0a002";
    const source = await freshSource(F, "bk-doomed");
    const heard = await heardBackupEvents(F);
    try {
      await killEngine(F, source);
      const r = await hoard.api("POST", F, "/backups", { backup: { name: "doomed", instance: source.id } });
      expect(r.status).toBe(202);
      const failed = await untilBackup(F, r.body.backup.id, "FAILED");
      expect(failed.fail_reason).toBeTruthy();
      expect((await showInstance(F, source.id)).status).toBe("ACTIVE");
      const fromFailed = await hoard.api("POST", F, "/instances", { instance: { name: "bk-failed", flavorRef: "1", volume: { size: 1 }, restorePoint: { backupRef: failed.id } } });
      expect(fromFailed.status).toBe(409);
      expect(fromFailed.body.conflict.message).toContain("FAILED");
      expect((await hoard.api("POST", F, `/instances/${source.id}/action`, { restart: {} })).status).toBe(202);
      await untilInstance(F, source.id, healthy);
      // Subscribers heard it fail.
      await eventually(async () => (heard.types.includes("backup.failed") ? true : undefined), 10_000, 100);
      expect(new Set(heard.types)).toEqual(new Set(["backup.created", "backup.failed"]));
    } finally {
      heard.stop();
    }
  });

  it("deletes a backup through the CLI: 202, then its file and its row are gone", async () => {
    const D = "b4c0b4c0b4c0b4c0b4c0b4c0b4c0a003";
    const heard = await heardBackupEvents(D);
    try {
      const backup = await freshBackup(D, await freshSource(D, "bk-deleted"), "bk-deleted");
      const file = storeFile(backup.locationRef);
      expect(existsSync(file)).toBe(true);
      const r = await cli(D, "backup", "delete", backup.id);
      expect(r.code, r.stderr).toBe(0);
      await eventually(async () => ((await hoard.api("GET", D, `/backups/${backup.id}`)).status === 404 ? true : undefined), 20_000, 100);
      expect(existsSync(file)).toBe(false);
      const again = await hoard.api("DELETE", D, `/backups/${backup.id}`);
      expect(again.status).toBe(404);
      // Subscribers heard each step.
      await eventually(async () => (heard.types.includes("backup.deleted") ? true : undefined), 10_000, 100);
      expect(new Set(heard.types)).toEqual(new Set(["backup.created", "backup.completed", "backup.deleted"]));
    } finally {
      heard.stop();
    }
  });

  it("fails a backup whose tracker went quiet instead of leaving it BUILDING, and deletes the file it reports later", { timeout: 150_000 }, async () => {
    const O = "b4c0b4c0b4c0b4c0b4c0b4c0b4c0a004";
    const source = await freshSource(O, "bk-orphaned");
    // The node's tracker stops: no command is taken, no heartbeat is sent.
    await hoard.plane.tracker!.stop();
    const r = await hoard.api("POST", O, "/backups", { backup: { name: "orphan", instance: source.id } });
    expect(r.status).toBe(202);
    const failed = await untilBackup(O, r.body.backup.id, "FAILED", 90_000);
    expect(failed.fail_reason).toContain("stopped reporting");
    expect((await showInstance(O, source.id)).status).toBe("ACTIVE");
    // Back up again: the tracker takes the waiting command and makes the file, which is then removed, as the
    // backup it was for is FAILED; nothing counts it as a backup.
    const db = new pg.Client({ connectionString: hoard.databaseUrl });
    await db.connect();
    const reports = async () => Number((await db.query("select count(*) as n from processed_events where consumer = 'backup-completed'")).rows[0].n);
    const before = await reports();
    try {
      await hoard.restart();
      // The tracker's late report of the file arrives ...
      await eventually(async () => ((await reports()) > before ? true : undefined), 60_000, 200);
    } finally {
      await db.end();
    }
    // ... and the file goes.
    const dir = path.join(hoard.config.home, "backups", source.id);
    const made = () => (existsSync(dir) ? readdirSync(dir).filter((f) => f.startsWith(failed.id)) : []);
    await eventually(async () => (made().length === 0 ? true : undefined), 20_000, 100);
    expect((await showBackup(O, failed.id)).status).toBe("FAILED");
    await untilInstance(O, source.id, healthy);
  });

  it("counts backups against the project's backups quota (413 naming it, nothing recorded), taking the quota lock before the instance's row as a resize does, so the two never deadlock", { timeout: 180_000 }, async () => {
    // The second step needs the full quota the first one leaves.
    const L = "b4c0b4c0b4c0b4c0b4c0b4c0b4c0a005";
    const source = await freshSource(L, "bk-quota");
    // Trove counts every backup, FAILED ones too; a deleted one does not count.
    const gone = await freshBackup(L, source, "gone");
    expect((await hoard.api("DELETE", L, `/backups/${gone.id}`)).status).toBe(202);
    await eventually(async () => ((await hoard.api("GET", L, `/backups/${gone.id}`)).status === 404 ? true : undefined), 20_000, 100);
    await killEngine(L, source);
    for (const name of ["failed-1", "failed-2"]) {
      const r = await hoard.api("POST", L, "/backups", { backup: { name, instance: source.id } });
      expect(r.status).toBe(202);
      await untilBackup(L, r.body.backup.id, "FAILED");
    }
    expect((await hoard.api("POST", L, `/instances/${source.id}/action`, { restart: {} })).status).toBe(202);
    await untilInstance(L, source.id, healthy);
    const live = (await hoard.api("GET", L, "/backups")).body.backups;
    expect(live.map((b: any) => b.status)).toEqual(["FAILED", "FAILED"]);
    const third = await hoard.api("POST", L, "/backups", { backup: { name: "third", instance: source.id } });
    expect(third.status).toBe(202);
    await untilBackup(L, third.body.backup.id, "COMPLETED");
    await untilInstance(L, source.id, healthy);
    const over = await hoard.api("POST", L, "/backups", { backup: { name: "fourth", instance: source.id } });
    expect(over.status).toBe(413);
    expect(over.body.overLimit.message).toContain("'backups'");
    expect((await hoard.api("GET", L, "/backups")).body.backups).toHaveLength(3);
    expect((await showInstance(L, source.id)).status).toBe("ACTIVE");

    // What a resize of the instance does: the quota lock, then its row. A backup create that took the row
    // first (and then waited for the quota) deadlocked with it; Postgres aborted one (the crash harness saw a 500).
    const db = new pg.Client({ connectionString: hoard.databaseUrl });
    await db.connect();
    try {
      await db.query("begin");
      await db.query("select pg_advisory_xact_lock(hashtext($1))", [`quota:${L}`]);
      const create = hoard.api("POST", L, "/backups", { backup: { name: "racing-a-resize", instance: source.id } });
      await new Promise((r) => setTimeout(r, 500));
      await db.query("update instances set updated_at = now() where id = $1", [source.id]);
      await db.query("rollback");
      // The quota is full (the step above): the create is refused as such, not failed.
      const r = await create;
      expect(r.status, JSON.stringify(r.body)).toBe(413);
    } finally {
      await db.end();
    }
  });
});

describe("backups of a PostgreSQL instance", () => {
  const Q = "b4c0b4c0b4c0b4c0b4c0b4c0b4c0b4c1";
  const pgAt = (i: any) => ({ host: i.addresses[0].address, port: i.addresses[0].port, user: "app", password: "app-pw", database: "app" });
  const ids = async (i: any): Promise<number[]> => {
    const c = new pg.Client(pgAt(i));
    await c.connect();
    try {
      return (await c.query("select id from t order by id")).rows.map((r) => r.id);
    } finally {
      await c.end();
    }
  };
  const insert = async (i: any, from: number, to: number) => {
    const c = new pg.Client(pgAt(i));
    await c.connect();
    await c.query("create table if not exists t (id int primary key)");
    await c.query("insert into t select generate_series($1::int, $2::int)", [from, to]);
    await c.end();
  };
  const until = (project: string, path: string, ok: (b: any) => boolean) => eventually(async () => {
    const b = (await hoard.api("GET", project, path)).body;
    const v = b.backup ?? b.instance;
    if (v?.status === "FAILED" || v?.status === "ERROR") throw new Error(`${path}: ${JSON.stringify(v.fail_reason ?? v.fault)}`);
    return ok(v) ? v : undefined;
  }, 120_000, 100);

  it("backs up, restores into a new instance and rolls back in place, each holding the rows from before the backup", { timeout: 240_000 }, async () => {
    const src = await hoard.createActive(Q, { name: "pg-src", datastore: { type: "postgresql", version: "15" }, databases: [{ name: "app" }], users: [{ name: "app", password: "app-pw", databases: [{ name: "app" }] }] });
    await insert(src, 1, 100);
    const r = await hoard.api("POST", Q, "/backups", { backup: { name: "pg-bk", instance: src.id } });
    expect(r.status).toBe(202);
    const done = await until(Q, `/backups/${r.body.backup.id}`, (b) => b.status === "COMPLETED");
    expect(done.strategy).toMatch(/^postgresql/);
    expect(done.datastore).toMatchObject({ type: "postgresql", version: "15" });
    await until(Q, `/instances/${src.id}`, healthy);
    await insert(src, 101, 200);

    const created = await hoard.api("POST", Q, "/instances", { instance: { name: "pg-restored", flavorRef: "1", volume: { size: 1 }, restorePoint: { backupRef: done.id } } });
    expect(created.status, JSON.stringify(created.body)).toBe(200);
    const restored = await until(Q, `/instances/${created.body.instance.id}`, healthy);
    const before = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(await ids(restored)).toEqual(before);

    expect((await hoard.api("POST", Q, `/instances/${src.id}/action`, { rollback: { backupRef: done.id } })).status).toBe(202);
    const back = await until(Q, `/instances/${src.id}`, (i) => i.fault || healthy(i));
    expect(back.fault).toBeUndefined();
    expect(await ids(back)).toEqual(before);
    // Another instance cannot be rolled back to it, even one restored from it.
    const other = await hoard.api("POST", Q, `/instances/${restored.id}/action`, { rollback: { backupRef: done.id } });
    expect(other.status).toBe(400);
    expect(other.body.badRequest.message).toContain("not a backup of instance");
  });
});
