/**
 * A private Postgres cluster in one folder (data, socket, log, superuser secret), on 127.0.0.1 and a port of
 * its own. It holds every project's rows, so nothing but Hoard may reach it:
 * - as root it runs under the system account `hoard-state` (made here once), which no guest engine uses:
 *   guests' engines cannot signal it, read its files or edit its pg_hba.conf. (Debian's initdb and pg_ctl
 *   refuse to run as root anyway.) Without root it runs as the calling user.
 * - the folder (data, unix socket, postgres.log) is 0700 and owned by that account, so the socket is
 *   unreachable for everyone else, a netns guest included (network namespaces do not cover sockets);
 * - every connection, over the socket or TCP, needs the superuser's password (SCRAM); it is generated at
 *   the first start and kept in `<dir>/superuser.secret` (0600, Hoard's own user).
 * A folder initialised by an older Hoard (trust, owned by `postgres`, no secret) is moved over at its next
 * start: its server is stopped, the folder handed to the account, pg_hba.conf rewritten, a password set.
 */
import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { freePort } from "./free-port.js";
import { postgresBinDir } from "./packages.js";
import { commandLine, isRunning, waitForExit } from "./pid.js";

/** Where and how to run the cluster. */
export interface PostgresOptions {
  /** State folder: `data/` (the cluster), the unix socket, postgres.log and superuser.secret. */
  dir: string;
  /** TCP port; a free one when absent. */
  port?: number;
  /** Database to create if missing and to name in the URL; "hoard" by default. */
  database?: string;
  /** false trades crash safety for speed (tests): no fsync, no synchronous commit, no full-page writes. */
  fsync?: boolean;
  progress?: (msg: string) => void;
}

/** A running private Postgres. */
export interface PostgresServer {
  /** The superuser's URL, password included: a secret, never to be logged (see `display`). */
  url: string;
  /** The URL without its password, for messages. */
  display: string;
  /** The file holding the superuser's password (0600). */
  secretFile: string;
  /** The OS user the server runs as. */
  uid: number;
  pid: number;
  /** `pg_ctl stop -m fast -w`; resolves once the postmaster is gone. */
  stop(): Promise<void>;
}

/** The system account the control plane's Postgres runs as when Hoard is root; no guest ever gets it. */
export const STATE_USER = "hoard-state";
/** The cluster's superuser role (as an older Hoard named it, so its folders keep working). */
const SUPERUSER = "postgres";
const SECRET_FILE = "superuser.secret";

// Linux's sun_path is 108 bytes including the terminating NUL.
const MAX_SOCKET_PATH = 107;

/** What the server's tools run with: nothing of Hoard's environment (its URLs, tokens) reaches them. */
const TOOL_ENV = { PATH: "/usr/bin:/bin", LANG: "C.UTF-8" };

/** First match wins: the password for everyone, everywhere; nothing else (no trust, no peer). */
const HBA = [
  "# Written by Hoard at every start. Every connection needs the superuser's password (SCRAM-SHA-256),",
  `# which only Hoard holds (${SECRET_FILE}, 0600). Edits here are overwritten.`,
  "# TYPE  DATABASE  USER  ADDRESS       METHOD",
  "local   all       all                 scram-sha-256",
  "host    all       all   127.0.0.1/32  scram-sha-256",
  "host    all       all   ::1/128       scram-sha-256",
  "",
].join("\n");

type Account = { uid: number; gid: number };

const exec = promisify(execFile);

function passwdEntry(name: string): Account | null {
  const line = readFileSync("/etc/passwd", "utf8")
    .split("\n")
    .find((l) => l.startsWith(`${name}:`));
  const [, , uid, gid] = line?.split(":") ?? [];
  return uid === undefined || gid === undefined ? null : { uid: Number(uid), gid: Number(gid) };
}

/** The `hoard-state` account, made (once, idempotently) when missing: a system user with no login and no home. */
export async function stateAccount(): Promise<Account> {
  const found = passwdEntry(STATE_USER);
  if (found) return found;
  try {
    await exec("useradd", ["--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", "--comment", "Hoard control-plane state", STATE_USER]);
  } catch (e) {
    // 9: made meanwhile by another starter; anything else is a real failure.
    if ((e as { code?: number }).code !== 9) throw new Error(`could not create the system user ${STATE_USER} (useradd): ${(e as Error).message}`);
  }
  const made = passwdEntry(STATE_USER);
  if (!made) throw new Error(`useradd succeeded but /etc/passwd has no ${STATE_USER}`);
  return made;
}

