/**
 * The same operations on PostgreSQL and Redis guests through the real openstack CLI, checked with real
 * connections; what an engine lacks answers 501 naming the datastore.
 */
import { Redis } from "ioredis";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually, startHoard, type Hoard } from "../kit/harness.js";

const P = "e0e1e2e3e4e5e6e7e8e9eaebecedeeef";
let hoard: Hoard;

beforeAll(async () => {
  hoard = await startHoard();
});
afterAll(async () => {
  await hoard?.stop();
});

const cli = (...args: string[]) => hoard.openstack(P, ["database", ...args]);

async function createWithCli(name: string, datastore: string, version: string, extra: string[]): Promise<{ id: string; address: string; port: number }> {
  const r = await cli("instance", "create", name, "--flavor", "1", "--size", "1", "--datastore", datastore, "--datastore-version", version, ...extra, "-f", "json");
  expect(r.code, r.stderr).toBe(0);
  const shown = await eventually(async () => {
    const s = await hoard.api("GET", P, `/instances/${r.json.id}`);
    if (s.body.instance.status === "ERROR") throw new Error(JSON.stringify(s.body.instance.fault));
    return s.body.instance.status === "ACTIVE" && s.body.instance.operating_status === "HEALTHY" ? s.body.instance : undefined;
  }, 60_000, 100);
  return { id: shown.id, ...shown.addresses[0] };
}

describe("postgresql", () => {
  let g: { id: string; address: string; port: number };
  const connect = (user: string, password: string, database: string) => {
    const c = new pg.Client({ host: g.address, port: g.port, user, password, database });
    return c.connect().then(() => c);
  };
  const refused = (user: string, password: string, database: string) =>
    connect(user, password, database).then(async (c) => {
      await c.end();
      return "connected";
    }, (e: Error) => e.message);

  // Made before the first test, not in it, so that each test can also run alone (`-t`); root's test writes to `orders`.
  beforeAll(async () => {
    g = await createWithCli("pg1", "postgresql", "15", ["--databases", "shop", "--users", "clerk:clerk-pw"]);
    const c = await connect("clerk", "clerk-pw", "shop");
    await c.query("create table orders (id int)");
    await c.end();
  });

  it("creates an instance with a database and a user who can use it", async () => {
    const c = await connect("clerk", "clerk-pw", "shop");
    await c.query("create table visits (id int)");
    await c.query("insert into visits values (7)");
    expect((await c.query("select id from visits")).rows).toEqual([{ id: 7 }]);
    await c.end();
  });

  it("creates, lists and deletes databases; system databases are hidden", async () => {
    expect((await cli("db", "create", "pg1", "reports")).code).toBe(0);
    const list = await cli("db", "list", "pg1", "-f", "json");
    expect(list.json.map((d: { Name: string }) => d.Name)).toEqual(["reports", "shop"]);
    expect((await cli("db", "delete", "pg1", "reports")).code).toBe(0);
    expect((await cli("db", "list", "pg1", "-f", "json")).json.map((d: { Name: string }) => d.Name)).toEqual(["shop"]);
    for (const name of ["postgres", "template1", "pg_x"]) expect((await hoard.api("POST", P, `/instances/${g.id}/databases`, { databases: [{ name }] })).status).toBe(400);
  });

  it("manages users and their access", async () => {
    expect((await cli("user", "create", "pg1", "auditor", "aud-pw", "--databases", "shop")).code).toBe(0);
    (await connect("auditor", "aud-pw", "shop")).end();
    const list = await cli("user", "list", "pg1", "-f", "json");
    expect(list.json.map((u: { Name: string }) => u.Name).sort()).toEqual(["auditor", "clerk"]);
    expect((await cli("user", "revoke", "access", "pg1", "auditor", "shop")).code).toBe(0);
    expect(await refused("auditor", "aud-pw", "shop")).not.toBe("connected");
    expect((await cli("user", "grant", "access", "pg1", "auditor", "shop")).code).toBe(0);
    (await connect("auditor", "aud-pw", "shop")).end();
    expect((await cli("user", "update", "attributes", "pg1", "auditor", "--new_password", "aud-pw2")).code).toBe(0);
    expect(await refused("auditor", "aud-pw", "shop")).not.toBe("connected");
    expect((await cli("user", "delete", "pg1", "auditor")).code).toBe(0);
    expect((await hoard.api("GET", P, `/instances/${g.id}/users/auditor`)).status).toBe(404);
    expect((await hoard.api("POST", P, `/instances/${g.id}/users`, { users: [{ name: "x", password: "p", host: "10.%" }] })).status).toBe(400);
  });

  it("enables root, who reads and writes every database but cannot reach the node's OS, and disables it", async () => {
    const enabled = await cli("root", "enable", "pg1", "-f", "json");
    expect(enabled.code, enabled.stderr).toBe(0);
    expect(enabled.json.name).toBe("root");
    const c = await connect("root", enabled.json.password, "shop");
    await c.query("insert into orders values (1)");
    expect((await c.query("select count(*)::int as n from orders")).rows[0].n).toBe(1);
    await expect(c.query("copy (select 1) to program 'id'")).rejects.toThrow(/permission denied|must be superuser|pg_execute_server_program/);
    await expect(c.query("alter role root superuser")).rejects.toThrow(/permission denied|must be superuser/);
    await c.end();
    expect((await cli("root", "show", "pg1", "-f", "json")).json.is_root_enabled).toBe(true);
    expect((await cli("user", "list", "pg1", "-f", "json")).json.map((u: { Name: string }) => u.Name)).not.toContain("root");
    expect((await cli("root", "disable", "pg1")).code).toBe(0);
    expect(await refused("root", enabled.json.password, "shop")).not.toBe("connected");
  });

  it("applies a configuration group live", async () => {
    const created = await cli("configuration", "create", "pgcfg", JSON.stringify({ work_mem: 8192 }), "--datastore", "postgresql", "--datastore-version", "15", "-f", "json");
    expect(created.code, created.stderr).toBe(0);
    expect((await cli("configuration", "attach", "pg1", "pgcfg")).code).toBe(0);
    await eventually(async () => {
      const c = await connect("clerk", "clerk-pw", "shop");
      const v = (await c.query("show work_mem")).rows[0].work_mem;
      await c.end();
      return v === "8MB" ? true : undefined;
    }, 20_000, 200);
    expect((await hoard.api("GET", P, `/instances/${g.id}`)).body.instance.status).toBe("ACTIVE");
  });
});

