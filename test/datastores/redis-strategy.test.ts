/**
 * The redis engine through a real GuestSupervisor and real redis-server guests, in a private home inside the
 * run's folder. Every check that matters is made with real connections as the tenant would make them.
 */
import { existsSync, readFileSync } from "node:fs";
import { cp, mkdir, mkdtemp, rm, symlink } from "node:fs/promises";
import path from "node:path";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkName, datastoreDefinitions, GuestActionError, strategyFor, type DatastoreStrategy, type GuestHandle } from "../../datastores/index.js";
import { redisFlavorSettings } from "../../datastores/redis/parameters.js";
import { redisRules } from "../../datastores/redis/rules.js";
import { socketPath } from "../../datastores/redis/connection.js";
import { RedisStrategy } from "../../datastores/redis/strategy.js";
import { allocatePort, isPortFree, isRunning, startProcess, stopProcess } from "../../drivers/index.js";
import type { GuestCallAction } from "../../events/index.js";
import type { ProvisionCommand } from "../../events/payloads.js";
import { performGuestCall } from "../../tracker/calls.js";
import { GUEST_HOST as HOST, supervisorHome } from "../kit/supervisor-home.js";

/** Spaces, quotes, backslash, a '>' and a '#': would break anything that pasted it into a rule or a command line. */
const NASTY_PASSWORD = `it's "q" \\ >x #y ; -- z`;
const FLAVOR = { id: "1", ramMb: 256, vcpus: 1 };

const guests = supervisorHome({ prefix: "redis-", idPrefix: "r-", defaults: { manager: "redis", version: "7.0", flavor: FLAVOR, settings: redisFlavorSettings(FLAVOR) }, warm: [{ manager: "redis", version: "7.0" }] });

const clients: Redis[] = [];

/** A tenant's connection over TCP; `user` undefined connects without AUTH (as the default user). */
async function connect(endpoint: { address: string; port: number }, user?: string, password?: string): Promise<Redis> {
  let refusal: Error | undefined;
  const client = new Redis({
    host: endpoint.address,
    port: endpoint.port,
    ...(user !== undefined ? { username: user, password } : {}),
    // RESP2: without credentials, RESP3's HELLO would already be refused, and we want to see PING refused.
    protocol: 2,
    lazyConnect: true,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    enableReadyCheck: false,
  });
  client.on("error", (err: Error) => {
    refusal ??= err;
  });
  clients.push(client);
  try {
    await client.connect();
  } catch (err) {
    throw refusal ?? err;
  }
  return client;
}