/** Who runs the server: `hoard-state` when we are root, else ourselves. */
async function serverAccount(asRoot: boolean): Promise<Account> {
  return asRoot ? stateAccount() : { uid: process.getuid!(), gid: process.getgid!() };
}

/** Runs a program as `as` (through setpriv when that is another user) and rejects with its output when it fails. */
function run(as: Account | null, file: string, args: string[], cwd: string, input?: string): Promise<string> {
  const [cmd, argv] = as ? ["setpriv", [`--reuid=${as.uid}`, `--regid=${as.gid}`, "--clear-groups", "--", file, ...args]] : [file, args];
  return new Promise((resolve, reject) => {
    // Own session: a Ctrl-C while pg_ctl waits must not reach it or the postmaster it forks.
    const child = spawn(cmd, argv, { cwd, env: TOOL_ENV, detached: true, stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"] });
    let output = "";
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-4000);
    };
    child.stdout!.on("data", keep);
    child.stderr!.on("data", keep);
    if (input !== undefined) child.stdin!.end(input);
    child.on("error", reject);
    child.on("close", (code) => {
      if (code === 0) resolve(output);
      else reject(new Error(`${path.basename(file)} ${args.join(" ")} failed (exit ${code}):\n${output.trim()}`));
    });
  });
}

/** The postmaster serving `data`, from its postmaster.pid (line 1: pid, 2: data dir, 4: port). */
function runningPostmaster(data: string): { pid: number; port: number } | null {
  let lines: string[];
  try {
    lines = readFileSync(path.join(data, "postmaster.pid"), "utf8").split("\n");
  } catch {
    return null;
  }
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!Number.isInteger(pid) || !Number.isInteger(port) || !isRunning(pid)) return null;
  // A stale pid file can name a recycled pid; trust it only if that process is a postgres on this data dir.
  const args = commandLine(pid);
  if (!args || path.basename(args[0] ?? "") !== "postgres" || lines[1] !== data) return null;
  return { pid, port };
}

/** The real uid of a process, or null when it is gone. */
export function processUid(pid: number): number | null {
  try {
    const line = readFileSync(`/proc/${pid}/status`, "utf8").split("\n").find((l) => l.startsWith("Uid:"));
    return line ? Number(line.split(/\s+/)[1]) : null;
  } catch {
    return null;
  }
}

function logTail(file: string): string {
  try {
    return readFileSync(file, "utf8").trim().split("\n").slice(-10).join("\n");
  } catch {
    return "(no log)";
  }
}

function readSecret(file: string): string | undefined {
  try {
    const text = readFileSync(file, "utf8").trim();
    return text || undefined;
  } catch {
    return undefined;
  }
}

/** Makes `dir` the server account's alone (0700), handing over a folder an older Hoard gave to `postgres`. */
async function prepareDir(asRoot: boolean, account: Account, dir: string, progress: (msg: string) => void): Promise<void> {
  mkdirSync(path.dirname(dir), { recursive: true });
  if (!existsSync(dir)) mkdirSync(dir, { mode: 0o700 });
  chmodSync(dir, 0o700);
  if (!asRoot) return;
  const owned = (p: string) => !existsSync(p) || statSync(p).uid === account.uid;
  if (!owned(dir) || !owned(path.join(dir, "data"))) {
    if (existsSync(path.join(dir, "data"))) progress(`handing ${dir} over to the system user ${STATE_USER}`);
    await exec("chown", ["-R", `${account.uid}:${account.gid}`, "--", dir]);
    // The secret stays Hoard's own.
    for (const file of [SECRET_FILE, `${SECRET_FILE}.new`]) if (existsSync(path.join(dir, file))) chownSync(path.join(dir, file), process.getuid!(), process.getgid!());
  }
  try {
    await run(account, "/usr/bin/test", ["-w", dir, "-a", "-x", dir], "/");
  } catch {
    throw new Error(`the ${STATE_USER} user cannot enter ${dir}: a parent folder is not searchable by others (chmod o+x it, or use another folder)`);
  }
}

/**
 * Sets the superuser's password on a stopped cluster that has none yet (one an older Hoard made with
 * `--auth=trust`): single-user mode needs no login, so no trust rule is ever needed, not even for a moment.
 */