describe("redis", () => {
  let g: { id: string; address: string; port: number };
  const connect = async (username: string, password: string) => {
    const r = new Redis({ host: g.address, port: g.port, username, password, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    r.on("error", () => {}); // a refused login rejects connect(); the event would only repeat it
    await r.connect();
    return r;
  };

  beforeAll(async () => {
    g = await createWithCli("r1", "redis", "7.0", ["--users", "cache:cache-pw"]);
  });

  it("creates an instance with an ACL user", async () => {
    const r = await connect("cache", "cache-pw");
    await r.set("k", "v");
    expect(await r.get("k")).toBe("v");
    await expect(r.call("CONFIG", "GET", "maxmemory")).rejects.toThrow(/NOPERM/);
    r.disconnect();
  });

  it("answers 501 naming redis for databases", async () => {
    const list = await hoard.api("GET", P, `/instances/${g.id}/databases`);
    expect(list.status).toBe(501);
    expect(list.body.notImplemented.message).toContain("redis");
    const cliList = await cli("db", "list", "r1");
    expect(cliList.code).not.toBe(0);
    expect(cliList.stderr).toContain("redis");
    expect((await hoard.api("PUT", P, `/instances/${g.id}/users/cache/databases`, { databases: [{ name: "x" }] })).status).toBe(501);
  });

  it("manages ACL users through the CLI", async () => {
    expect((await cli("user", "create", "r1", "worker", "worker-pw")).code).toBe(0);
    (await connect("worker", "worker-pw")).disconnect();
    expect((await cli("user", "list", "r1", "-f", "json")).json.map((u: { Name: string }) => u.Name).sort()).toEqual(["cache", "worker"]);
    expect((await cli("user", "update", "attributes", "r1", "worker", "--new_name", "worker2")).code).toBe(0);
    (await connect("worker2", "worker-pw")).disconnect();
    expect((await cli("user", "delete", "r1", "worker2")).code).toBe(0);
    await expect(connect("worker2", "worker-pw")).rejects.toThrow();
  });

  it("enables root, and applies maxmemory from a configuration group live", async () => {
    const enabled = await cli("root", "enable", "r1", "-f", "json");
    expect(enabled.code, enabled.stderr).toBe(0);
    const root = await connect("root", enabled.json.password);
    const created = await cli("configuration", "create", "rcfg", JSON.stringify({ maxmemory: 33554432, "maxmemory-policy": "allkeys-lru" }), "--datastore", "redis", "--datastore-version", "7.0", "-f", "json");
    expect(created.code, created.stderr).toBe(0);
    expect((await cli("configuration", "attach", "r1", "rcfg")).code).toBe(0);
    await eventually(async () => ((await root.call("CONFIG", "GET", "maxmemory")) as string[])[1] === "33554432" ? true : undefined, 20_000, 200);
    expect(((await root.call("CONFIG", "GET", "maxmemory-policy")) as string[])[1]).toBe("allkeys-lru");
    root.disconnect();
    expect((await cli("root", "disable", "r1")).code).toBe(0);
    await expect(connect("root", enabled.json.password)).rejects.toThrow();
  });
});
