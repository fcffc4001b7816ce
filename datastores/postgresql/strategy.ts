/**
 * The PostgreSQL engine (manager "postgresql") with Debian's binaries in /usr/lib/postgresql/<version>/bin.
 *
 * PostgreSQL refuses to run as root: each guest's server runs as the guest's own OS user (GuestLayout.user,
 * never `postgres`, which no guest shares with another or with the control plane), and a golden image's
 * initdb as an account the tracker makes for the build. Tenants reach a guest over TCP on
 * guest.host:guest.port with SCRAM passwords; the tracker reaches it as the superuser `os_admin` with the
 * guest's admin password, over a unix socket in the engine's folder (guestSocketDir, the guest user's, 0700):
 * runtime files belong in the run folder rather than in the volume, whose clones and snapshots would carry a
 * stale socket. The guest's run folder and volume get search (not read) permission for the guest's group,
 * and the folders that hold them (`run/`, `volumes/`, shared with other guests) search permission for all:
 * the engine reaches its socket and data, and reads none of the tracker's files (admin.secret and the rest
 * stay 0600 root).
 *
 * Settings: those that need a restart are passed as `-c name=value`. The dynamic ones are written into
 * postgresql.auto.conf instead, because a value given on the command line outranks the configuration
 * files for the whole life of the server, and ALTER SYSTEM + reload could then never change it live.
 */