async function setPassword(account: Account | null, bin: string, data: string, password: string): Promise<void> {
  const settings = ["password_encryption=scram-sha-256", "log_statement=none", "log_min_error_statement=panic"].flatMap((o) => ["-c", o]);
  const hide = (text: string) => text.replaceAll(password, "[secret]");
  const out = await run(account, path.join(bin, "postgres"), ["--single", "-D", data, ...settings, "postgres"], path.dirname(data), `ALTER ROLE ${SUPERUSER} PASSWORD '${password}';\n`).catch((e: Error) => {
    throw new Error(hide(e.message));
  });
  // Single-user mode exits 0 even when its statement failed.
  if (/\bERROR\b|\bFATAL\b/.test(out)) throw new Error(`could not set the superuser's password in single-user mode:\n${hide(out.trim())}`);
}

/**
 * The cluster's password, making one when there is none: a new cluster is initialised with it, an old one
 * (trust) gets it set. It is written aside first and renamed into place only once the cluster has it, so a
 * start cut short never leaves a secret the cluster does not know.
 */
async function ensurePassword(asRoot: boolean, account: Account, bin: string, dir: string, data: string, fsync: boolean, progress: (msg: string) => void): Promise<string> {
  const secretFile = path.join(dir, SECRET_FILE);
  const known = readSecret(secretFile);
  if (known) return known;
  const pending = `${secretFile}.new`;
  let password = readSecret(pending);
  if (!password) {
    password = randomBytes(32).toString("hex");
    writeOwnFile(pending, `${password}\n`);
  }
  const as = asRoot ? account : null;
  if (!existsSync(path.join(data, "PG_VERSION"))) {
    const started = Date.now();
    // initdb reads the password from a file (never a command line); the account's own, in its 0700 folder,
    // for as long as initdb runs. (A pipe will not do: initdb opens the path, and as another user it may not.)
    const pwfile = path.join(dir, ".initdb-password");
    writeOwnFile(pwfile, `${password}\n`);
    if (asRoot) chownSync(pwfile, account.uid, account.gid);
    const args = ["-D", data, "-U", SUPERUSER, "--auth=scram-sha-256", `--pwfile=${pwfile}`, "-E", "UTF8", "--locale=C.UTF-8"];
    try {
      await run(as, path.join(bin, "initdb"), fsync ? args : [...args, "--no-sync"], dir);
    } finally {
      rmSync(pwfile, { force: true });
    }
    progress(`initdb ${data} in ${Date.now() - started} ms`);
  } else {
    progress(`setting a password on the cluster in ${data} (it trusted local connections before)`);
    await setPassword(as, bin, data, password);
  }
  renameSync(pending, secretFile);
  return password;
}

/** Writes pg_hba.conf when it is not Hoard's (an older Hoard's, with trust, or an edited one). */
function writeHba(account: Account, asRoot: boolean, data: string, progress: (msg: string) => void): void {
  const file = path.join(data, "pg_hba.conf");
  if (readFileSync(file, "utf8") === HBA) return;
  progress(`rewriting ${file}: a password for every connection`);
  const tmp = `${file}.hoard-tmp`;
  writeOwnFile(tmp, HBA);
  if (asRoot) chownSync(tmp, account.uid, account.gid);
  renameSync(tmp, file);
}

/**
 * Writes a new 0600 file in a folder the server's account owns: made exclusively after removing whatever had
 * the name, so root never writes through a link planted there.
 */
function writeOwnFile(file: string, text: string): void {
  rmSync(file, { force: true });
  writeFileSync(file, text, { mode: 0o600, flag: "wx" });
}

/** Whether a running server is one this code would start: its account's, with Hoard's rules and a secret. */
function hardened(pid: number, account: Account, data: string, dir: string): boolean {
  return processUid(pid) === account.uid && readSecret(path.join(dir, SECRET_FILE)) !== undefined && readFileSync(path.join(data, "pg_hba.conf"), "utf8") === HBA;
}

async function ensureDatabase(port: number, password: string, database: string): Promise<void> {
  const client = new pg.Client({ host: "127.0.0.1", port, user: SUPERUSER, password, database: "postgres" });
  await client.connect();
  try {
    const found = await client.query("select 1 from pg_database where datname = $1", [database]);
    if (found.rowCount) return;
    await client.query(`create database ${client.escapeIdentifier(database)}`);
  } catch (e) {
    // Two starters racing on the same cluster: the loser's create fails with duplicate_database.
    if ((e as { code?: string }).code !== "42P04") throw e;
  } finally {
    await client.end();
  }
}

