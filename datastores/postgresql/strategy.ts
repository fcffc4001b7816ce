/**
 * The PostgreSQL engine (manager "postgresql") with Debian's binaries in /usr/lib/postgresql/<version>/bin:
 * its golden image, start, readiness, securing and health. Its groups: schema (./schema.ts), users
 * (./users.ts), root (./root.ts) and configuration (./settings.ts).
 *
 * PostgreSQL refuses to run as root: each guest's server runs as the guest's own OS user (GuestLayout.user,
 * never `postgres`, which no guest shares with another or with the control plane), and a golden image's
 * initdb as an account the tracker makes for the build (./engine-user.ts). Tenants reach a guest over TCP on
 * guest.host:guest.port with SCRAM passwords; the tracker reaches it as the superuser `os_admin` with the
 * guest's admin password, over a unix socket in the engine's folder (./session.ts). The guest's run folder
 * and volume get search (not read) permission for the guest's group, and the folders that hold them (`run/`,
 * `volumes/`, shared with other guests) search permission for all: the engine reaches its socket and data,
 * and reads none of the tracker's files (admin.secret and the rest stay 0600 root).
 */
import { execFile } from "node:child_process";
import { constants, readFileSync } from "node:fs";
import { access, chmod, chown, mkdir, readdir, readFile, stat } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import type pg from "pg";
import { logTail } from "../../drivers/compute/process.js";
import type { EngineStrategy, GroupsOf, GuestHandle, GuestLayout, Health, LaunchSpec, Settings } from "../contract.js";
import { ENGINE_LOG, writeGuestFileSync } from "../guest-files.js";
import { ADMIN, BOOTSTRAP } from "./accounts.js";
import type { postgresqlDefinition } from "./definition.js";
import { binDirOf, checkReachable, DEFAULT_LIB_DIR, ENGINE_ENV, engineUser, ensureSocketDir, letGroupThrough, letOthersThrough, runTool, writeEngineFile, type EngineUser } from "./engine-user.js";
import { bootstrapHba, identConf, securedHba } from "./hba.js";
import { POSTGRESQL_LOG_LIMIT_ARGS } from "./log-limits.js";
import { postgresqlParameters } from "./parameters.js";
import { postgresqlRoot } from "./root.js";
import { postgresqlSchema } from "./schema.js";
import { asAdmin, connect, pinAdminSearchPath, reload, socketDir } from "./session.js";
import { autoConf, checkSetting, postgresqlConfiguration } from "./settings.js";
import { isAuthFailure, passwordClause, quietly } from "./sql.js";
import { postgresqlTlsOptions } from "./tls.js";
import { postgresqlUsers } from "./users.js";

const run = promisify(execFile);

type Client = pg.Client;

/** How long health() waits for `SELECT 1`. */
const HEALTH_TIMEOUT_MS = 1_000;
/** Pause between readiness probes: a clone answers some 20–50 ms after its start. */
const READY_POLL_MS = 20;

/** The PostgreSQL strategy. */
export class PostgresqlStrategy implements EngineStrategy<GroupsOf<typeof postgresqlDefinition>> {
  readonly manager = "postgresql";
  readonly schema = postgresqlSchema;
  readonly users = postgresqlUsers;
  readonly root = postgresqlRoot;
  readonly configuration = postgresqlConfiguration;
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
    await writeEngineFile(path.join(dataDir, "pg_ident.conf"), identConf(), user);
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
        const conn = await connect(guest, { timeoutMs: Math.max(1, Math.min(1_000, deadline - Date.now())) });
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
    await asAdmin(guest, async (conn) => {
      await quietly(conn, [`ALTER ROLE ${ADMIN} WITH ${passwordClause(guest.adminPassword)}`], [guest.adminPassword], "could not set the admin password");
      const hbaFile = path.join(guest.dataDir, "pg_hba.conf");
      if ((await readFile(hbaFile, "utf8")) !== securedHba(guest.runDir)) {
        await writeEngineFile(hbaFile, securedHba(guest.runDir), engineUser(guest.user));
        await reload(conn);
      }
      const { rows } = await conn.query<{ error: string }>("SELECT error FROM pg_catalog.pg_hba_file_rules WHERE error IS NOT NULL");
      if (rows.length) throw new Error(`the guest's pg_hba.conf has errors: ${rows.map((r) => r.error).join("; ")}`);
    });
  }

  async health(guest: GuestHandle): Promise<Health> {
    let conn: Client | undefined;
    let timer: NodeJS.Timeout | undefined;
    const probe = (async (): Promise<Health> => {
      conn = await connect(guest, { timeoutMs: HEALTH_TIMEOUT_MS });
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

  private binDir(version: string): string {
    return binDirOf(version, this.libDir);
  }

  /** TLS (./tls.ts): a renewed certificate is taken by a reload. */
  readonly tls = { alongsidePlaintext: true, reload: (guest: GuestHandle) => asAdmin(guest, (conn) => reload(conn)) };
}
