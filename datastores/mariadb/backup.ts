/**
 * MariaDB backup strategies.
 *
 * "mariadb-snapshot" (default): on one admin session, FLUSH TABLES WITH READ LOCK → picture of the volume
 * (an O(1) btrfs snapshot) → UNLOCK TABLES, so writes wait for milliseconds whatever the size; the picture is
 * then packed at leisure. FTWRL also closes the Aria/MyISAM tables (the grant tables are Aria) so their files
 * are whole; InnoDB is crash-consistent in any atomic picture and recovers from its redo log at the first
 * start of a restore. The danger of FTWRL is acquiring it (it waits for running statements while new writes
 * already queue behind it), so: refuse when a long statement runs, flush tables and the volume beforehand,
 * and give up the lock request after LOCK_WAIT_S. A tracker that dies holding the lock releases it with
 * its connection.
 *
 * "mariadb-dump": `mariadb-dump --single-transaction` of the tenant's databases, then their users and
 * grants; replayed into a fresh engine. Portable and slow.
 */
import { randomBytes } from "node:crypto";
import { rm, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import mysql from "mysql2/promise";
import type { Connection } from "mysql2/promise";
import { concatenate, consume, producer } from "../../drivers/backup-store/index.js";
import type { BackupContext, BackupStrategy, BackupTaken, GuestHandle } from "../contract.js";
import { writeGuestFile } from "../guest-files.js";
import { socketPath } from "./connection.js";
import { ADMIN_SESSION_SQL, adminConnection, rootGrantStatements, settleRoot } from "./hardening.js";
import { SYSTEM_DATABASES } from "./sql.js";
import { initFile } from "./strategy.js";

/** How long FTWRL may wait for running statements before the backup gives up (the database never does). */
const LOCK_WAIT_S = 5;
/** A statement running longer than this would hold FTWRL (and every write queued behind it): refuse instead. */
const LONG_STATEMENT_S = 3;
/** Accounts of the engine and the service, not carried by a logical backup (root@'%' is the tenant's own). */
const SERVICE_ACCOUNTS = ["mariadb.sys@localhost", "mysql@localhost", "root@localhost", "root@127.0.0.1", "root@::1"];

/** An admin connection with its session pinned (hardening.ts). */
function connect(guest: GuestHandle): Promise<Connection> {
  return adminConnection(socketPath(guest), guest.adminPassword);
}

/** Milliseconds with two decimals. */
const msSince = (t: number) => Math.round((performance.now() - t) * 100) / 100;

/** FTWRL → freeze the volume → UNLOCK TABLES. */
export class MariadbSnapshotBackup implements BackupStrategy {
  readonly name = "mariadb-snapshot";
  readonly manager = "mariadb";
  readonly restoreBy = "files" as const;

  async take(guest: GuestHandle, ctx: BackupContext): Promise<BackupTaken> {
    const conn = await connect(guest);
    try {
      const [running] = await conn.query(
        "SELECT id, time, LEFT(info, 80) AS info FROM information_schema.processlist WHERE command NOT IN ('Sleep', 'Daemon', 'Binlog Dump') AND id <> CONNECTION_ID() AND time >= ? ORDER BY time DESC LIMIT 1",
        [LONG_STATEMENT_S],
      );
      const long = (running as { id: number; time: number }[])[0];
      if (long) throw new Error(`a statement has been running for ${long.time} s (connection ${long.id}); taking the backup lock now would stall every write until it ends, so the backup was not started: try again when it is done`);
      await conn.query(`SET SESSION lock_wait_timeout = ${LOCK_WAIT_S}`);
      // Done before the lock, so that the lock itself finds little to close or write.
      await conn.query("FLUSH NO_WRITE_TO_BINLOG TABLES");
      await ctx.syncVolume();
      const asked = performance.now();
      try {
        await conn.query("FLUSH TABLES WITH READ LOCK");
      } catch (err) {
        throw new Error(`could not take the backup lock within ${LOCK_WAIT_S} s (${(err as Error).message}); nothing was blocked after that`);
      }
      const acquireMs = msSince(asked);
      ctx.onLock?.("locked");
      let frozen;
      try {
        frozen = await ctx.freeze();
      } finally {
        await conn.query("UNLOCK TABLES");
      }
      const lockMs = msSince(asked);
      ctx.onLock?.("unlocked");
      const notes = [`lock acquired in ${acquireMs} ms, held ${Math.round((lockMs - acquireMs) * 100) / 100} ms`];
      if (!frozen.instant) notes.push("the volume cannot snapshot (directory driver): its data was copied while the lock was held");
      return { payload: { kind: "folders", parts: [{ dir: frozen.dir, names: ["data"] }] }, lockMs, notes };
    } finally {
      // Ends the session whatever happened: a lock still held goes with it.
      conn.destroy();
    }
  }

  /**
   * The restored grant tables know the old guest's admin password: the engine's first start on the data
   * runs an init file (no network needed, before anyone connects) that gives root@localhost this guest's.
   */
  async adoptFiles(guest: GuestHandle): Promise<void> {
    // Read by the engine as its guest's own user, from its own folder. The init file runs under the GLOBAL
    // sql_mode (a group's maybe): it pins its own before the quoted secret.
    await writeGuestFile(initFile(guest), `${ADMIN_SESSION_SQL};\nALTER USER 'root'@'localhost' IDENTIFIED BY ${mysql.escape(guest.adminPassword)};\n`, guest.user);
  }
}

/** `mariadb-dump --single-transaction` of the tenant's databases, then their users. */
export class MariadbDumpBackup implements BackupStrategy {
  readonly name = "mariadb-dump";
  readonly manager = "mariadb";
  readonly restoreBy = "replay" as const;

  async take(guest: GuestHandle, ctx: BackupContext): Promise<BackupTaken> {
    const conn = await connect(guest);
    let databases: string[];
    let accounts: string;
    try {
      const [rows] = await conn.query("SELECT schema_name AS name FROM information_schema.schemata WHERE schema_name NOT IN (?) ORDER BY schema_name", [SYSTEM_DATABASES]);
      databases = (rows as { name: string }[]).map((r) => r.name);
      accounts = await accountStatements(conn);
    } finally {
      conn.destroy();
    }
    const options = await clientOptions(guest, ctx.scratch);
    const dump = () => producer("mariadb-dump", [`--defaults-extra-file=${options}`, "--single-transaction", "--quick", "--routines", "--events", "--triggers", "--hex-blob", "--databases", "--", ...databases]);
    // The dump, then the accounts (grants may name the databases, so they come after them).
    const out = concatenate([...(databases.length ? [dump] : []), accounts]);
    return { payload: { kind: "stream", stream: out }, lockMs: null, notes: [`logical dump of ${databases.length} database(s) in one consistent transaction`] };
  }

  async replay(guest: GuestHandle, backup: Readable): Promise<void> {
    const options = await clientOptions(guest, guest.runDir);
    try {
      await consume(backup, "mariadb", [`--defaults-extra-file=${options}`, "--binary-mode", "--batch"]);
    } finally {
      await rm(options, { force: true });
    }
    // A backup taken by an older Hoard carries root's old grants (ALL PRIVILEGES ON *.*).
    const conn = await connect(guest);
    try {
      await settleRoot(conn);
    } finally {
      conn.destroy();
    }
  }
}

/** The tenant's accounts and grants as SQL: every account but the engine's and the service's own. */
async function accountStatements(conn: Connection): Promise<string> {
  const [users] = await conn.query("SELECT User AS user, Host AS host FROM mysql.user WHERE User <> '' ORDER BY User, Host");
  // After the dump's own trailer the replaying session is back to the guest's GLOBAL sql_mode (a group's,
  // NO_BACKSLASH_ESCAPES maybe), so this part pins its own before any quoted name.
  const lines = ["-- accounts (Hoard)", `${ADMIN_SESSION_SQL};`];
  for (const u of users as { user: string; host: string }[]) {
    if (SERVICE_ACCOUNTS.includes(`${u.user}@${u.host}`)) continue;
    const [created] = await conn.query("SHOW CREATE USER ?@?", [u.user, u.host]);
    const [grants] = await conn.query("SHOW GRANTS FOR ?@?", [u.user, u.host]);
    lines.push(`DROP USER IF EXISTS ${mysql.escape(u.user)}@${mysql.escape(u.host)};`);
    lines.push(`${Object.values((created as Record<string, string>[])[0]!)[0]};`);
    // Tenant root gets Hoard's grants for it, whatever it had (and replay() settles it again).
    const shown = u.user === "root" && u.host === "%" ? rootGrantStatements() : (grants as Record<string, string>[]).map((g) => Object.values(g)[0]!);
    for (const g of shown) lines.push(`${g};`);
  }
  lines.push("FLUSH PRIVILEGES;", "");
  return lines.join("\n");
}

/** A client options file (0600) with the guest's socket and admin password, so no secret is on a command line. */
async function clientOptions(guest: GuestHandle, dir: string): Promise<string> {
  const file = path.join(dir, `client-${randomBytes(4).toString("hex")}.cnf`);
  const quoted = (v: string) => `"${v.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`;
  // [mysql] is read by the mariadb client only (mariadb-dump pins its own session): a replay never runs
  // under the guest's GLOBAL sql_mode, which a configuration group sets, and in sandbox mode, so a name the
  // tenant chose that smuggles a client command (`\!`, `\.`) into the dump cannot run it on the node.
  await writeFile(file, `[client]\nuser=root\npassword=${quoted(guest.adminPassword)}\nsocket=${quoted(socketPath(guest))}\n[mysql]\ninit-command=${quoted(ADMIN_SESSION_SQL)}\nsandbox\n`, { mode: 0o600 });
  return file;
}
