/**
 * The Redis engine (manager "redis") with Debian's redis-server 7.0. A guest gets every setting on its
 * command line (no config file is read), keeps its ACL users in a file inside its data directory (so they
 * travel with the data in clones and snapshots), and is reached by the tracker as the ACL user os_admin
 * over its unix socket. ACL rules carry passwords only as SHA-256 hashes (`#<hex>`); the one place a plain
 * password travels is AUTH when a connection opens, and no password is ever on a command line.
 */
import { execFile } from "node:child_process";
import { constants } from "node:fs";
import { access, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import type { Redis } from "ioredis";
import { logTail } from "../../drivers/index.js";
import type { EngineStrategy, GroupsOf, GuestHandle, GuestLayout, Health, LaunchSpec, Settings } from "../contract.js";
import { ENGINE_LOG } from "../guest-files.js";
import { aclFile, BOOTSTRAP_FILE, lockAcl, passwordRule, saveAcl, settleRoot, SUPERUSER_PERMISSIONS } from "./acl.js";
import { ADMIN_TIMEOUT_MS, ADMIN_USER, asAdmin, isAuthRefusal, openConnection, plainError, socketPath } from "./connection.js";
import type { redisDefinition } from "./definition.js";
import { redisFlavorSettings } from "./parameters.js";
import { redisRoot } from "./root.js";
import { redisConfiguration, redisValue } from "./settings.js";
import { redisTlsOptions, REDIS_TLS_ALONGSIDE_PLAINTEXT, reloadRedisTls } from "./tls.js";
import { redisUsers } from "./users.js";

const run = promisify(execFile);

/** How long health() waits for PING. */
const HEALTH_TIMEOUT_MS = 1_000;
/** Pause between readiness probes: redis-server answers a few milliseconds after its start. */
const READY_POLL_MS = 10;

/** Where the engine binary is looked for when no directories are given. */
const DEFAULT_BIN_DIRS = ["/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin"];

/** The Redis strategy: the engine's life; its groups are users (./users.ts), root (./root.ts) and configuration (./settings.ts). */
export class RedisStrategy implements EngineStrategy<GroupsOf<typeof redisDefinition>> {
  readonly manager = "redis";
  readonly users = redisUsers;
  readonly root = redisRoot;
  readonly configuration = redisConfiguration;
  private readonly binDirs: string[];
  private readonly verified = new Set<string>();
  /** The absolute path of redis-server once found (launch() is synchronous and relies on checkInstalled). */
  private server: string | undefined;

  /** `binDirs`: where to look for redis-server. */
  constructor(opts: { binDirs?: string[] } = {}) {
    this.binDirs = opts.binDirs ?? DEFAULT_BIN_DIRS;
  }

  async checkInstalled(version: string): Promise<void> {
    if (this.verified.has(version)) return;
    const server = await this.binary();
    const { stdout } = await run(server, ["--version"]).catch((err: Error) => {
      throw new Error(`Redis is installed but '${server} --version' failed: ${err.message}`);
    });
    const installed = /\bv=(\d+\.\d+\.\d+)/.exec(stdout)?.[1];
    if (!installed) throw new Error(`could not tell which Redis version ${server} is (it said: ${stdout.trim()})`);
    if (installed !== version && !installed.startsWith(`${version}.`)) {
      throw new Error(`Redis ${version} is not installed on this node (it has Redis ${installed})`);
    }
    this.verified.add(version);
  }

  /** Redis creates its files on first start; the image is the folder with an empty ACL file (which must exist). */
  async initImage(dataDir: string, version: string): Promise<void> {
    await this.checkInstalled(version);
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    await writeFile(aclFile({ dataDir }), "", { mode: 0o600 });
  }

  /**
   * Locks a fresh clone before its first start (./acl.ts lockAcl), so the guest is never reachable without a
   * password, not even for the moment between its start and secure(). A clone whose ACL file has users
   * already is left as it is.
   */
  async prepareGuest(guest: GuestLayout): Promise<void> {
    const current = await readFile(aclFile(guest), "utf8").catch(() => "");
    if (current.trim() !== "") return;
    await lockAcl(guest, []);
  }

  launch(guest: Omit<GuestHandle, "adminPassword">, settings: Settings): LaunchSpec {
    // Defaults first, then the settings (flavor and configuration group), which may override them.
    const options = new Map<string, string>([["appendonly", "yes"], ...Object.entries(redisFlavorSettings({ ramMb: guest.ramMb, vcpus: 1 }))]);
    for (const [name, value] of Object.entries(settings)) options.set(name, redisValue(name, value));
    // The fixed part comes from no setting (none of these is a parameter), so nothing can move it.
    const fixed: [string, string][] = [
      ["daemonize", "no"],
      ["port", String(guest.port)],
      ["bind", guest.host],
      ["dir", guest.dataDir],
      ["unixsocket", socketPath(guest)],
      ["unixsocketperm", "700"],
      ["aclfile", aclFile(guest)],
      // Keep the command line as given: the tracker recognises its guests by the data directory in it.
      ["set-proc-title", "no"],
      // Root may hold +@all: no module loading, no DEBUG, and no CONFIG SET of dir or dbfilename (which would
      // let it write files wherever the guest's own OS user may).
      ["enable-protected-configs", "no"],
      ["enable-debug-command", "no"],
      ["enable-module-command", "no"],
    ];
    return {
      command: this.server ?? "redis-server",
      args: [...options, ...fixed, ...redisTlsOptions(guest.runDir, guest.port)].flatMap(([name, value]) => [`--${name}`, value]),
    };
  }

  async waitReady(guest: GuestHandle, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (signal?.aborted) throw new Error("stopped waiting for Redis to answer");
      let client: Redis | undefined;
      try {
        client = await openConnection({ path: socketPath(guest) }, { user: ADMIN_USER, password: guest.adminPassword }, Math.max(1, Math.min(1_000, deadline - Date.now())));
        // PING fails with LOADING while the AOF is read back; only then is the data there.
        await client.ping();
        await settleRoot(client);
        return;
      } catch (err) {
        // A refused password is an answer too: a fresh clone's os_admin has its one-time password still.
        if (isAuthRefusal(err)) return;
      } finally {
        client?.disconnect();
      }
      if (Date.now() >= deadline) {
        const tail = await logTail(path.join(guest.runDir, ENGINE_LOG));
        throw new Error(`Redis did not answer within ${Math.round(timeoutMs / 1000)} s.${tail ? ` Its log ends with:\n${tail}` : ""}`);
      }
      await new Promise((r) => setTimeout(r, READY_POLL_MS));
    }
  }

  async secure(guest: GuestHandle): Promise<void> {
    const bootstrapFile = path.join(guest.runDir, BOOTSTRAP_FILE);
    const client = await this.connectForSecuring(guest, bootstrapFile);
    try {
      await client.call("ACL", "SETUSER", ADMIN_USER, "on", "resetpass", passwordRule(guest.adminPassword), ...SUPERUSER_PERMISSIONS);
    } catch (err) {
      throw plainError(err, "could not secure the Redis guest");
    } finally {
      client.disconnect();
    }
    // As os_admin from here on: the connection above may be the default user's, which is about to lose its rights.
    await asAdmin(guest, async (admin) => {
      // reset: off, no password, no keys, no commands.
      await admin.call("ACL", "SETUSER", "default", "reset");
      await saveAcl(admin);
    });
    await rm(bootstrapFile, { force: true });
  }

  async health(guest: GuestHandle): Promise<Health> {
    let client: Redis | undefined;
    let timer: NodeJS.Timeout | undefined;
    const probe = (async (): Promise<Health> => {
      client = await openConnection({ path: socketPath(guest) }, { user: ADMIN_USER, password: guest.adminPassword }, HEALTH_TIMEOUT_MS);
      return (await client.ping()) === "PONG" ? "HEALTHY" : "RUNNING";
    })().catch((): Health => "RUNNING");
    const late = new Promise<Health>((resolve) => {
      timer = setTimeout(() => resolve("RUNNING"), HEALTH_TIMEOUT_MS);
    });
    try {
      return await Promise.race([probe, late]);
    } finally {
      clearTimeout(timer);
      // A probe that answers after the deadline still closes its connection.
      void probe.then(() => client?.disconnect());
    }
  }

  /** SIGTERM: Redis fsyncs its append-only file (and saves a snapshot if save points are set) and exits. */
  shutdownSignal(): NodeJS.Signals {
    return "SIGTERM";
  }

  private async binary(): Promise<string> {
    if (this.server) return this.server;
    for (const dir of this.binDirs) {
      const candidate = path.join(dir, "redis-server");
      if (await access(candidate, constants.X_OK).then(() => true, () => false)) {
        this.server = candidate;
        return candidate;
      }
    }
    throw new Error(`Redis is not installed on this node: redis-server was not found in ${this.binDirs.join(", ")}`);
  }

  /**
   * os_admin with the guest's admin password (secured before), else with the clone's one-time password,
   * else without any (a clone of an image made before clones were locked: `default` has no password).
   */
  private async connectForSecuring(guest: GuestHandle, bootstrapFile: string): Promise<Redis> {
    const endpoint = { path: socketPath(guest) };
    const bootstrap = (await readFile(bootstrapFile, "utf8").catch(() => "")).trim();
    const attempts: Array<{ user: string; password: string } | undefined> = [{ user: ADMIN_USER, password: guest.adminPassword }];
    if (bootstrap) attempts.push({ user: ADMIN_USER, password: bootstrap });
    else attempts.push(undefined);
    let refusal: unknown;
    for (const auth of attempts) {
      try {
        return await openConnection(endpoint, auth, ADMIN_TIMEOUT_MS);
      } catch (err) {
        if (!isAuthRefusal(err)) throw plainError(err, "could not reach the Redis guest");
        refusal = err;
      }
    }
    throw plainError(refusal, "Redis refused the service's admin account");
  }

  /** TLS (./tls.ts): only a "required" guest has it; a renewed certificate is taken by CONFIG SET. */
  readonly tls = { alongsidePlaintext: REDIS_TLS_ALONGSIDE_PLAINTEXT, reload: (guest: GuestHandle) => asAdmin(guest, (client) => reloadRedisTls(client, guest.runDir)) };
}
