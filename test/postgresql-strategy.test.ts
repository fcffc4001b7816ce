/**
 * The postgresql engine through a real GuestSupervisor: a PostgreSQL 15 guest run as an OS user of its own,
 * reached by its tenants over TCP and by the tracker as os_admin over its unix socket. Everything lives in a
 * folder of the run's home and is removed at the end.
 */
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { datastoreDefinitions, type DatastoreStrategy, type GuestHandle } from "../datastores/index.js";
import { socketDir } from "../datastores/postgresql/strategy.js";
import { isPortFree, isRunning } from "../drivers/index.js";
import type { ProvisionCommand } from "../events/payloads.js";
import { GuestSupervisor } from "../tracker/guests/index.js";
import { processesUnder } from "./processes.js";

const run = promisify(execFile);

const HOST = "127.0.0.1";
/** Quotes, backslash, semicolon and a comment: would break any statement that pasted it in. */
const NASTY_PASSWORD = `it's "q" \\ ; -- x\\'`;
const ROOT_PASSWORD = "root-Secret-42";
const definition = datastoreDefinitions.find((d) => d.name === "postgresql")!;
const FLAVOR = definition.flavorSettings({ ramMb: 256, vcpus: 1 });

let home: string;
let supervisor: GuestSupervisor;
let cmd: ProvisionCommand;
let endpoint: { address: string; port: number };
const made = new Set<string>();

function makeSupervisor(): GuestSupervisor {
  return new GuestSupervisor({ home, guestHost: HOST, startTimeoutMs: 30_000, stopTimeoutMs: 10_000, log: pino({ level: "silent" }) });
}

function command(overrides: Partial<ProvisionCommand> = {}): ProvisionCommand {
  const instanceId = overrides.instanceId ?? `pg-${randomUUID()}`;
  made.add(instanceId);
  return {
    instanceId,
    node: "node-1",
    manager: "postgresql",
    datastore: "postgresql",
    version: "15",
    flavor: { id: "1", ramMb: 256, vcpus: 1 },
    volumeSizeGb: 1,
    networkId: "net-1",
    databases: [],
    users: [],
    settings: FLAVOR,
    ...overrides,
  };
}

function act<T>(action: (strategy: DatastoreStrategy, guest: GuestHandle) => Promise<T>): Promise<T> {
  return supervisor.act(cmd.instanceId, action);
}

/** A tenant session over TCP; the caller ends it. */
async function tenant(user: string, password: string, database: string): Promise<pg.Client> {
  const client = new pg.Client({ host: endpoint.address, port: endpoint.port, user, password, database, connectionTimeoutMillis: 5_000 });
  client.on("error", () => {});
  await client.connect();
  return client;
}

/** "ok" if the user can open a session on the database, else the server's error code. */
async function login(user: string, password: string, database: string): Promise<string> {
  const client = new pg.Client({ host: endpoint.address, port: endpoint.port, user, password, database, connectionTimeoutMillis: 5_000 });
  client.on("error", () => {});
  try {
    await client.connect();
    return "ok";
  } catch (err) {
    return (err as { code?: string }).code ?? (err as Error).message;
  } finally {
    // A connection left half-way through authentication would hold up DROP DATABASE for a minute.
    await client.end().catch(() => {});
  }
}

/** The reason of a GuestActionError (or the message of any other error) a promise rejects with. */
async function refusal(promise: Promise<unknown>): Promise<string> {
  return promise.then(
    () => "resolved",
    (err: Error & { code?: string }) => (err.name === "GuestActionError" ? err.code!.replace(/^GUEST_/, "").replace("REFUSED", "INVALID") : `${err.name}: ${err.message}`),
  );
}

function guestJson(id: string): { pid: number; port: number; uid: number; gid: number } {
  return JSON.parse(readFileSync(path.join(home, "run", id, "guest.json"), "utf8"));
}

function dataDir(id: string): string {
  return path.join(home, "volumes", id, "data");
}

beforeAll(async () => {
  home = await mkdtemp(path.join(inject("home"), "pg-"));
  // mkdtemp makes it 0700; the engine runs as its guest's own OS user, which must pass through it.
  await chmod(home, 0o711);
  supervisor = makeSupervisor();
  await supervisor.warm([{ manager: "postgresql", version: "15" }]);
}, 60_000);

