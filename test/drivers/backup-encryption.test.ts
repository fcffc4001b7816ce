/**
 * Encrypted backups on a real Hoard (tracker, runtime, gateway, MariaDB guests), as an operator and a tenant
 * meet them: what lands in the backup store (a folder, and an S3 bucket through s3rver) holds no plaintext —
 * a marker row the tenant wrote is nowhere in the stored bytes, not even after trying to decompress them —
 * and its recorded checksum is the sha256 of those bytes; it restores into a new instance with the marker.
 * One byte changed is refused by the checksum (409), and with the checksum made to agree the new instance
 * fails and says the file does not authenticate. `backup-keys rotate` re-wraps the data key without touching
 * the file, the old master key can then be removed, and the backup still restores. A backup whose master key
 * or data key is gone is refused with the reason, shown on the backup, and nothing changes. A backup stored
 * before encryption (unencrypted) still restores. No data key in the clear reaches the log or NATS's store.
 */
import { execFile } from "node:child_process";
import { createHash, randomUUID } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import mysql from "mysql2/promise";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { backupStoreFrom, MasterKeyFile, opener, openDataKey, type BackupStore } from "../../drivers/index.js";
import { eventually, startHoard, type Hoard } from "../kit/harness.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const P = "e7c0e7c0e7c0e7c0e7c0e7c0e7c0e7c0";
const MARKER = `hoard-plaintext-marker-${randomUUID()}`;
const healthy = (i: any) => i.status === "ACTIVE" && i.operating_status === "HEALTHY";
const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

type Endpoint = { host: string; port: number };
const at = (i: any): Endpoint => ({ host: i.addresses[0].address, port: i.addresses[0].port });

async function writeMarker(e: Endpoint): Promise<void> {
  const c = await mysql.createConnection({ ...e, user: "app", password: "app-pw", database: "app" });
  await c.query("CREATE TABLE secrets (id INT PRIMARY KEY, v VARCHAR(200)) ENGINE=InnoDB");
  // Many rows of it: an unencrypted file (the control below) holds it whatever the compressor does.
  await c.query("INSERT INTO secrets SELECT seq, ? FROM seq_1_to_2000", [MARKER]);
  await c.end();
}

async function markerRows(e: Endpoint): Promise<number> {
  const c = await mysql.createConnection({ ...e, user: "app", password: "app-pw", database: "app" });
  try {
    const [rows] = await c.query("SELECT COUNT(*) AS n FROM secrets WHERE v = ?", [MARKER]);
    return Number((rows as { n: number }[])[0]!.n);
  } finally {
    await c.end();
  }
}

/** Runs a program and gives back its exit code and output. */
function runProgram(file: string, args: string[], opts: { env?: NodeJS.ProcessEnv; input?: Buffer } = {}): Promise<{ code: number; stdout: Buffer; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(file, args, { cwd: ROOT, env: opts.env ?? { PATH: process.env.PATH }, encoding: "buffer", maxBuffer: 256 << 20, timeout: 120_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout: stdout as Buffer, stderr: (stderr as Buffer).toString() });
    });
    // zstd and gzip stop reading input they cannot decompress: the rest of it has nowhere to go.
    child.stdin?.on("error", () => undefined);
    child.stdin?.end(opts.input ?? Buffer.alloc(0));
  });
}

/** Whether the marker is in the bytes, or in what zstd or gzip make of them. */
async function markerIn(bytes: Buffer): Promise<{ raw: boolean; zstd: boolean; gzip: boolean }> {
  const zstd = await runProgram("zstd", ["-d", "-q", "-c"], { input: bytes });
  const gzip = await runProgram("gzip", ["-d", "-c"], { input: bytes });
  return { raw: bytes.includes(MARKER), zstd: zstd.stdout.includes(MARKER), gzip: gzip.stdout.includes(MARKER) };
}

