/**
 * A private Postgres cluster in one folder (data, socket, log), on 127.0.0.1 and a port of its own. Debian's
 * initdb and pg_ctl refuse to run as root, so as root they run as the `postgres` user, which then owns the folder.
 */
import { spawn } from "node:child_process";
import { chownSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import pg from "pg";
import { freePort } from "./free-port.js";
import { postgresBinDir } from "./packages.js";
import { commandLine, isRunning, waitForExit } from "./pid.js";

/** Where and how to run the cluster. */
export interface PostgresOptions {
  /** State folder: `data/` (the cluster), the unix socket and postgres.log. */
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
  url: string;
  pid: number;
  /** `pg_ctl stop -m fast -w`; resolves once the postmaster is gone. */
  stop(): Promise<void>;
}

// Linux's sun_path is 108 bytes including the terminating NUL.
const MAX_SOCKET_PATH = 107;

function postgresUser(): { uid: number; gid: number } {
  const line = readFileSync("/etc/passwd", "utf8")
    .split("\n")
    .find((l) => l.startsWith("postgres:"));
  const [, , uid, gid] = line?.split(":") ?? [];
  if (uid === undefined || gid === undefined) throw new Error("there is no 'postgres' user (is the postgresql package installed?)");
  return { uid: Number(uid), gid: Number(gid) };
}

/** Runs a program (through runuser as `postgres` when we are root) and rejects with its output when it fails. */
function run(asRoot: boolean, file: string, args: string[], cwd: string): Promise<void> {
  const [cmd, argv] = asRoot ? ["runuser", ["-u", "postgres", "--", file, ...args]] : [file, args];
  return new Promise((resolve, reject) => {
    // Own session: a Ctrl-C while pg_ctl waits must not reach it or the postmaster it forks.
    const child = spawn(cmd, argv, { cwd, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-4000);
    };
    child.stdout.on("data", keep);
    child.stderr.on("data", keep);
    child.on("error", reject);
    child.on("close", (code) => {
      if (code === 0) resolve();
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

function logTail(file: string): string {
  try {
    return readFileSync(file, "utf8").trim().split("\n").slice(-10).join("\n");
  } catch {
    return "(no log)";
  }
}

/** Makes `dir` usable by the user the server runs as. */
async function prepareDir(asRoot: boolean, dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  if (!asRoot) return;
  const { uid, gid } = postgresUser();
  // Data, socket and log all live here, and the server (as postgres) creates each of them.
  chownSync(dir, uid, gid);
  try {
    await run(asRoot, "/usr/bin/test", ["-w", dir, "-a", "-x", dir], "/");
  } catch {
    throw new Error(`the postgres user cannot enter ${dir}: a parent folder is not searchable by others (chmod o+x it, or use another folder)`);
  }
}

async function ensureDatabase(port: number, database: string): Promise<void> {
  const client = new pg.Client({ host: "127.0.0.1", port, user: "postgres", database: "postgres" });
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

  let server = runningPostmaster(data);
  if (server) {
    progress(`reusing postgres pid ${server.pid} on port ${server.port}`);
  } else {
    if (dir.includes("'")) throw new Error(`the Postgres folder may not contain a quote: ${dir}`);
    await prepareDir(asRoot, dir);

    if (!existsSync(path.join(data, "PG_VERSION"))) {
      const started = Date.now();
      const args = ["-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"];
      await run(asRoot, path.join(bin, "initdb"), opts.fsync === false ? [...args, "--no-sync"] : args, dir);
      progress(`initdb ${data} in ${Date.now() - started} ms`);
    }

    const port = opts.port ?? (await freePort());
    const socket = path.join(dir, `.s.PGSQL.${port}`);
    if (Buffer.byteLength(socket) > MAX_SOCKET_PATH) {
      throw new Error(`the Postgres folder path is too long for its unix socket (${socket}); use a shorter one`);
    }
    // pg_ctl hands -o to /bin/sh, hence the single quotes around the folder.
    const serverOptions = [`-p ${port}`, `-k '${dir}'`, "-c listen_addresses=127.0.0.1"];
    if (opts.fsync === false) serverOptions.push("-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off");
    const started = Date.now();
    try {
      await run(asRoot, path.join(bin, "pg_ctl"), ["start", "-D", data, "-l", log, "-w", "-t", "60", "-o", serverOptions.join(" ")], dir);
    } catch (e) {
      throw new Error(`${(e as Error).message}\n${log} ends with:\n${logTail(log)}`);
    }
    server = runningPostmaster(data);
    if (!server) throw new Error(`postgres started but ${data}/postmaster.pid names no running server; see ${log}`);
    progress(`postgres pid ${server.pid} ready on port ${server.port} in ${Date.now() - started} ms`);
  }

  await ensureDatabase(server.port, database);
  const { pid, port } = server;
  return {
    url: `postgres://postgres@127.0.0.1:${port}/${encodeURIComponent(database)}`,
    pid,
    async stop() {
      if (!isRunning(pid)) return;
      await run(asRoot, path.join(bin, "pg_ctl"), ["stop", "-D", data, "-m", "fast", "-w"], dir);
      // pg_ctl returns once the pid file is gone; the process itself may take a moment longer.
      if (!(await waitForExit(pid, 10_000))) throw new Error(`postgres pid ${pid} is still running after pg_ctl stop`);
    },
  };
}