afterAll(async () => {
  if (!home) return;
  const cleaner = makeSupervisor();
  for (const id of made) await cleaner.deprovision(id).catch(() => {});
  for (const p of processesUnder(home)) process.kill(p.pid, "SIGKILL");
  await rm(home, { recursive: true, force: true });
}, 60_000);

describe("a postgresql 15 guest", () => {
  it("is provisioned with its database and user, who creates a table over TCP", async () => {
    cmd = command({
      databases: [{ name: "app" }, { name: "latin", characterSet: "LATIN1" }],
      users: [{ name: "alice", password: NASTY_PASSWORD, host: "%", databases: ["app"] }],
    });
    endpoint = await supervisor.provision(cmd);
    expect(endpoint.address).toBe(HOST);

    const alice = await tenant("alice", NASTY_PASSWORD, "app");
    await alice.query("CREATE TABLE t (v int)");
    await alice.query("INSERT INTO t VALUES (42)");
    expect((await alice.query("SELECT v FROM t")).rows).toEqual([{ v: 42 }]);
    await alice.end();

    // Only the databases granted: 42501 is "permission denied for database".
    expect(await login("alice", NASTY_PASSWORD, "latin")).toBe("42501");
    expect(await login("alice", "wrong", "app")).toBe("28P01");
    // The service's admin never over TCP, not even with its secret; root is closed until enabled.
    const secret = readFileSync(path.join(home, "run", cmd.instanceId, "admin.secret"), "utf8");
    expect(await login("os_admin", secret, "postgres")).toBe("28000");
    expect(await login("postgres", "guess", "postgres")).toBe("28P01");
    expect(await supervisor.health()).toEqual([{ instanceId: cmd.instanceId, health: "HEALTHY" }]);
  });

  it("runs as an OS user of its own (not postgres), with its data and socket folders its own", async () => {
    const { pid, uid, gid } = guestJson(cmd.instanceId);
    const postgresUid = Number(readFileSync("/etc/passwd", "utf8").split("\n").find((l) => l.startsWith("postgres:"))!.split(":")[2]);
    expect(uid).toBeGreaterThan(0);
    expect(uid).not.toBe(postgresUid);
    const uids = /^Uid:\s+(\d+)\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))!;
    expect([Number(uids[1]), Number(uids[2])]).toEqual([uid, uid]);
    for (const dir of [dataDir(cmd.instanceId), socketDir({ runDir: path.join(home, "run", cmd.instanceId) })]) {
      const st = statSync(dir);
      expect(st.uid).toBe(uid);
      expect(st.mode & 0o777).toBe(0o700);
    }
    // The admin secret stays root's, in a run folder the engine may only pass through.
    const runDir = path.join(home, "run", cmd.instanceId);
    expect(statSync(runDir).mode & 0o777).toBe(0o710);
    expect(statSync(runDir).gid).toBe(gid);
    expect(statSync(path.join(runDir, "admin.secret")).uid).toBe(0);
    expect(statSync(path.join(runDir, "admin.secret")).mode & 0o777).toBe(0o600);
  });

  it("lists, creates and deletes databases", async () => {
    expect(await act((s, g) => s.listDatabases(g))).toEqual([
      { name: "app", characterSet: "UTF8", collate: "C.UTF-8" },
      { name: "latin", characterSet: "LATIN1", collate: "C" },
    ]);
    // An existing database is not an error and is left as it is.
    await act((s, g) => s.createDatabases(g, [{ name: "app" }, { name: "busy", characterSet: "UTF8", collate: "C" }]));
    expect((await act((s, g) => s.listDatabases(g))).map((d) => d.name)).toEqual(["app", "busy", "latin"]);
    const alice = await tenant("alice", NASTY_PASSWORD, "app");
    expect((await alice.query("SELECT v FROM t")).rows).toEqual([{ v: 42 }]);
    await alice.end();

    // A session on the database does not stop its deletion: it is ended.
    await act((s, g) => s.grantAccess(g, { name: "alice", host: "%" }, ["busy"]));
    const session = await tenant("alice", NASTY_PASSWORD, "busy");
    await act((s, g) => s.deleteDatabase(g, "busy"));
    await expect(session.query("SELECT 1")).rejects.toThrow();
    await session.end().catch(() => {});
    expect((await act((s, g) => s.listDatabases(g))).map((d) => d.name)).toEqual(["app", "latin"]);

    expect(await refusal(act((s, g) => s.deleteDatabase(g, "busy")))).toBe("NOT_FOUND");
    for (const system of ["postgres", "template0", "template1"]) expect(await refusal(act((s, g) => s.deleteDatabase(g, system)))).toBe("NOT_FOUND");
    expect(await refusal(act((s, g) => s.createDatabases(g, [{ name: "bad", characterSet: "NOT_AN_ENCODING" }])))).toBe("INVALID");
    expect(await refusal(act((s, g) => s.createDatabases(g, [{ name: "bad", collate: "xx_YY.nowhere" }])))).toBe("INVALID");
  });

  it("quotes names that the API would refuse, so they stay names", async () => {
    const weird = `we"ird db`;
    const sneaky = `x"; DROP DATABASE app; --`;
    const user = `o'neil "q" x`;
    await act((s, g) => s.createDatabases(g, [{ name: weird }, { name: sneaky }]));
    expect((await act((s, g) => s.listDatabases(g))).map((d) => d.name)).toEqual(["app", "latin", weird, sneaky].sort());

    await act((s, g) => s.createUsers(g, [{ name: user, password: "pw-1", host: "%", databases: [weird] }]));
    expect((await act((s, g) => s.listUsers(g))).find((u) => u.name === user)).toEqual({ name: user, host: "%", databases: [weird] });
    const session = await tenant(user, "pw-1", weird);
    await session.query(`CREATE TABLE "odd ""table""" (v text)`);
    await session.end();

    await act((s, g) => s.deleteUser(g, { name: user, host: "%" }));
    await act((s, g) => s.deleteDatabase(g, weird));
    await act((s, g) => s.deleteDatabase(g, sneaky));
    expect((await act((s, g) => s.listDatabases(g))).map((d) => d.name)).toEqual(["app", "latin"]);
    expect((await act((s, g) => s.listUsers(g))).map((u) => u.name)).toEqual(["alice"]);
  });

  it("creates, lists, updates and deletes users", async () => {
    // One existing name refuses the whole batch: bob is not created either.
    expect(await refusal(act((s, g) => s.createUsers(g, [{ name: "bob", password: "pw", host: "%", databases: [] }, { name: "alice", password: "pw", host: "%", databases: [] }])))).toBe("CONFLICT");
    expect(await refusal(act((s, g) => s.createUsers(g, [{ name: "bob", password: "pw", host: "%", databases: ["missing"] }])))).toBe("NOT_FOUND");
    expect(await refusal(act((s, g) => s.createUsers(g, [{ name: "postgres", password: "pw", host: "%", databases: [] }])))).toBe("CONFLICT");
    expect(await act((s, g) => s.listUsers(g))).toEqual([{ name: "alice", host: "%", databases: ["app"] }]);

    await act((s, g) => s.createUsers(g, [{ name: "bob", password: "pw-bob", host: "%", databases: ["app", "latin"] }]));
    expect(await act((s, g) => s.listUsers(g))).toEqual([
      { name: "alice", host: "%", databases: ["app"] },
      { name: "bob", host: "%", databases: ["app", "latin"] },
    ]);

    // Rename and new password at once: the old name and the old password stop working, the data stays.
    await act((s, g) => s.updateUser(g, { name: "alice", host: "%" }, { name: "alicia", password: "new-pw" }));
    expect(await login("alice", NASTY_PASSWORD, "app")).toBe("28P01");
    expect(await login("alicia", NASTY_PASSWORD, "app")).toBe("28P01");
    const alicia = await tenant("alicia", "new-pw", "app");
    expect((await alicia.query("SELECT v FROM t")).rows).toEqual([{ v: 42 }]);
    await alicia.end();

    expect(await refusal(act((s, g) => s.updateUser(g, { name: "nobody", host: "%" }, { password: "x" })))).toBe("NOT_FOUND");
    expect(await refusal(act((s, g) => s.updateUser(g, { name: "alicia", host: "%" }, { name: "bob" })))).toBe("CONFLICT");
    expect(await refusal(act((s, g) => s.updateUser(g, { name: "alicia", host: "%" }, { host: "10.%" })))).toBe("INVALID");
    // The service's own roles are not users.
    for (const name of ["os_admin", "postgres", "pg_monitor"]) {
      expect(await refusal(act((s, g) => s.updateUser(g, { name, host: "%" }, { password: "x" })))).toBe("NOT_FOUND");
      expect(await refusal(act((s, g) => s.deleteUser(g, { name, host: "%" })))).toBe("NOT_FOUND");
    }

    // alicia owns table t: deleting her hands it to the tenant's root (never a superuser) rather than dropping the data.
    await act((s, g) => s.deleteUser(g, { name: "alicia", host: "%" }));
    expect(await login("alicia", "new-pw", "app")).toBe("28P01");
    expect(await act((s, g) => s.listUsers(g))).toEqual([{ name: "bob", host: "%", databases: ["app", "latin"] }]);
    expect(await refusal(act((s, g) => s.deleteUser(g, { name: "alicia", host: "%" })))).toBe("NOT_FOUND");
    await act((s, g) => s.enableRoot(g, ROOT_PASSWORD));
    const root = await tenant("root", ROOT_PASSWORD, "app");
    expect((await root.query("SELECT tableowner FROM pg_tables WHERE tablename = 't'")).rows).toEqual([{ tableowner: "root" }]);
    expect((await root.query("SELECT count(*)::int AS n FROM t")).rows).toEqual([{ n: expect.any(Number) }]);
    await root.end();
    await act((s, g) => s.disableRoot(g));
  });

  it("grants and revokes access to a database", async () => {
    await act((s, g) => s.createUsers(g, [{ name: "carol", password: "pw-carol", host: "%", databases: [] }]));
    expect(await login("carol", "pw-carol", "app")).toBe("42501");

    await act((s, g) => s.grantAccess(g, { name: "carol", host: "%" }, ["app"]));
    const carol = await tenant("carol", "pw-carol", "app");
    await carol.query("CREATE TABLE carols (v int)");
    await carol.end();
    expect((await act((s, g) => s.listUsers(g))).find((u) => u.name === "carol")?.databases).toEqual(["app"]);

    await act((s, g) => s.revokeAccess(g, { name: "carol", host: "%" }, "app"));
    expect(await login("carol", "pw-carol", "app")).toBe("42501");
    expect((await act((s, g) => s.listUsers(g))).find((u) => u.name === "carol")?.databases).toEqual([]);

    expect(await refusal(act((s, g) => s.revokeAccess(g, { name: "carol", host: "%" }, "app")))).toBe("NOT_FOUND");
    expect(await refusal(act((s, g) => s.grantAccess(g, { name: "carol", host: "%" }, ["missing"])))).toBe("NOT_FOUND");
    expect(await refusal(act((s, g) => s.grantAccess(g, { name: "nobody", host: "%" }, ["app"])))).toBe("NOT_FOUND");
  });

  it("opens root to the tenant on root enable — all data, but not a superuser — and closes it again", async () => {
    expect(await act((s, g) => s.rootEnabled(g))).toBe(false);
    await act((s, g) => s.enableRoot(g, ROOT_PASSWORD));
    expect(await act((s, g) => s.rootEnabled(g))).toBe(true);
    const root = await tenant("root", ROOT_PASSWORD, "postgres");
    expect((await root.query("SELECT current_setting('is_superuser') AS su")).rows).toEqual([{ su: "off" }]);
    // A superuser could run programs as the node's postgres user; root cannot.
    await expect(root.query("COPY (SELECT 1) TO PROGRAM 'id'")).rejects.toThrow();
    await expect(root.query("ALTER ROLE root SUPERUSER")).rejects.toThrow();

    await act((s, g) => s.disableRoot(g));
    expect(await act((s, g) => s.rootEnabled(g))).toBe(false);
    // The open session is ended and no new one is let in.
    await expect(root.query("SELECT 1")).rejects.toThrow();
    await root.end().catch(() => {});
    // No password left to check it against (28P01), or no login (28000): refused either way.
    expect(["28P01", "28000"]).toContain(await login("root", ROOT_PASSWORD, "postgres"));
  });

  it("applies a dynamic parameter live, keeps it over a restart, and can still change it after one", async () => {
    await act((s, g) => s.applySettings(g, { work_mem: "12345" }));
    expect(await act((s, g) => s.readSettings(g, ["work_mem"]))).toEqual({ work_mem: "12345" });
    const bob = await tenant("bob", "pw-bob", "app");
    expect((await bob.query("SHOW work_mem")).rows).toEqual([{ work_mem: "12345kB" }]);
    await bob.end();

    await supervisor.configure(cmd.instanceId, { ...FLAVOR, work_mem: "12345" }, { work_mem: "12345" });
    await supervisor.restart(cmd.instanceId);
    expect(await act((s, g) => s.readSettings(g, ["work_mem", "shared_buffers"]))).toEqual({ work_mem: "12345", shared_buffers: FLAVOR.shared_buffers });

    // A value the guest started with must not pin the parameter: a later live change still takes.
    await supervisor.configure(cmd.instanceId, { ...FLAVOR, work_mem: "23456" }, { work_mem: "23456" });
    expect(await act((s, g) => s.readSettings(g, ["work_mem"]))).toEqual({ work_mem: "23456" });
    const again = await tenant("bob", "pw-bob", "app");
    expect((await again.query("SHOW work_mem")).rows).toEqual([{ work_mem: "23456kB" }]);
    await again.end();

    await act((s, g) => s.applySettings(g, { timezone: "Europe/Berlin", random_page_cost: "1.5", autovacuum: "off" }));
    expect(await act((s, g) => s.readSettings(g, ["timezone", "random_page_cost", "autovacuum"]))).toEqual({ timezone: "Europe/Berlin", random_page_cost: "1.5", autovacuum: "off" });
  });

  it("refuses unknown parameters, malformed values and restart-only parameters live", async () => {
    expect(await refusal(act((s, g) => s.applySettings(g, { fsync: "off" })))).toBe("INVALID");
    expect(await refusal(act((s, g) => s.applySettings(g, { work_mem: "1; DROP DATABASE app" })))).toBe("INVALID");
    expect(await refusal(act((s, g) => s.applySettings(g, { timezone: "Nowhere/Else' x" })))).toBe("INVALID");
    expect(await refusal(act((s, g) => s.applySettings(g, { max_connections: "50" })))).toBe("INVALID");
    expect(await refusal(act((s, g) => s.readSettings(g, ["data_directory"])))).toBe("INVALID");
    expect(await act((s, g) => s.readSettings(g, ["timezone"]))).toEqual({ timezone: "Europe/Berlin" });
  });

  it("starts with a restart-required parameter from its settings, and drops what the settings no longer name", async () => {
    await supervisor.configure(cmd.instanceId, { ...FLAVOR, max_connections: "42", work_mem: "23456" }, {});
    await supervisor.restart(cmd.instanceId);
    expect(await act((s, g) => s.readSettings(g, ["max_connections", "work_mem"]))).toEqual({ max_connections: "42", work_mem: "23456" });

    // The configuration group is gone: back to the flavor's values and the server's defaults.
    await supervisor.configure(cmd.instanceId, FLAVOR, {});
    await supervisor.restart(cmd.instanceId);
    expect(await act((s, g) => s.readSettings(g, ["max_connections", "work_mem", "timezone"]))).toEqual({ max_connections: FLAVOR.max_connections, work_mem: "4096", timezone: "Etc/UTC" });
    const bob = await tenant("bob", "pw-bob", "app");
    await bob.end();
  });

  it("never writes a password into the engine's log", async () => {
    const log = readFileSync(path.join(home, "run", cmd.instanceId, "engine.log"), "utf8");
    const secret = readFileSync(path.join(home, "run", cmd.instanceId, "admin.secret"), "utf8");
    expect(log).toContain("database system is ready to accept connections");
    for (const password of [secret, NASTY_PASSWORD, "new-pw", "pw-bob", "pw-carol", ROOT_PASSWORD]) expect(log).not.toContain(password);
  });

  it("is deprovisioned: no process, no port, no folder", async () => {
    const { pid, port } = guestJson(cmd.instanceId);
    const sockets = socketDir({ runDir: path.join(home, "run", cmd.instanceId) });
    await supervisor.deprovision(cmd.instanceId);
    expect(await isRunning(pid, dataDir(cmd.instanceId))).toBe(false);
    expect(await isPortFree(HOST, port)).toBe(true);
    for (const folder of [path.join(home, "volumes", cmd.instanceId), path.join(home, "run", cmd.instanceId), sockets]) expect(existsSync(folder)).toBe(false);
    expect(supervisor.list()).toEqual([]);
    expect(processesUnder(home)).toEqual([]);
  });
});