/** The server's refusal when logging in as `user`, or undefined when the login works. */
async function loginRefusal(endpoint: { address: string; port: number }, user: string, password: string): Promise<string | undefined> {
  try {
    const client = await connect(endpoint, user, password);
    await client.ping();
    client.disconnect();
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/** What a command answers: its reply, or the error message. */
async function answer(client: Redis, ...args: [string, ...string[]]): Promise<unknown> {
  const [name, ...rest] = args;
  return client.call(name, ...rest).catch((err: Error) => err.message);
}

/** The catalogue code and message of a guest's refusal, or undefined when the work succeeds. */
async function reasonOf(work: Promise<unknown>): Promise<{ code: string; message: string } | undefined> {
  try {
    await work;
    return undefined;
  } catch (err) {
    expect(err).toBeInstanceOf(GuestActionError);
    return { code: (err as GuestActionError).code, message: (err as Error).message };
  }
}

afterAll(() => {
  for (const client of clients) client.disconnect();
});

describe("the redis datastore", () => {
  it("is in the catalog without named databases, and the tracker has its strategy", () => {
    const def = datastoreDefinitions.find((d) => d.name === "redis");
    expect(def).toMatchObject({ manager: "redis", defaultVersion: "7.0", port: 6379, capabilities: ["provision", "users", "root", "configuration", "backup", "restore"], backupStrategies: ["redis-rdb"] });
    expect(def?.versions.map((v) => v.name)).toEqual(["7.0"]);
    expect(def?.versions[0]?.parameters.length).toBeGreaterThanOrEqual(12);
    expect(def?.flavorSettings({ ramMb: 1024, vcpus: 1 })).toEqual({ maxmemory: String(512 * 1024 * 1024), "maxmemory-policy": "noeviction" });
    expect(strategyFor("redis")).toBeInstanceOf(RedisStrategy);
  });

  it("has conservative user names, only '%' as a host, and no character sets", () => {
    expect(checkName(redisRules.user, "app_1.x-y")).toBeNull();
    for (const bad of ["with space", "a:b", "-lead", "x".repeat(65), "é"]) expect(checkName(redisRules.user, bad)).not.toBeNull();
    for (const reserved of ["default", "os_admin", "root"]) expect(checkName(redisRules.user, reserved)).toMatch(/reserved/);
    expect(checkName(redisRules.host, "%")).toBeNull();
    expect(checkName(redisRules.host, "10.0.0.1")).not.toBeNull();
    expect(redisRules.booleanWords).toEqual({ on: "yes", off: "no" });
    expect(redisRules.charset()).toBeNull();
    expect(redisRules.charset("utf8")).toMatch(/no character sets/);
    expect(redisRules.charset(undefined, "utf8_bin")).toMatch(/no character sets/);
  });

  it("refuses a version this node does not have, saying which it has", async () => {
    const cmd = guests.command({ version: "6.2" });
    await expect(guests.supervisor.provision(cmd)).rejects.toThrow(/Redis 6\.2 is not installed on this node \(it has Redis 7\.0\.\d+\)/);
    expect(existsSync(path.join(guests.home, "volumes", cmd.instanceId))).toBe(false);
  });
});

describe("a provisioned redis guest", () => {
  let cmd: ProvisionCommand;
  let endpoint: { address: string; port: number };
  /** Runs a strategy method on the guest, as the tracker does. */
  const act = <T>(action: (strategy: DatastoreStrategy, guest: GuestHandle) => Promise<T>): Promise<T> => guests.supervisor.act(cmd.instanceId, action);

  // Made before the first test, not in it, so that each test can also run alone (`-t`): a guest whose app user
  // has written the key the later tests read back.
  beforeAll(async () => {
    cmd = guests.command({ users: [{ name: "app", password: NASTY_PASSWORD, host: "%", databases: [] }] });
    endpoint = await guests.supervisor.provision(cmd);
    const app = await connect(endpoint, "app", NASTY_PASSWORD);
    await app.set("greeting", "hello");
    app.disconnect();
  });

  it("serves its initial user over TCP, who cannot administer the server", async () => {
    expect(endpoint.address).toBe(HOST);

    const app = await connect(endpoint, "app", NASTY_PASSWORD);
    expect(await app.set("greeting", "hello")).toBe("OK");
    expect(await app.get("greeting")).toBe("hello");
    expect(await answer(app, "KEYS", "*")).toEqual(["greeting"]);
    expect(await answer(app, "INFO", "server")).toMatch(/redis_version:7\.0\./);
    for (const forbidden of [["CONFIG", "GET", "maxmemory"], ["ACL", "LIST"], ["SHUTDOWN"], ["MODULE", "LIST"], ["MONITOR"], ["CLIENT", "LIST"]] as [string, ...string[]][]) {
      expect(await answer(app, ...forbidden)).toMatch(/^NOPERM/);
    }
    // DEBUG is refused to everyone (enable-debug-command no) before any ACL check.
    expect(await answer(app, "DEBUG", "SLEEP", "0")).toMatch(/^ERR DEBUG command not allowed/);
    app.disconnect();
    expect(await guests.supervisor.health()).toEqual([{ instanceId: cmd.instanceId, health: "HEALTHY" }]);
  });

  it("refuses the passwordless default user and wrong passwords", async () => {
    const anonymous = await connect(endpoint);
    expect(await answer(anonymous, "PING")).toMatch(/^NOAUTH/);
    expect(await answer(anonymous, "GET", "greeting")).toMatch(/^NOAUTH/);
    anonymous.disconnect();
    expect(await loginRefusal(endpoint, "default", "")).toMatch(/^WRONGPASS/);
    expect(await loginRefusal(endpoint, "app", "wrong")).toMatch(/^WRONGPASS/);
  });

  it("keeps every secret off command lines, out of its files but the run folder's, and out of the engine log", async () => {
    const runDir = path.join(guests.home, "run", cmd.instanceId);
    const admin = readFileSync(path.join(runDir, "admin.secret"), "utf8");
    const cmdline = readFileSync(`/proc/${guests.guestJson(cmd.instanceId).pid}/cmdline`, "utf8");
    expect(cmdline).toContain(guests.dataDir(cmd.instanceId));
    expect(cmdline).toContain(socketPath({ runDir }));
    const acl = readFileSync(path.join(guests.dataDir(cmd.instanceId), "users.acl"), "utf8");
    expect(acl).toMatch(/^user app on (\S+ )*#[0-9a-f]{64} /m);
    expect(acl).toMatch(/^user default off /m);
    // The one-time password of the fresh clone is gone once the guest is secured.
    expect(existsSync(path.join(runDir, "bootstrap.secret"))).toBe(false);
    const log = readFileSync(path.join(runDir, "engine.log"), "utf8");
    for (const text of [cmdline, acl, log, JSON.stringify(guests.guestJson(cmd.instanceId))]) {
      for (const secret of [admin, NASTY_PASSWORD]) expect(text).not.toContain(secret);
    }
  });

  it("secures again without harm (secure is idempotent)", async () => {
    await guests.supervisor.act(cmd.instanceId, (strategy, guest) => strategy.secure(guest));
    expect(await guests.supervisor.health()).toEqual([{ instanceId: cmd.instanceId, health: "HEALTHY" }]);
    expect(await loginRefusal(endpoint, "app", NASTY_PASSWORD)).toBeUndefined();
  });

  it("has no schema group: database calls answer DATABASES_NOT_SUPPORTED (501)", async () => {
    expect(strategyFor("redis").schema).toBeUndefined();
    const user = { name: "app", host: "%" };
    const calls: GuestCallAction[] = [
      { action: "database.list" },
      { action: "database.create", databases: [{ name: "db1" }] },
      { action: "database.delete", name: "db1" },
      { action: "user.grant", user, databases: ["db1"] },
      { action: "user.revoke", user, database: "db1" },
    ];
    const outcomes = [];
    for (const call of calls) outcomes.push(await reasonOf(act((s, g) => performGuestCall(call, s, g))));
    // A user given databases is refused the same way.
    outcomes.push(await reasonOf(act((s, g) => s.users!.createUsers(g, [{ name: "u9", password: "p", host: "%", databases: ["db1"] }]))));
    for (const outcome of outcomes) {
      expect(outcome).toEqual({ code: "DATABASES_NOT_SUPPORTED", message: "Redis has no named databases: its keyspaces are numbered and chosen with SELECT." });
    }
  });

  it("creates, lists, renames, re-passwords and deletes users", async () => {
    expect(await act((s, g) => s.users!.listUsers(g))).toEqual([{ name: "app", host: "%", databases: [] }]);

    await act((s, g) => s.users!.createUsers(g, [{ name: "u2", password: "pw-two", host: "%", databases: [] }]));
    expect((await act((s, g) => s.users!.listUsers(g))).map((u) => u.name)).toEqual(["app", "u2"]);
    const u2 = await connect(endpoint, "u2", "pw-two");
    expect(await u2.get("greeting")).toBe("hello");
    u2.disconnect();

    // CONFLICT, and nothing of the batch is created.
    expect(await reasonOf(act((s, g) => s.users!.createUsers(g, [{ name: "u3", password: "x", host: "%", databases: [] }, { name: "u2", password: "secret-x", host: "%", databases: [] }])))).toEqual({
      code: "USER_EXISTS",
      message: "A user named 'u2' already exists.",
    });
    expect((await act((s, g) => s.users!.listUsers(g))).map((u) => u.name)).toEqual(["app", "u2"]);
    expect(await reasonOf(act((s, g) => s.users!.createUsers(g, [{ name: "os_admin", password: "x", host: "%", databases: [] }])))).toEqual({ code: "RESERVED_USER", message: "'os_admin' is reserved for the service." });

    // Rename with a new password: the old name and the old password stop working, the new ones work.
    await act((s, g) => s.users!.updateUser(g, { name: "u2", host: "%" }, { name: "u2b", password: "pw-three" }));
    expect((await act((s, g) => s.users!.listUsers(g))).map((u) => u.name)).toEqual(["app", "u2b"]);
    expect(await loginRefusal(endpoint, "u2", "pw-two")).toMatch(/^WRONGPASS/);
    expect(await loginRefusal(endpoint, "u2b", "pw-two")).toMatch(/^WRONGPASS/);
    const u2b = await connect(endpoint, "u2b", "pw-three");
    expect(await u2b.get("greeting")).toBe("hello");
    // The renamed user keeps the tenant's limits.
    expect(await answer(u2b, "CONFIG", "GET", "maxmemory")).toMatch(/^NOPERM/);
    u2b.disconnect();

    // Rename alone keeps the password; a password change alone keeps the name.
    await act((s, g) => s.users!.updateUser(g, { name: "u2b", host: "%" }, { name: "u2c" }));
    expect(await loginRefusal(endpoint, "u2c", "pw-three")).toBeUndefined();
    await act((s, g) => s.users!.updateUser(g, { name: "u2c", host: "%" }, { password: "pw-four" }));
    expect(await loginRefusal(endpoint, "u2c", "pw-three")).toMatch(/^WRONGPASS/);
    expect(await loginRefusal(endpoint, "u2c", "pw-four")).toBeUndefined();

    expect(await reasonOf(act((s, g) => s.users!.updateUser(g, { name: "nobody", host: "%" }, { password: "x" })))).toEqual({ code: "USER_NOT_FOUND", message: "User 'nobody' does not exist." });
    expect(await reasonOf(act((s, g) => s.users!.updateUser(g, { name: "u2c", host: "%" }, { name: "app" })))).toEqual({ code: "USER_EXISTS", message: "A user named 'app' already exists." });
    expect(await reasonOf(act((s, g) => s.users!.updateUser(g, { name: "os_admin", host: "%" }, { password: "x" })))).toMatchObject({ code: "USER_NOT_FOUND" });
    expect(await loginRefusal(endpoint, "u2c", "pw-four")).toBeUndefined();

    await act((s, g) => s.users!.deleteUser(g, { name: "u2c", host: "%" }));
    expect(await loginRefusal(endpoint, "u2c", "pw-four")).toMatch(/^WRONGPASS/);
    expect(await reasonOf(act((s, g) => s.users!.deleteUser(g, { name: "u2c", host: "%" })))).toEqual({ code: "USER_NOT_FOUND", message: "User 'u2c' does not exist." });
    expect(await reasonOf(act((s, g) => s.users!.deleteUser(g, { name: "default", host: "%" })))).toMatchObject({ code: "USER_NOT_FOUND" });
    expect(await act((s, g) => s.users!.listUsers(g))).toEqual([{ name: "app", host: "%", databases: [] }]);
  });

  it("says why it failed without any password or hash in the error", async () => {
    const guest = await act(async (_s, g) => g);
    const strategy = strategyFor("redis");
    const wrong = "not-the-admin-password";
    const err = await strategy.users!.listUsers({ ...guest, adminPassword: wrong }).then(() => undefined, (e: Error) => e);
    expect(err?.message).toMatch(/^WRONGPASS/);
    const everything = JSON.stringify({ ...err, message: err?.message, stack: err?.stack });
    for (const secret of [wrong, guest.adminPassword]) expect(everything).not.toContain(secret);
    expect(everything).not.toMatch(/[0-9a-f]{64}/);
    expect(await strategy.health({ ...guest, adminPassword: wrong })).toBe("RUNNING");
  });

  it("enables root, which may administer the server but not reach other hosts, and disables it again", async () => {
    expect(await act((s, g) => s.root!.rootEnabled(g))).toBe(false);
    await act((s, g) => s.root!.enableRoot(g, NASTY_PASSWORD));
    expect(await act((s, g) => s.root!.rootEnabled(g))).toBe(true);
    // root is not a tenant user in the listing.
    expect((await act((s, g) => s.users!.listUsers(g))).map((u) => u.name)).toEqual(["app"]);

    const root = await connect(endpoint, "root", NASTY_PASSWORD);
    expect(await answer(root, "CONFIG", "GET", "maxclients")).toEqual(["maxclients", expect.stringMatching(/^\d+$/)]);
    expect(await answer(root, "ACL", "WHOAMI")).toBe("root");
    // Even root cannot point the data directory elsewhere or load code.
    expect(await answer(root, "CONFIG", "SET", "dir", "/etc")).toMatch(/^NOPERM/);
    // Nor open listeners of its own on the node (settings go through configuration groups).
    expect(await answer(root, "CONFIG", "SET", "port", "0")).toMatch(/^NOPERM/);
    expect(await answer(root, "MODULE", "LOAD", "/tmp/x.so")).toMatch(/not allowed|^NOPERM/);
    // Nor reach other hosts, nor take the service's own user.
    expect(await answer(root, "REPLICAOF", "127.0.0.1", "1")).toMatch(/^NOPERM/);
    expect(await answer(root, "ACL", "SETUSER", "os_admin", "off")).toMatch(/^NOPERM/);

    await act((s, g) => s.root!.disableRoot(g));
    expect(await act((s, g) => s.root!.rootEnabled(g))).toBe(false);
    expect(await loginRefusal(endpoint, "root", NASTY_PASSWORD)).toMatch(/^WRONGPASS/);
    // The session opened before is closed too.
    expect(await answer(root, "PING")).not.toBe("PONG");
    // Disabling twice is fine.
    await act((s, g) => s.root!.disableRoot(g));
  });

  it("applies dynamic settings live, refuses bad ones, and reads them back", async () => {
    expect(await act((s, g) => s.configuration!.readSettings(g, ["maxmemory", "maxmemory-policy", "appendonly"]))).toEqual({
      maxmemory: String(128 * 1024 * 1024),
      "maxmemory-policy": "noeviction",
      appendonly: "yes",
    });
    await act((s, g) => s.configuration!.applySettings(g, { maxmemory: "67108864", "maxmemory-policy": "ALLKEYS-LRU", "lazyfree-lazy-eviction": "true", "notify-keyspace-events": "Ex" }));
    expect(await act((s, g) => s.configuration!.readSettings(g, ["maxmemory", "maxmemory-policy", "lazyfree-lazy-eviction", "notify-keyspace-events"]))).toEqual({
      maxmemory: "67108864",
      "maxmemory-policy": "allkeys-lru",
      "lazyfree-lazy-eviction": "yes",
      "notify-keyspace-events": "xE",
    });
    const bads: [Record<string, string>, { code: string; message: string }][] = [
      [{ databases: "32" }, { code: "PARAMETER_NEEDS_RESTART", message: "databases takes effect only when Redis restarts" }],
      [{ maxmemory: "-1" }, { code: "PARAMETER_VALUE_INVALID", message: "'-1' is not a valid value for maxmemory" }],
      [{ maxmemory: "18446744073709551616" }, { code: "PARAMETER_VALUE_INVALID", message: "'18446744073709551616' is not a valid value for maxmemory" }],
      [{ "maxmemory-policy": "random" }, { code: "PARAMETER_VALUE_INVALID", message: "'random' is not a valid value for maxmemory-policy" }],
      [{ appendonly: "maybe" }, { code: "PARAMETER_VALUE_INVALID", message: "'maybe' is not a valid value for appendonly" }],
      [{ "notify-keyspace-events": "--dir /tmp" }, { code: "PARAMETER_VALUE_INVALID", message: "'--dir /tmp' is not a valid value for notify-keyspace-events" }],
      [{ dir: "/tmp" }, { code: "PARAMETER_NOT_SETTABLE", message: "'dir' is not a Redis parameter Hoard can set" }],
    ];
    for (const [bad, refusal] of bads) {
      expect(await reasonOf(act((s, g) => s.configuration!.applySettings(g, bad)))).toEqual(refusal);
    }
    expect(await reasonOf(act((s, g) => s.configuration!.readSettings(g, ["requirepass"])))).toEqual({ code: "PARAMETER_NOT_SETTABLE", message: "'requirepass' is not a Redis parameter Hoard can set" });
  });

  it("takes an older Hoard's all-powerful root down to today's rights at the next start, password kept", async () => {
    await act((s, g) => s.root!.enableRoot(g, NASTY_PASSWORD));
    // What root enable used to give: every command.
    const admin = await act(async (_s, g) => {
      const c = new Redis({ path: socketPath(g), username: "os_admin", password: g.adminPassword, lazyConnect: true, maxRetriesPerRequest: 0 });
      await c.connect();
      await c.call("ACL", "SETUSER", "root", "+@all");
      await c.call("ACL", "SAVE");
      c.disconnect();
      return true;
    });
    expect(admin).toBe(true);
    await guests.supervisor.restart(cmd.instanceId);
    const root = await connect(endpoint, "root", NASTY_PASSWORD);
    expect(await answer(root, "REPLICAOF", "127.0.0.1", "1")).toMatch(/^NOPERM/);
    expect(await answer(root, "CONFIG", "GET", "maxclients")).toEqual(["maxclients", expect.stringMatching(/^\d+$/)]);
    root.disconnect();
    await act((s, g) => s.root!.disableRoot(g));
  });

  it("keeps configured settings, users and data across a restart", async () => {
    const app = await connect(endpoint, "app", NASTY_PASSWORD);
    expect(await app.set("survivor", "yes")).toBe("OK");
    app.disconnect();
    const settings = { ...redisFlavorSettings(FLAVOR), maxmemory: "33554432", databases: "32" };
    await guests.supervisor.configure(cmd.instanceId, settings, { maxmemory: "33554432" });
    const read = () => guests.supervisor.act(cmd.instanceId, (s, g) => s.configuration!.readSettings(g, ["maxmemory", "databases"]));
    expect(await read()).toEqual({ maxmemory: "33554432", databases: "16" });

    const before = guests.guestJson(cmd.instanceId).pid;
    await guests.supervisor.restart(cmd.instanceId);
    const after = guests.guestJson(cmd.instanceId).pid;
    expect(after).not.toBe(before);
    expect(await isRunning(before, guests.dataDir(cmd.instanceId))).toBe(false);
    expect(await read()).toEqual({ maxmemory: "33554432", databases: "32" });

    const again = await connect(endpoint, "app", NASTY_PASSWORD);
    expect(await again.get("survivor")).toBe("yes");
    expect(await again.get("greeting")).toBe("hello");
    expect(await answer(again, "SELECT", "31")).toBe("OK");
    again.disconnect();
    expect(await loginRefusal(endpoint, "root", NASTY_PASSWORD)).toMatch(/^WRONGPASS/);
    const anonymous = await connect(endpoint);
    expect(await answer(anonymous, "PING")).toMatch(/^NOAUTH/);
    anonymous.disconnect();
    expect(await guests.supervisor.health()).toEqual([{ instanceId: cmd.instanceId, health: "HEALTHY" }]);
  });

  it("leaves the newer settings when an older configure request comes after them (a redelivered command)", async () => {
    const read = () => guests.supervisor.act(cmd.instanceId, (s, g) => s.configuration!.readSettings(g, ["maxmemory"]));
    const newer = new Date().toISOString();
    const older = new Date(Date.parse(newer) - 1).toISOString();
    await guests.supervisor.configure(cmd.instanceId, { ...redisFlavorSettings(FLAVOR), maxmemory: "44040192" }, { maxmemory: "44040192" }, newer);
    await guests.supervisor.configure(cmd.instanceId, { ...redisFlavorSettings(FLAVOR), maxmemory: "22020096" }, { maxmemory: "22020096" }, older);
    expect(await read()).toEqual({ maxmemory: "44040192" });
    await guests.supervisor.restart(cmd.instanceId);
    expect(await read()).toEqual({ maxmemory: "44040192" });
  });

  it("is deprovisioned: no process, no folders, no socket, port free", async () => {
    const { pid, port } = guests.guestJson(cmd.instanceId);
    const sock = socketPath({ runDir: path.join(guests.home, "run", cmd.instanceId) });
    await guests.supervisor.deprovision(cmd.instanceId);
    expect(await isRunning(pid, guests.dataDir(cmd.instanceId))).toBe(false);
    expect(await isPortFree(HOST, port)).toBe(true);
    expect(existsSync(path.join(guests.home, "volumes", cmd.instanceId))).toBe(false);
    expect(existsSync(path.join(guests.home, "run", cmd.instanceId))).toBe(false);
    expect(existsSync(sock)).toBe(false);
    expect(guests.supervisor.list()).toEqual([]);
    expect(guests.engines()).toEqual([]);
  });
});

describe("guests off the usual path", () => {
  it("get a short socket folder under /run/hoard when the run folder is too deep, and leave none behind", async () => {
    // The same golden image through a symlink, so no second image is built.
    const deepHome = path.join(guests.home, "d".repeat(60));
    await mkdir(deepHome);
    await symlink(path.join(guests.home, "images"), path.join(deepHome, "images"));
    const deep = guests.makeSupervisor({ home: deepHome });
    const cmd = guests.command({ users: [{ name: "app", password: "pw", host: "%", databases: [] }] });
    const sock = socketPath({ runDir: path.join(deepHome, "run", cmd.instanceId) });
    // Not /tmp: the engine's /tmp is its own, which the tracker does not see.
    expect(sock).toMatch(/^\/run\/hoard\/[0-9a-f]{20}\/redis\.sock$/);
    try {
      const endpoint = await deep.provision(cmd);
      expect(existsSync(sock)).toBe(true);
      expect(await deep.health()).toEqual([{ instanceId: cmd.instanceId, health: "HEALTHY" }]);
      expect(await loginRefusal(endpoint, "app", "pw")).toBeUndefined();
    } finally {
      await deep.deprovision(cmd.instanceId);
    }
    expect(existsSync(path.dirname(sock))).toBe(false);
  });

  it("secures a clone that was started without prepareGuest (default still passwordless)", async () => {
    const strategy = new RedisStrategy();
    await strategy.checkInstalled("7.0");
    const base = await mkdtemp(path.join(guests.home, "raw-"));
    const runDir = path.join(base, "run");
    await mkdir(path.join(runDir, "engine"), { recursive: true, mode: 0o700 });
    await cp(path.join(guests.home, "images", "redis-7.0", "data"), path.join(base, "data"), { recursive: true });
    const port = await allocatePort(HOST, new Set());
    const guest: GuestHandle = { instanceId: "raw", volume: base, dataDir: path.join(base, "data"), runDir, host: HOST, port, ramMb: 64, adminPassword: "raw-admin-secret" };
    const spec = strategy.launch(guest, {});
    const proc = await startProcess({ command: spec.command, args: spec.args, cwd: runDir, logFile: path.join(runDir, "engine.log"), pidFile: path.join(runDir, "engine.pid") });
    try {
      await strategy.waitReady(guest, 10_000);
      await strategy.secure(guest);
      await strategy.secure(guest);
      expect(await strategy.health(guest)).toBe("HEALTHY");
      const anonymous = await connect({ address: HOST, port });
      expect(await answer(anonymous, "PING")).toMatch(/^NOAUTH/);
      anonymous.disconnect();
    } finally {
      await stopProcess(proc.pid, strategy.shutdownSignal(), 10_000, guest.dataDir);
      await rm(base, { recursive: true, force: true });
    }
  });
});