import { execFile, spawn } from "node:child_process";
import { createHash, createHmac, pbkdf2Sync, randomBytes } from "node:crypto";
import { chownSync, constants, lstatSync, mkdirSync, readFileSync } from "node:fs";
import { access, chmod, chown, mkdir, readdir, readFile, realpath, stat } from "node:fs/promises";
import { userInfo } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import type { ParameterRule } from "../catalog.js";
import { logTail } from "../../drivers/compute/process.js";
import {
  ENGINE_LOG,
  GuestActionError,
  refuse,
  guestSocketDir,
  writeGuestFile,
  writeGuestFileSync,
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
import { POSTGRESQL_LOG_LIMIT_ARGS } from "./log-limits.js";
import { postgresqlParameters } from "./parameters.js";
import { postgresqlTlsHbaRules, postgresqlTlsOptions } from "./tls.js";

const run = promisify(execFile);

/** Debian keeps each major version's binaries in <dir>/<major>/bin. */
const DEFAULT_LIB_DIR = "/usr/lib/postgresql";
/** The superuser the tracker uses; it may log in only over the unix socket. */
const ADMIN = "os_admin";
/** The bootstrap superuser of the image: never a tenant's, and it owns nothing of theirs (see deleteUser). */
const BOOTSTRAP = "postgres";
/**
 * The tenant's "root": every database's data, but not a superuser. A superuser runs programs and reads
 * files as the postgres OS user (COPY … TO PROGRAM), which on this node would reach other tenants' guests.
 * Root keeps CREATEDB, as Trove's root and RDS's master user do: the databases it makes are its own, and
 * the tracker acts in them only with their owner's rights and a pinned search path (see inDatabase).
 */
const ROOT = "root";
const ROOT_GRANTS = ["pg_read_all_data", "pg_write_all_data", "pg_monitor", "pg_signal_backend"];
/**
 * The login a logical backup's databases are replayed as (see PgDumpBackup.replay): no superuser, only
 * while a restore runs, and only over the socket.
 */
const RESTORER = "os_restore";
/** What holds, during that replay, the databases the dump gives to the service's roles (NOLOGIN). */
const RESTORED_OWNER = "os_restore_owner";
const SERVICE_ROLES = [ADMIN, BOOTSTRAP, ROOT, RESTORER, RESTORED_OWNER];
const SYSTEM_DATABASES = ["postgres", "template0", "template1"];
/** The peer-authentication map of the golden image (see bootstrapHba). */
const IDENT_MAP = "hoard";

/** How long health() waits for `SELECT 1`. */
const HEALTH_TIMEOUT_MS = 1_000;
/** Pause between readiness probes: a clone answers some 20–50 ms after its start. */
const READY_POLL_MS = 20;
/** How long a configuration reload may take to reach the tracker's session. */
const RELOAD_TIMEOUT_MS = 5_000;
/** PostgreSQL truncates longer identifiers (NAMEDATALEN - 1). */
const MAX_IDENTIFIER_BYTES = 63;

/**
 * The search path of every superuser session: the catalog first and the session's own temporary schema last
 * (never searched for functions or operators), so no name the tracker uses can resolve to a tenant's object.
 * A tenant who owns a database can give it a search_path (ALTER DATABASE … SET search_path = evil, …) and
 * everyone with CREATE somewhere can add functions and operators; without this pin the tracker's `=` once
 * resolved to a tenant's operator whose function then ran as superuser (issue 19, escape 2).
 */
export const ADMIN_SEARCH_PATH = "pg_catalog, pg_temp";

/**
 * Pinned in every admin session, plain or not: a client option outranks what a database or role sets
 * (ALTER DATABASE … SET), so a tenant's database cannot change how the tracker's statements are read.
 */
const PINNED = [`search_path=${ADMIN_SEARCH_PATH.replace(" ", "")}`, "standard_conforming_strings=on", "default_transaction_read_only=off"];

/**
 * Options of every admin session: a tenant's configuration (statement_timeout = 1, idle timeouts) must not
 * break the tracker's own statements, which get a bound of their own instead.
 */
const ADMIN_SESSION_OPTIONS = [...PINNED, "statement_timeout=60000", "lock_timeout=0", "idle_in_transaction_session_timeout=0", "idle_session_timeout=0"]
  .map((o) => `-c ${o}`)
  .join(" ");
/** The options of a session that reads the configured values (readSettings): only the pins. */
const PLAIN_SESSION_OPTIONS = PINNED.map((o) => `-c ${o}`).join(" ");
/** The same pins for the tools (pg_dump, psql) the backup strategies run. */
export const TOOL_SESSION_OPTIONS = PLAIN_SESSION_OPTIONS;

/** The engine's environment: nothing of the tracker's (its database URL, tokens) reaches a tenant superuser. */
const ENGINE_ENV = { PATH: "/usr/bin:/bin", LANG: "C.UTF-8" };

type EngineUser = { uid: number; gid: number };

// ---- pg_hba.conf: first match wins ----

const TENANT_RULES = [
  "host    all   os_admin  0.0.0.0/0  reject",
  "host    all   os_admin  ::/0       reject",
  "host    all   os_restore 0.0.0.0/0 reject",
  "host    all   os_restore ::/0      reject",
  "host    all   all       0.0.0.0/0  scram-sha-256",
  "host    all   all       ::/0       scram-sha-256",
];

/**
 * The golden image's rules: os_admin has no password yet, so the tracker's own OS user may log in as os_admin
 * over the socket by peer authentication until secure() sets the password and installs securedHba.
 */
function bootstrapHba(): string {
  return hbaFile([`local   all   os_admin             peer map=${IDENT_MAP}`]);
}

/**
 * A guest's rules once secured: os_admin with its password, only over the socket (and os_restore, which exists
 * only while a logical backup is replayed); tenants only over TCP, and only over TLS when the instance says so.
 */
function securedHba(runDir: string): string {
  return hbaFile(["local   all   os_admin             scram-sha-256", "local   all   os_restore           scram-sha-256"], postgresqlTlsHbaRules(runDir));
}

function hbaFile(adminRules: string[], beforeTenants: string[] = []): string {
  return [
    "# Written by Hoard. The service's admin over the unix socket only; tenants over TCP with SCRAM.",
    "# TYPE DATABASE USER      ADDRESS    METHOD",
    ...adminRules,
    "local   all   all                  reject",
    ...beforeTenants,
    ...TENANT_RULES,
    "",
  ].join("\n");
}

// ---- names and values in SQL ----

/** A quoted identifier (double quotes, doubled inside); NUL and over-long names are refused, never truncated. */
export function quoteIdentifier(name: string): string {
  checkText("name", name);
  if (Buffer.byteLength(name) > MAX_IDENTIFIER_BYTES) throw refuse("GUEST_REFUSED", { message: `'${name}' is longer than ${MAX_IDENTIFIER_BYTES} bytes` });
  return pg.escapeIdentifier(name);
}

/** A string literal; pg.escapeLiteral doubles quotes and switches to E'' when there is a backslash. */
function literal(value: string): string {
  checkText("value", value);
  return pg.escapeLiteral(value);
}

function checkText(what: string, text: string): void {
  if (text.includes("\0")) throw refuse("GUEST_REFUSED", { message: `a ${what} may not contain a NUL character` });
}

/**
 * The SCRAM-SHA-256 secret of a password, computed here as psql's \password does, so that no statement (nor
 * a log line quoting it) ever carries the password itself. Same format and iteration count as the server's.
 */
export function scramSecret(password: string, iterations = 4096): string {
  const salt = randomBytes(16);
  const salted = pbkdf2Sync(password, salt, iterations, 32, "sha256");
  const clientKey = createHmac("sha256", salted).update("Client Key").digest();
  const storedKey = createHash("sha256").update(clientKey).digest();
  const serverKey = createHmac("sha256", salted).update("Server Key").digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString("base64")}$${storedKey.toString("base64")}:${serverKey.toString("base64")}`;
}

/**
 * `PASSWORD '…'` for a statement. The server normalizes non-ASCII passwords (SASLprep) before hashing; to
 * stay exact those are left to it (still never logged, see quietly()). An ASCII password is hashed here.
 */
function passwordClause(password: string): string {
  // eslint-disable-next-line no-control-regex
  return `PASSWORD ${literal(/^[\x00-\x7f]*$/.test(password) ? scramSecret(password) : password)}`;
}

// ---- parameters ----

function ruleFor(name: string): ParameterRule {
  const rule = postgresqlParameters.find((p) => p.name === name.toLowerCase());
  if (!rule) throw refuse("GUEST_REFUSED", { message: `'${name}' is not a PostgreSQL parameter Hoard can set` });
  return rule;
}

/** Checks a value's form against its rule (the server checks ranges); returns the rule. */
function checkSetting(name: string, value: string): ParameterRule {
  const rule = ruleFor(name);
  const ok =
    rule.type === "integer"
      ? /^-?\d+$/.test(value)
      : rule.type === "float"
        ? /^-?\d+(\.\d+)?$/.test(value)
        : rule.type === "boolean"
          ? /^(on|off|true|false|yes|no|1|0)$/i.test(value)
          : rule.values
            ? rule.values.some((v) => v.toLowerCase() === value.toLowerCase())
            : rule.check
              ? rule.check(value) === null
              : // eslint-disable-next-line no-control-regex
                value.length <= 1024 && !/[\x00-\x1f\x7f]/.test(value);
  if (!ok) throw refuse("GUEST_REFUSED", { message: `'${value}' is not a valid value for ${rule.name}` });
  return rule;
}

/**
 * postgresql.auto.conf with Hoard's dynamic parameters set to `dynamic` (and those not in it removed), and
 * any other line (ALTER SYSTEM of a tenant superuser) kept. Quoting as ALTER SYSTEM writes it.
 */
export function autoConf(existing: string, dynamic: Settings): string {
  const managed = new Set(postgresqlParameters.map((p) => p.name));
  const kept = existing.split("\n").filter((line) => {
    const name = /^\s*([A-Za-z_][A-Za-z0-9_.$]*)\s*(=|\s)/.exec(line)?.[1];
    return line.trim() !== "" && !(name && managed.has(name.toLowerCase()));
  });
  const header = ["# Do not edit this file manually!", "# It will be overwritten by the ALTER SYSTEM command."];
  const body = kept.filter((l) => !header.includes(l));
  const ours = Object.entries(dynamic).map(([name, value]) => `${name} = '${value.replaceAll("\\", "\\\\").replaceAll("'", "''")}'`);
  return `${[...header, ...body, ...ours].join("\n")}\n`;
}

// ---- the OS side ----

/**
 * The OS user PostgreSQL runs as: the guest's own. A tracker that is not root runs it as itself; as root it
 * must have one, as PostgreSQL refuses root.
 */
function engineUser(user: EngineUser | undefined): EngineUser | undefined {
  if (!user && process.getuid?.() === 0) throw new Error("PostgreSQL refuses to run as root, and the guest has no OS user of its own");
  return user;
}

/**
 * The folder of the guest's unix socket (guestSocketDir: the engine's folder, or a short one when that path
 * would not fit in a socket address); the tracker makes it before every start and removes it with the guest.
 */
export function socketDir(guest: Pick<GuestLayout, "runDir">): string {
  return guestSocketDir(guest.runDir);
}

