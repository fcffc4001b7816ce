/**
 * Issue 19, escape 2, as a tenant tries it: with only Hoard's HTTP API (and the real openstack CLI) and the
 * tenant's own PostgreSQL logins, on the host network driver and on the netns one. The tenant's root makes a
 * database with a schema, a function and operators `evil.=` and `ALTER DATABASE … SET search_path = evil,
 * pg_catalog`, then has Hoard grant a user access to it. Whatever the tracker then runs in that database must
 * never call the tenant's function as a superuser: the function records who called it, tries to make root a
 * superuser and to run a program. Also here: what PostgreSQL's root is refused (held before, kept so), a
 * deleted user's SECURITY DEFINER function, a logical backup replayed at restore, and huge numbers in a
 * configuration group.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { chmod, mkdtemp, rm } from "node:fs/promises";
import path from "node:path";
import pg from "pg";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { datastoreDefinitions, type DatastoreStrategy, type GuestHandle } from "../datastores/index.js";
import type { ProvisionCommand } from "../events/payloads.js";
import { GuestSupervisor } from "../tracker/guests/index.js";
import { eventually, startHoard, type Hoard } from "./harness.js";
import { processesUnder } from "./processes.js";

const ROOT_PW = "escape-Root-pw-1";

/**
 * The tenant's trap: `spy()` writes who runs it (current_user, session_user, superuser or not) into a table
 * anyone may fill, and, when that is a superuser, makes root one and runs a program (each recorded when it
 * works). It also tries RESET ROLE first, as a caller that had been SET ROLE'd down could undo that. The
 * operators over name, text and oid call it and then compare as the catalog's `=` does, so nothing breaks.
 */
function trapSql(schema: string): string[] {
  const s = pg.escapeIdentifier(schema);
  return [
    `CREATE SCHEMA ${s}`,
    `GRANT USAGE ON SCHEMA ${s} TO PUBLIC`,
    `CREATE TABLE ${s}.seen (who text, session text, su boolean, what text, at timestamptz DEFAULT pg_catalog.now())`,
    `GRANT INSERT, SELECT ON ${s}.seen TO PUBLIC`,
    `CREATE FUNCTION ${s}.spy() RETURNS boolean LANGUAGE plpgsql SET search_path = pg_catalog AS $f$
     BEGIN
       BEGIN EXECUTE 'RESET ROLE'; EXCEPTION WHEN OTHERS THEN NULL; END;
       INSERT INTO ${s}.seen (who, session, su, what) VALUES (current_user, session_user, current_setting('is_superuser')::boolean, 'called');
       BEGIN
         EXECUTE 'ALTER ROLE root SUPERUSER';
         INSERT INTO ${s}.seen (who, session, su, what) VALUES (current_user, session_user, true, 'made root a superuser');
       EXCEPTION WHEN OTHERS THEN NULL; END;
       BEGIN
         EXECUTE 'COPY (SELECT 1) TO PROGRAM ''id''';
         INSERT INTO ${s}.seen (who, session, su, what) VALUES (current_user, session_user, true, 'ran a program');
       EXCEPTION WHEN OTHERS THEN NULL; END;
       RETURN true;
     END $f$`,
    `GRANT EXECUTE ON FUNCTION ${s}.spy() TO PUBLIC`,
    `CREATE FUNCTION ${s}.eq(name, name) RETURNS boolean LANGUAGE sql SET search_path = pg_catalog AS $f$ SELECT ${s}.spy() AND $1 OPERATOR(pg_catalog.=) $2 $f$`,
    `CREATE FUNCTION ${s}.eq(name, text) RETURNS boolean LANGUAGE sql SET search_path = pg_catalog AS $f$ SELECT ${s}.spy() AND $1 OPERATOR(pg_catalog.=) $2 $f$`,
    `CREATE FUNCTION ${s}.eq(text, text) RETURNS boolean LANGUAGE sql SET search_path = pg_catalog AS $f$ SELECT ${s}.spy() AND $1 OPERATOR(pg_catalog.=) $2 $f$`,
    `CREATE FUNCTION ${s}.eq(oid, oid) RETURNS boolean LANGUAGE sql SET search_path = pg_catalog AS $f$ SELECT ${s}.spy() AND $1 OPERATOR(pg_catalog.=) $2 $f$`,
    `CREATE OPERATOR ${s}.= (LEFTARG = name, RIGHTARG = name, FUNCTION = ${s}.eq)`,
    `CREATE OPERATOR ${s}.= (LEFTARG = name, RIGHTARG = text, FUNCTION = ${s}.eq)`,
    `CREATE OPERATOR ${s}.= (LEFTARG = text, RIGHTARG = text, FUNCTION = ${s}.eq)`,
    `CREATE OPERATOR ${s}.= (LEFTARG = oid, RIGHTARG = oid, FUNCTION = ${s}.eq)`,
    // And functions that shadow the catalog's for a caller whose path puts this schema first.
    `CREATE FUNCTION ${s}.quote_ident(name) RETURNS text LANGUAGE sql SET search_path = pg_catalog AS $f$ SELECT CASE WHEN ${s}.spy() THEN pg_catalog.quote_ident($1::text) END $f$`,
    `CREATE FUNCTION ${s}.current_database() RETURNS name LANGUAGE sql SET search_path = pg_catalog AS $f$ SELECT CASE WHEN ${s}.spy() THEN pg_catalog.current_database() END $f$`,
    `CREATE FUNCTION ${s}.lower(name) RETURNS text LANGUAGE sql SET search_path = pg_catalog AS $f$ SELECT CASE WHEN ${s}.spy() THEN pg_catalog.lower($1::text) END $f$`,
  ];
}

