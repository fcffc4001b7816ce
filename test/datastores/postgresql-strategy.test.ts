/**
 * The postgresql engine through a real GuestSupervisor: a PostgreSQL 15 guest run as an OS user of its own,
 * reached by its tenants over TCP and by the tracker as os_admin over its unix socket. Everything lives in a
 * folder of the run's home and is removed at the end.
 */
import { execFile } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { mkdir, rm, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { datastoreDefinitions, type DatastoreStrategy, type GuestHandle } from "../../datastores/index.js";
import { socketDir } from "../../datastores/postgresql/session.js";
import { isPortFree, isRunning } from "../../drivers/index.js";
import type { ProvisionCommand } from "../../events/payloads.js";
import { GUEST_HOST as HOST, supervisorHome } from "../kit/supervisor-home.js";
import { processesUnder } from "../kit/processes.js";

const run = promisify(execFile);

/** Quotes, backslash, semicolon and a comment: would break any statement that pasted it in. */
const NASTY_PASSWORD = `it's "q" \\ ; -- x\\'`;
const ROOT_PASSWORD = "root-Secret-42";
const definition = datastoreDefinitions.find((d) => d.name === "postgresql")!;
const FLAVOR = definition.flavorSettings({ ramMb: 256, vcpus: 1 });

const guests = supervisorHome({ prefix: "pg-", idPrefix: "pg-", defaults: { manager: "postgresql", version: "15", settings: FLAVOR }, warm: [{ manager: "postgresql", version: "15" }] });

/** A guest of the file's supervisor: what it was provisioned with and where its tenants reach it. */
interface Guest {
  cmd: ProvisionCommand;
  endpoint: { address: string; port: number };
}

/** The guest the tests share: they only read it, or use names of their own on it and remove them. */
let shared: Guest;

/** A guest provisioned with `request`; the test that asks for it deprovisions it. */
async function provisionGuest(request: Partial<ProvisionCommand>): Promise<Guest> {
  const cmd = guests.command(request);
  return { cmd, endpoint: await guests.supervisor.provision(cmd) };
}

/** A guest as the shared one is made: databases app and latin, alice on app, owning table t with 42 in it. */
async function aliceGuest(): Promise<Guest> {
  const guest = await provisionGuest({
    databases: [{ name: "app" }, { name: "latin", characterSet: "LATIN1" }],
    users: [{ name: "alice", password: NASTY_PASSWORD, host: "%", databases: ["app"] }],
  });
  const alice = await tenant("alice", NASTY_PASSWORD, "app", guest);
  await alice.query("CREATE TABLE t (v int)");
  await alice.query("INSERT INTO t VALUES (42)");
  await alice.end();
  return guest;
}

/** A guest with database app and bob on it, for the tests that change its settings and restart it. */
function bobGuest(): Promise<Guest> {
  return provisionGuest({ databases: [{ name: "app" }], users: [{ name: "bob", password: "pw-bob", host: "%", databases: ["app"] }] });
}

function act<T>(action: (strategy: DatastoreStrategy, guest: GuestHandle) => Promise<T>, guest: Guest = shared): Promise<T> {
  return guests.supervisor.act(guest.cmd.instanceId, action);
}

/** A tenant session over TCP; the caller ends it. */
async function tenant(user: string, password: string, database: string, { endpoint }: Guest = shared): Promise<pg.Client> {
  const client = new pg.Client({ host: endpoint.address, port: endpoint.port, user, password, database, connectionTimeoutMillis: 5_000 });
  client.on("error", () => {});
  await client.connect();
  return client;
}

/** "ok" if the user can open a session on the database, else the server's error code. */
async function login(user: string, password: string, database: string, { endpoint }: Guest = shared): Promise<string> {
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

/** Checks that none of `passwords` (nor the guest's admin secret) is in its engine's log. */
function expectNoPasswordInLog({ cmd }: Guest, passwords: string[]): void {
  const log = readFileSync(path.join(guests.home, "run", cmd.instanceId, "engine.log"), "utf8");
  const secret = readFileSync(path.join(guests.home, "run", cmd.instanceId, "admin.secret"), "utf8");
  expect(log).toContain("database system is ready to accept connections");
  for (const password of [secret, ...passwords]) expect(log).not.toContain(password);
}

/** The catalogue code of a GuestActionError (or the message of any other error) a promise rejects with. */
async function refusal(promise: Promise<unknown>): Promise<string> {
  return promise.then(
    () => "resolved",
    (err: Error & { code?: string }) => (err.name === "GuestActionError" ? err.code! : `${err.name}: ${err.message}`),
  );
}

describe("a postgresql 15 guest", () => {
  // Made before the first test, not in it, so that each test can also run alone (`-t`). A test that renames or
  // removes alice, changes settings or restarts makes a guest of its own.
  beforeAll(async () => {
    shared = await aliceGuest();
  });
  afterAll(async () => {
    if (shared) await guests.supervisor.deprovision(shared.cmd.instanceId);
  });

  it("is provisioned with its database and user, who creates a table over TCP", async () => {
    expect(shared.endpoint.address).toBe(HOST);

    const alice = await tenant("alice", NASTY_PASSWORD, "app");
    expect((await alice.query("SELECT v FROM t")).rows).toEqual([{ v: 42 }]);
    await alice.end();

    // Only the databases granted: 42501 is "permission denied for database".
    expect(await login("alice", NASTY_PASSWORD, "latin")).toBe("42501");
    expect(await login("alice", "wrong", "app")).toBe("28P01");
    // The service's admin never over TCP, not even with its secret; root is closed until enabled.
    const secret = readFileSync(path.join(guests.home, "run", shared.cmd.instanceId, "admin.secret"), "utf8");
    expect(await login("os_admin", secret, "postgres")).toBe("28000");
    expect(await login("postgres", "guess", "postgres")).toBe("28P01");
    expect(await guests.supervisor.health()).toEqual([{ instanceId: shared.cmd.instanceId, health: "HEALTHY" }]);
  });

  it("runs as an OS user of its own (not postgres), with its data and socket folders its own", async () => {
    const { pid, uid, gid } = guests.guestJson(shared.cmd.instanceId);
    const postgresUid = Number(readFileSync("/etc/passwd", "utf8").split("\n").find((l) => l.startsWith("postgres:"))!.split(":")[2]);
    expect(uid).toBeGreaterThan(0);
    expect(uid).not.toBe(postgresUid);
    const uids = /^Uid:\s+(\d+)\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))!;
    expect([Number(uids[1]), Number(uids[2])]).toEqual([uid, uid]);
    for (const dir of [guests.dataDir(shared.cmd.instanceId), socketDir({ runDir: path.join(guests.home, "run", shared.cmd.instanceId) })]) {
      const st = statSync(dir);
      expect(st.uid).toBe(uid);
      expect(st.mode & 0o777).toBe(0o700);
    }
    // The admin secret stays root's, in a run folder the engine may only pass through.
    const runDir = path.join(guests.home, "run", shared.cmd.instanceId);
    expect(statSync(runDir).mode & 0o777).toBe(0o710);
    expect(statSync(runDir).gid).toBe(gid);
    expect(statSync(path.join(runDir, "admin.secret")).uid).toBe(0);
    expect(statSync(path.join(runDir, "admin.secret")).mode & 0o777).toBe(0o600);
  });

  it("lists, creates and deletes databases", async () => {
    expect(await act((s, g) => s.schema!.listDatabases(g))).toEqual([
      { name: "app", characterSet: "UTF8", collate: "C.UTF-8" },
      { name: "latin", characterSet: "LATIN1", collate: "C" },
    ]);
    // An existing database is not an error and is left as it is.
    await act((s, g) => s.schema!.createDatabases(g, [{ name: "app" }, { name: "busy", characterSet: "UTF8", collate: "C" }]));
    expect((await act((s, g) => s.schema!.listDatabases(g))).map((d) => d.name)).toEqual(["app", "busy", "latin"]);
    const alice = await tenant("alice", NASTY_PASSWORD, "app");
    expect((await alice.query("SELECT v FROM t")).rows).toEqual([{ v: 42 }]);
    await alice.end();

    // A session on the database does not stop its deletion: it is ended.
    await act((s, g) => s.schema!.grantAccess(g, { name: "alice", host: "%" }, ["busy"]));
    const session = await tenant("alice", NASTY_PASSWORD, "busy");
    await act((s, g) => s.schema!.deleteDatabase(g, "busy"));
    await expect(session.query("SELECT 1")).rejects.toThrow();
    await session.end().catch(() => {});
    expect((await act((s, g) => s.schema!.listDatabases(g))).map((d) => d.name)).toEqual(["app", "latin"]);

    expect(await refusal(act((s, g) => s.schema!.deleteDatabase(g, "busy")))).toBe("DATABASE_NOT_FOUND");
    for (const system of ["postgres", "template0", "template1"]) expect(await refusal(act((s, g) => s.schema!.deleteDatabase(g, system)))).toBe("DATABASE_NOT_FOUND");
    expect(await refusal(act((s, g) => s.schema!.createDatabases(g, [{ name: "bad", characterSet: "NOT_AN_ENCODING" }])))).toBe("ENGINE_REFUSED");
    expect(await refusal(act((s, g) => s.schema!.createDatabases(g, [{ name: "bad", collate: "xx_YY.nowhere" }])))).toBe("ENGINE_REFUSED");
  });

  it("quotes names that the API would refuse, so they stay names", async () => {
    const weird = `we"ird db`;
    const sneaky = `x"; DROP DATABASE app; --`;
    const user = `o'neil "q" x`;
    await act((s, g) => s.schema!.createDatabases(g, [{ name: weird }, { name: sneaky }]));
    expect((await act((s, g) => s.schema!.listDatabases(g))).map((d) => d.name)).toEqual(["app", "latin", weird, sneaky].sort());

    await act((s, g) => s.users!.createUsers(g, [{ name: user, password: "pw-1", host: "%", databases: [weird] }]));
    expect((await act((s, g) => s.users!.listUsers(g))).find((u) => u.name === user)).toEqual({ name: user, host: "%", databases: [weird] });
    const session = await tenant(user, "pw-1", weird);
    await session.query(`CREATE TABLE "odd ""table""" (v text)`);
    await session.end();

    await act((s, g) => s.users!.deleteUser(g, { name: user, host: "%" }));
    await act((s, g) => s.schema!.deleteDatabase(g, weird));
    await act((s, g) => s.schema!.deleteDatabase(g, sneaky));
    expect((await act((s, g) => s.schema!.listDatabases(g))).map((d) => d.name)).toEqual(["app", "latin"]);
    expect((await act((s, g) => s.users!.listUsers(g))).map((u) => u.name)).toEqual(["alice"]);
  });

  it("creates, lists, updates and deletes users", async () => {
    // alice is renamed and removed: a guest of its own, made as the shared one is.
    const guest = await aliceGuest();
    try {
      // One existing name refuses the whole batch: bob is not created either.
      expect(await refusal(act((s, g) => s.users!.createUsers(g, [{ name: "bob", password: "pw", host: "%", databases: [] }, { name: "alice", password: "pw", host: "%", databases: [] }]), guest))).toBe("USER_EXISTS");
      expect(await refusal(act((s, g) => s.users!.createUsers(g, [{ name: "bob", password: "pw", host: "%", databases: ["missing"] }]), guest))).toBe("DATABASE_NOT_FOUND");
      expect(await refusal(act((s, g) => s.users!.createUsers(g, [{ name: "postgres", password: "pw", host: "%", databases: [] }]), guest))).toBe("USER_EXISTS");
      expect(await act((s, g) => s.users!.listUsers(g), guest)).toEqual([{ name: "alice", host: "%", databases: ["app"] }]);

      await act((s, g) => s.users!.createUsers(g, [{ name: "bob", password: "pw-bob", host: "%", databases: ["app", "latin"] }]), guest);
      expect(await act((s, g) => s.users!.listUsers(g), guest)).toEqual([
        { name: "alice", host: "%", databases: ["app"] },
        { name: "bob", host: "%", databases: ["app", "latin"] },
      ]);

      // Rename and new password at once: the old name and the old password stop working, the data stays.
      await act((s, g) => s.users!.updateUser(g, { name: "alice", host: "%" }, { name: "alicia", password: "new-pw" }), guest);
      expect(await login("alice", NASTY_PASSWORD, "app", guest)).toBe("28P01");
      expect(await login("alicia", NASTY_PASSWORD, "app", guest)).toBe("28P01");
      const alicia = await tenant("alicia", "new-pw", "app", guest);
      expect((await alicia.query("SELECT v FROM t")).rows).toEqual([{ v: 42 }]);
      await alicia.end();

      expect(await refusal(act((s, g) => s.users!.updateUser(g, { name: "nobody", host: "%" }, { password: "x" }), guest))).toBe("USER_NOT_FOUND");
      expect(await refusal(act((s, g) => s.users!.updateUser(g, { name: "alicia", host: "%" }, { name: "bob" }), guest))).toBe("USER_EXISTS");
      expect(await refusal(act((s, g) => s.users!.updateUser(g, { name: "alicia", host: "%" }, { host: "10.%" }), guest))).toBe("USER_HOST_NOT_SUPPORTED");
      // The service's own roles are not users.
      for (const name of ["os_admin", "postgres", "pg_monitor"]) {
        expect(await refusal(act((s, g) => s.users!.updateUser(g, { name, host: "%" }, { password: "x" }), guest))).toBe("USER_NOT_FOUND");
        expect(await refusal(act((s, g) => s.users!.deleteUser(g, { name, host: "%" }), guest))).toBe("USER_NOT_FOUND");
      }

      // alicia owns table t: deleting her hands it to the tenant's root (never a superuser) rather than dropping the data.
      await act((s, g) => s.users!.deleteUser(g, { name: "alicia", host: "%" }), guest);
      expect(await login("alicia", "new-pw", "app", guest)).toBe("28P01");
      expect(await act((s, g) => s.users!.listUsers(g), guest)).toEqual([{ name: "bob", host: "%", databases: ["app", "latin"] }]);
      expect(await refusal(act((s, g) => s.users!.deleteUser(g, { name: "alicia", host: "%" }), guest))).toBe("USER_NOT_FOUND");
      await act((s, g) => s.root!.enableRoot(g, ROOT_PASSWORD), guest);
      const root = await tenant("root", ROOT_PASSWORD, "app", guest);
      expect((await root.query("SELECT tableowner FROM pg_tables WHERE tablename = 't'")).rows).toEqual([{ tableowner: "root" }]);
      expect((await root.query("SELECT count(*)::int AS n FROM t")).rows).toEqual([{ n: expect.any(Number) }]);
      await root.end();
      await act((s, g) => s.root!.disableRoot(g), guest);
      // The passwords this guest was given and changed to are nowhere in its log.
      expectNoPasswordInLog(guest, [NASTY_PASSWORD, "new-pw", "pw-bob", ROOT_PASSWORD]);
    } finally {
      await guests.supervisor.deprovision(guest.cmd.instanceId);
    }
  });

  it("grants and revokes access to a database", async () => {
    await act((s, g) => s.users!.createUsers(g, [{ name: "carol", password: "pw-carol", host: "%", databases: [] }]));
    expect(await login("carol", "pw-carol", "app")).toBe("42501");

    await act((s, g) => s.schema!.grantAccess(g, { name: "carol", host: "%" }, ["app"]));
    const carol = await tenant("carol", "pw-carol", "app");
    await carol.query("CREATE TABLE carols (v int)");
    await carol.end();
    expect((await act((s, g) => s.users!.listUsers(g))).find((u) => u.name === "carol")?.databases).toEqual(["app"]);

    await act((s, g) => s.schema!.revokeAccess(g, { name: "carol", host: "%" }, "app"));
    expect(await login("carol", "pw-carol", "app")).toBe("42501");
    expect((await act((s, g) => s.users!.listUsers(g))).find((u) => u.name === "carol")?.databases).toEqual([]);

    expect(await refusal(act((s, g) => s.schema!.revokeAccess(g, { name: "carol", host: "%" }, "app")))).toBe("USER_NO_ACCESS");
    expect(await refusal(act((s, g) => s.schema!.grantAccess(g, { name: "carol", host: "%" }, ["missing"])))).toBe("DATABASE_NOT_FOUND");
    expect(await refusal(act((s, g) => s.schema!.grantAccess(g, { name: "nobody", host: "%" }, ["app"])))).toBe("USER_NOT_FOUND");
    // carol was this test's: the shared guest's users are alice alone again.
    await act((s, g) => s.users!.deleteUser(g, { name: "carol", host: "%" }));
  });

  it("opens root to the tenant on root enable — all data, but not a superuser — and closes it again", async () => {
    expect(await act((s, g) => s.root!.rootEnabled(g))).toBe(false);
    await act((s, g) => s.root!.enableRoot(g, ROOT_PASSWORD));
    expect(await act((s, g) => s.root!.rootEnabled(g))).toBe(true);
    const root = await tenant("root", ROOT_PASSWORD, "postgres");
    expect((await root.query("SELECT current_setting('is_superuser') AS su")).rows).toEqual([{ su: "off" }]);
    // A superuser could run programs as the node's postgres user; root cannot.
    await expect(root.query("COPY (SELECT 1) TO PROGRAM 'id'")).rejects.toThrow();
    await expect(root.query("ALTER ROLE root SUPERUSER")).rejects.toThrow();

    await act((s, g) => s.root!.disableRoot(g));
    expect(await act((s, g) => s.root!.rootEnabled(g))).toBe(false);
    // The open session is ended and no new one is let in.
    await expect(root.query("SELECT 1")).rejects.toThrow();
    await root.end().catch(() => {});
    // No password left to check it against (28P01), or no login (28000): refused either way.
    expect(["28P01", "28000"]).toContain(await login("root", ROOT_PASSWORD, "postgres"));
  });

  it("applies a dynamic parameter live, keeps it over a restart, and can still change it after one", async () => {
    const guest = await bobGuest();
    try {
      await act((s, g) => s.configuration!.applySettings(g, { work_mem: "12345" }), guest);
      expect(await act((s, g) => s.configuration!.readSettings(g, ["work_mem"]), guest)).toEqual({ work_mem: "12345" });
      const bob = await tenant("bob", "pw-bob", "app", guest);
      expect((await bob.query("SHOW work_mem")).rows).toEqual([{ work_mem: "12345kB" }]);
      await bob.end();

      await guests.supervisor.configure(guest.cmd.instanceId, { ...FLAVOR, work_mem: "12345" }, { work_mem: "12345" });
      await guests.supervisor.restart(guest.cmd.instanceId);
      expect(await act((s, g) => s.configuration!.readSettings(g, ["work_mem", "shared_buffers"]), guest)).toEqual({ work_mem: "12345", shared_buffers: FLAVOR.shared_buffers });

      // A value the guest started with must not pin the parameter: a later live change still takes.
      await guests.supervisor.configure(guest.cmd.instanceId, { ...FLAVOR, work_mem: "23456" }, { work_mem: "23456" });
      expect(await act((s, g) => s.configuration!.readSettings(g, ["work_mem"]), guest)).toEqual({ work_mem: "23456" });
      const again = await tenant("bob", "pw-bob", "app", guest);
      expect((await again.query("SHOW work_mem")).rows).toEqual([{ work_mem: "23456kB" }]);
      await again.end();

      await act((s, g) => s.configuration!.applySettings(g, { timezone: "Europe/Berlin", random_page_cost: "1.5", autovacuum: "off" }), guest);
      expect(await act((s, g) => s.configuration!.readSettings(g, ["timezone", "random_page_cost", "autovacuum"]), guest)).toEqual({ timezone: "Europe/Berlin", random_page_cost: "1.5", autovacuum: "off" });
    } finally {
      await guests.supervisor.deprovision(guest.cmd.instanceId);
    }
  });

  it("refuses unknown parameters, malformed values and restart-only parameters live", async () => {
    const guest = await provisionGuest({ databases: [{ name: "app" }] });
    try {
      // A value applied live before: none of the refused changes may touch it.
      await act((s, g) => s.configuration!.applySettings(g, { timezone: "Europe/Berlin" }), guest);
      expect(await refusal(act((s, g) => s.configuration!.applySettings(g, { fsync: "off" }), guest))).toBe("PARAMETER_NOT_SETTABLE");
      expect(await refusal(act((s, g) => s.configuration!.applySettings(g, { work_mem: "1; DROP DATABASE app" }), guest))).toBe("PARAMETER_VALUE_INVALID");
      expect(await refusal(act((s, g) => s.configuration!.applySettings(g, { timezone: "Nowhere/Else' x" }), guest))).toBe("PARAMETER_VALUE_INVALID");
      expect(await refusal(act((s, g) => s.configuration!.applySettings(g, { max_connections: "50" }), guest))).toBe("PARAMETER_NEEDS_RESTART");
      expect(await refusal(act((s, g) => s.configuration!.readSettings(g, ["data_directory"]), guest))).toBe("PARAMETER_NOT_SETTABLE");
      expect(await act((s, g) => s.configuration!.readSettings(g, ["timezone"]), guest)).toEqual({ timezone: "Europe/Berlin" });
    } finally {
      await guests.supervisor.deprovision(guest.cmd.instanceId);
    }
  });

  it("starts with a restart-required parameter from its settings, and drops what the settings no longer name", async () => {
    const guest = await bobGuest();
    try {
      // A parameter changed live, which the settings never named: the restart without them drops it too.
      await act((s, g) => s.configuration!.applySettings(g, { timezone: "Europe/Berlin" }), guest);
      await guests.supervisor.configure(guest.cmd.instanceId, { ...FLAVOR, max_connections: "42", work_mem: "23456" }, {});
      await guests.supervisor.restart(guest.cmd.instanceId);
      expect(await act((s, g) => s.configuration!.readSettings(g, ["max_connections", "work_mem"]), guest)).toEqual({ max_connections: "42", work_mem: "23456" });

      // The configuration group is gone: back to the flavor's values and the server's defaults.
      await guests.supervisor.configure(guest.cmd.instanceId, FLAVOR, {});
      await guests.supervisor.restart(guest.cmd.instanceId);
      expect(await act((s, g) => s.configuration!.readSettings(g, ["max_connections", "work_mem", "timezone"]), guest)).toEqual({ max_connections: FLAVOR.max_connections, work_mem: "4096", timezone: "Etc/UTC" });
      const bob = await tenant("bob", "pw-bob", "app", guest);
      await bob.end();
    } finally {
      await guests.supervisor.deprovision(guest.cmd.instanceId);
    }
  });

  it("never writes a password into the engine's log", async () => {
    // Passwords of its own, given, changed and opened as root's, besides those the guest was made with.
    await act((s, g) => s.users!.createUsers(g, [{ name: "erin", password: "pw-erin", host: "%", databases: ["app"] }]));
    await act((s, g) => s.users!.updateUser(g, { name: "erin", host: "%" }, { password: "pw-erin-2" }));
    await act((s, g) => s.root!.enableRoot(g, ROOT_PASSWORD));
    await act((s, g) => s.root!.disableRoot(g));
    await act((s, g) => s.users!.deleteUser(g, { name: "erin", host: "%" }));
    expectNoPasswordInLog(shared, [NASTY_PASSWORD, "pw-erin", "pw-erin-2", "pw-carol", ROOT_PASSWORD]);
  });

  it("is deprovisioned: no process, no port, no folder", async () => {
    // A guest of its own in a home of its own (the golden image through a symlink), so that "nothing left" is
    // all of the home.
    const home = path.join(guests.home, "gone");
    await mkdir(home, { mode: 0o711 });
    await symlink(path.join(guests.home, "images"), path.join(home, "images"));
    const sup = guests.makeSupervisor({ home });
    const cmd = guests.command({ databases: [{ name: "app" }], users: [{ name: "alice", password: NASTY_PASSWORD, host: "%", databases: ["app"] }] });
    try {
      await sup.provision(cmd);
      const { pid, port } = JSON.parse(readFileSync(path.join(home, "run", cmd.instanceId, "guest.json"), "utf8")) as { pid: number; port: number };
      const dataDir = path.join(home, "volumes", cmd.instanceId, "data");
      const sockets = socketDir({ runDir: path.join(home, "run", cmd.instanceId) });
      await sup.deprovision(cmd.instanceId);
      expect(await isRunning(pid, dataDir)).toBe(false);
      expect(await isPortFree(HOST, port)).toBe(true);
      for (const folder of [path.join(home, "volumes", cmd.instanceId), path.join(home, "run", cmd.instanceId), sockets]) expect(existsSync(folder)).toBe(false);
      expect(sup.list()).toEqual([]);
      expect(processesUnder(home)).toEqual([]);
    } finally {
      await sup.deprovision(cmd.instanceId).catch(() => undefined);
    }
  });
});

