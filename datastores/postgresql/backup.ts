/**
 * PostgreSQL backup strategies.
 *
 * "postgresql-snapshot" (default): pg_backup_start (a checkpoint; no lock, writes go on) → picture of the
 * volume → pg_backup_stop on the same session. The backup carries the picture's data folder without
 * postmaster.pid, plus the backup_label pg_backup_stop returns and the WAL segments from the backup's start
 * on, copied from the live pg_wal right after the stop (they hold the backup's end record). A restore
 * starts on that folder: with backup_label present, PostgreSQL replays from the backup's checkpoint through
 * its end, so the data is consistent.
 *
 * "pg_dump": the roles (pg_dumpall --roles-only, without the image's own) and each tenant database
 * (pg_dump --create), as SQL replayed by psql into a fresh engine. Each database is consistent in itself.
 */
import { chmod, chown, copyFile, mkdir, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import { concatenate, consume, producer, textOf } from "../../drivers/backup-store/index.js";
import type { BackupContext, BackupStrategy, BackupTaken, GuestHandle } from "../strategy.js";
import { ADMIN_ROLE, adminSession, binDirOf, IMAGE_ROLES, reopenRestoredData, socketDir, SYSTEM_DATABASES } from "./strategy.js";

const WAL_SEGMENT = /^[0-9A-F]{24}$/;

/** pg_backup_start → freeze the volume → pg_backup_stop, with the label and the WAL the restore needs. */
export class PostgresqlSnapshotBackup implements BackupStrategy {
  readonly name = "postgresql-snapshot";
  readonly manager = "postgresql";
  readonly restoreBy = "files" as const;

  async take(guest: GuestHandle, ctx: BackupContext): Promise<BackupTaken> {
    const conn = await adminSession(guest);
    const extra = path.join(ctx.scratch, "data");
    try {
      const started = performance.now();
      await conn.query("SELECT pg_catalog.pg_backup_start($1, true)", [`hoard ${path.basename(ctx.scratch)}`]);
      let stopped = false;
      let frozen;
      let label: string;
      let tablespaces: string;
      try {
        frozen = await ctx.freeze();
        const { rows } = await conn.query<{ labelfile: string; spcmapfile: string }>("SELECT labelfile, spcmapfile FROM pg_catalog.pg_backup_stop(false)");
        stopped = true;
        label = rows[0]!.labelfile;
        tablespaces = rows[0]!.spcmapfile ?? "";
      } finally {
        // A backup left open would keep full-page writes on for the session's life.
        if (!stopped) await conn.query("SELECT pg_catalog.pg_backup_stop(false)").catch(() => undefined);
      }
      const first = /START WAL LOCATION: .*\(file ([0-9A-F]{24})\)/.exec(label)?.[1];
      if (!first) throw new Error("pg_backup_stop returned a backup label without its start segment");
      // The segments from the start on, as they are now: they end with pg_backup_stop's end-of-backup record.
      const owner = await stat(guest.dataDir);
      await mkdir(path.join(extra, "pg_wal"), { recursive: true, mode: 0o700 });
      let segments = 0;
      for (const name of (await readdir(path.join(guest.dataDir, "pg_wal"))).sort()) {
        if (!WAL_SEGMENT.test(name) || name.slice(8) < first.slice(8)) continue;
        await copyFile(path.join(guest.dataDir, "pg_wal", name), path.join(extra, "pg_wal", name));
        segments++;
      }
      await writeFile(path.join(extra, "backup_label"), label, { mode: 0o600 });
      if (tablespaces.trim()) await writeFile(path.join(extra, "tablespace_map"), tablespaces, { mode: 0o600 });
      for (const entry of [extra, path.join(extra, "pg_wal"), ...(await readdir(path.join(extra, "pg_wal"))).map((n) => path.join(extra, "pg_wal", n)), path.join(extra, "backup_label")]) {
        await chown(entry, owner.uid, owner.gid);
      }
      await chmod(extra, 0o700);
      return {
        payload: {
          kind: "folders",
          parts: [
            { dir: frozen.dir, names: ["data"], exclude: ["data/postmaster.pid", "data/postmaster.opts", "data/backup_label", "data/backup_label.old"] },
            { dir: ctx.scratch, names: ["data"] },
          ],
        },
        lockMs: null,
        notes: [`pg_backup_start/stop around the snapshot in ${Math.round(performance.now() - started)} ms, writes not blocked; ${segments} WAL segment(s) carried`],
      };
    } finally {
      await conn.end().catch(() => undefined);
    }
  }

  async adoptFiles(guest: GuestHandle): Promise<void> {
    await rm(path.join(guest.dataDir, "postmaster.pid"), { force: true });
    await reopenRestoredData(guest.dataDir, guest.user);
  }
}

/** Roles, then each tenant database, as SQL. */
export class PgDumpBackup implements BackupStrategy {
  readonly name = "pg_dump";
  readonly manager = "postgresql";
  readonly restoreBy = "replay" as const;

  async take(guest: GuestHandle, _ctx: BackupContext): Promise<BackupTaken> {
    const conn = await adminSession(guest);
    let databases: string[];
    try {
      const { rows } = await conn.query<{ name: string }>("SELECT datname AS name FROM pg_catalog.pg_database WHERE datallowconn AND NOT (datname = ANY($1)) ORDER BY datname", [SYSTEM_DATABASES]);
      databases = rows.map((r) => r.name);
    } finally {
      await conn.end().catch(() => undefined);
    }
    const bin = await binDir(guest);
    const env = toolEnv(guest);
    const roles = (await textOf(producer(path.join(bin, "pg_dumpall"), ["--roles-only", "--no-password"], env)))
      .split("\n")
      // The image's own roles exist in every guest, with this guest's secrets: never replaced.
      .filter((line) => !IMAGE_ROLES.some((r) => new RegExp(`^(CREATE|ALTER) ROLE ${r}[ ;]`).test(line)))
      .join("\n");
    const dumps = databases.map((db) => () => producer(path.join(bin, "pg_dump"), ["--create", "--no-password", `--dbname=${conninfo(db)}`], env));
    return { payload: { kind: "stream", stream: concatenate([roles, ...dumps]) }, lockMs: null, notes: [`logical dump of the roles and ${databases.length} database(s), each consistent in itself`] };
  }

  async replay(guest: GuestHandle, backup: Readable): Promise<void> {
    await consume(backup, path.join(await binDir(guest), "psql"), ["-X", "-q", "-v", "ON_ERROR_STOP=1", "--no-password", "--dbname=postgres"], toolEnv(guest));
  }
}

/** The connection settings of the tools, as environment (the password never on a command line). */
function toolEnv(guest: GuestHandle): NodeJS.ProcessEnv {
  return { PGHOST: socketDir(guest), PGPORT: String(guest.port), PGUSER: ADMIN_ROLE, PGPASSWORD: guest.adminPassword, PGAPPNAME: "hoard-backup", PGOPTIONS: "-c statement_timeout=0" };
}

async function binDir(guest: GuestHandle): Promise<string> {
  return binDirOf((await readFile(path.join(guest.dataDir, "PG_VERSION"), "utf8")).trim());
}

/** A database name as a conninfo (`dbname='…'`), so no name is read as an option or a connection string. */
function conninfo(db: string): string {
  return `dbname='${db.replaceAll("\\", "\\\\").replaceAll("'", "\\'")}'`;
}