/** Makes the socket folder (owned by the engine's user, 0700); synchronous, as launch() calls it. */
function ensureSocketDir(dir: string, user: EngineUser | undefined): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // lstat: a symlink planted there must not lead the chown below to some other folder.
  const st = lstatSync(dir);
  if (!st.isDirectory()) throw new Error(`${dir} is not a folder; remove it`);
  if (user && st.uid !== user.uid) {
    // A folder that someone else made first must not become the engine's.
    if (st.uid !== 0) throw new Error(`${dir} belongs to uid ${st.uid}; remove it`);
    chownSync(dir, user.uid, user.gid);
  }
}

/** Lets the engine's group search (not list) a folder of this guest or image. */
async function letGroupThrough(dir: string, user: EngineUser): Promise<void> {
  const st = await stat(dir);
  if (st.gid !== user.gid && st.uid !== user.uid) await chown(dir, st.uid, user.gid);
  if ((st.mode & 0o010) === 0) await chmod(dir, (st.mode & 0o7777) | 0o010);
}

/** Lets anyone search (not list) a folder that several engines' guests share (`volumes/`, `run/`). */
async function letOthersThrough(dir: string): Promise<void> {
  const st = await stat(dir);
  if ((st.mode & 0o001) === 0) await chmod(dir, (st.mode & 0o7777) | 0o001);
}

/** Throws a clear error unless `user` may search every folder from / down to `dir`. */
async function checkReachable(dir: string, user: EngineUser): Promise<void> {
  const parts = (await realpath(dir)).split(path.sep).filter(Boolean);
  for (let i = 0; i <= parts.length; i++) {
    const folder = `/${parts.slice(0, i).join("/")}`;
    const st = await stat(folder);
    const searchable = st.uid === user.uid ? st.mode & 0o100 : st.gid === user.gid ? st.mode & 0o010 : st.mode & 0o001;
    if (!searchable) {
      throw new Error(`the guest's OS user cannot enter ${folder}: Hoard's home must be reachable by it (chmod o+x the folders above it)`);
    }
  }
}

/** Writes a file into the data directory as the engine's user will need it (0600, owned by it). */
async function writeEngineFile(file: string, text: string, user: EngineUser | undefined): Promise<void> {
  await writeGuestFile(file, text, user);
}

/** Runs a PostgreSQL program as the engine's user with `stdin`; rejects with the end of its output. */
function runTool(file: string, args: string[], user: EngineUser | undefined, stdin = ""): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { cwd: "/", env: ENGINE_ENV, stdio: ["pipe", "pipe", "pipe"], ...(user ? { uid: user.uid, gid: user.gid } : {}) });
    let output = "";
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-8000);
    };
    child.stdout.on("data", keep);
    child.stderr.on("data", keep);
    child.on("error", reject);
    child.on("close", (code) => {
      if (code === 0) return resolve();
      const tail = output.split("\n").filter((l) => l.trim() !== "").slice(-10).join("\n");
      reject(new Error(`${path.basename(file)} failed (exit ${code}): ${tail}`));
    });
    child.stdin.end(stdin);
  });
}

// ---- errors ----

function pgCode(err: unknown): string | undefined {
  return (err as { code?: string }).code;
}

/** Refused credentials or login: the server answers, so it is up. */
function isAuthFailure(err: unknown): boolean {
  return pgCode(err) === "28P01" || pgCode(err) === "28000";
}

/** A fresh error without any of `secrets` in its message (and without the driver's fields). */
function withoutSecrets(err: unknown, secrets: string[], context: string): Error {
  let message = (err as Error).message ?? String(err);
  for (const secret of secrets) if (secret) message = message.replaceAll(secret, "***");
  return new Error(`${context}: ${message}`);
}

/** The server refused a value the tenant chose (an encoding, a locale, a parameter value). */
function invalidInput(err: unknown, what: string): unknown {
  const code = pgCode(err);
  // 22023 invalid_parameter_value, 42704 undefined_object (an unknown encoding), 42809 wrong_object_type (an
  // unknown locale), 22P02 invalid text, 0A000 not supported
  if (code === "22023" || code === "42704" || code === "42809" || code === "22P02" || code === "0A000") {
    return refuse("GUEST_REFUSED", { message: `PostgreSQL refused ${what}: ${(err as Error).message}` });
  }
  return err;
}

function userNotFound(name: string): GuestActionError {
  return refuse("GUEST_NOT_FOUND", { message: `User '${name}' does not exist.` });
}

function databaseNotFound(name: string): GuestActionError {
  return refuse("GUEST_NOT_FOUND", { message: `Database '${name}' does not exist.` });
}

// ---- catalog queries ----

type Client = pg.Client;

async function databaseExists(conn: Client, name: string): Promise<boolean> {
  return ((await conn.query("SELECT 1 FROM pg_catalog.pg_database WHERE datname OPERATOR(pg_catalog.=) $1", [name])).rowCount ?? 0) > 0;
}

async function roleExists(conn: Client, name: string): Promise<boolean> {
  return ((await conn.query("SELECT 1 FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) $1", [name])).rowCount ?? 0) > 0;
}

function isServiceRole(name: string): boolean {
  return SERVICE_ROLES.includes(name) || name.startsWith("pg_");
}

/** Throws NOT_FOUND unless `name` is a login role of the tenant. */
async function requireTenantUser(conn: Client, name: string): Promise<void> {
  if (isServiceRole(name)) throw userNotFound(name);
  const { rows } = await conn.query<{ login: boolean }>("SELECT rolcanlogin AS login FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) $1", [name]);
  if (!rows[0]?.login) throw userNotFound(name);
}

/** Throws NOT_FOUND naming the first of `names` that is not a tenant database. */
async function requireDatabases(conn: Client, names: string[]): Promise<void> {
  for (const name of names) {
    if (SYSTEM_DATABASES.includes(name) || !(await databaseExists(conn, name))) throw databaseNotFound(name);
  }
}

/** Ends the sessions of a role (waiting up to 5 s for each to go), so that what follows applies to all. */
async function terminateSessions(conn: Client, role: string, database?: string): Promise<void> {
  await conn.query(
    `SELECT pg_catalog.pg_terminate_backend(pid, 5000) FROM pg_catalog.pg_stat_activity
      WHERE usename OPERATOR(pg_catalog.=) $1 AND pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid() AND ($2::pg_catalog.text IS NULL OR datname OPERATOR(pg_catalog.=) $2)`,
    [role, database ?? null],
  );
}