describe("a postgresql guest whose run folder is too deep for a unix socket", () => {
  it("gets a short socket folder under /run/hoard, works, and leaves no socket behind", async () => {
    // The same golden image through a symlink, so no second image is built.
    const deepHome = path.join(guests.home, "d".repeat(70));
    await mkdir(deepHome, { mode: 0o711 });
    await symlink(path.join(guests.home, "images"), path.join(deepHome, "images"));
    const deep = guests.makeSupervisor({ home: deepHome });
    const cmd = guests.command({ databases: [{ name: "db1" }], users: [{ name: "u1", password: "secret", host: "%", databases: ["db1"] }] });
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
    const first = guests.makeSupervisor();
    const old = guests.command({ databases: [{ name: "keep" }], users: [{ name: "u1", password: "pw", host: "%", databases: ["keep"] }] });
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
    const runDir = path.join(guests.home, "run", id);
    const { uid, gid, ...record } = guests.guestJson(id);
    expect([uid, gid].every((n) => n > 0)).toBe(true);
    process.kill(record.pid, "SIGINT");
    for (let i = 0; i < 200 && processesUnder(guests.dataDir(id)).length; i++) await new Promise((r) => setTimeout(r, 50));
    await rm(path.join(runDir, "engine"), { recursive: true, force: true });
    await mkdir(path.join(runDir, "pg"), { mode: 0o700 });
    await run("chown", ["-R", `${pgUid}:${pgGid}`, "--", guests.dataDir(id), path.join(runDir, "pg")]);
    await writeFile(path.join(runDir, "guest.json"), JSON.stringify(record));

    const next = guests.makeSupervisor();
    expect(await next.adopt()).toContain(id);
    const moved = guests.guestJson(id);
    expect(moved.uid).toBeGreaterThan(0);
    expect(moved.uid).not.toBe(Number(pgUid));
    expect(statSync(guests.dataDir(id)).uid).toBe(moved.uid);
    expect(existsSync(path.join(runDir, "pg"))).toBe(false);
    // Its engine was down: the next provision (or start) brings it up, as its own user, on its data.
    expect(await next.provision(old)).toEqual(at);
    const pid = guests.guestJson(id).pid;
    expect(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]).toBe(String(moved.uid));
    const reader = await session();
    expect((await reader.query("SELECT v FROM t")).rows).toEqual([{ v: 7 }]);
    await reader.end();
    await next.deprovision(id);
    expect(await next.guestUsers!.find(id)).toBeUndefined();
  }, 90_000);
});