describe("a postgresql guest whose run folder is too deep for a unix socket", () => {
  it("gets a short socket folder under /run/hoard, works, and leaves no socket behind", async () => {
    // The same golden image through a symlink, so no second image is built.
    const deepHome = path.join(home, "d".repeat(70));
    await mkdir(deepHome, { mode: 0o711 });
    await symlink(path.join(home, "images"), path.join(deepHome, "images"));
    const deep = new GuestSupervisor({ home: deepHome, guestHost: HOST, startTimeoutMs: 30_000, log: pino({ level: "silent" }) });
    const cmd = command({ databases: [{ name: "db1" }], users: [{ name: "u1", password: "secret", host: "%", databases: ["db1"] }] });
    const sockets = socketDir({ runDir: path.join(deepHome, "run", cmd.instanceId) });
    // Not /tmp: the engine's /tmp is its own, which the tracker does not see.
    expect(sockets).toMatch(/^\/run\/hoard\/[0-9a-f]{20}$/);
    try {
      const at = await deep.provision(cmd);
      expect(readdirSync(sockets).some((f) => f.startsWith(".s.PGSQL."))).toBe(true);
      expect(await deep.health()).toEqual([{ instanceId: cmd.instanceId, health: "HEALTHY" }]);
      const client = new pg.Client({ host: at.address, port: at.port, user: "u1", password: "secret", database: "db1" });
      await client.connect();
      await client.end();
    } finally {
      await deep.deprovision(cmd.instanceId);
    }
    // The folder goes with the guest.
    expect(existsSync(sockets)).toBe(false);
  });
});

