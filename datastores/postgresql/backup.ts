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
 * Only the roles are replayed as the superuser; the databases' contents, where a tenant's CHECK constraint,
 * generated column or domain runs while the rows go in, are replayed by a login that is no superuser.
 */
import { randomBytes } from "node:crypto";
import { chmod, chown, copyFile, mkdir, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { Readable, Transform, type TransformCallback } from "node:stream";
import { StringDecoder } from "node:string_decoder";
import pg from "pg";
import { concatenate, consume, producer, textOf } from "../../drivers/backup-store/index.js";
import type { BackupContext, BackupStrategy, BackupTaken, GuestHandle } from "../contract.js";
import { ADMIN as ADMIN_ROLE, IMAGE_ROLES, RESTORED_OWNER as RESTORE_OWNER_ROLE, RESTORER as RESTORE_ROLE, ROOT as ROOT_ROLE, SYSTEM_DATABASES } from "./accounts.js";
import { binDirOf } from "./engine-user.js";
import { reopenRestoredData } from "./hba.js";
import { adminSession, socketDir, TOOL_SESSION_OPTIONS } from "./session.js";
import { quoteIdentifier, scramSecret } from "./sql.js";

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
      const { rows } = await conn.query<{ name: string }>("SELECT datname AS name FROM pg_catalog.pg_database WHERE datallowconn AND NOT (datname OPERATOR(pg_catalog.=) ANY($1::pg_catalog.text[])) ORDER BY datname", [SYSTEM_DATABASES]);
      databases = rows.map((r) => r.name);
    } finally {
      await conn.end().catch(() => undefined);
    }
    const bin = await binDir(guest);
    const env = toolEnv(guest);
    const roles = (await textOf(producer(path.join(bin, "pg_dumpall"), ["--roles-only", "--no-password"], env)))
      .split("\n")
      // The image's own roles exist in every guest, with this guest's secrets: never replaced. The restore's
      // own exist only while one runs, which makes them afresh.
      .filter((line) => ![...IMAGE_ROLES, RESTORE_ROLE, RESTORE_OWNER_ROLE].some((r) => new RegExp(`^(CREATE|ALTER) ROLE ${r}[ ;]`).test(line)))
      .join("\n");
    const dumps = databases.map((db) => () => producer(path.join(bin, "pg_dump"), ["--create", "--no-password", `--dbname=${conninfo(db)}`], env));
    return { payload: { kind: "stream", stream: concatenate([roles, ...dumps]) }, lockMs: null, notes: [`logical dump of the roles and ${databases.length} database(s), each consistent in itself`] };
  }

  /**
   * The roles as the superuser (statements pg_dumpall wrote: no code of the tenant's runs), then the
   * databases as os_restore, a login made for this replay with CREATEDB and membership in the tenant's roles
   * and nothing more. A tenant function that runs while its rows go in runs as os_restore, and a session that
   * began as no superuser cannot become one (SET ROLE and SET SESSION AUTHORIZATION are no way up). What the
   * dump gives to the service's roles is held by os_restore_owner (databases) or left to os_restore (other
   * objects) and handed on afterwards: the databases to os_admin, as the API makes them, the rest to root.
   */
  async replay(guest: GuestHandle, backup: Readable): Promise<void> {
    const psql = path.join(await binDir(guest), "psql");
    const args = ["-X", "-q", "-v", "ON_ERROR_STOP=1", "--no-password", "--dbname=postgres"];
    const { roles, rest } = await splitRoles(backup);
    try {
      await consume(Readable.from([roles]), psql, args, toolEnv(guest));
      const password = randomBytes(32).toString("hex");
      const added = await openRestorer(guest, password);
      const databases = new WithoutServiceOwners();
      rest.on("error", (err) => databases.destroy(err));
      await consume(rest.pipe(databases), psql, args, toolEnv(guest, { user: RESTORE_ROLE, password }));
      await closeRestorer(guest, added);
    } finally {
      rest.destroy();
      backup.destroy();
    }
  }
}

/** The end of pg_dumpall's output: what comes before it is the roles, what follows the databases. */
const ROLES_END = Buffer.from("\n-- PostgreSQL database cluster dump complete\n--\n");
/** More than any roles part (a few hundred bytes a role): a backup without its end is refused early. */
const MAX_ROLES_BYTES = 64 * 1024 * 1024;

/**
 * The roles part of a backup as text and the rest as a stream. A tenant's text (a role setting's value) that
 * contains the end marker can only end the roles part early: what runs as the superuser is then a prefix of
 * what pg_dumpall wrote, cut inside a string, and the rest goes to os_restore.
 */
