/**
 * The MariaDB engine (manager "mariadb", serving the datastores mariadb and mysql) with Debian's binaries:
 * its golden image, start, readiness, securing and health. Every engine run gets `--no-defaults` so
 * /etc/mysql of the node never leaks into a guest; the tracker reaches the guest as root over its unix
 * socket only (./connection.ts). Its groups: schema (./schema.ts), users (./users.ts), root (./root.ts)
 * and configuration (./settings.ts).
 */
import { execFile } from "node:child_process";
import { constants, existsSync, lchownSync, mkdirSync } from "node:fs";
import { access, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import type { Connection } from "mysql2/promise";
import { logTail } from "../../drivers/compute/process.js";
import type { EngineStrategy, GroupsOf, GuestHandle, GuestLayout, Health, LaunchSpec, Settings } from "../contract.js";
import { ENGINE_LOG, engineDir } from "../guest-files.js";
import { asRoot, connect, isAccessDenied, socketPath, withoutSecrets } from "./connection.js";
import type { mariadbDefinition } from "./definition.js";
import { DEFINERS_SETTLED, SERVER_HARDENING, settleRoot } from "./hardening.js";
import { mariadbParameters } from "./parameters.js";
import { mariadbRoot } from "./root.js";
import { mariadbSchema } from "./schema.js";
import { mariadbConfiguration, withoutWithdrawn } from "./settings.js";
import { mariadbTlsOptions, reloadMariadbTls } from "./tls.js";
import { mariadbUsers } from "./users.js";

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

/** The MariaDB strategy. */
export class MariadbStrategy implements EngineStrategy<GroupsOf<typeof mariadbDefinition>> {
  readonly manager = "mariadb";
  readonly schema = mariadbSchema;
  readonly users = mariadbUsers;
  readonly root = mariadbRoot;
  readonly configuration = mariadbConfiguration;
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
        conn = await connect(guest, guest.adminPassword, Math.max(1, Math.min(1_000, deadline - Date.now())));
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
      conn = await connect(guest, guest.adminPassword);
    } catch (err) {
      if (!isAccessDenied(err)) throw err;
      // Not secured yet: the golden image's root@localhost has an empty password.
      conn = await connect(guest, "");
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

  async health(guest: GuestHandle): Promise<Health> {
    let conn: Connection | undefined;
    let timer: NodeJS.Timeout | undefined;
    const probe = (async (): Promise<Health> => {
      conn = await connect(guest, guest.adminPassword, HEALTH_TIMEOUT_MS);
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
  readonly tls = { alongsidePlaintext: true, reload: (guest: GuestHandle) => asRoot(guest, reloadMariadbTls) };

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
}

/** The last lines a failed command printed, for an error message. */
function outputOf(err: unknown): string {
  const e = err as { stderr?: string; stdout?: string; message?: string };
  const text = `${e.stdout ?? ""}\n${e.stderr ?? ""}`.trim() || e.message || String(err);
  return text.split("\n").filter((l) => l.trim() !== "").slice(-10).join("\n");
}