async function collect(r: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

function createSource(hoard: Hoard, project: string, name: string) {
  return hoard.createActive(project, { name, datastore: { type: "mariadb", version: "10.11" }, databases: [{ name: "app" }], users: [{ name: "app", password: "app-pw", databases: [{ name: "app" }] }] });
}

async function backUp(hoard: Hoard, project: string, instanceId: string, name: string): Promise<any> {
  const r = await hoard.api("POST", project, "/backups", { backup: { name, instance: instanceId } });
  expect(r.status, JSON.stringify(r.body)).toBe(202);
  const done = await eventually(async () => {
    const b = (await hoard.api("GET", project, `/backups/${r.body.backup.id}`)).body.backup;
    if (b?.status === "FAILED") throw new Error(`backup failed: ${b.fail_reason}`);
    return b?.status === "COMPLETED" ? b : undefined;
  }, 120_000, 200);
  await eventually(async () => ((await hoard.api("GET", project, `/instances/${instanceId}`)).body.instance.status === "ACTIVE" ? true : undefined), 30_000, 100);
  return done;
}

async function restore(hoard: Hoard, project: string, backupId: string, name: string) {
  return hoard.api("POST", project, "/instances", { instance: { name, flavorRef: "1", volume: { size: 1 }, restorePoint: { backupRef: backupId } } });
}

/** Waits until the instance is HEALTHY (or ERROR, when `failing`) and returns its view. */
function settle(hoard: Hoard, project: string, id: string, failing = false) {
  return eventually(async () => {
    const i = (await hoard.api("GET", project, `/instances/${id}`)).body.instance;
    if (i?.status === "ERROR" && !failing) throw new Error(`instance failed: ${JSON.stringify(i.fault)}`);
    return (failing ? i?.status === "ERROR" : healthy(i)) ? i : undefined;
  }, 150_000, 200);
}

describe("encrypted backups in a folder store", () => {
  let hoard: Hoard;
  let db: pg.Client;
  let source: any;
  let backup: any;
  const keysFile = () => path.join(hoard.config.home, "backup-keys.json");
  const storeFile = (location: string) => path.join(hoard.config.home, "backups", location);
  const cli = (...args: string[]) => runProgram(process.execPath, ["--import", "tsx", "bin/hoard.ts", "backup-keys", ...args], { env: { PATH: process.env.PATH, HOARD_HOME: hoard.config.home, DATABASE_URL: hoard.databaseUrl } });
  const show = async (id: string) => (await hoard.api("GET", P, `/backups/${id}`)).body.backup;
  const named = async (name: string) => (await hoard.api("GET", P, "/instances")).body.instances.filter((i: any) => i.name === name).length;

  beforeAll(async () => {
    hoard = await startHoard();
    db = new pg.Client({ connectionString: hoard.databaseUrl });
    await db.connect();
    source = await createSource(hoard, P, "enc-src");
    await writeMarker(at(source));
    // The backup every test reads (each restores, damages or re-keys it and puts it back as it was).
    backup = await backUp(hoard, P, source.id, "enc-1");
  }, 300_000);
  afterAll(async () => {
    await db?.end();
    await hoard?.stop();
  });

  it("stores the backup encrypted: no marker in the bytes (nor after decompressing), checksum = sha256 of them, key file 0600", { timeout: 240_000 }, async () => {
    expect(backup.encrypted).toBe(true);
    expect(backup.encryption).toMatchObject({ cipher: "aes-256-gcm", data_key_id: expect.any(String), master_key_id: expect.any(String), restorable: true });
    expect(backup.locationRef).toMatch(/\.enc$/);
    const stored = await readFile(storeFile(backup.locationRef));
    expect(stored.subarray(0, 8).toString()).toBe("HOARDBK1");
    expect(await markerIn(stored)).toEqual({ raw: false, zstd: false, gzip: false });
    expect(sha256(stored)).toBe(backup.checksum);
    // The key file was made in the state folder, private, and the log says so (without the key).
    const keys = JSON.parse(await readFile(keysFile(), "utf8"));
    expect((await stat(keysFile())).mode & 0o777).toBe(0o600);
    // The master key that wraps its data key now: the one it was made with, unless a rotation re-wrapped it.
    expect(keys.current).toBe((await show(backup.id)).encryption.master_key_id);
    const log = await readFile(path.join(hoard.config.home, "hoard.log"), "utf8");
    expect(log).toContain("generated a master key in the state folder");
    expect(log).not.toContain(keys.keys[keys.current]);
    // The data key in the clear is nowhere in the log or in NATS's store: Postgres and NATS carry it wrapped.
    const row = (await db.query("select * from backup_keys where key_id = $1", [backup.encryption.data_key_id])).rows[0];
    expect(row.project_id).toBe(P);
    const dataKey = await openDataKey(new MasterKeyFile(keysFile()), { keyId: row.key_id, masterKeyId: row.master_key_id, wrapped: row.wrapped });
    const forms = [dataKey.toString("base64"), dataKey.toString("hex"), dataKey.toString("base64url")];
    const natsDir = path.join(path.dirname(hoard.config.home), "nats");
    const files = (dir: string): string[] => readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(path.join(dir, e.name)) : [path.join(dir, e.name)]));
    const natsFiles = files(natsDir).filter((f) => statSync(f).isFile());
    expect(natsFiles.some((f) => f.endsWith(".blk"))).toBe(true);
    for (const f of [...natsFiles, path.join(hoard.config.home, "hoard.log")]) {
      const bytes = readFileSync(f);
      for (const form of forms) expect(bytes.includes(form), `${form.slice(0, 6)}… in ${f}`).toBe(false);
      expect(bytes.includes(dataKey)).toBe(false);
    }
  });

  it("restores it into a new instance, marker and all", { timeout: 240_000 }, async () => {
    const r = await restore(hoard, P, backup.id, "enc-restored");
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const restored = await settle(hoard, P, r.body.instance.id);
    expect(await markerRows(at(restored))).toBe(2000);
    expect((await hoard.api("DELETE", P, `/instances/${restored.id}`)).status).toBe(202);
  });

  it("refuses one changed byte by the checksum (409); with the checksum made to agree, the new instance fails saying the file does not authenticate", { timeout: 240_000 }, async () => {
    const file = storeFile(backup.locationRef);
    const original = await readFile(file);
    const damaged = Buffer.from(original);
    damaged[damaged.length >> 1]! ^= 0x01;
    await writeFile(file, damaged);
    try {
      const refused = await restore(hoard, P, backup.id, "enc-damaged");
      expect(refused.status).toBe(409);
      expect(refused.body.conflict.message).toContain("checksum");
      const rollback = await hoard.api("POST", P, `/instances/${source.id}/action`, { rollback: { backupRef: backup.id } });
      expect(rollback.status).toBe(409);
      expect(await named("enc-damaged")).toBe(0);
      // Someone who can change the file and its record alike: the checksum agrees, the authentication does not.
      await db.query("update backups set artifact = jsonb_set(artifact, '{checksum}', to_jsonb($2::text)) where id = $1", [backup.id, sha256(damaged)]);
      const r = await restore(hoard, P, backup.id, "enc-forged");
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      const failed = await settle(hoard, P, r.body.instance.id, true);
      expect(failed.fault.message).toMatch(/cannot be decrypted: frame \d+ of the file does not authenticate/);
      expect((await hoard.api("DELETE", P, `/instances/${failed.id}`)).status).toBe(202);
    } finally {
      await writeFile(file, original);
      await db.query("update backups set artifact = jsonb_set(artifact, '{checksum}', to_jsonb($2::text)) where id = $1", [backup.id, backup.checksum]);
    }
    const src = (await hoard.api("GET", P, `/instances/${source.id}`)).body.instance;
    expect(healthy(src)).toBe(true);
    expect(await markerRows(at(src))).toBe(2000);
  });

  it("rotates the master key: the data key re-wrapped, the file untouched, the old key removed, and the backup still restores", { timeout: 240_000 }, async () => {
    const file = storeFile(backup.locationRef);
    const bytesBefore = sha256(await readFile(file));
    const mtimeBefore = (await stat(file)).mtimeMs;
    const old = JSON.parse(await readFile(keysFile(), "utf8")).current as string;
    // Removing the key that wraps it is refused.
    const early = await cli("remove", old);
    expect(early.code).toBe(1);
    expect(early.stderr).toContain("current master key");

    const rotated = await cli("rotate");
    expect(rotated.code, rotated.stderr).toBe(0);
    expect(rotated.stdout.toString()).toMatch(/re-wrapped 1 data key/);
    const keys = JSON.parse(await readFile(keysFile(), "utf8"));
    expect(keys.current).not.toBe(old);
    expect(Object.keys(keys.keys).sort()).toEqual([old, keys.current].sort());
    expect((await stat(keysFile())).mode & 0o777).toBe(0o600);
    const row = (await db.query("select master_key_id, rewrapped_at from backup_keys where key_id = $1", [backup.encryption.data_key_id])).rows[0];
    expect(row.master_key_id).toBe(keys.current);
    expect(row.rewrapped_at).not.toBeNull();
    expect(sha256(await readFile(file))).toBe(bytesBefore);
    expect((await stat(file)).mtimeMs).toBe(mtimeBefore);

    const removed = await cli("remove", old);
    expect(removed.code, removed.stderr).toBe(0);
    expect(Object.keys(JSON.parse(await readFile(keysFile(), "utf8")).keys)).toEqual([keys.current]);
    const listed = await cli("list");
    expect(listed.stdout.toString()).toContain(`${keys.current} (current): wraps 1 data key(s)`);
    expect((await show(backup.id)).encryption).toMatchObject({ master_key_id: keys.current, restorable: true });

    const r = await restore(hoard, P, backup.id, "enc-after-rotation");
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const restored = await settle(hoard, P, r.body.instance.id);
    expect(await markerRows(at(restored))).toBe(2000);
    expect((await hoard.api("DELETE", P, `/instances/${restored.id}`)).status).toBe(202);
    // New backups use the same data key, now wrapped by the new master key.
    const next = await backUp(hoard, P, source.id, "enc-2");
    expect(next.encryption).toMatchObject({ data_key_id: backup.encryption.data_key_id, master_key_id: keys.current });
    expect(sha256(await readFile(storeFile(next.locationRef)))).toBe(next.checksum);
  });

  it("refuses a backup whose master key or data key is gone, with the reason, shown on the backup; nothing changes", { timeout: 120_000 }, async () => {
    const savedKeys = await readFile(keysFile());
    const { current } = JSON.parse(savedKeys.toString());
    try {
      // The operator lost the key file: the tracker has another key now, not the one that wraps the data key.
      await writeFile(keysFile(), JSON.stringify({ current: "k-other", keys: { "k-other": Buffer.alloc(32, 7).toString("base64") } }), { mode: 0o600 });
      const r = await restore(hoard, P, backup.id, "enc-keyless");
      expect(r.status).toBe(409);
      expect(r.body.conflict.message).toBe(`Backup ${backup.id} was encrypted with master key '${current}', which this Hoard no longer has; it cannot be restored until that key is back in the backup keys file (HOARD_BACKUP_KEYS_FILE).`);
      const rollback = await hoard.api("POST", P, `/instances/${source.id}/action`, { rollback: { backupRef: backup.id } });
      expect(rollback.status).toBe(409);
      expect(rollback.body.conflict.message).toContain(`master key '${current}', which this Hoard no longer has`);
      const shown = await show(backup.id);
      expect(shown.encryption).toMatchObject({ restorable: false, reason: `it was encrypted with master key '${current}', which this Hoard no longer has` });
      expect(shown.status).toBe("COMPLETED");
      expect(await named("enc-keyless")).toBe(0);
      expect((await hoard.api("GET", P, `/instances/${source.id}`)).body.instance.status).toBe("ACTIVE");
    } finally {
      await writeFile(keysFile(), savedKeys, { mode: 0o600 });
    }
    // The key is back: the backup can be used again, and says so once checked.
    const rollback = await hoard.api("POST", P, `/instances/${source.id}/action`, { rollback: { backupRef: backup.id } });
    expect(rollback.status, JSON.stringify(rollback.body)).toBe(202);
    await settle(hoard, P, source.id);
    await eventually(async () => ((await hoard.api("GET", P, `/instances/${source.id}`)).body.instance.status === "ACTIVE" ? true : undefined), 60_000, 200);
    expect((await show(backup.id)).encryption.restorable).toBe(true);

    // The data key's row is gone.
    const saved = (await db.query("delete from backup_keys where key_id = $1 returning *", [backup.encryption.data_key_id])).rows[0];
    try {
      const r = await restore(hoard, P, backup.id, "enc-no-data-key");
      expect(r.status).toBe(409);
      expect(r.body.conflict.message).toBe(`Backup ${backup.id} was encrypted with data key ${backup.encryption.data_key_id}, which this Hoard no longer has; it cannot be restored.`);
      expect((await show(backup.id)).encryption).toMatchObject({ restorable: false, master_key_id: null, reason: expect.stringContaining("is gone") });
      expect(await named("enc-no-data-key")).toBe(0);
    } finally {
      await db.query("insert into backup_keys (key_id, project_id, master_key_id, wrapped, created_at) values ($1, $2, $3, $4, $5)", [saved.key_id, saved.project_id, saved.master_key_id, saved.wrapped, saved.created_at]);
    }
  });

  it("still restores a backup stored before encryption (unencrypted), whose bytes do show the marker", { timeout: 240_000 }, async () => {
    // What a Hoard before encryption stored: the compressed tar itself, and a record without `encryption`.
    const row = (await db.query("select * from backup_keys where key_id = $1", [backup.encryption.data_key_id])).rows[0];
    const dataKey = await openDataKey(new MasterKeyFile(keysFile()), { keyId: row.key_id, masterKeyId: row.master_key_id, wrapped: row.wrapped });
    const plain = await collect(Readable.from([await readFile(storeFile(backup.locationRef))]).pipe(opener(dataKey, row.key_id)));
    expect((await markerIn(plain)).zstd || (await markerIn(plain)).gzip).toBe(true);
    const id = randomUUID();
    const location = `${source.id}/${id}.tar.${backup.locationRef.includes(".zst") ? "zst" : "gz"}`;
    await mkdir(path.dirname(storeFile(location)), { recursive: true });
    await writeFile(storeFile(location), plain, { mode: 0o600 });
    const { encryption: _, ...artifact } = (await db.query("select artifact from backups where id = $1", [backup.id])).rows[0].artifact;
    await db.query(
      "insert into backups (id, project_id, instance_id, name, status, datastore_version_id, node, size_bytes, artifact) select $1, project_id, instance_id, 'old-format', 'COMPLETED', datastore_version_id, node, $2, $3 from backups where id = $4",
      [id, plain.length, JSON.stringify({ ...artifact, location, sizeBytes: plain.length, checksum: sha256(plain) }), backup.id],
    );
    expect(await show(id)).toMatchObject({ encrypted: false, checksum: sha256(plain) });
    const r = await restore(hoard, P, id, "enc-old-format");
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const restored = await settle(hoard, P, r.body.instance.id);
    expect(await markerRows(at(restored))).toBe(2000);
  });
});