async function splitRoles(input: Readable): Promise<{ roles: string; rest: Readable }> {
  const chunks = input[Symbol.asyncIterator]();
  let head = Buffer.alloc(0);
  for (;;) {
    const at = head.indexOf(ROLES_END);
    if (at >= 0) {
      const end = at + ROLES_END.length;
      const leftover = head.subarray(end);
      const rest = Readable.from(
        (async function* () {
          if (leftover.length) yield leftover;
          for (;;) {
            const next = await chunks.next();
            if (next.done) return;
            yield next.value as Buffer;
          }
        })(),
        { objectMode: false },
      );
      return { roles: head.subarray(0, end).toString("utf8"), rest };
    }
    if (head.length > MAX_ROLES_BYTES) break;
    const next = await chunks.next();
    if (next.done) break;
    head = Buffer.concat([head, next.value as Buffer]);
  }
  input.destroy();
  throw new Error("the backup has no end of its roles part: it is not a pg_dump backup that Hoard took");
}

/**
 * pg_dump's `ALTER … OWNER TO os_admin|postgres;` lines, which os_restore may not carry out: a database's
 * goes to os_restore_owner instead, any other is dropped (the object stays os_restore's). Only whole lines
 * outside COPY data are looked at; one inside a tenant's function body is changed or dropped at worst, which
 * changes the tenant's own text and gives nobody a right.
 */
class WithoutServiceOwners extends Transform {
  private partial = "";
  private inCopy = false;
  private readonly decoder = new StringDecoder("utf8");
  private static readonly DATABASE_OWNER = new RegExp(`^(ALTER DATABASE .+ OWNER TO )(${IMAGE_ROLES.join("|")});$`);
  private static readonly SERVICE_OWNER = new RegExp(`^ALTER .+ OWNER TO (${IMAGE_ROLES.join("|")});$`);

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    const lines = (this.partial + this.decoder.write(chunk)).split("\n");
    this.partial = lines.pop()!;
    done(null, lines.map((l) => this.keep(l)).join(""));
  }

  override _flush(done: TransformCallback): void {
    const last = this.partial + this.decoder.end();
    done(null, last ? this.keep(last).replace(/\n$/, "") : "");
  }

  private keep(line: string): string {
    if (this.inCopy) {
      if (line === "\\.") this.inCopy = false;
      return `${line}\n`;
    }
    if (/^COPY .+ FROM stdin;$/.test(line)) this.inCopy = true;
    else if (WithoutServiceOwners.DATABASE_OWNER.test(line)) return `${line.replace(WithoutServiceOwners.DATABASE_OWNER, `$1${RESTORE_OWNER_ROLE}`)};\n`;
    else if (WithoutServiceOwners.SERVICE_OWNER.test(line)) return "";
    return `${line}\n`;
  }
}

/** A membership openRestorer added, to be taken back by closeRestorer. */
type Membership = { role: string; member: string };

/**
 * Makes os_restore: a login with CREATEDB and membership in every role of the tenant (so it may create and
 * fill their objects and give them to their owners), never a superuser, CREATEROLE or BYPASSRLS. So that
 * the owners may own what pg_dump gives them before its grants come (a new owner needs CREATE on the
 * schema), every tenant role is for the while a member of os_restore_owner (which holds the API's
 * databases) and of root (which holds its own). Roles the backup carried are first stripped of what no
 * tenant role has, whatever the guest they came from had become. Returns the memberships it added.
 */
async function openRestorer(guest: GuestHandle, password: string): Promise<Membership[]> {
  const conn = await adminSession(guest);
  try {
    const tenants = await tenantRoles(conn);
    for (const role of tenants) await conn.query(`ALTER ROLE ${quoteIdentifier(role)} WITH NOSUPERUSER NOCREATEROLE NOREPLICATION NOBYPASSRLS`);
    if (!tenants.includes(ROOT_ROLE)) {
      await conn.query(`CREATE ROLE ${ROOT_ROLE} WITH NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE`);
      tenants.push(ROOT_ROLE);
    }
    await conn.query(`CREATE ROLE ${RESTORE_OWNER_ROLE} WITH NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE`);
    await conn.query(`CREATE ROLE ${RESTORE_ROLE} WITH LOGIN NOSUPERUSER CREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD ${pg.escapeLiteral(scramSecret(password))}`);
    const added: Membership[] = [];
    const grant = async (role: string, member: string) => {
      const had = await conn.query(
        `SELECT 1 FROM pg_catalog.pg_auth_members m WHERE m.roleid OPERATOR(pg_catalog.=) (SELECT oid FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) $1)
            AND m.member OPERATOR(pg_catalog.=) (SELECT oid FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) $2)`,
        [role, member],
      );
      if (had.rowCount) return;
      await conn.query(`GRANT ${quoteIdentifier(role)} TO ${quoteIdentifier(member)}`);
      added.push({ role, member });
    };
    for (const role of tenants) {
      await grant(role, RESTORE_ROLE);
      await grant(RESTORE_OWNER_ROLE, role);
      if (role !== ROOT_ROLE) await grant(ROOT_ROLE, role);
    }
    return added;
  } finally {
    await conn.end().catch(() => undefined);
  }
}