/**
 * os_admin's own search path, a second wall behind the one every admin session pins in its options (a tool
 * or session opened without them still finds only the catalog). Set on every start, so a guest made before
 * it gets it at its next start.
 */
async function pinAdminSearchPath(conn: Client): Promise<void> {
  await conn.query(`ALTER ROLE ${ADMIN} SET search_path = ${ADMIN_SEARCH_PATH}`).catch((err: unknown) => {
    if (pgCode(err) !== "25006") throw err; // a server that takes no writes (yet) keeps the value it has
  });
}

/** Makes the tenant's root role (NOLOGIN, as root disabled is) when it does not exist yet. */
async function ensureRoot(conn: Client): Promise<void> {
  if (await roleExists(conn, ROOT)) return;
  await conn.query(`CREATE ROLE ${ROOT} WITH NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE`).catch((err: unknown) => {
    if (pgCode(err) !== "42710") throw err; // made meanwhile
  });
}

/** A statement on schema `public` in a database that has none (a tenant dropped it) has nothing to do. */
function unlessNoSchema(err: unknown): void {
  if (pgCode(err) !== "3F000") throw err;
}

/**
 * Runs statements that carry secrets in one transaction whose statements are never logged, whatever the
 * tenant configured (log_statement = all, log_min_duration_statement = 0, the failing statement of an error).
 * Each statement is its own query: a multi-statement string would be logged whole before the SET LOCALs act.
 */
async function quietly(conn: Client, statements: string[], secrets: string[], context: string): Promise<void> {
  await conn.query("BEGIN");
  try {
    await conn.query("SET LOCAL log_statement = 'none'");
    await conn.query("SET LOCAL log_min_duration_statement = -1");
    await conn.query("SET LOCAL log_min_error_statement = 'panic'");
    for (const sql of statements) await conn.query(sql);
    await conn.query("COMMIT");
  } catch (err) {
    await conn.query("ROLLBACK").catch(() => {});
    if (err instanceof GuestActionError) throw err;
    const code = pgCode(err);
    if (code === "42710") throw refuse("GUEST_CONFLICT", { message: `${context}: ${(err as Error).message}` });
    if (code === "42939") throw refuse("GUEST_REFUSED", { message: `${context}: ${(err as Error).message}` });
    throw withoutSecrets(err, secrets, context);
  }
}

/** The PostgreSQL strategy. */
/**
 * A session as the service's superuser over the guest's socket (what the strategy's own calls use), for the
 * backup strategies.
 */
export async function adminSession(guest: GuestHandle, database = "postgres"): Promise<Client> {
  const client = new pg.Client({
    host: socketDir(guest),
    port: guest.port,
    user: ADMIN,
    password: guest.adminPassword,
    database,
    application_name: "hoard-backup",
    connectionTimeoutMillis: 5_000,
    options: ADMIN_SESSION_OPTIONS,
  });
  client.on("error", () => {});
  await client.connect();
  return client;
}

/** The service's superuser, for tools (pg_dump, psql) that the backup strategies run. */
export const ADMIN_ROLE = ADMIN;
/** The tenant's root role, which gets what a restore leaves without an owner. */
export const ROOT_ROLE = ROOT;
/** The non-superuser login that replays a logical backup's databases. */
export const RESTORE_ROLE = RESTORER;
/** The role that holds the service's databases while a logical backup is replayed. */
export const RESTORE_OWNER_ROLE = RESTORED_OWNER;
/** Roles of the image and the service that a logical backup does not carry. */
export const IMAGE_ROLES = [ADMIN, BOOTSTRAP];
export { SYSTEM_DATABASES };

/**
 * Opens a data folder restored from a backup to this node's tracker again: its pg_hba.conf and pg_ident.conf
 * are the golden image's (os_admin by peer authentication of the tracker's OS user), as on a fresh clone, so
 * that secure() sets this guest's admin password and closes it again. The old guest's password goes unused.
 */
export async function reopenRestoredData(dataDir: string, owner: EngineUser | undefined): Promise<void> {
  const user = engineUser(owner);
  await writeEngineFile(path.join(dataDir, "pg_hba.conf"), bootstrapHba(), user);
  const tracker = userInfo().username;
  await writeEngineFile(path.join(dataDir, "pg_ident.conf"), `# Written by Hoard: the tracker's OS user, until the guest is secured.\n${IDENT_MAP}  ${tracker}  ${ADMIN}\n`, user);
}

/** The folder of a PostgreSQL major version's programs (pg_dump, psql, …). */
export function binDirOf(version: string, libDir = DEFAULT_LIB_DIR): string {
  return path.join(libDir, version, "bin");
}

export class PostgresqlStrategy implements DatastoreStrategy {
  readonly manager = "postgresql";
  private readonly libDir: string;
  private readonly verified = new Set<string>();

  /** `libDir`: where the per-version folders of the binaries are (Debian: /usr/lib/postgresql). */
  constructor(opts: { libDir?: string } = {}) {
    this.libDir = opts.libDir ?? DEFAULT_LIB_DIR;
  }

  async checkInstalled(version: string): Promise<void> {
    if (this.verified.has(version)) return;
    const bin = this.binDir(version);
    const usable = await Promise.all(["postgres", "initdb"].map((b) => access(path.join(bin, b), constants.X_OK).then(() => true, () => false)));
    if (!usable.every(Boolean)) {
      const installed = (await readdir(this.libDir).catch(() => [])).filter((v) => /^\d+$/.test(v)).sort();
      throw new Error(`PostgreSQL ${version} is not installed on this node (${installed.length ? `it has PostgreSQL ${installed.join(", ")}` : "it has none"})`);
    }
    const server = path.join(bin, "postgres");
    const { stdout } = await run(server, ["--version"]).catch((err: Error) => {
      throw new Error(`PostgreSQL is installed but '${server} --version' failed: ${err.message}`);
    });
    const installed = /\(PostgreSQL\)\s+(\d+(?:\.\d+)?)/.exec(stdout)?.[1];
    if (!installed) throw new Error(`could not tell which PostgreSQL version ${server} is (it said: ${stdout.trim()})`);
    if (installed.split(".")[0] !== version) throw new Error(`PostgreSQL ${version} is not installed on this node (${server} is PostgreSQL ${installed})`);
    this.verified.add(version);
  }

