/**
 * The MariaDB engine (manager "mariadb", serving the datastores mariadb and mysql) with Debian's binaries.
 * Every engine run gets `--no-defaults` so /etc/mysql of the node never leaks into a guest; the tracker
 * reaches the guest as root over its unix socket only.
 */
import { execFile } from "node:child_process";
import { constants, existsSync, lchownSync, mkdirSync } from "node:fs";
import { access, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import mysql from "mysql2/promise";
import type { Connection } from "mysql2/promise";
import { logTail } from "../../drivers/compute/process.js";
import {
  ENGINE_LOG,
  engineDir,
  GuestActionError,
  refuse,
  guestSocketPath,
  type DatabaseInfo,
  type DatabaseToCreate,
  type DatastoreStrategy,
  type GuestHandle,
  type GuestLayout,
  type Health,
  type LaunchSpec,
  type Settings,
  type UserChanges,
  type UserInfo,
  type UserRef,
  type UserToCreate,
} from "../strategy.js";
import { adminConnection, DEFINERS_SETTLED, SERVER_HARDENING, settleRoot } from "./hardening.js";
import { mariadbParameters, WITHDRAWN_PARAMETERS } from "./parameters.js";
import { mariadbTlsOptions, reloadMariadbTls } from "./tls.js";

const run = promisify(execFile);

/** How long health() waits for `SELECT 1`. */
const HEALTH_TIMEOUT_MS = 1_000;
/** Pause between readiness probes: the engine is usually ready 150–300 ms after its start. */
const READY_POLL_MS = 25;

/** Where the engine binaries are looked for when no directories are given. */
const DEFAULT_BIN_DIRS = ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"];

/**
 * Options that every run of the engine (image initialisation and guest) shares; the benchmark's baseline uses
 * them too. `asRoot`: the run is as root (only a golden image's build, which runs no tenant's SQL, and the
 * benchmark's baseline); a guest's engine never is, it runs as its guest's own OS user.
 */
export function engineOptions(bufferPoolMb?: number, asRoot = false): string[] {
  return [
    "--no-defaults", // must come first
    // mariadbd refuses to run as root unless told to.
    ...(asRoot ? ["--user=root"] : []),
    "--skip-name-resolve",
    // The default 96 MB redo log would make every clone 126 MB instead of 34 MB.
    "--innodb-log-file-size=16M",
    // Dumping the buffer pool at shutdown costs ~2 s per stop and buys nothing for small guests.
    "--innodb-buffer-pool-dump-at-shutdown=0",
    "--innodb-buffer-pool-load-at-startup=0",
    "--skip-log-bin",
    ...(bufferPoolMb ? [`--innodb-buffer-pool-size=${bufferPoolMb}M`] : []),
  ];
}

/** Databases and accounts of the engine and of the service, never shown to or touched by tenants. */
export const SYSTEM_DATABASES = ["mysql", "information_schema", "performance_schema", "sys"];
const SERVICE_USERS = ["root", "mariadb.sys", "mysql", "os_admin", ""];

/**
 * A parameter's value as SQL, checked again here whatever the API checked (a group stored by an older Hoard
 * was not): numbers are plain numbers, booleans ON/OFF, strings one of the rule's values or passing its
 * check, and only then quoted (in an admin session whose sql_mode makes the quoting hold).
 */
function settingLiteral(name: string, value: string): string {
  const rule = mariadbParameters.find((p) => p.name === name);
  if (!rule) throw refuse("GUEST_REFUSED", { message: `'${name}' is not a MariaDB parameter Hoard can set` });
  const invalid = () => refuse("GUEST_REFUSED", { message: `the value given for ${name} is not valid for it` });
  if (rule.type === "integer") {
    if (!/^\d{1,20}$/.test(value)) throw invalid();
    return value;
  }
  if (rule.type === "float") {
    if (!/^\d{1,10}(\.\d{1,10})?$/.test(value)) throw invalid();
    return value;
  }
  if (rule.type === "boolean") {
    if (value !== "ON" && value !== "OFF") throw invalid();
    return value;
  }
  if (rule.values && !rule.values.some((v) => v.toLowerCase() === value.toLowerCase())) throw invalid();
  if (rule.check && rule.check(value) !== null) throw invalid();
  if (!rule.values && !rule.check) throw invalid();
  return mysql.escape(value);
}

/** The settings without the parameters Hoard no longer lets a group set (parameters.ts). */
function withoutWithdrawn(settings: Settings): Settings {
  return Object.fromEntries(Object.entries(settings).filter(([name]) => !WITHDRAWN_PARAMETERS.includes(name)));
}

/** Half the flavor's memory goes to InnoDB's buffer pool, but never less than 32 MB. */
export function bufferPoolMb(ramMb: number): number {
  return Math.max(32, Math.floor(ramMb / 2));
}

/**
 * SQL the engine runs once at its next start, with every privilege, before it serves anyone (`--init-file`):
 * how a data folder restored from a backup gets this guest's admin password. secure() removes it.
 */
export function initFile(guest: Pick<GuestHandle, "runDir">): string {
  return path.join(engineDir(guest), "init.sql");
}

/** The guest's unix socket. */
export function socketPath(guest: Pick<GuestHandle, "runDir">): string {
  return guestSocketPath(guest.runDir, "mysqld.sock");
}

/** A quoted MariaDB identifier (backticks, with any backtick doubled). */
export function quoteIdentifier(name: string): string {
  return `\`${name.replaceAll("`", "``")}\``;
}

/**
 * A database name as GRANT reads it: `_` and `%` are wildcards there, so they are escaped, or a grant on
 * `a_b` would also cover a database `axb`.
 */
function grantDatabase(name: string): string {
  return quoteIdentifier(grantPattern(name));
}

/** Charset and collation names go into SQL unquoted, so only plain words pass. */
function sqlWord(what: string, value: string): string {
  if (!/^[A-Za-z0-9_]+$/.test(value)) throw new Error(`${what} '${value}' is not a valid name`);
  return value;
}

/** How mysql.db stores a database name (GRANT's wildcards escaped). */
function grantPattern(name: string): string {
  return name.replace(/[\\_%]/g, (c) => `\\${c}`);
}

function unescapeGrant(db: string): string {
  return db.replace(/\\([\\_%])/g, "$1");
}

async function userExists(conn: Connection, user: UserRef): Promise<boolean> {
  const [rows] = await conn.query("SELECT 1 FROM mysql.user WHERE User = ? AND Host = ?", [user.name, user.host]);
  return (rows as unknown[]).length > 0;
}

function userNotFound(user: UserRef): GuestActionError {
  return refuse("GUEST_NOT_FOUND", { message: `User '${user.name}'@'${user.host}' does not exist.` });
}

/** Throws NOT_FOUND naming the first of `names` that is not a database. */
async function missingDatabases(conn: Connection, names: string[]): Promise<void> {
  if (names.length === 0) return;
  const [rows] = await conn.query("SELECT schema_name AS name FROM information_schema.schemata WHERE schema_name IN (?)", [names]);
  const present = new Set((rows as { name: string }[]).map((r) => r.name));
  const missing = names.find((n) => !present.has(n));
  if (missing !== undefined) throw refuse("GUEST_NOT_FOUND", { message: `Database '${missing}' does not exist.` });
}

function isAccessDenied(err: unknown): boolean {
  return (err as { code?: string }).code === "ER_ACCESS_DENIED_ERROR";
}

/** The MariaDB strategy. */
export class MariadbStrategy implements DatastoreStrategy {
  readonly manager = "mariadb";
  private readonly binDirs: string[];
  private readonly verified = new Set<string>();
  /** Absolute paths of the binaries found so far (launch() is synchronous and relies on checkInstalled). */
  private readonly resolved = new Map<string, string>();

  /** `binDirs`: where to look for mariadbd and mariadb-install-db. */
  constructor(opts: { binDirs?: string[] } = {}) {
    this.binDirs = opts.binDirs ?? DEFAULT_BIN_DIRS;
  }

  async checkInstalled(version: string): Promise<void> {
    if (this.verified.has(version)) return;
    const server = await this.binary("mariadbd");
    await this.binary("mariadb-install-db");
    const { stdout } = await run(server, ["--version"]).catch((err: Error) => {
      throw new Error(`MariaDB is installed but '${server} --version' failed: ${err.message}`);
    });
    const installed = /Ver\s+(\d+\.\d+\.\d+)/.exec(stdout)?.[1];
    if (!installed) throw new Error(`could not tell which MariaDB version ${server} is (it said: ${stdout.trim()})`);
    if (installed !== version && !installed.startsWith(`${version}.`)) {
      throw new Error(`MariaDB ${version} is not installed on this node (it has MariaDB ${installed})`);
    }
    this.verified.add(version);
  }

  async initImage(dataDir: string, version: string): Promise<void> {
    await this.checkInstalled(version);
    const options = engineOptions(32, process.getuid?.() === 0);
    const installDb = await this.binary("mariadb-install-db");
    try {
      await run(installDb, [...options, `--datadir=${dataDir}`, "--auth-root-authentication-method=normal", "--skip-test-db"]);
    } catch (err) {
      throw new Error(`mariadb-install-db failed: ${outputOf(err)}`);
    }
    // install-db also makes root@127.0.0.1, root@::1 and root@<hostname> without a password; every clone
    // would accept them over TCP until secured. Only root@localhost (the socket) may stay.
    const cleanup = [
      "DELETE FROM mysql.global_priv WHERE User = 'root' AND Host <> 'localhost';",
      "DELETE FROM mysql.global_priv WHERE User = '';",
      "DELETE FROM mysql.proxies_priv WHERE Host <> 'localhost';",
    ].join("\n");
    await this.bootstrap(options, dataDir, cleanup);
    // A fresh image holds no object an older root made: its clones need no DEFINER scan at their first start.
    await writeFile(path.join(dataDir, DEFINERS_SETTLED), "", { mode: 0o600 });
  }

  async prepareGuest(_guest: GuestLayout): Promise<void> {
    // The engine runs as the tracker's user and the clone keeps the image's modes: nothing to change.
  }

  launch(guest: Omit<GuestHandle, "adminPassword">, settings: Settings): LaunchSpec {
    const configured = Object.entries(withoutWithdrawn(settings)).map(([name, value]) => {
      if (!mariadbParameters.some((p) => p.name === name)) throw new Error(`'${name}' is not a MariaDB parameter Hoard can set`);
      return `--${name}=${value}`;
    });
    // File I/O from SQL (INTO OUTFILE, LOAD DATA, LOAD_FILE) stays in one folder of the guest's own; the
    // engine's OS user (the guest's own) keeps it off the rest of the node anyway.
    const files = path.join(engineDir(guest), "files");
    mkdirSync(files, { recursive: true, mode: 0o700 });
    // lchown: a link the engine planted there must not lead root to hand it another folder.
    if (guest.user) lchownSync(files, guest.user.uid, guest.user.gid);
    return {
      command: this.resolved.get("mariadbd") ?? "mariadbd",
      args: [
        ...engineOptions(settings.innodb_buffer_pool_size ? undefined : bufferPoolMb(guest.ramMb)),
        `--secure-file-priv=${files}`,
        ...configured,
        ...SERVER_HARDENING, // after the group's values, so none of them can undo these
        `--datadir=${guest.dataDir}`,
        `--bind-address=${guest.host}`,
        `--port=${guest.port}`,
        `--socket=${socketPath(guest)}`,
        // Out of the data directory, so a clone or snapshot of the volume carries no stale pid.
        `--pid-file=${path.join(engineDir(guest), "mariadbd.pid")}`,
        ...(existsSync(initFile(guest)) ? [`--init-file=${initFile(guest)}`] : []),
        ...mariadbTlsOptions(guest.runDir),
      ],
    };
  }

  async waitReady(guest: GuestHandle, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (signal?.aborted) throw new Error("stopped waiting for MariaDB to answer");
      let conn: Connection | undefined;
      try {
        conn = await this.connect(guest, guest.adminPassword, Math.max(1, Math.min(1_000, deadline - Date.now())));
      } catch (err) {
        // A refused password is an answer too: right after the clone root has no password yet.
        if (isAccessDenied(err)) return;
      }
      if (conn) {
        // Every start of a guest settles tenant root's privileges: a root enabled by an older Hoard (ALL
        // PRIVILEGES ON *.*), or brought back by a restored data folder, loses what it must not have.
        const settled = path.join(guest.dataDir, DEFINERS_SETTLED);
        try {
          await settleRoot(conn, { definers: !existsSync(settled) });
        } finally {
          conn.destroy();
        }
        await writeFile(settled, "", { mode: 0o600 });
        return;
      }
      if (Date.now() >= deadline) {
        const tail = await logTail(path.join(guest.runDir, ENGINE_LOG));
        throw new Error(`MariaDB did not answer within ${Math.round(timeoutMs / 1000)} s.${tail ? ` Its log ends with:\n${tail}` : ""}`);
      }
      await new Promise((r) => setTimeout(r, READY_POLL_MS));
    }
  }

  async secure(guest: GuestHandle): Promise<void> {
    // The engine ran it at its start (it answers now): not needed again, and it holds the admin password.
    await rm(initFile(guest), { force: true });
    let conn: Connection;
    try {
      conn = await this.connect(guest, guest.adminPassword);
    } catch (err) {
      if (!isAccessDenied(err)) throw err;
      // Not secured yet: the golden image's root@localhost has an empty password.
      conn = await this.connect(guest, "");
      await conn.query("ALTER USER 'root'@'localhost' IDENTIFIED BY ?", [guest.adminPassword]).catch((e: unknown) => {
        void conn.end();
        throw withoutSecrets(e, [guest.adminPassword]);
      });
    }
    try {
      // An image built before the cleanup in initImage may still carry passwordless root accounts.
      const [rows] = await conn.query("SELECT User AS user, Host AS host FROM mysql.user WHERE (User = 'root' AND Host <> 'localhost') OR User = ''");
      for (const row of rows as { user: string; host: string }[]) {
        await conn.query("DROP USER IF EXISTS ?@?", [row.user, row.host]);
      }
    } finally {
      await conn.end();
    }
  }

  async createDatabases(guest: GuestHandle, databases: DatabaseToCreate[]): Promise<void> {
    if (databases.length === 0) return;
    const statements = databases.map((db) => {
      let sql = `CREATE DATABASE IF NOT EXISTS ${quoteIdentifier(db.name)}`;
      if (db.characterSet) sql += ` CHARACTER SET ${sqlWord("character set", db.characterSet)}`;
      if (db.collate) sql += ` COLLATE ${sqlWord("collation", db.collate)}`;
      return sql;
    });
    await this.asRoot(guest, async (conn) => {
      for (const sql of statements) await conn.query(sql);
    });
  }

  async createUsers(guest: GuestHandle, users: UserToCreate[]): Promise<void> {
    if (users.length === 0) return;
    await this.asRoot(guest, async (conn) => {
      for (const user of users) {
        if (await userExists(conn, user)) throw refuse("GUEST_CONFLICT", { message: `A user named '${user.name}'@'${user.host}' already exists.` });
      }
      for (const user of users) {
        await missingDatabases(conn, user.databases);
      }
      for (const user of users) {
        // Placeholders: mysql2 escapes the values, so no name or password is ever pasted into the SQL.
        await conn.query("CREATE USER ?@? IDENTIFIED BY ?", [user.name, user.host, user.password]).catch((e: unknown) => {
          throw withoutSecrets(e, [user.password], `could not create user '${user.name}'@'${user.host}'`);
        });
        for (const db of user.databases) {
          await conn.query(`GRANT ALL PRIVILEGES ON ${grantDatabase(db)}.* TO ?@?`, [user.name, user.host]);
        }
      }
    });
  }

  async listDatabases(guest: GuestHandle): Promise<DatabaseInfo[]> {
    return this.asRoot(guest, async (conn) => {
      const [rows] = await conn.query(
        "SELECT schema_name AS name, default_character_set_name AS cs, default_collation_name AS co FROM information_schema.schemata WHERE schema_name NOT IN (?) ORDER BY schema_name",
        [SYSTEM_DATABASES],
      );
      return (rows as { name: string; cs: string; co: string }[]).map((r) => ({ name: r.name, characterSet: r.cs, collate: r.co }));
    });
  }

  async deleteDatabase(guest: GuestHandle, name: string): Promise<void> {
    await this.asRoot(guest, async (conn) => {
      await missingDatabases(conn, [name]);
      await conn.query(`DROP DATABASE ${quoteIdentifier(name)}`);
      // Grants on a dropped database would silently apply to a new one of the same name.
      await conn.query("DELETE FROM mysql.db WHERE Db = ?", [grantPattern(name)]);
      await conn.query("FLUSH PRIVILEGES");
    });
  }

  async listUsers(guest: GuestHandle): Promise<UserInfo[]> {
    return this.asRoot(guest, async (conn) => {
      const [users] = await conn.query("SELECT User AS name, Host AS host FROM mysql.user WHERE User NOT IN (?) ORDER BY User, Host", [SERVICE_USERS]);
      const [grants] = await conn.query("SELECT User AS name, Host AS host, Db AS db FROM mysql.db ORDER BY Db");
      const byUser = new Map<string, string[]>();
      for (const g of grants as { name: string; host: string; db: string }[]) {
        const key = `${g.name}@${g.host}`;
        byUser.set(key, [...(byUser.get(key) ?? []), unescapeGrant(g.db)]);
      }
      return (users as UserRef[]).map((u) => ({ name: u.name, host: u.host, databases: byUser.get(`${u.name}@${u.host}`) ?? [] }));
    });
  }

  async updateUser(guest: GuestHandle, user: UserRef, changes: UserChanges): Promise<void> {
    await this.asRoot(guest, async (conn) => {
      if (!(await userExists(conn, user))) throw userNotFound(user);
      const target = { name: changes.name ?? user.name, host: changes.host ?? user.host };
      const moves = target.name !== user.name || target.host !== user.host;
      if (moves && (await userExists(conn, target))) throw refuse("GUEST_CONFLICT", { message: `A user named '${target.name}'@'${target.host}' already exists.` });
      if (moves) await conn.query("RENAME USER ?@? TO ?@?", [user.name, user.host, target.name, target.host]);
      if (changes.password !== undefined) {
        await conn.query("ALTER USER ?@? IDENTIFIED BY ?", [target.name, target.host, changes.password]).catch((e: unknown) => {
          throw withoutSecrets(e, [changes.password ?? ""], `could not change the password of '${target.name}'@'${target.host}'`);
        });
      }
    });
  }

  async deleteUser(guest: GuestHandle, user: UserRef): Promise<void> {
    await this.asRoot(guest, async (conn) => {
      if (!(await userExists(conn, user))) throw userNotFound(user);
      await conn.query("DROP USER ?@?", [user.name, user.host]);
    });
  }

  async grantAccess(guest: GuestHandle, user: UserRef, databases: string[]): Promise<void> {
    await this.asRoot(guest, async (conn) => {
      if (!(await userExists(conn, user))) throw userNotFound(user);
      await missingDatabases(conn, databases);
      for (const db of databases) await conn.query(`GRANT ALL PRIVILEGES ON ${grantDatabase(db)}.* TO ?@?`, [user.name, user.host]);
    });
  }

  async revokeAccess(guest: GuestHandle, user: UserRef, database: string): Promise<void> {
    await this.asRoot(guest, async (conn) => {
      if (!(await userExists(conn, user))) throw userNotFound(user);
      const [rows] = await conn.query("SELECT 1 FROM mysql.db WHERE User = ? AND Host = ? AND Db = ?", [user.name, user.host, grantPattern(database)]);
      if ((rows as unknown[]).length === 0) {
        throw refuse("GUEST_NOT_FOUND", { message: `User '${user.name}'@'${user.host}' has no access to database '${database}'.` });
      }
      await conn.query(`REVOKE ALL PRIVILEGES ON ${grantDatabase(database)}.* FROM ?@?`, [user.name, user.host]);
    });
  }

  async enableRoot(guest: GuestHandle, password: string): Promise<void> {
    await this.asRoot(guest, async (conn) => {
      try {
        await conn.query("CREATE USER IF NOT EXISTS 'root'@'%' IDENTIFIED BY ?", [password]);
        await conn.query("ALTER USER 'root'@'%' IDENTIFIED BY ? ACCOUNT UNLOCK", [password]);
      } catch (e) {
        throw withoutSecrets(e, [password], "could not enable root");
      }
      // Like RDS's master user, not the engine's superuser: see hardening.ts for what root gets and why.
      // A root made by an older Hoard (ALL PRIVILEGES ON *.*) is brought down to it here too.
      await settleRoot(conn);
    });
  }

  async rootEnabled(guest: GuestHandle): Promise<boolean> {
    return this.asRoot(guest, async (conn) => userExists(conn, { name: "root", host: "%" }));
  }

  async disableRoot(guest: GuestHandle): Promise<void> {
    await this.asRoot(guest, async (conn) => {
      await conn.query("DROP USER IF EXISTS 'root'@'%'");
    });
  }

  async applySettings(guest: GuestHandle, settings: Settings): Promise<void> {
    const statements = Object.entries(withoutWithdrawn(settings)).map(([name, value]) => `SET GLOBAL ${name} = ${settingLiteral(name, value)}`);
    await this.asRoot(guest, async (conn) => {
      for (const sql of statements) {
        await conn.query(sql).catch((e: Error) => {
          throw refuse("GUEST_REFUSED", { message: `MariaDB refused ${sql.slice("SET GLOBAL ".length)}: ${e.message}` });
        });
      }
    });
  }

  async readSettings(guest: GuestHandle, names: string[]): Promise<Settings> {
    const rules = names.filter((name) => !WITHDRAWN_PARAMETERS.includes(name)).map((name) => {
      const rule = mariadbParameters.find((p) => p.name === name);
      if (!rule) throw refuse("GUEST_REFUSED", { message: `'${name}' is not a MariaDB parameter Hoard can set` });
      return rule;
    });
    if (rules.length === 0) return {};
    return this.asRoot(guest, async (conn) => {
      // Names come from the rules (plain words), never from the caller.
      const [rows] = await conn.query(`SELECT ${rules.map((r) => `@@GLOBAL.${r.name} AS ${quoteIdentifier(r.name)}`).join(", ")}`);
      const row = (rows as Record<string, unknown>[])[0] ?? {};
      const out: Settings = {};
      for (const r of rules) {
        const v = row[r.name];
        out[r.name] = r.type === "boolean" ? (v === 1 || v === "1" || v === "ON" ? "ON" : "OFF") : String(v ?? "");
      }
      return out;
    });
  }

  async health(guest: GuestHandle): Promise<Health> {
    let conn: Connection | undefined;
    let timer: NodeJS.Timeout | undefined;
    const probe = (async (): Promise<Health> => {
      conn = await this.connect(guest, guest.adminPassword, HEALTH_TIMEOUT_MS);
      await conn.query({ sql: "SELECT 1", timeout: HEALTH_TIMEOUT_MS });
      return "HEALTHY";
    })().catch((): Health => "RUNNING");
    const late = new Promise<Health>((resolve) => {
      timer = setTimeout(() => resolve("RUNNING"), HEALTH_TIMEOUT_MS);
    });
    try {
      return await Promise.race([probe, late]);
    } finally {
      clearTimeout(timer);
      // A probe that answers after the deadline still closes its connection.
      void probe.then(() => conn?.destroy());
    }
  }

  shutdownSignal(): NodeJS.Signals {
    return "SIGTERM";
  }

  /** TLS (./tls.ts): a renewed certificate is taken by FLUSH SSL. */
  readonly tls = { alongsidePlaintext: true, reload: (guest: GuestHandle) => this.asRoot(guest, reloadMariadbTls) };

  private async binary(name: string): Promise<string> {
    const known = this.resolved.get(name);
    if (known) return known;
    for (const dir of this.binDirs) {
      const candidate = path.join(dir, name);
      if (await access(candidate, constants.X_OK).then(() => true, () => false)) {
        this.resolved.set(name, candidate);
        return candidate;
      }
    }
    throw new Error(`MariaDB is not installed on this node: ${name} was not found in ${this.binDirs.join(", ")}`);
  }

  /** Runs SQL on a data directory without starting a server (mariadbd --bootstrap reads it from stdin). */
  private async bootstrap(options: string[], dataDir: string, sql: string): Promise<void> {
    const server = await this.binary("mariadbd");
    await new Promise<void>((resolve, reject) => {
      const child = execFile(server, [...options, `--datadir=${dataDir}`, "--bootstrap"], (err, stdout, stderr) => {
        if (err) reject(new Error(`mariadbd --bootstrap failed: ${outputOf({ ...err, stdout, stderr })}`));
        else resolve();
      });
      child.stdin?.end(sql);
    });
  }

  /** An admin connection with its session pinned (hardening.ts): never one that inherits a group's sql_mode. */
  private connect(guest: GuestHandle, password: string, connectTimeout = 5_000): Promise<Connection> {
    return adminConnection(socketPath(guest), password, connectTimeout);
  }

  private async asRoot<T>(guest: GuestHandle, work: (conn: Connection) => Promise<T>): Promise<T> {
    const conn = await this.connect(guest, guest.adminPassword);
    try {
      return await work(conn);
    } finally {
      await conn.end();
    }
  }
}

/**
 * A fresh error for a failed statement that carried passwords: mysql2's own error keeps the statement with
 * the values filled in (`sql`), and the server may quote it back in the message.
 */
function withoutSecrets(err: unknown, secrets: string[], context?: string): Error {
  let message = (err as Error).message ?? String(err);
  for (const secret of secrets) {
    if (!secret) continue;
    for (const form of [secret, mysql.escape(secret).slice(1, -1)]) message = message.replaceAll(form, "***");
  }
  return new Error(context ? `${context}: ${message}` : message);
}

/** The last lines a failed command printed, for an error message. */
function outputOf(err: unknown): string {
  const e = err as { stderr?: string; stdout?: string; message?: string };
  const text = `${e.stdout ?? ""}\n${e.stderr ?? ""}`.trim() || e.message || String(err);
  return text.split("\n").filter((l) => l.trim() !== "").slice(-10).join("\n");
}