/** Takes the memberships back, hands on what os_restore and os_restore_owner hold (databases to os_admin, the rest to root) and drops both. */
async function closeRestorer(guest: GuestHandle, added: Membership[]): Promise<void> {
  const conn = await adminSession(guest);
  try {
    await conn.query(
      `SELECT pg_catalog.pg_terminate_backend(pid, 5000) FROM pg_catalog.pg_stat_activity
        WHERE usename OPERATOR(pg_catalog.=) $1 AND pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid()`,
      [RESTORE_ROLE],
    );
    for (const m of added) await conn.query(`REVOKE ${quoteIdentifier(m.role)} FROM ${quoteIdentifier(m.member)}`);
    const held = await conn.query<{ name: string }>(
      `SELECT datname AS name FROM pg_catalog.pg_database
        WHERE datdba OPERATOR(pg_catalog.=) ANY(SELECT oid FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) ANY($1::pg_catalog.text[]))`,
      [[RESTORE_ROLE, RESTORE_OWNER_ROLE]],
    );
    for (const db of held.rows) await conn.query(`ALTER DATABASE ${quoteIdentifier(db.name)} OWNER TO ${ADMIN_ROLE}`);
    const dbs = await conn.query<{ name: string }>("SELECT datname AS name FROM pg_catalog.pg_database WHERE datallowconn AND datname OPERATOR(pg_catalog.<>) ALL($1::pg_catalog.text[])", [SYSTEM_DATABASES]);
    // Catalog changes only, in sessions whose search path is pinned: nothing of the tenant's runs.
    for (const db of [...dbs.rows.map((r) => r.name), "postgres"]) {
      const inside = await adminSession(guest, db);
      try {
        for (const role of [RESTORE_ROLE, RESTORE_OWNER_ROLE]) {
          await inside.query(`REASSIGN OWNED BY ${role} TO ${ROOT_ROLE}`);
          await inside.query(`DROP OWNED BY ${role}`);
        }
      } finally {
        await inside.end().catch(() => undefined);
      }
    }
    await conn.query(`DROP ROLE ${RESTORE_ROLE}`);
    await conn.query(`DROP ROLE ${RESTORE_OWNER_ROLE}`);
  } finally {
    await conn.end().catch(() => undefined);
  }
}

/** The roles a tenant has: every role but the image's, the service's and PostgreSQL's own (pg_*). */
async function tenantRoles(conn: pg.Client): Promise<string[]> {
  const { rows } = await conn.query<{ name: string }>(
    `SELECT rolname AS name FROM pg_catalog.pg_roles
      WHERE rolname OPERATOR(pg_catalog.<>) ALL($1::pg_catalog.text[]) AND rolname OPERATOR(pg_catalog.!~~) 'pg\\_%'`,
    [[...IMAGE_ROLES, RESTORE_ROLE, RESTORE_OWNER_ROLE]],
  );
  return rows.map((r) => r.name);
}

/** The connection settings of the tools, as environment (the password never on a command line). */
function toolEnv(guest: GuestHandle, login: { user: string; password: string } = { user: ADMIN_ROLE, password: guest.adminPassword }): NodeJS.ProcessEnv {
  return { PGHOST: socketDir(guest), PGPORT: String(guest.port), PGUSER: login.user, PGPASSWORD: login.password, PGAPPNAME: "hoard-backup", PGOPTIONS: `${TOOL_SESSION_OPTIONS} -c statement_timeout=0` };
}

async function binDir(guest: GuestHandle): Promise<string> {
  return binDirOf((await readFile(path.join(guest.dataDir, "PG_VERSION"), "utf8")).trim());
}

/** A database name as a conninfo (`dbname='…'`), so no name is read as an option or a connection string. */
function conninfo(db: string): string {
  return `dbname='${db.replaceAll("\\", "\\\\").replaceAll("'", "\\'")}'`;
}