  async initImage(dataDir: string, version: string, builder?: EngineUser): Promise<void> {
    await this.checkInstalled(version);
    const user = engineUser(builder);
    // initdb takes an existing empty folder; made here, as the engine's user may not write in its parent.
    await mkdir(dataDir, { mode: 0o700 });
    if (user) {
      await chown(dataDir, user.uid, user.gid);
      await letGroupThrough(path.dirname(dataDir), user);
      await checkReachable(dataDir, user);
    }
    const bin = this.binDir(version);
    await runTool(path.join(bin, "initdb"), ["-D", dataDir, "-U", BOOTSTRAP, "-E", "UTF8", "--locale=C.UTF-8", "--auth-local=peer", "--auth-host=reject"], user);
    await writeEngineFile(path.join(dataDir, "pg_hba.conf"), bootstrapHba(), user);
    // initdb writes max_connections and shared_buffers here; as they differ from the values given at start,
    // every reload would log that the file "contains errors". Hoard gives them at start (-c) or not at all.
    const confFile = path.join(dataDir, "postgresql.conf");
    const restartOnly = new Set(postgresqlParameters.filter((p) => p.restartRequired).map((p) => p.name));
    const conf = (await readFile(confFile, "utf8"))
      .split("\n")
      .map((line) => (restartOnly.has(/^([a-z_]+)\s*=/.exec(line)?.[1] ?? "") ? `#${line}\t# Hoard: set at start` : line))
      .join("\n");
    await writeEngineFile(confFile, conf, user);
    // Peer authentication maps the tracker's own OS user (root, as a rule) to os_admin; only until secure().
    const tracker = userInfo().username;
    await writeEngineFile(path.join(dataDir, "pg_ident.conf"), `# Written by Hoard: the tracker's OS user, until the guest is secured.\n${IDENT_MAP}  ${tracker}  ${ADMIN}\n`, user);
    // Single-user mode: no server, no socket, no port. Root (postgres) stays closed until a tenant enables it.
    const sql = [`CREATE ROLE ${ADMIN} WITH SUPERUSER LOGIN;`, `ALTER ROLE ${BOOTSTRAP} WITH NOLOGIN;`, ""].join("\n");
    await runTool(path.join(bin, "postgres"), ["--single", "-D", dataDir, "-c", "exit_on_error=true", "postgres"], user, sql);
  }

  async prepareGuest(guest: GuestLayout): Promise<void> {
    const user = engineUser(guest.user);
    if (user) {
      // The clone keeps the image's owner; a volume restored or copied by other means may not.
      const st = await stat(guest.dataDir);
      if (st.uid !== user.uid) await run("chown", ["-R", `${user.uid}:${user.gid}`, "--", guest.dataDir]);
      // The tracker makes volumes/ and run/ (and each guest's folder in them) 0700 for root.
      await letOthersThrough(path.dirname(guest.volume));
      await letGroupThrough(guest.volume, user);
      await letOthersThrough(path.dirname(guest.runDir));
      await letGroupThrough(guest.runDir, user);
    }
    // PostgreSQL refuses a data directory that others may read.
    await chmod(guest.dataDir, 0o700);
    const sockets = socketDir(guest);
    ensureSocketDir(sockets, user);
    if (user) {
      await checkReachable(guest.dataDir, user);
      await checkReachable(sockets, user);
    }
  }

  /**
   * Besides the command, brings the data directory's postgresql.auto.conf in line with the dynamic settings
   * (see the file's header) and makes sure the socket folder exists: this is the one hook before every start.
   */
  launch(guest: Omit<GuestHandle, "adminPassword">, settings: Settings): LaunchSpec {
    const user = engineUser(guest.user);
    const atStart: string[] = [];
    const dynamic: Settings = {};
    for (const [name, value] of Object.entries(settings)) {
      const rule = checkSetting(name, value);
      if (rule.restartRequired) atStart.push("-c", `${rule.name}=${value}`);
      else dynamic[rule.name] = value;
    }
    if (settings.shared_buffers === undefined) {
      // A quarter of the flavor's memory, in 8 kB blocks, as postgresqlFlavorSettings gives it.
      atStart.push("-c", `shared_buffers=${Math.max(16, Math.floor((guest.ramMb * 128) / 4))}`);
    }
    const confFile = path.join(guest.dataDir, "postgresql.auto.conf");
    const existing = readFileSync(confFile, "utf8");
    const wanted = autoConf(existing, dynamic);
    if (wanted !== existing) writeGuestFileSync(confFile, wanted, user);
    const sockets = socketDir(guest);
    // /run may have been emptied by a reboot since prepareGuest.
    ensureSocketDir(sockets, user);
    const version = readFileSync(path.join(guest.dataDir, "PG_VERSION"), "utf8").trim();
    return {
      command: path.join(this.binDir(version), "postgres"),
      args: [
        "-D",
        guest.dataDir,
        "-c",
        `listen_addresses=${guest.host}`,
        "-c",
        `port=${guest.port}`,
        // A list setting: quoted, so that a comma or space in the path stays part of it.
        "-c",
        `unix_socket_directories="${sockets.replaceAll('"', '""')}"`,
        // Shown in the process titles of the engine's children (printable ASCII only).
        "-c",
        `cluster_name=${guest.instanceId.replace(/[^\x20-\x7e]/g, "?").slice(0, 63)}`,
        ...POSTGRESQL_LOG_LIMIT_ARGS,
        ...atStart,
        ...postgresqlTlsOptions(guest.runDir),
      ],
      env: ENGINE_ENV,
      ...(user ? { user } : {}),
    };
  }