describe("encrypted backups in an S3 bucket (s3rver)", () => {
  const Q = "e7c0e7c0e7c0e7c0e7c0e7c0e7c0e7c1";
  let server: { run(): Promise<{ port: number }>; close(): Promise<void> };
  let hoard: Hoard;
  let bucket: BackupStore & { close(): void };
  let directory: string;

  beforeAll(async () => {
    // @ts-expect-error s3rver ships no type declarations
    const { default: S3rver } = (await import("s3rver")) as unknown as { default: new (opts: object) => typeof server };
    directory = await mkdtemp(path.join(inject("home"), "s3rver-"));
    server = new S3rver({ address: "127.0.0.1", port: 0, directory, silent: true, configureBuckets: [{ name: "hoard-backups" }] });
    const { port } = await server.run();
    const s3 = { endpoint: `http://127.0.0.1:${port}`, accessKeyId: "S3RVER", secretAccessKey: "S3RVER" };
    hoard = await startHoard({ backupStore: { url: "s3://hoard-backups/node", s3 } });
    bucket = (await backupStoreFrom({ home: hoard.config.home, url: "s3://hoard-backups/node", s3 })) as BackupStore & { close(): void };
  }, 120_000);
  afterAll(async () => {
    bucket?.close();
    await hoard?.stop();
    await server?.close();
    if (directory) await rm(directory, { recursive: true, force: true });
  });

  it("stores no plaintext in the bucket, with the checksum of the stored object, and restores from it", { timeout: 300_000 }, async () => {
    const src = await createSource(hoard, Q, "s3-src");
    await writeMarker(at(src));
    const b = await backUp(hoard, Q, src.id, "s3-enc");
    expect(b.encrypted).toBe(true);
    const stored = await collect(await bucket.get(b.locationRef));
    expect(stored.subarray(0, 8).toString()).toBe("HOARDBK1");
    expect(await markerIn(stored)).toEqual({ raw: false, zstd: false, gzip: false });
    expect(sha256(stored)).toBe(b.checksum);
    const r = await restore(hoard, Q, b.id, "s3-restored");
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const restored = await settle(hoard, Q, r.body.instance.id);
    expect(await markerRows(at(restored))).toBe(2000);
  });
});
