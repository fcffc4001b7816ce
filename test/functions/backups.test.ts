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
  // Three backups per project: the last test fills the quota.
  hoard = await startHoard({ quotas: { instances: 10, ram: -1, volumes: 40, backups: 3 } });
});
afterAll(async () => {
  await hoard?.stop();
});

const cli = (...args: string[]) => hoard.openstack(P, ["database", ...args]);
const showInstance = async (id: string) => (await hoard.api("GET", P, `/instances/${id}`)).body.instance;
const showBackup = async (id: string) => (await hoard.api("GET", P, `/backups/${id}`)).body.backup;
const untilInstance = (id: string, ok: (i: any) => boolean, ms = 60_000) => eventually(async () => {
  const i = await showInstance(id);
  return ok(i) ? i : undefined;
}, ms, 100);
const untilBackup = (id: string, status: string, ms = 120_000) => eventually(async () => {
  const b = await showBackup(id);
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
function watchStatuses(id: string): { stop(): Promise<string[]>; backups: string[] } {
  const seen: string[] = [];
  const backups: string[] = [];
  let stopped = false;
  const note = (list: string[], s: string | undefined) => {
    if (s && list[list.length - 1] !== s) list.push(s);
  };
  const loop = (async () => {
    while (!stopped) {
      const [i, b] = await Promise.all([showInstance(id), hoard.api("GET", P, `/instances/${id}/backups`)]);
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
    const [i, b] = await Promise.all([showInstance(id), hoard.api("GET", P, `/instances/${id}/backups`)]);
    note(seen, i.status);
    note(backups, b.body.backups[0]?.status);
    return seen;
  };
  return { stop, backups };
}

/** Where the tracker's filesystem store keeps a backup's file. */
const storeFile = (location: string) => path.join(hoard.config.home, "backups", location);

describe("backups of a MariaDB instance under writes", () => {
  let source: any;
  let at: Endpoint;
  let backup: any;
  const writers = [new Writer("w1"), new Writer("w2")];
  const ackedBefore: number[] = [];
  const ackedAfter: number[] = [];
  const held: number[] = [];
  /** The public backup events subscribers got (types), while the first control plane runs. */
  const published: string[] = [];

  beforeAll(async () => {
    hoard.nc.subscribe(`hoard.events.${P}.backup.>`, {
      callback: (_e, m) => {
        published.push(m.json<{ type: string }>().type);
      },
    });
    source = await hoard.createActive(P, {
      name: "bk-src",
      datastore: { type: "mariadb", version: "10.11" },
      databases: [{ name: "app" }],
      users: [{ name: "app", password: "app-pw", databases: [{ name: "app" }] }],
    });
    at = endpoint(source);
    const c = await connect(at);
    for (const w of writers) await c.query(`create table ${w.table} (id int primary key) engine=InnoDB`);
    await c.end();
    for (const w of writers) w.start(at);
    await eventually(async () => (writers.every((w) => w.acked > 50) ? true : undefined), 20_000, 50);
  });
  afterAll(async () => {
    for (const w of writers) await w.stop();
  });

  it("backs up through the CLI while writes go on: NEW, the instance in BACKUP, then COMPLETED with size, lock_ms, strategy and checksum", async () => {
    writers.forEach((w, i) => (ackedBefore[i] = w.acked));
    const statuses = watchStatuses(source.id);
    const r = await cli("backup", "create", "bk1", "--instance", source.id, "--description", "first", "-f", "json");
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.name).toBe("bk1");
    expect(r.json.status).toBe("NEW");
    expect(r.json.instance_id).toBe(source.id);
    backup = r.json;
    const done = await untilBackup(backup.id, "COMPLETED");
    writers.forEach((w, i) => (ackedAfter[i] = w.acked));
    await untilInstance(source.id, (i) => i.status === "ACTIVE");
    // The instance showed BACKUP while the backup ran, and ACTIVE before and after.
    expect(await statuses.stop()).toEqual(["ACTIVE", "BACKUP", "ACTIVE"]);
    // NEW may pass quicker than a poll; BUILDING lasts the whole backup.
    expect(statuses.backups.filter((x) => x !== "NEW")).toEqual(["BUILDING", "COMPLETED"]);
    expect(statuses.backups.every((x) => ["NEW", "BUILDING", "COMPLETED"].includes(x))).toBe(true);
    expect(done.size).toBeGreaterThan(0);
    expect(done.checksum).toMatch(/^[0-9a-f]{64}$/);
    // MariaDB's default: FLUSH TABLES WITH READ LOCK around a volume snapshot.
    expect(done.strategy).toBe("mariadb-snapshot");
    expect(done.lock_ms).toBeTypeOf("number");
    expect(done.datastore).toEqual({ type: "mariadb", version: "10.11", version_id: expect.any(String) });
    expect(done.locationRef).toBeTruthy();
    expect(existsSync(storeFile(done.locationRef))).toBe(true);
    backup = done;
    await untilInstance(source.id, (i) => i.status === "ACTIVE");
    // Writes went on during and after the backup.
    await eventually(async () => (writers.every((w, i) => w.acked > ackedAfter[i]! + 20) ? true : undefined), 20_000, 50);
  });

  it("lists and shows it through the CLI: all backups, by instance id, per instance, and by name", async () => {
    const all = await cli("backup", "list", "-f", "json");
    expect(all.code, all.stderr).toBe(0);
    expect(all.json.map((b: any) => b.ID)).toContain(backup.id);
    const byInstance = await cli("backup", "list", "--instance-id", source.id, "-f", "json");
    expect(byInstance.code, byInstance.stderr).toBe(0);
    expect(byInstance.json.map((b: any) => b.ID)).toEqual([backup.id]);
    const perInstance = await cli("backup", "list", "instance", source.id, "-f", "json");
    expect(perInstance.code, perInstance.stderr).toBe(0);
    expect(perInstance.json.map((b: any) => b.ID)).toEqual([backup.id]);
    const shown = await cli("backup", "show", "bk1", "-f", "json");
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
  });

  it("restores into a new instance through the CLI holding exactly the rows committed before the lock", async () => {
    const r = await cli("instance", "create", "bk-restored", "--flavor", "1", "--size", "1", "--backup", backup.id, "-f", "json");
    expect(r.code, r.stderr).toBe(0);
    const restored = await untilInstance(r.json.id, (i) => {
      if (i.status === "ERROR") throw new Error(`restore failed: ${JSON.stringify(i.fault)}`);
      return healthy(i);
    }, 120_000);
    expect(restored.datastore).toMatchObject({ type: "mariadb", version: "10.11" });
    for (const [i, w] of writers.entries()) held[i] = expectPrefix(await idsOf(endpoint(restored), w.table), ackedBefore[i]!, ackedAfter[i]!);
    // The source went on past the backup.
    for (const [i, w] of writers.entries()) expect((await idsOf(at, w.table)).length).toBeGreaterThan(held[i]!);
  });

  it("rolls the source back in place to exactly the same rows; the instance shows ROLLBACK, then ACTIVE", async () => {
    for (const w of writers) await w.stop();
    const statuses = watchStatuses(source.id);
    const r = await hoard.api("POST", P, `/instances/${source.id}/action`, { rollback: { backupRef: backup.id } });
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    await untilInstance(source.id, (i) => {
      if (i.fault) throw new Error(`rollback failed: ${i.fault.message}`);
      return healthy(i);
    }, 120_000);
    expect(await statuses.stop()).toEqual(["ACTIVE", "ROLLBACK", "ACTIVE"]);
    for (const [i, w] of writers.entries()) expect(await idsOf(at, w.table)).toEqual(Array.from({ length: held[i]! }, (_, j) => j + 1));
  });

  it("refuses a second backup while one runs, and a backup of an instance that is not ACTIVE, with 422", async () => {
    const [a, b] = await Promise.all([
      hoard.api("POST", P, "/backups", { backup: { name: "race-a", instance: source.id } }),
      hoard.api("POST", P, "/backups", { backup: { name: "race-b", instance: source.id } }),
    ]);
    expect([a.status, b.status].sort()).toEqual([202, 422]);
    const won = a.status === 202 ? a : b;
    const lost = a.status === 202 ? b : a;
    expect(won.body.backup.status).toBe("NEW");
    expect(lost.body.unprocessableEntity.message).toMatch(/backup|BACKUP/);
    // While it runs (or right after), one more is refused or, once done, accepted: never two at once.
    await untilBackup(won.body.backup.id, "COMPLETED");
    const building = await hoard.api("POST", P, "/instances", { instance: { name: "bk-building", flavorRef: "1", volume: { size: 1 }, datastore: { type: "mariadb", version: "10.11" } } });
    expect(building.status).toBe(200);
    const notActive = await hoard.api("POST", P, "/backups", { backup: { name: "too-soon", instance: building.body.instance.id } });
    expect(notActive.status).toBe(422);
    expect(notActive.body.unprocessableEntity.message).toContain("BUILD");
    const missing = await hoard.api("POST", P, "/backups", { backup: { name: "nobody", instance: "00000000-0000-4000-8000-000000000000" } });
    expect(missing.status).toBe(404);
    const noName = await hoard.api("POST", P, "/backups", { backup: { instance: source.id } });
    expect(noName.status).toBe(400);
    expect(noName.body.badRequest.message).toContain("backup.name");
    await untilInstance(building.body.instance.id, healthy);
    // Cleanup of the extra backup keeps the list small for the cases below.
    expect((await hoard.api("DELETE", P, `/backups/${won.body.backup.id}`)).status).toBe(202);
  });

  it("refuses restores from a missing (404), other-datastore (400) or too-large (403) backup, creating nothing", async () => {
    const before = (await hoard.api("GET", P, "/instances")).body.instances.length;
    const create = (extra: Record<string, unknown>) => hoard.api("POST", P, "/instances", { instance: { name: "bk-bad", flavorRef: "1", volume: { size: 1 }, ...extra } });
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
    expect((await hoard.api("GET", P, "/instances")).body.instances.length).toBe(before);
  });

  it("refuses a restore and a rollback from a damaged backup file with 409, and from a FAILED backup with 409", async () => {
    const file = storeFile(backup.locationRef);
    const original = await readFile(file);
    const fh = await open(file, "r+");
    try {
      const byte = Buffer.from([original[original.length >> 1]! ^ 0xff]);
      await fh.write(byte, 0, 1, original.length >> 1);
    } finally {
      await fh.close();
    }
    try {
      const restore = await hoard.api("POST", P, "/instances", { instance: { name: "bk-corrupt", flavorRef: "1", volume: { size: 1 }, restorePoint: { backupRef: backup.id } } });
      expect(restore.status).toBe(409);
      expect(restore.body.conflict.message).toContain("checksum");
      const rollback = await hoard.api("POST", P, `/instances/${source.id}/action`, { rollback: { backupRef: backup.id } });
      expect(rollback.status).toBe(409);
      expect((await showInstance(source.id)).status).toBe("ACTIVE");
    } finally {
      const fh2 = await open(file, "r+");
      await fh2.write(original, 0, original.length, 0);
      await fh2.close();
    }

    // A backup that fails for real: the engine is killed, so the tracker cannot back it up.
    const pid = JSON.parse(await readFile(path.join(hoard.config.home, "run", source.id, "guest.json"), "utf8")).pid as number;
    process.kill(pid, "SIGKILL");
    await untilInstance(source.id, (i) => i.operating_status === "SHUTDOWN", 20_000);
    const r = await hoard.api("POST", P, "/backups", { backup: { name: "doomed", instance: source.id } });
    expect(r.status).toBe(202);
    const failed = await untilBackup(r.body.backup.id, "FAILED");
    expect(failed.fail_reason).toBeTruthy();
    expect((await showInstance(source.id)).status).toBe("ACTIVE");
    const fromFailed = await hoard.api("POST", P, "/instances", { instance: { name: "bk-failed", flavorRef: "1", volume: { size: 1 }, restorePoint: { backupRef: failed.id } } });
    expect(fromFailed.status).toBe(409);
    expect(fromFailed.body.conflict.message).toContain("FAILED");
    expect((await hoard.api("POST", P, `/instances/${source.id}/action`, { restart: {} })).status).toBe(202);
    await untilInstance(source.id, healthy);
  });

  it("deletes a backup through the CLI: 202, then its file and its row are gone", async () => {
    const file = storeFile(backup.locationRef);
    expect(existsSync(file)).toBe(true);
    const r = await cli("backup", "delete", backup.id);
    expect(r.code, r.stderr).toBe(0);
    await eventually(async () => ((await hoard.api("GET", P, `/backups/${backup.id}`)).status === 404 ? true : undefined), 20_000, 100);
    expect(existsSync(file)).toBe(false);
    const again = await hoard.api("DELETE", P, `/backups/${backup.id}`);
    expect(again.status).toBe(404);
    // Subscribers heard each step.
    await eventually(async () => (published.includes("backup.deleted") ? true : undefined), 10_000, 100);
    expect(new Set(published)).toEqual(new Set(["backup.created", "backup.completed", "backup.failed", "backup.deleted"]));
  });

  it("fails a backup whose tracker went quiet instead of leaving it BUILDING, and deletes the file it reports later", { timeout: 150_000 }, async () => {
    await untilInstance(source.id, healthy);
    // The node's tracker stops: no command is taken, no heartbeat is sent.
    await hoard.plane.tracker!.stop();
    const r = await hoard.api("POST", P, "/backups", { backup: { name: "orphan", instance: source.id } });
    expect(r.status).toBe(202);
    const failed = await untilBackup(r.body.backup.id, "FAILED", 90_000);
    expect(failed.fail_reason).toContain("stopped reporting");
    expect((await showInstance(source.id)).status).toBe("ACTIVE");
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
    expect((await showBackup(failed.id)).status).toBe("FAILED");
    await untilInstance(source.id, healthy);
  });

  it("counts backups against the project's backups quota: 413 naming it, nothing recorded", async () => {
    // The FAILED backups of the two tests above count (Trove counts every backup); a deleted one does not.
    const live = (await hoard.api("GET", P, "/backups")).body.backups;
    expect(live.map((b: any) => b.status)).toEqual(["FAILED", "FAILED"]);
    const third = await hoard.api("POST", P, "/backups", { backup: { name: "third", instance: source.id } });
    expect(third.status).toBe(202);
    await untilBackup(third.body.backup.id, "COMPLETED");
    await untilInstance(source.id, healthy);
    const over = await hoard.api("POST", P, "/backups", { backup: { name: "fourth", instance: source.id } });
    expect(over.status).toBe(413);
    expect(over.body.overLimit.message).toContain("'backups'");
    expect((await hoard.api("GET", P, "/backups")).body.backups).toHaveLength(3);
    expect((await showInstance(source.id)).status).toBe("ACTIVE");
  });

  it("takes the project's quota lock before the instance's row, as a resize does: the two never deadlock", async () => {
    // What a resize of the instance does: the quota lock, then its row. A backup create that took the row
    // first (and then waited for the quota) deadlocked with it; Postgres aborted one (the crash harness saw a 500).
    const db = new pg.Client({ connectionString: hoard.databaseUrl });
    await db.connect();
    try {
      await db.query("begin");
      await db.query("select pg_advisory_xact_lock(hashtext($1))", [`quota:${P}`]);
      const create = hoard.api("POST", P, "/backups", { backup: { name: "racing-a-resize", instance: source.id } });
      await new Promise((r) => setTimeout(r, 500));
      await db.query("update instances set updated_at = now() where id = $1", [source.id]);
      await db.query("rollback");
      // The quota is full (the test above): the create is refused as such, not failed.
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