  async waitReady(guest: GuestHandle, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (signal?.aborted) throw new Error("stopped waiting for PostgreSQL to answer");
      try {
        const conn = await this.connect(guest, { timeoutMs: Math.max(1, Math.min(1_000, deadline - Date.now())) });
        try {
          await pinAdminSearchPath(conn);
        } finally {
          await conn.end();
        }
        return;
      } catch (err) {
        if (isAuthFailure(err)) return;
      }
      if (Date.now() >= deadline) {
        const tail = await logTail(path.join(guest.runDir, ENGINE_LOG));
        throw new Error(`PostgreSQL did not answer within ${Math.round(timeoutMs / 1000)} s.${tail ? ` Its log ends with:\n${tail}` : ""}`);
      }
      await new Promise((r) => setTimeout(r, READY_POLL_MS));
    }
  }

  async secure(guest: GuestHandle): Promise<void> {
    // On a fresh clone the image's peer rule lets the tracker in whatever password it gives; later, SCRAM does.
    await this.asAdmin(guest, async (conn) => {
      await quietly(conn, [`ALTER ROLE ${ADMIN} WITH ${passwordClause(guest.adminPassword)}`], [guest.adminPassword], "could not set the admin password");
      const hbaFile = path.join(guest.dataDir, "pg_hba.conf");
      if ((await readFile(hbaFile, "utf8")) !== securedHba(guest.runDir)) {
        await writeEngineFile(hbaFile, securedHba(guest.runDir), engineUser(guest.user));
        await this.reload(conn);
      }
      const { rows } = await conn.query<{ error: string }>("SELECT error FROM pg_catalog.pg_hba_file_rules WHERE error IS NOT NULL");
      if (rows.length) throw new Error(`the guest's pg_hba.conf has errors: ${rows.map((r) => r.error).join("; ")}`);
    });
  }

  // ---- databases ----

  async createDatabases(guest: GuestHandle, databases: DatabaseToCreate[]): Promise<void> {
    if (databases.length === 0) return;
    await this.asAdmin(guest, async (conn) => {
      for (const db of databases) {
        if (SYSTEM_DATABASES.includes(db.name) || (await databaseExists(conn, db.name))) continue;
        const name = quoteIdentifier(db.name);
        let sql = `CREATE DATABASE ${name} TEMPLATE template0`;
        if (db.characterSet) sql += ` ENCODING ${literal(db.characterSet)}`;
        // Only the C locale goes with every encoding: the image's C.UTF-8 would refuse e.g. LATIN1.
        const locale = db.collate ?? (db.characterSet && db.characterSet.toUpperCase().replace(/[-_]/g, "") !== "UTF8" ? "C" : undefined);
        if (locale) sql += ` LC_COLLATE ${literal(locale)} LC_CTYPE ${literal(locale)}`;
        try {
          await conn.query(sql);
        } catch (err) {
          if (pgCode(err) === "42P04") continue; // made meanwhile by someone else
          throw invalidInput(err, `database '${db.name}'`);
        }
        // Access is what the users are granted: not every role of the guest through PUBLIC.
        await conn.query(`REVOKE ALL ON DATABASE ${name} FROM PUBLIC`);
        // The tenant's root (when it exists) reaches every database.
        if (await roleExists(conn, ROOT)) await conn.query(`GRANT ALL ON DATABASE ${name} TO ${ROOT}`);
      }
    });
  }

  async listDatabases(guest: GuestHandle): Promise<DatabaseInfo[]> {
    return this.asAdmin(guest, async (conn) => {
      const { rows } = await conn.query<{ name: string; cs: string; co: string }>(
        `SELECT datname AS name, pg_catalog.pg_encoding_to_char(encoding) AS cs, datcollate AS co
           FROM pg_catalog.pg_database WHERE datname OPERATOR(pg_catalog.<>) ALL($1::pg_catalog.text[]) ORDER BY datname COLLATE pg_catalog."C"`,
        [SYSTEM_DATABASES],
      );
      return rows.map((r) => ({ name: r.name, characterSet: r.cs, collate: r.co }));
    });
  }

  async deleteDatabase(guest: GuestHandle, name: string): Promise<void> {
    await this.asAdmin(guest, async (conn) => {
      await requireDatabases(conn, [name]);
      // FORCE ends the other sessions on it first (PostgreSQL 13+).
      await conn.query(`DROP DATABASE ${quoteIdentifier(name)} WITH (FORCE)`);
    });
  }

  // ---- users ----

  async createUsers(guest: GuestHandle, users: UserToCreate[]): Promise<void> {
    if (users.length === 0) return;
    await this.asAdmin(guest, async (conn) => {
      const names = new Set<string>();
      for (const user of users) {
        if (names.has(user.name) || (await roleExists(conn, user.name))) {
          throw refuse("GUEST_CONFLICT", { message: `A user named '${user.name}' already exists.` });
        }
        names.add(user.name);
      }
      for (const user of users) await requireDatabases(conn, user.databases);
      const statements = users.flatMap((u) => [
        `CREATE ROLE ${quoteIdentifier(u.name)} WITH LOGIN ${passwordClause(u.password)}`,
        ...u.databases.map((db) => `GRANT ALL ON DATABASE ${quoteIdentifier(db)} TO ${quoteIdentifier(u.name)}`),
      ]);
      await quietly(conn, statements, users.map((u) => u.password), "could not create the users");
      for (const user of users) {
        for (const db of user.databases) await this.grantSchema(guest, db, user.name);
      }
    });
  }

  async listUsers(guest: GuestHandle): Promise<UserInfo[]> {
    return this.asAdmin(guest, async (conn) => {
      const { rows } = await conn.query<{ name: string; databases: string[] }>(
        `SELECT r.rolname AS name,
                COALESCE((SELECT pg_catalog.array_agg(DISTINCT d.datname::pg_catalog.text ORDER BY d.datname::pg_catalog.text)
                            FROM pg_catalog.pg_database d, pg_catalog.aclexplode(d.datacl) a
                           WHERE a.grantee OPERATOR(pg_catalog.=) r.oid AND a.privilege_type OPERATOR(pg_catalog.=) ANY(ARRAY['CONNECT', 'CREATE'])
                             AND d.datname OPERATOR(pg_catalog.<>) ALL($2::pg_catalog.text[])), '{}'::pg_catalog.text[]) AS databases
           FROM pg_catalog.pg_roles r
          WHERE r.rolcanlogin AND r.rolname OPERATOR(pg_catalog.<>) ALL($1::pg_catalog.text[]) AND r.rolname OPERATOR(pg_catalog.!~~) 'pg\\_%'
          ORDER BY r.rolname COLLATE pg_catalog."C"`,
        [SERVICE_ROLES, SYSTEM_DATABASES],
      );
      return rows.map((r) => ({ name: r.name, host: "%", databases: [...r.databases].sort(byCodePoint) }));
    });
  }

  async updateUser(guest: GuestHandle, user: UserRef, changes: UserChanges): Promise<void> {
    if (changes.host !== undefined && changes.host !== "%") {
      throw refuse("GUEST_REFUSED", { message: "PostgreSQL users have no host; use '%'" });
    }
    await this.asAdmin(guest, async (conn) => {
      await requireTenantUser(conn, user.name);
      const target = changes.name ?? user.name;
      const statements: string[] = [];
      if (target !== user.name) {
        if (await roleExists(conn, target)) throw refuse("GUEST_CONFLICT", { message: `A user named '${target}' already exists.` });
        statements.push(`ALTER ROLE ${quoteIdentifier(user.name)} RENAME TO ${quoteIdentifier(target)}`);
      }
      if (changes.password !== undefined) statements.push(`ALTER ROLE ${quoteIdentifier(target)} WITH ${passwordClause(changes.password)}`);
      if (statements.length) await quietly(conn, statements, [changes.password ?? ""], `could not update user '${user.name}'`);
    });
  }

  async deleteUser(guest: GuestHandle, user: UserRef): Promise<void> {
    await this.asAdmin(guest, async (conn) => {
      await requireTenantUser(conn, user.name);
      const role = quoteIdentifier(user.name);
      await terminateSessions(conn, user.name);
      // What the role owns or was granted lives in each database's catalogs: every one with a trace of it is
      // visited. Its objects (the tenant's data) go to the tenant's root rather than away — never to a
      // superuser: a SECURITY DEFINER function the user left would then run as superuser for whoever calls it.
      await ensureRoot(conn);
      const { rows } = await conn.query<{ name: string }>(
        `SELECT DISTINCT d.datname AS name FROM pg_catalog.pg_shdepend s JOIN pg_catalog.pg_database d ON d.oid OPERATOR(pg_catalog.=) s.dbid
          WHERE s.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_authid'::pg_catalog.regclass
            AND s.refobjid OPERATOR(pg_catalog.=) (SELECT oid FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) $1)
            AND d.datallowconn AND d.datname OPERATOR(pg_catalog.<>) 'postgres'`,
        [user.name],
      );
      for (const db of rows.map((r) => r.name)) {
        // REASSIGN needs both roles' rights (a superuser's here), but it only changes catalog rows: no code of
        // the tenant's runs, and the session's search path is pinned.
        await this.inDatabase(guest, db, async (c) => {
          await c.query(`REASSIGN OWNED BY ${role} TO ${ROOT}`);
          await c.query(`DROP OWNED BY ${role}`);
        });
      }
      // In `postgres` this also revokes the grants on databases (shared objects).
      await conn.query(`REASSIGN OWNED BY ${role} TO ${ROOT}`);
      await conn.query(`DROP OWNED BY ${role}`);
      await conn.query(`DROP ROLE ${role}`);
    });
  }

  async grantAccess(guest: GuestHandle, user: UserRef, databases: string[]): Promise<void> {
    await this.asAdmin(guest, async (conn) => {
      await requireTenantUser(conn, user.name);
      await requireDatabases(conn, databases);
      for (const db of databases) {
        await conn.query(`GRANT ALL ON DATABASE ${quoteIdentifier(db)} TO ${quoteIdentifier(user.name)}`);
        await this.grantSchema(guest, db, user.name);
      }
    });
  }

  async revokeAccess(guest: GuestHandle, user: UserRef, database: string): Promise<void> {
    await this.asAdmin(guest, async (conn) => {
      await requireTenantUser(conn, user.name);
      await requireDatabases(conn, [database]);
      const granted = await conn.query(
        `SELECT 1 FROM pg_catalog.pg_database d, pg_catalog.aclexplode(d.datacl) a
          WHERE d.datname OPERATOR(pg_catalog.=) $1 AND a.grantee OPERATOR(pg_catalog.=) (SELECT oid FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) $2) AND a.privilege_type OPERATOR(pg_catalog.=) ANY(ARRAY['CONNECT', 'CREATE'])`,
        [database, user.name],
      );
      if (!granted.rowCount) throw refuse("GUEST_NOT_FOUND", { message: `User '${user.name}' has no access to database '${database}'.` });
      const role = quoteIdentifier(user.name);
      await conn.query(`REVOKE ALL ON DATABASE ${quoteIdentifier(database)} FROM ${role}`);
      await this.inDatabase(
        guest,
        database,
        async (c) => {
          await c.query(`REVOKE ALL ON SCHEMA public FROM ${role}`).catch(unlessNoSchema);
        },
        { asOwner: true },
      );
    });
  }

  // ---- root ----

  async enableRoot(guest: GuestHandle, password: string): Promise<void> {
    await this.asAdmin(guest, async (conn) => {
      const { rows } = await conn.query("SELECT 1 FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) $1", [ROOT]);
      const role = rows.length ? `ALTER ROLE ${ROOT}` : `CREATE ROLE ${ROOT}`;
      await quietly(conn, [`${role} WITH LOGIN NOSUPERUSER CREATEDB NOCREATEROLE ${passwordClause(password)}`], [password], "could not enable root");
      await conn.query(`GRANT ${ROOT_GRANTS.join(", ")} TO ${ROOT}`);
      const dbs = await conn.query<{ name: string }>("SELECT datname AS name FROM pg_catalog.pg_database WHERE datname OPERATOR(pg_catalog.<>) ALL($1::pg_catalog.text[])", [SYSTEM_DATABASES]);
      for (const db of dbs.rows) await conn.query(`GRANT ALL ON DATABASE ${quoteIdentifier(db.name)} TO ${ROOT}`);
    });
  }

  async rootEnabled(guest: GuestHandle): Promise<boolean> {
    return this.asAdmin(guest, async (conn) => {
      const { rows } = await conn.query<{ enabled: boolean }>("SELECT rolcanlogin AND rolpassword IS NOT NULL AS enabled FROM pg_catalog.pg_authid WHERE rolname OPERATOR(pg_catalog.=) $1", [ROOT]);
      return rows[0]?.enabled === true;
    });
  }

  async disableRoot(guest: GuestHandle): Promise<void> {
    await this.asAdmin(guest, async (conn) => {
      await conn.query(`ALTER ROLE ${ROOT} WITH NOLOGIN PASSWORD NULL`);
      // A session opened while root was enabled would otherwise keep superuser access.
      await terminateSessions(conn, ROOT);
    });
  }

  // ---- configuration ----

  async applySettings(guest: GuestHandle, settings: Settings): Promise<void> {
    const changes = Object.entries(settings).map(([name, value]) => {
      const rule = checkSetting(name, value);
      if (rule.restartRequired) throw refuse("GUEST_REFUSED", { message: `${rule.name} takes effect only when the database restarts` });
      return { rule, value };
    });
    if (changes.length === 0) return;
    await this.asAdmin(guest, async (conn) => {
      for (const { rule, value } of changes) {
        // ALTER SYSTEM takes no bind parameters: the name comes from the rules, the value is a literal.
        await conn.query(`ALTER SYSTEM SET ${quoteIdentifier(rule.name)} = ${literal(value)}`).catch((err: unknown) => {
          throw refuse("GUEST_REFUSED", { message: `PostgreSQL refused ${rule.name} = '${value}': ${(err as Error).message}` });
        });
      }
      await this.reload(conn);
    });
  }

  async readSettings(guest: GuestHandle, names: string[]): Promise<Settings> {
    const rules = names.map(ruleFor);
    if (rules.length === 0) return {};
    // A session without the admin's own options, which would hide the configured timeouts.
    return this.asAdmin(
      guest,
      async (conn) => {
        const { rows } = await conn.query<{ name: string; setting: string }>(
          "SELECT pg_catalog.lower(name) AS name, setting FROM pg_catalog.pg_settings WHERE pg_catalog.lower(name) OPERATOR(pg_catalog.=) ANY($1::pg_catalog.text[])",
          [rules.map((r) => r.name)],
        );
        const byName = new Map(rows.map((r) => [r.name, r.setting]));
        return Object.fromEntries(rules.map((r) => [r.name, byName.get(r.name) ?? ""]));
      },
      { plain: true },
    );
  }

  async health(guest: GuestHandle): Promise<Health> {
    let conn: Client | undefined;
    let timer: NodeJS.Timeout | undefined;
    const probe = (async (): Promise<Health> => {
      conn = await this.connect(guest, { timeoutMs: HEALTH_TIMEOUT_MS });
      await conn.query("SELECT 1");
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
      void probe.then(() => conn?.end().catch(() => {}));
    }
  }

  /** SIGINT is PostgreSQL's fast shutdown; SIGTERM (smart) would wait for every tenant session to end. */
  shutdownSignal(): NodeJS.Signals {
    return "SIGINT";
  }

  // ---- internals ----

  private binDir(version: string): string {
    return path.join(this.libDir, version, "bin");
  }

  private async connect(guest: GuestHandle, opts: { database?: string; timeoutMs?: number; plain?: boolean } = {}): Promise<Client> {
    const client = new pg.Client({
      host: socketDir(guest),
      port: guest.port,
      user: ADMIN,
      password: guest.adminPassword,
      database: opts.database ?? "postgres",
      application_name: "hoard",
      connectionTimeoutMillis: opts.timeoutMs ?? 5_000,
      options: opts.plain ? PLAIN_SESSION_OPTIONS : ADMIN_SESSION_OPTIONS,
    });
    // An engine going away while the client idles would otherwise raise an unhandled 'error'.
    client.on("error", () => {});
    await client.connect();
    return client;
  }

  private async asAdmin<T>(guest: GuestHandle, work: (conn: Client) => Promise<T>, opts: { plain?: boolean } = {}): Promise<T> {
    const conn = await this.connect(guest, opts);
    try {
      return await work(conn);
    } finally {
      await conn.end().catch(() => {});
    }
  }

  /**
   * A superuser session inside a tenant's database, with the search path pinned like every admin session.
   * `asOwner`: in a database that a tenant's role owns (what root's CREATE DATABASE makes), the session
   * first becomes that owner (SET ROLE), so the statements that follow run with the owner's rights and not a
   * superuser's. A session that began as superuser could RESET ROLE if any code of the tenant's ran in it;
   * none does (the pinned path, qualified names, no DO blocks): the role is a second wall, not the first.
   */
  private async inDatabase<T>(guest: GuestHandle, database: string, work: (conn: Client) => Promise<T>, opts: { asOwner?: boolean } = {}): Promise<T> {
    const conn = await this.connect(guest, { database });
    try {
      if (opts.asOwner) {
        const { rows } = await conn.query<{ owner: string; su: boolean }>(
          `SELECT r.rolname AS owner, r.rolsuper AS su FROM pg_catalog.pg_database d JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) d.datdba
            WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database()`,
        );
        if (rows[0] && !rows[0].su) await conn.query(`SET ROLE ${quoteIdentifier(rows[0].owner)}`);
      }
      return await work(conn);
    } finally {
      await conn.end().catch(() => {});
    }
  }

  /**
   * In PostgreSQL 15 only the owner may create in `public`: the user gets USAGE and CREATE on it, granted as
   * the database's owner (root, for a database root made). A plain statement, not a DO block: nothing in it
   * is looked up by name in the tenant's schemas.
   */
  private async grantSchema(guest: GuestHandle, database: string, user: string): Promise<void> {
    await this.inDatabase(
      guest,
      database,
      async (c) => {
        await c.query(`GRANT ALL ON SCHEMA public TO ${quoteIdentifier(user)}`).catch(unlessNoSchema);
      },
      { asOwner: true },
    );
  }

  /** TLS (./tls.ts): a renewed certificate is taken by a reload. */
  readonly tls = { alongsidePlaintext: true, reload: (guest: GuestHandle) => this.asAdmin(guest, (conn) => this.reload(conn)) };

  /**
   * Reloads the configuration and waits until this session has read it: the postmaster reloads before it
   * tells its children, so every session started afterwards sees the new values too.
   */
  private async reload(conn: Client): Promise<void> {
    const before = (await conn.query<{ t: string }>("SELECT pg_catalog.pg_conf_load_time()::pg_catalog.text AS t")).rows[0]!.t;
    await conn.query("SELECT pg_catalog.pg_reload_conf()");
    const deadline = Date.now() + RELOAD_TIMEOUT_MS;
    while (Date.now() < deadline) {
      const { rows } = await conn.query<{ done: boolean }>("SELECT pg_catalog.pg_conf_load_time() OPERATOR(pg_catalog.>) $1::pg_catalog.timestamptz AS done", [before]);
      if (rows[0]?.done) return;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`PostgreSQL did not reload its configuration within ${RELOAD_TIMEOUT_MS / 1000} s`);
  }
}

function byCodePoint(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