describe("a postgresql guest made when guests ran as the postgres OS user", () => {
  it("is moved to its own user at the next tracker start, and starts as it with its data", async () => {
    const postgres = readFileSync("/etc/passwd", "utf8").split("\n").find((l) => l.startsWith("postgres:"));
    if (process.getuid?.() !== 0 || !postgres) return; // only a root tracker has users to give
    const [, , pgUid, pgGid] = postgres.split(":");
    const first = makeSupervisor();
    const old = command({ databases: [{ name: "keep" }], users: [{ name: "u1", password: "pw", host: "%", databases: ["keep"] }] });
    const at = await first.provision(old);
    const session = async () => {
      const c = new pg.Client({ host: at.address, port: at.port, user: "u1", password: "pw", database: "keep", connectionTimeoutMillis: 5_000 });
      await c.connect();
      return c;
    };
    const writer = await session();
    await writer.query("CREATE TABLE t (v int)");
    await writer.query("INSERT INTO t VALUES (7)");
    await writer.end();
    // What the code before guest users left, with its engine down (the node rebooted, say): the data the
    // postgres user's, the socket folder of the old layout, a record with no uid.
    const id = old.instanceId;
    const runDir = path.join(home, "run", id);
    const { uid, gid, ...record } = guestJson(id);
    expect([uid, gid].every((n) => n > 0)).toBe(true);
    process.kill(record.pid, "SIGINT");
    for (let i = 0; i < 200 && processesUnder(dataDir(id)).length; i++) await new Promise((r) => setTimeout(r, 50));
    await rm(path.join(runDir, "engine"), { recursive: true, force: true });
    await mkdir(path.join(runDir, "pg"), { mode: 0o700 });
    await run("chown", ["-R", `${pgUid}:${pgGid}`, "--", dataDir(id), path.join(runDir, "pg")]);
    await writeFile(path.join(runDir, "guest.json"), JSON.stringify(record));

    const next = makeSupervisor();
    expect(await next.adopt()).toContain(id);
    const moved = guestJson(id);
    expect(moved.uid).toBeGreaterThan(0);
    expect(moved.uid).not.toBe(Number(pgUid));
    expect(statSync(dataDir(id)).uid).toBe(moved.uid);
    expect(existsSync(path.join(runDir, "pg"))).toBe(false);
    // Its engine was down: the next provision (or start) brings it up, as its own user, on its data.
    expect(await next.provision(old)).toEqual(at);
    const pid = guestJson(id).pid;
    expect(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]).toBe(String(moved.uid));
    const reader = await session();
    expect((await reader.query("SELECT v FROM t")).rows).toEqual([{ v: 7 }]);
    await reader.end();
    await next.deprovision(id);
    expect(await next.guestUsers!.find(id)).toBeUndefined();
  }, 90_000);
});
