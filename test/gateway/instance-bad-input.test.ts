import { readdirSync, existsSync } from "node:fs";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually, startHoard, type Hoard } from "../kit/harness.js";

const P = "p-bad-input";
let hoard: Hoard;

beforeAll(async () => {
  hoard = await startHoard();
});
afterAll(async () => {
  await hoard?.stop();
});

const good = () => ({ name: "ok", flavorRef: "1", volume: { size: 1 }, datastore: { type: "mariadb", version: "10.11" } });

async function rowCount(): Promise<number> {
  const c = new pg.Client({ connectionString: hoard.databaseUrl });
  await c.connect();
  const r = await c.query("select count(*)::int as n from instances");
  await c.end();
  return r.rows[0].n;
}

function volumes(): string[] {
  const dir = path.join(hoard.config.home, "volumes");
  return existsSync(dir) ? readdirSync(dir) : [];
}

describe("bad create requests get a 4xx in Trove's shape and change nothing", () => {
  const cases: [string, unknown, number, string, RegExp][] = [
    ["unknown flavor", { instance: { ...good(), flavorRef: "99" } }, 400, "badRequest", /Flavor 99 could not be found/],
    ["unknown datastore", { instance: { ...good(), datastore: { type: "oracle" } } }, 400, "badRequest", /Datastore 'oracle' could not be found/],
    ["unknown version", { instance: { ...good(), datastore: { type: "mariadb", version: "3.1" } } }, 400, "badRequest", /version '3.1'.*openstack datastore version list mariadb/],
    ["volume size 0", { instance: { ...good(), volume: { size: 0 } } }, 400, "badRequest", /volume.size/],
    ["volume too large", { instance: { ...good(), volume: { size: 11 } } }, 413, "overLimit", /cannot exceed the maximum of 10G/],
    ["missing volume", { instance: { name: "x", flavorRef: "1" } }, 400, "badRequest", /instance.volume/],
    ["missing name", { instance: { flavorRef: "1", volume: { size: 1 } } }, 400, "badRequest", /instance.name/],
    ["no envelope", { name: "x" }, 400, "badRequest", /key 'instance'/],
    ["database name with a quote", { instance: { ...good(), databases: [{ name: "a'b" }] } }, 400, "badRequest", /Invalid database name 'a'b'/],
    ["database name with a backtick", { instance: { ...good(), databases: [{ name: "a`b" }] } }, 400, "badRequest", /Invalid database name/],
    ["database name with a semicolon", { instance: { ...good(), databases: [{ name: "a;drop database mysql" }] } }, 400, "badRequest", /Invalid database name/],
    ["database name with a space", { instance: { ...good(), databases: [{ name: "a b" }] } }, 400, "badRequest", /Invalid database name/],
    ["reserved database", { instance: { ...good(), databases: [{ name: "mysql" }] } }, 400, "badRequest", /reserved/],
    ["database name of 10 kB", { instance: { ...good(), databases: [{ name: "a".repeat(10_000) }] } }, 400, "badRequest", /longer than 64/],
    ["user name with a quote", { instance: { ...good(), users: [{ name: "u'1", password: "x" }] } }, 400, "badRequest", /Invalid user name/],
    ["reserved user", { instance: { ...good(), users: [{ name: "root", password: "x" }] } }, 400, "badRequest", /reserved/],
    ["user host with a semicolon", { instance: { ...good(), users: [{ name: "u1", password: "x", host: "%;" }] } }, 400, "badRequest", /host of user/],
    ["user granted a database not created", { instance: { ...good(), users: [{ name: "u1", password: "x", databases: [{ name: "nope" }] }] } }, 400, "badRequest", /database 'nope'/],
    ["empty password", { instance: { ...good(), users: [{ name: "u1", password: "" }] } }, 400, "badRequest", /password of user 'u1'.*empty/],
    ["unknown charset", { instance: { ...good(), databases: [{ name: "d", character_set: "klingon" }] } }, 400, "badRequest", /character set 'klingon'/],
    ["network id not a uuid", { instance: { ...good(), nics: [{ "net-id": "not-a-uuid" }] } }, 400, "badRequest", /not a UUID/],
    ["two networks", { instance: { ...good(), nics: [{ "net-id": "a" }, { "net-id": "b" }] } }, 400, "badRequest", /at most one network/],
    ["bad CIDR", { instance: { ...good(), access: { allowed_cidrs: ["10.0.0.0/99"] } } }, 400, "badRequest", /allowed_cidrs/],
  ];

  for (const [what, body, status, fault, message] of cases) {
    it(what, async () => {
      const r = await hoard.api("POST", P, "/instances", body);
      expect(r.status).toBe(status);
      expect(Object.keys(r.body)).toEqual([fault]);
      expect(r.body[fault].code).toBe(status);
      expect(r.body[fault].message).toMatch(message);
    });
  }

  it("malformed JSON", async () => {
    const r = await hoard.api("POST", P, "/instances", '{"instance": {"name": ');
    expect(r.status).toBe(400);
    expect(r.body.badRequest.message).toMatch(/not valid JSON/);
  });

  it("left no row, process or folder behind", async () => {
    expect(await rowCount()).toBe(0);
    expect(volumes()).toEqual([]);
    expect(hoard.plane.tracker!.supervisor.list()).toEqual([]);
  });

  it("the real CLI prints the reason", async () => {
    const r = await hoard.openstack(P, ["database", "instance", "create", "x", "--flavor", "1", "--size", "50", "--datastore", "mariadb"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/cannot exceed the maximum of 10G.*HTTP 413/);
  });
});

describe("unknown things are 404 in Trove's shape", () => {
  for (const p of ["/instances/7f7f7f7f-0000-4000-8000-000000000000", "/instances/not-a-uuid", "/flavors/nope", "/datastores/nope", "/datastores/mariadb/versions/0.1", "/no/such/route"]) {
    it(`GET ${p}`, async () => {
      const r = await hoard.api("GET", P, p);
      expect(r.status).toBe(404);
      expect(r.body.itemNotFound.code).toBe(404);
    });
  }
  it("DELETE of an unknown instance", async () => {
    const r = await hoard.api("DELETE", P, "/instances/7f7f7f7f-0000-4000-8000-000000000000");
    expect(r.status).toBe(404);
  });
});

describe("a guest that cannot start ends in ERROR with the reason", () => {
  it("goes BUILD → ERROR with fault.message, and can then be deleted", async () => {
    // An operator registered a version whose engine is not installed on the node.
    const c = new pg.Client({ connectionString: hoard.databaseUrl });
    await c.connect();
    const ds = await c.query("select id from datastores where name = 'mariadb'");
    await c.query("insert into datastore_versions (id, datastore_id, name, number, active) values ('0d0d0d0d-0000-4000-8000-000000000001', $1, '9.9', '9.9', true)", [ds.rows[0].id]);
    await c.end();
    const r = await hoard.api("POST", P, "/instances", { instance: { ...good(), name: "broken", datastore: { type: "mariadb", version: "9.9" } } });
    expect(r.status).toBe(200);
    const id = r.body.instance.id;
    const failed = await eventually(async () => {
      const s = await hoard.api("GET", P, `/instances/${id}`);
      return s.body.instance.status === "ERROR" ? s.body.instance : undefined;
    });
    expect(failed.fault.message).toMatch(/9\.9/);
    expect(volumes()).toEqual([]);
    expect((await hoard.api("DELETE", P, `/instances/${id}`)).status).toBe(202);
    await eventually(async () => ((await hoard.api("GET", P, `/instances/${id}`)).status === 404 ? true : undefined));
  });
});
