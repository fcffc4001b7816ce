/**
 * The Redis engine (manager "redis") with Debian's redis-server 7.0. A guest gets every setting on its
 * command line (no config file is read), keeps its ACL users in a file inside its data directory (so they
 * travel with the data in clones and snapshots), and is reached by the tracker as the ACL user os_admin
 * over its unix socket. ACL rules carry passwords only as SHA-256 hashes (`#<hex>`); the one place a plain
 * password travels is AUTH when a connection opens, and no password is ever on a command line.
 */
import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { constants } from "node:fs";
import { access, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { Redis } from "ioredis";
import { logTail } from "../../drivers/index.js";
import {
  ENGINE_LOG,
  GuestActionError,
  refuse,
  guestSocketPath,
  writeGuestFile,
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
import { redisFlavorSettings, redisParameters } from "./parameters.js";
import { REDIS_TLS_ALONGSIDE_PLAINTEXT, redisTlsOptions, reloadRedisTls } from "./tls.js";

const run = promisify(execFile);

/** The ACL user the tracker acts as. */
export const ADMIN_USER = "os_admin";
/** The superuser a tenant may enable. */
const ROOT_USER = "root";
/** Accounts of the engine and the service: never listed, changed or removed through the tenant's calls. */
const SERVICE_USERS = new Set(["default", ADMIN_USER, ROOT_USER]);

/** The ACL file, inside the data directory so that it is cloned and snapshotted with the data. */
export const ACL_FILE = "users.acl";
/** A one-time password for os_admin on a fresh clone (in the run folder, 0600), until secure() replaces it. */
const BOOTSTRAP_FILE = "bootstrap.secret";

/** How long health() waits for PING. */
const HEALTH_TIMEOUT_MS = 1_000;
/** How long one command of the tracker may take. */
const ADMIN_TIMEOUT_MS = 10_000;
/** Pause between readiness probes: redis-server answers a few milliseconds after its start. */
const READY_POLL_MS = 10;

/** Where the engine binary is looked for when no directories are given. */
const DEFAULT_BIN_DIRS = ["/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin"];

/**
 * What a tenant's user may do: every key, channel and command except the @admin and @dangerous ones
 * (CONFIG, ACL, SHUTDOWN, DEBUG, MODULE, MONITOR, CLIENT KILL/LIST, SAVE, replication …). A few @dangerous
 * commands come back because they act only on the tenant's own data or describe the server, and client
 * libraries and tools rely on them: KEYS, SORT, FLUSHDB, FLUSHALL, SWAPDB and INFO. MIGRATE and RESTORE stay
 * out (they reach other hosts or load raw serialized payloads).
 */
const TENANT_PERMISSIONS = ["~*", "&*", "+@all", "-@admin", "-@dangerous", "+keys", "+sort", "+sort_ro", "+flushdb", "+flushall", "+swapdb", "+info"];
/** os_admin: everything. */
const SUPERUSER_PERMISSIONS = ["~*", "&*", "+@all"];
/**
 * What the tenant's root may not do on top of a tenant user's rights: reach other hosts from the node's place
 * in the network (REPLICAOF/SLAVEOF, MIGRATE, FAILOVER: a root could point its guest at the node's own
 * services, or at a rogue primary that pushes whatever it likes), act as a replica (SYNC, PSYNC), load code
 * or poke the server (MODULE, DEBUG), stop it, touch the ACL users (it could lock the service's own
 * os_admin out), or change settings (CONFIG SET port/bind would open listeners of its own on the node's
 * addresses, tls-* and port undo the instance's TLS mode): settings go through configuration groups, as on
 * RDS. Root keeps CONFIG GET and every data command.
 */
const ROOT_LIMITS = ["-replicaof", "-slaveof", "-migrate", "-failover", "-sync", "-psync", "-module", "-debug", "-shutdown", "-acl", "+acl|whoami", "+acl|cat", "-config|set", "-config|rewrite"];
/** root: everything but ROOT_LIMITS. */
const ROOT_PERMISSIONS = [...SUPERUSER_PERMISSIONS, ...ROOT_LIMITS];

/** A password hash in an ACL rule; masked in error messages, which may quote a rule. */
const HASH_RULE = /#[0-9a-fA-F]{64}/g;

/** A password as an ACL rule: its SHA-256, so the plain text is in no ACL command, slow log or file. */
function passwordRule(password: string): string {
  return `#${createHash("sha256").update(password, "utf8").digest("hex")}`;
}

/** The guest's unix socket. */
export function socketPath(guest: Pick<GuestLayout, "runDir">): string {
  return guestSocketPath(guest.runDir, "redis.sock");
}

/** The guest's ACL file. */
function aclFile(guest: Pick<GuestLayout, "dataDir">): string {
  return path.join(guest.dataDir, ACL_FILE);
}

const noNamedDatabases = (): GuestActionError =>
  refuse("GUEST_NOT_SUPPORTED", { message: "Redis has no named databases: its keyspaces are numbered and chosen with SELECT." });

const userNotFound = (name: string): GuestActionError => refuse("GUEST_NOT_FOUND", { message: `User '${name}' does not exist.` });

/**
 * A setting in the form Redis takes, checked against the parameter rules: booleans become yes/no, enum
 * values lower case. Anything else is refused, so no value can smuggle an option onto the command line.
 */
function redisValue(name: string, value: string): string {
  const rule = redisParameters.find((p) => p.name === name);
  if (!rule) throw refuse("GUEST_REFUSED", { message: `'${name}' is not a Redis parameter Hoard can set` });
  const invalid = () => refuse("GUEST_REFUSED", { message: `'${value}' is not a valid value for ${name}` });
  const text = value.trim();
  switch (rule.type) {
    case "integer": {
      if (!/^-?\d+$/.test(text)) throw invalid();
      const n = BigInt(text);
      if ((rule.min !== undefined && n < BigInt(rule.min)) || (rule.max !== undefined && n > BigInt(rule.max))) throw invalid();
      return n.toString();
    }
    case "float":
      if (!/^-?\d+(\.\d+)?$/.test(text)) throw invalid();
      return text;
    case "boolean": {
      const lower = text.toLowerCase();
      if (["yes", "on", "true", "1"].includes(lower)) return "yes";
      if (["no", "off", "false", "0"].includes(lower)) return "no";
      throw invalid();
    }
    case "string": {
      if (rule.values) {
        const match = rule.values.find((v) => v.toLowerCase() === text.toLowerCase());
        if (!match) throw invalid();
        return match;
      }
      // notify-keyspace-events is the only free string: its class letters.
      if (!/^[KEg$lshzxentdmA]*$/.test(text)) throw invalid();
      return text;
    }
  }
}

/** A Redis endpoint for ioredis: the guest's unix socket or a TCP address. */
type Endpoint = { path: string } | { host: string; port: number };

/**
 * One connection, authenticated as `user` (or not at all). Rejects with the server's own answer when it
 * refuses (WRONGPASS …), as a plain Error: ioredis' errors carry the command with its arguments (AUTH's
 * password among them), and they must never reach a log.
 */
export async function openConnection(endpoint: Endpoint, auth: { user: string; password: string } | undefined, timeoutMs: number): Promise<Redis> {
  let refusal: Error | undefined;
  const client = new Redis({
    ...endpoint,
    ...(auth ? { username: auth.user, password: auth.password } : {}),
    // RESP2: replies are flat arrays (what pairs() reads), whatever ioredis maps RESP3 replies to.
    protocol: 2,
    lazyConnect: true,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    // One attempt, no queueing: callers poll or report themselves.
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    enableReadyCheck: false,
  });
  // ioredis reports a refused AUTH only as an "error" event, then closes ("Connection is closed").
  client.on("error", (err: Error) => {
    refusal ??= err;
  });
  try {
    await client.connect();
    return client;
  } catch (err) {
    client.disconnect();
    throw plainError(refusal ?? err);
  }
}

/** Did the server answer, but refuse the credentials (or want some)? */
function isAuthRefusal(err: unknown): boolean {
  return /^(WRONGPASS|NOAUTH)\b/.test((err as Error).message ?? "");
}

/** A fresh error with the message alone (no command arguments attached), with password hashes masked. */
export function plainError(err: unknown, context?: string): Error {
  const message = ((err as Error).message ?? String(err)).replace(HASH_RULE, "#***");
  return new Error(context ? `${context}: ${message}` : message);
}

/** An ACL user as ACL GETUSER describes it (Redis 7.0 shape). */
interface AclUser {
  flags: string[];
  passwords: string[];
  commands: string;
  keys: string;
  channels: string;
  selectors: Array<Record<string, string>>;
}

/** A flat [key, value, key, value …] reply as an object. */
function pairs(reply: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const list = Array.isArray(reply) ? reply : [];
  for (let i = 0; i + 1 < list.length; i += 2) out[String(list[i])] = list[i + 1];
  return out;
}

async function getUser(client: Redis, name: string): Promise<AclUser | undefined> {
  const reply = await client.call("ACL", "GETUSER", name);
  if (reply === null) return undefined;
  const fields = pairs(reply);
  const strings = (v: unknown) => (Array.isArray(v) ? v.map(String) : []);
  return {
    flags: strings(fields.flags),
    passwords: strings(fields.passwords),
    commands: String(fields.commands ?? ""),
    keys: String(fields.keys ?? ""),
    channels: String(fields.channels ?? ""),
    selectors: (Array.isArray(fields.selectors) ? fields.selectors : []).map((s) => pairs(s) as Record<string, string>),
  };
}

/** The ACL SETUSER rules that rebuild `user` (for a rename), with a new password if one is given. */
function rulesOf(user: AclUser, password: string | undefined): string[] {
  const words = (s: string | undefined) => (s ?? "").split(" ").filter((w) => w !== "");
  const flags = password === undefined ? user.flags : user.flags.filter((f) => f !== "nopass");
  const passwords = password === undefined ? user.passwords.map((h) => `#${h}`) : [passwordRule(password)];
  const selectors = user.selectors.map((s) => `(${[...words(s.commands), ...words(s.keys), ...words(s.channels)].join(" ")})`);
  return [...flags, ...passwords, ...words(user.commands), ...words(user.keys), ...words(user.channels), ...selectors];
}

/**
 * A root enabled by an older Hoard had every command: at each start it loses ROOT_LIMITS (added to its rules,
 * so its password and state stay), and the ACL file is saved only when that changed something.
 */
async function settleRoot(client: Redis): Promise<void> {
  const rules = async () => JSON.stringify(await client.call("ACL", "GETUSER", ROOT_USER));
  const before = await rules();
  // GETUSER answers nil for a user that does not exist: no root, nothing to settle.
  if (before === "null") return;
  await client.call("ACL", "SETUSER", ROOT_USER, ...ROOT_LIMITS);
  if ((await rules()) !== before) await saveAcl(client);
}

/** Writes ACL changes to the guest's ACL file, so they survive a restart. */
async function saveAcl(client: Redis): Promise<void> {
  await client.call("ACL", "SAVE");
}

/** The Redis strategy. */
export class RedisStrategy implements DatastoreStrategy {
  readonly manager = "redis";
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
   * Locks a fresh clone before its first start: `default` (passwordless, all commands) is switched off and
   * os_admin gets a one-time password, so the guest is never reachable without a password, not even for the
   * moment between its start and secure(). A clone whose ACL file has users already is left as it is.
   */
  async prepareGuest(guest: GuestLayout): Promise<void> {
    const file = aclFile(guest);
    const current = await readFile(file, "utf8").catch(() => "");
    if (current.trim() !== "") return;
    const bootstrap = randomBytes(32).toString("hex");
    await writeFile(path.join(guest.runDir, BOOTSTRAP_FILE), bootstrap, { mode: 0o600 });
    const acl = [`user default off resetpass resetkeys resetchannels -@all`, `user ${ADMIN_USER} on ${passwordRule(bootstrap)} ${SUPERUSER_PERMISSIONS.join(" ")}`];
    // The engine reads and rewrites it (ACL SAVE) as its guest's own user.
    await writeGuestFile(file, `${acl.join("\n")}\n`, guest.user);
  }

  /**
   * Makes an ACL file restored from a backup this guest's: os_admin there has the old guest's password, so
   * it gets a one-time one (as a fresh clone's), which secure() then replaces with the guest's admin secret.
   * The tenant's users stay as they were; `default` stays off.
   */
  async reopenRestoredAcl(guest: GuestLayout): Promise<void> {
    const file = aclFile(guest);
    const lines = (await readFile(file, "utf8").catch(() => "")).split("\n").filter((l) => l.trim() !== "" && !/^user (os_admin|default) /.test(l));
    const bootstrap = randomBytes(32).toString("hex");
    await writeFile(path.join(guest.runDir, BOOTSTRAP_FILE), bootstrap, { mode: 0o600 });
    const acl = [`user default off resetpass resetkeys resetchannels -@all`, `user ${ADMIN_USER} on ${passwordRule(bootstrap)} ${SUPERUSER_PERMISSIONS.join(" ")}`, ...lines];
    // The engine reads and rewrites it (ACL SAVE) as its guest's own user.
    await writeGuestFile(file, `${acl.join("\n")}\n`, guest.user);
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
    await this.asAdmin(guest, async (admin) => {
      // reset: off, no password, no keys, no commands.
      await admin.call("ACL", "SETUSER", "default", "reset");
      await saveAcl(admin);
    });
    await rm(bootstrapFile, { force: true });
  }

  // ---- schema: Redis has numbered keyspaces, not named databases ----

  async createDatabases(_guest: GuestHandle, databases: DatabaseToCreate[]): Promise<void> {
    // Provisioning always calls this, with no databases for Redis.
    if (databases.length > 0) throw noNamedDatabases();
  }

  async listDatabases(_guest: GuestHandle): Promise<DatabaseInfo[]> {
    throw noNamedDatabases();
  }

  async deleteDatabase(_guest: GuestHandle, _name: string): Promise<void> {
    throw noNamedDatabases();
  }

  async grantAccess(_guest: GuestHandle, _user: UserRef, _databases: string[]): Promise<void> {
    throw noNamedDatabases();
  }

  async revokeAccess(_guest: GuestHandle, _user: UserRef, _database: string): Promise<void> {
    throw noNamedDatabases();
  }

  // ---- users: ACL users; hosts do not exist in Redis, so `host` is ignored ----

  async createUsers(guest: GuestHandle, users: UserToCreate[]): Promise<void> {
    if (users.length === 0) return;
    const seen = new Set<string>();
    for (const user of users) {
      if (SERVICE_USERS.has(user.name)) throw refuse("GUEST_REFUSED", { message: `'${user.name}' is reserved for the service.` });
      if (user.databases.length > 0) throw noNamedDatabases();
      if (seen.has(user.name)) throw refuse("GUEST_CONFLICT", { message: `User '${user.name}' is given twice.` });
      seen.add(user.name);
    }
    await this.asAdmin(guest, async (client) => {
      for (const user of users) {
        if (await getUser(client, user.name)) throw refuse("GUEST_CONFLICT", { message: `A user named '${user.name}' already exists.` });
      }
      const created: string[] = [];
      try {
        for (const user of users) {
          await client.call("ACL", "SETUSER", user.name, "reset", "on", passwordRule(user.password), ...TENANT_PERMISSIONS);
          created.push(user.name);
        }
      } catch (err) {
        // All or nothing: the users made so far go again.
        for (const name of created) await client.call("ACL", "DELUSER", name).catch(() => {});
        throw err;
      }
      await saveAcl(client);
    });
  }

  async listUsers(guest: GuestHandle): Promise<UserInfo[]> {
    return this.asAdmin(guest, async (client) => {
      const names = ((await client.call("ACL", "USERS")) as unknown[]).map(String);
      return names
        .filter((name) => !SERVICE_USERS.has(name))
        .sort()
        .map((name) => ({ name, host: "%", databases: [] }));
    });
  }

  async updateUser(guest: GuestHandle, user: UserRef, changes: UserChanges): Promise<void> {
    if (SERVICE_USERS.has(user.name)) throw userNotFound(user.name);
    const target = changes.name ?? user.name;
    const renames = target !== user.name;
    if (renames && SERVICE_USERS.has(target)) throw refuse("GUEST_REFUSED", { message: `'${target}' is reserved for the service.` });
    await this.asAdmin(guest, async (client) => {
      const current = await getUser(client, user.name);
      if (!current) throw userNotFound(user.name);
      if (renames) {
        if (await getUser(client, target)) throw refuse("GUEST_CONFLICT", { message: `A user named '${target}' already exists.` });
        // Redis cannot rename: the new user gets the old one's rules and password hashes, then the old one
        // goes (which also closes its connections). Until the second step succeeds, the old user is intact.
        await client.call("ACL", "SETUSER", target, "reset", ...rulesOf(current, changes.password));
        try {
          await client.call("ACL", "DELUSER", user.name);
        } catch (err) {
          await client.call("ACL", "DELUSER", target).catch(() => {});
          throw err;
        }
      } else if (changes.password !== undefined) {
        await client.call("ACL", "SETUSER", user.name, "resetpass", passwordRule(changes.password));
      } else {
        return;
      }
      await saveAcl(client);
    });
  }

  async deleteUser(guest: GuestHandle, user: UserRef): Promise<void> {
    if (SERVICE_USERS.has(user.name)) throw userNotFound(user.name);
    await this.asAdmin(guest, async (client) => {
      const deleted = Number(await client.call("ACL", "DELUSER", user.name));
      if (deleted === 0) throw userNotFound(user.name);
      await saveAcl(client);
    });
  }

  // ---- root: the ACL user `root` with every command but ROOT_LIMITS ----

  async enableRoot(guest: GuestHandle, password: string): Promise<void> {
    await this.asAdmin(guest, async (client) => {
      await client.call("ACL", "SETUSER", ROOT_USER, "reset", "on", passwordRule(password), ...ROOT_PERMISSIONS);
      await saveAcl(client);
    });
  }

  async rootEnabled(guest: GuestHandle): Promise<boolean> {
    return this.asAdmin(guest, async (client) => (await getUser(client, ROOT_USER))?.flags.includes("on") ?? false);
  }

  async disableRoot(guest: GuestHandle): Promise<void> {
    await this.asAdmin(guest, async (client) => {
      if (!(await getUser(client, ROOT_USER))) return;
      await client.call("ACL", "SETUSER", ROOT_USER, "reset");
      // Switching a user off does not end its sessions; the tenant's superuser access must end now.
      await client.call("CLIENT", "KILL", "USER", ROOT_USER);
      await saveAcl(client);
    });
  }

  // ---- configuration ----

  async applySettings(guest: GuestHandle, settings: Settings): Promise<void> {
    const args: string[] = [];
    for (const [name, value] of Object.entries(settings)) {
      const redisForm = redisValue(name, value);
      if (redisParameters.find((p) => p.name === name)?.restartRequired) {
        throw refuse("GUEST_REFUSED", { message: `${name} takes effect only when Redis restarts` });
      }
      args.push(name, redisForm);
    }
    if (args.length === 0) return;
    await this.asAdmin(guest, async (client) => {
      // One CONFIG SET for all: Redis 7 applies them all or none.
      await client.call("CONFIG", "SET", ...args).catch((err: Error) => {
        throw refuse("GUEST_REFUSED", { message: `Redis refused the settings: ${err.message}` });
      });
    });
  }

  async readSettings(guest: GuestHandle, names: string[]): Promise<Settings> {
    for (const name of names) {
      if (!redisParameters.some((p) => p.name === name)) throw refuse("GUEST_REFUSED", { message: `'${name}' is not a Redis parameter Hoard can set` });
    }
    if (names.length === 0) return {};
    return this.asAdmin(guest, async (client) => {
      const values = pairs(await client.call("CONFIG", "GET", ...names));
      const out: Settings = {};
      for (const name of names) out[name] = String(values[name] ?? "");
      return out;
    });
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
  readonly tls = { alongsidePlaintext: REDIS_TLS_ALONGSIDE_PLAINTEXT, reload: (guest: GuestHandle) => this.asAdmin(guest, (client) => reloadRedisTls(client, guest.runDir)) };

  /**
   * Runs `work` on a connection as os_admin. Errors other than GuestActionError come out as plain errors:
   * without the commands' arguments and with password hashes masked.
   */
  private async asAdmin<T>(guest: GuestHandle, work: (client: Redis) => Promise<T>): Promise<T> {
    const client = await openConnection({ path: socketPath(guest) }, { user: ADMIN_USER, password: guest.adminPassword }, ADMIN_TIMEOUT_MS);
    try {
      return await work(client);
    } catch (err) {
      throw err instanceof GuestActionError ? err : plainError(err);
    } finally {
      client.disconnect();
    }
  }
}