/** Starts (or reuses) a private Postgres cluster in `dir` and makes sure `database` exists. */
export async function startPostgres(opts: PostgresOptions): Promise<PostgresServer> {
  const progress = opts.progress ?? (() => {});
  const dir = path.resolve(opts.dir);
  const data = path.join(dir, "data");
  const log = path.join(dir, "postgres.log");
  const database = opts.database ?? "hoard";
  const bin = postgresBinDir();
  if (!bin) throw new Error("Postgres is not installed (apt-get install -y postgresql)");
  // initdb, pg_ctl and the server itself all refuse to run as root.
  const asRoot = process.getuid?.() === 0;
  const account = await serverAccount(asRoot);
  const as = asRoot ? account : null;

  let server = runningPostmaster(data);
  if (server && !hardened(server.pid, account, data, dir)) {
    // An older Hoard's server (trust, as `postgres`): stopped by its own user, then moved over below.
    const owner = processUid(server.pid);
    progress(`stopping postgres pid ${server.pid}: it was started without a password or as another user`);
    await run(asRoot && owner !== null ? { uid: owner, gid: statSync(data).gid } : null, path.join(bin, "pg_ctl"), ["stop", "-D", data, "-m", "fast", "-w"], "/");
    if (!(await waitForExit(server.pid, 10_000))) throw new Error(`postgres pid ${server.pid} is still running after pg_ctl stop`);
    server = null;
  }
  let password: string;
  if (server) {
    progress(`reusing postgres pid ${server.pid} on port ${server.port}`);
    password = readSecret(path.join(dir, SECRET_FILE))!;
  } else {
    if (dir.includes("'")) throw new Error(`the Postgres folder may not contain a quote: ${dir}`);
    await prepareDir(asRoot, account, dir, progress);
    password = await ensurePassword(asRoot, account, bin, dir, data, opts.fsync !== false, progress);
    writeHba(account, asRoot, data, progress);

    const port = opts.port ?? (await freePort());
    const socket = path.join(dir, `.s.PGSQL.${port}`);
    if (Buffer.byteLength(socket) > MAX_SOCKET_PATH) {
      throw new Error(`the Postgres folder path is too long for its unix socket (${socket}); use a shorter one`);
    }
    // pg_ctl hands -o to /bin/sh, hence the single quotes around the folder. The socket is the account's
    // alone twice over: its folder is 0700, and the socket itself too.
    const serverOptions = [`-p ${port}`, `-k '${dir}'`, "-c listen_addresses=127.0.0.1", "-c unix_socket_permissions=0700", "-c password_encryption=scram-sha-256"];
    if (opts.fsync === false) serverOptions.push("-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off");
    const started = Date.now();
    try {
      await run(as, path.join(bin, "pg_ctl"), ["start", "-D", data, "-l", log, "-w", "-t", "60", "-o", serverOptions.join(" ")], dir);
    } catch (e) {
      throw new Error(`${(e as Error).message}\n${log} ends with:\n${logTail(log)}`);
    }
    server = runningPostmaster(data);
    if (!server) throw new Error(`postgres started but ${data}/postmaster.pid names no running server; see ${log}`);
    progress(`postgres pid ${server.pid} ready on port ${server.port} in ${Date.now() - started} ms`);
  }

  await ensureDatabase(server.port, password, database);
  const { pid, port } = server;
  const display = `postgres://${SUPERUSER}@127.0.0.1:${port}/${encodeURIComponent(database)}`;
  return {
    url: `postgres://${SUPERUSER}:${password}@127.0.0.1:${port}/${encodeURIComponent(database)}`,
    display,
    secretFile: path.join(dir, SECRET_FILE),
    uid: account.uid,
    pid,
    async stop() {
      if (!isRunning(pid)) return;
      await run(as, path.join(bin, "pg_ctl"), ["stop", "-D", data, "-m", "fast", "-w"], "/");
      // pg_ctl returns once the pid file is gone; the process itself may take a moment longer.
      if (!(await waitForExit(pid, 10_000))) throw new Error(`postgres pid ${pid} is still running after pg_ctl stop`);
    },
  };
}