function escapeSuite(networkDriver: "host" | "netns", project: string): void {
  let hoard: Hoard;
  let instance: any;
  const sessions: pg.Client[] = [];

  beforeAll(async () => {
    hoard = await startHoard(networkDriver === "netns" ? { networkDriver: "netns" } : {});
    instance = await hoard.createActive(project, {
      name: `esc-${networkDriver}`,
      datastore: { type: "postgresql", version: "15" },
      databases: [{ name: "app" }],
      users: [
        { name: "u1", password: "u1-pw", databases: [{ name: "app" }] },
        { name: "u2", password: "u2-pw", databases: [{ name: "app" }] },
      ],
    });
    const root = await hoard.api("POST", project, `/instances/${instance.id}/root`, { password: ROOT_PW });
    expect(root.status, JSON.stringify(root.body)).toBe(200);
  }, 120_000);
  afterAll(async () => {
    for (const s of sessions) await s.end().catch(() => {});
    await hoard?.stop();
  }, 120_000);

  /** A tenant session over TCP to the guest's address, as the tenant's client would open it. */
  async function login(user: string, password: string, database: string): Promise<pg.Client> {
    const { address, port } = instance.addresses[0];
    const client = new pg.Client({ host: address, port, user, password, database, connectionTimeoutMillis: 10_000 });
    client.on("error", () => {});
    await client.connect();
    sessions.push(client);
    return client;
  }
  const asRoot = (database = "postgres") => login("root", ROOT_PW, database);

  /** Root makes database `db`, sets the trap in it and points the database's search path at it. */
  async function plantTrap(db: string): Promise<void> {
    const root = await asRoot();
    await root.query(`CREATE DATABASE ${pg.escapeIdentifier(db)}`);
    const inside = await asRoot(db);
    for (const sql of trapSql("evil")) await inside.query(sql);
    await inside.query(`ALTER DATABASE ${pg.escapeIdentifier(db)} SET search_path = evil, pg_catalog`);
    await inside.end();
    // The trap works: a session that takes the database's path and compares names runs the tenant's code.
    const probe = await asRoot(db);
    expect((await probe.query("SELECT nspname FROM pg_namespace WHERE nspname = 'public'")).rows).toEqual([{ nspname: "public" }]);
    expect((await probe.query("SELECT who, su FROM evil.seen")).rows).toContainEqual({ who: "root", su: false });
    await probe.query("TRUNCATE evil.seen");
    await probe.end();
  }

  /** What the trap recorded in `db`, and whether root is (now) a superuser. */
  async function aftermath(db: string): Promise<{ seen: { who: string; session: string; su: boolean; what: string }[]; rootSuper: boolean }> {
    const root = await asRoot(db);
    const seen = (await root.query("SELECT who, session, su, what FROM evil.seen ORDER BY at")).rows;
    const rootSuper = (await root.query("SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'root'")).rows[0].rolsuper;
    await root.end();
    return { seen, rootSuper };
  }

  async function stillRunning(): Promise<void> {
    const view = await eventually(async () => {
      const r = (await hoard.api("GET", project, `/instances/${instance.id}`)).body.instance;
      return r.status === "ACTIVE" && r.operating_status === "HEALTHY" ? r : undefined;
    }, 30_000);
    expect(view.status).toBe("ACTIVE");
    const root = await asRoot();
    expect((await root.query("SELECT 1 AS one")).rows).toEqual([{ one: 1 }]);
    await root.end();
  }

  it("grants a user access to a database root made with a trap in it: no code of the tenant's runs as superuser", async () => {
    await plantTrap("evil");
    const grant = await hoard.api("PUT", project, `/instances/${instance.id}/users/u1/databases`, { databases: [{ name: "evil" }] });
    expect([202, 400, 403, 404, 409, 422], JSON.stringify(grant.body)).toContain(grant.status);
    const { seen, rootSuper } = await aftermath("evil");
    expect(rootSuper).toBe(false);
    expect(seen.filter((s) => s.su)).toEqual([]);
    expect(seen.map((s) => s.who)).not.toContain("os_admin");
    expect(seen.map((s) => s.session)).not.toContain("os_admin");
    if (grant.status === 202) {
      // The grant did its job: u1 opens the database and may create in its public schema.
      const u1 = await eventually(() => login("u1", "u1-pw", "evil"), 10_000);
      await u1.query("CREATE TABLE public.mine (v int)");
      await u1.end();
    } else {
      expect(JSON.stringify(grant.body)).toMatch(/evil/);
    }
    await stillRunning();
  }, 120_000);

  it("revokes that access again without running the trap", async () => {
    const revoke = await hoard.api("DELETE", project, `/instances/${instance.id}/users/u1/databases/evil`);
    expect([202, 400, 404, 409, 422], JSON.stringify(revoke.body)).toContain(revoke.status);
    const { seen, rootSuper } = await aftermath("evil");
    expect(rootSuper).toBe(false);
    expect(seen.filter((s) => s.su)).toEqual([]);
    expect(seen.map((s) => s.session)).not.toContain("os_admin");
    await stillRunning();
  }, 60_000);

  it("does the same through the real openstack CLI (database user grant access)", async () => {
    await plantTrap("evil_cli");
    const r = await hoard.openstack(project, ["database", "user", "grant", "access", instance.id, "u1", "evil_cli"]);
    // The CLI succeeds, or it prints the API's 4xx.
    if (r.code !== 0) expect(r.stderr).toMatch(/HTTP 4\d\d|\(HTTP 4/);
    const { seen, rootSuper } = await aftermath("evil_cli");
    expect(rootSuper).toBe(false);
    expect(seen.filter((s) => s.su)).toEqual([]);
    expect(seen.map((s) => s.session)).not.toContain("os_admin");
    await stillRunning();
  }, 120_000);

  it("hands a deleted user's objects to root, not to a superuser: its SECURITY DEFINER function stays harmless", async () => {
    const u2 = await login("u2", "u2-pw", "app");
    await u2.query(`CREATE FUNCTION public.promote() RETURNS text LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $f$
      BEGIN EXECUTE 'ALTER ROLE root SUPERUSER'; RETURN current_user; END $f$`);
    await u2.query("GRANT EXECUTE ON FUNCTION public.promote() TO PUBLIC");
    await u2.end();
    const del = await hoard.api("DELETE", project, `/instances/${instance.id}/users/u2`);
    expect(del.status, JSON.stringify(del.body)).toBe(202);
    const root = await asRoot("app");
    const owner = await eventually(async () => {
      const { rows } = await root.query("SELECT pg_catalog.pg_get_userbyid(proowner) AS owner FROM pg_catalog.pg_proc WHERE proname OPERATOR(pg_catalog.=) 'promote'");
      return rows[0]?.owner !== "u2" ? rows[0]?.owner : undefined;
    }, 20_000);
    expect(owner).toBe("root");
    await expect(root.query("SELECT public.promote()")).rejects.toThrow();
    expect((await root.query("SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'root'")).rows[0].rolsuper).toBe(false);
    await root.end();
    await stillRunning();
  }, 60_000);

  it("keeps root refused COPY to a file or a program, ALTER SYSTEM, pg_read_file and file_fdw", async () => {
    const root = await asRoot("app");
    const code = (sql: string) => root.query(sql).then(() => "ran", (err: { code?: string }) => err.code ?? "error");
    const marker = `/tmp/hoard-pg-escape-${randomBytes(6).toString("hex")}`;
    expect(await code(`COPY (SELECT 1) TO '${marker}'`)).toBe("42501");
    expect(await code("COPY (SELECT 1) TO PROGRAM 'id'")).toBe("42501");
    await root.query("CREATE TEMP TABLE t (v text)");
    expect(await code("COPY t FROM PROGRAM 'id'")).toBe("42501");
    expect(await code("COPY t FROM '/etc/passwd'")).toBe("42501");
    expect(await code("ALTER SYSTEM SET work_mem = '1MB'")).toBe("42501");
    expect(await code("SELECT pg_catalog.pg_read_file('/etc/passwd')")).toBe("42501");
    expect(await code("SELECT pg_catalog.pg_ls_dir('/')")).toBe("42501");
    expect(await code("SELECT pg_catalog.lo_import('/etc/passwd')")).toBe("42501");
    expect(await code("CREATE EXTENSION file_fdw")).toBe("42501");
    expect(await code("ALTER ROLE root SUPERUSER")).toBe("42501");
    expect(await code("SET ROLE os_admin")).toBe("42501");
    expect((await root.query("SELECT current_setting('is_superuser') AS su")).rows).toEqual([{ su: "off" }]);
    // The tracker's own role carries the pinned search path too, for any session opened without the option.
    const pinned = await root.query(
      "SELECT s.setconfig FROM pg_catalog.pg_db_role_setting s JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) s.setrole WHERE r.rolname OPERATOR(pg_catalog.=) 'os_admin' AND s.setdatabase OPERATOR(pg_catalog.=) 0",
    );
    expect(pinned.rows).toEqual([{ setconfig: ["search_path=pg_catalog, pg_temp"] }]);
    await root.end();
    await stillRunning();
  }, 60_000);

  it("refuses huge numbers and odd strings in a configuration group with a clear 4xx, and runs with the largest allowed", async () => {
    const create = async (values: string) => {
      const body = `{"configuration":{"name":"huge","values":${values},"datastore":{"type":"postgresql","version":"15"}}}`;
      const res = await fetch(`${hoard.url}/v1.0/${project}/configurations`, { method: "POST", headers: { "content-type": "application/json" }, body });
      return { status: res.status, body: await res.json() };
    };
    const refused: [string, string][] = [
      ['{"work_mem":99999999999999999999999999}', "work_mem"],
      ['{"statement_timeout":2147483648}', "from 0 to 2147483647"],
      ['{"temp_file_limit":-99999999999999999999}', "temp_file_limit"],
      ['{"work_mem":"999999999999999999999999999999999999999999999T"}', "out of range"],
      [`{"work_mem":${"9".repeat(5000)}}`, "out of range"],
      ['{"random_page_cost":1e400}', "random_page_cost"],
      ['{"checkpoint_completion_target":-1e400}', "checkpoint_completion_target"],
      ['{"max_connections":262143}', "max_connections"],
      ['{"max_worker_processes":100000}', "max_worker_processes"],
      [`{"timezone":"UTC' ; ALTER ROLE root SUPERUSER --"}`, "time zone"],
      // A NUL is refused before it reaches anything (the message need not name the parameter).
      ['{"timezone":"Europe/Berlin\\u0000"}', ""],
    ];
    for (const [values, words] of refused) {
      const r = await create(values);
      expect(r.status, values.slice(0, 80)).toBeGreaterThanOrEqual(400);
      expect(r.status, values.slice(0, 80)).toBeLessThan(500);
      expect(JSON.stringify(r.body), values.slice(0, 80)).toContain(words);
    }
    const ok = await create('{"statement_timeout":2147483647,"work_mem":2147483647,"temp_file_limit":2147483647,"timezone":"Etc/GMT+5"}');
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    const attach = await hoard.api("PUT", project, `/instances/${instance.id}`, { instance: { configuration: ok.body.configuration.id } });
    expect(attach.status, JSON.stringify(attach.body)).toBe(202);
    const shown = await eventually(async () => {
      const root = await asRoot();
      try {
        const { rows } = await root.query("SELECT current_setting('statement_timeout') AS st, current_setting('work_mem') AS wm, current_setting('TimeZone') AS tz");
        return rows[0].st === "2147483647ms" ? rows[0] : undefined;
      } finally {
        await root.end();
      }
    }, 30_000);
    expect(shown).toEqual({ st: "2147483647ms", wm: "2147483647kB", tz: "Etc/GMT+5" });
    await stillRunning();
  }, 90_000);
}

describe("escape 2 on the host network driver", () => escapeSuite("host", "a1e5c0de00000000000000000000a001"));
describe("escape 2 on the netns network driver", () => escapeSuite("netns", "a1e5c0de00000000000000000000a002"));

/**
 * A logical (pg_dump) backup replayed at restore. The API always takes the default snapshot backup, whose
 * restore replays WAL and runs no SQL of the tenant's; the pg_dump strategy is the operator's, so this goes
 * through the tracker's GuestSupervisor as its commands do. The tenant's root leaves a CHECK constraint, a
 * domain and a generated column that call its spy, in a database of its own and in one the API made.
 */
describe("a pg_dump backup replayed at restore", () => {
  const definition = datastoreDefinitions.find((d) => d.name === "postgresql")!;
  let home: string;
  let supervisor: GuestSupervisor;
  const made = new Set<string>();
  const sessions: pg.Client[] = [];

  const makeSupervisor = () => new GuestSupervisor({ home, guestHost: "127.0.0.1", startTimeoutMs: 30_000, stopTimeoutMs: 10_000, log: pino({ level: "silent" }) });
  function command(overrides: Partial<ProvisionCommand> = {}): ProvisionCommand {
    const instanceId = `pgesc-${randomUUID()}`;
    made.add(instanceId);
    return {
      instanceId, node: "node-1", manager: "postgresql", datastore: "postgresql", version: "15", flavor: { id: "1", ramMb: 256, vcpus: 1 }, volumeSizeGb: 1, networkId: "net-1",
      databases: [{ name: "app" }], users: [{ name: "u1", password: "u1-pw", host: "%", databases: ["app"] }], settings: definition.flavorSettings({ ramMb: 256, vcpus: 1 }),
      ...overrides,
    };
  }
  async function login(at: { address: string; port: number }, user: string, password: string, database: string): Promise<pg.Client> {
    const client = new pg.Client({ host: at.address, port: at.port, user, password, database, connectionTimeoutMillis: 10_000 });
    client.on("error", () => {});
    await client.connect();
    sessions.push(client);
    return client;
  }

  beforeAll(async () => {
    home = await mkdtemp(path.join(inject("home"), "pgesc-"));
    await chmod(home, 0o711);
    supervisor = makeSupervisor();
    await supervisor.warm([{ manager: "postgresql", version: "15" }]);
  }, 60_000);
  afterAll(async () => {
    for (const s of sessions) await s.end().catch(() => {});
    if (!home) return;
    const cleaner = makeSupervisor();
    for (const id of made) await cleaner.deprovision(id).catch(() => {});
    for (const p of processesUnder(home)) process.kill(p.pid, "SIGKILL");
    await rm(home, { recursive: true, force: true });
  }, 60_000);

  it("runs none of the tenant's constraints, domains or generated columns as superuser, and keeps the data and its owners", async () => {
    const source = command();
    const at = await supervisor.provision(source);
    await supervisor.act(source.instanceId, (s: DatastoreStrategy, g: GuestHandle) => s.enableRoot(g, ROOT_PW));
    const root = await login(at, "root", ROOT_PW, "postgres");
    await root.query("CREATE DATABASE evil");
    for (const db of ["evil", "app"]) {
      const c = await login(at, "root", ROOT_PW, db);
      for (const sql of trapSql("evil")) await c.query(sql);
      await c.query("CREATE FUNCTION evil.ok(int) RETURNS boolean LANGUAGE sql IMMUTABLE SET search_path = pg_catalog AS $f$ SELECT evil.spy() $f$");
      await c.query("CREATE DOMAIN evil.watched AS int CHECK (evil.ok(VALUE))");
      await c.query("CREATE TABLE evil.guarded (v int CHECK (evil.ok(v)), w evil.watched, g boolean GENERATED ALWAYS AS (evil.ok(v)) STORED)");
      await c.query("INSERT INTO evil.guarded (v, w) SELECT i, i FROM generate_series(1, 3) i");
      await c.query("TRUNCATE evil.seen");
      await c.end();
    }
    await root.query("ALTER DATABASE evil SET search_path = evil, pg_catalog");
    const u1 = await login(at, "u1", "u1-pw", "app");
    await u1.query("CREATE TABLE public.orders (id int PRIMARY KEY, note text)");
    await u1.query("INSERT INTO public.orders VALUES (1, 'ALTER TABLE public.orders OWNER TO postgres;'), (2, E'line\\nALTER TABLE x OWNER TO os_admin;')");
    await u1.end();
    await root.end();

    const { artifact } = await supervisor.backup({ instanceId: source.instanceId, node: "node-1", backupId: `pgesc-${randomUUID()}`, strategy: "pg_dump" });
    expect(artifact.strategy).toBe("pg_dump");
    const target = command({ restore: artifact, databases: [], users: [] });
    const restored = await supervisor.provision(target);

    for (const db of ["evil", "app"]) {
      const c = await login(restored, "root", ROOT_PW, db);
      const seen = (await c.query("SELECT who, session, su, what FROM evil.seen")).rows;
      // The constraints did run while the rows went in: as the restore's own login, never a superuser.
      expect(seen.length, db).toBeGreaterThan(0);
      expect(seen.filter((r) => r.su), db).toEqual([]);
      expect(seen.map((r) => r.session), db).not.toContain("os_admin");
      expect(seen.map((r) => r.who), db).not.toContain("os_admin");
      expect((await c.query("SELECT count(*)::int AS n FROM evil.guarded")).rows, db).toEqual([{ n: 3 }]);
      expect((await c.query("SELECT tableowner FROM pg_catalog.pg_tables WHERE tablename OPERATOR(pg_catalog.=) 'guarded'")).rows, db).toEqual([{ tableowner: "root" }]);
      await c.end();
    }
    const c = await login(restored, "root", ROOT_PW, "postgres");
    expect((await c.query("SELECT rolname, rolsuper, rolcreaterole FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) ANY(ARRAY['root', 'os_restore']) ORDER BY 1")).rows).toEqual([
      { rolname: "root", rolsuper: false, rolcreaterole: false },
    ]);
    expect((await c.query("SELECT datname, pg_catalog.pg_get_userbyid(datdba) AS owner FROM pg_catalog.pg_database WHERE datname OPERATOR(pg_catalog.=) ANY(ARRAY['app', 'evil']) ORDER BY 1")).rows).toEqual([
      { datname: "app", owner: "os_admin" },
      { datname: "evil", owner: "root" },
    ]);
    await c.end();
    // The users' data and logins came along, lines that look like SQL included.
    const again = await login(restored, "u1", "u1-pw", "app");
    expect((await again.query("SELECT id, note FROM public.orders ORDER BY id")).rows).toEqual([
      { id: 1, note: "ALTER TABLE public.orders OWNER TO postgres;" },
      { id: 2, note: "line\nALTER TABLE x OWNER TO os_admin;" },
    ]);
    expect((await again.query("SELECT tableowner FROM pg_catalog.pg_tables WHERE tablename OPERATOR(pg_catalog.=) 'orders'")).rows).toEqual([{ tableowner: "u1" }]);
    await again.end();
    expect((await supervisor.health()).find((g) => g.instanceId === target.instanceId)?.health).toBe("HEALTHY");
  }, 180_000);
});
