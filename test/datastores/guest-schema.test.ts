/**
 * Databases, users, user access and root of a MariaDB instance, through the real openstack CLI and checked
 * against the engine itself with real connections.
 */
import mysql from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startHoard, type Hoard } from "../kit/harness.js";

const P = "5c1e3a0b9d8f4e2a8b7c6d5e4f3a2b1c";
let hoard: Hoard;
let id = "";
let address = { address: "", port: 0 };

beforeAll(async () => {
  hoard = await startHoard();
  const instance = await hoard.createActive(P, { name: "schema1", datastore: { type: "mariadb", version: "10.11" }, databases: [{ name: "app" }], users: [{ name: "owner", password: "owner-pw", databases: [{ name: "app" }] }] });
  id = instance.id;
  address = instance.addresses[0];
});
afterAll(async () => {
  await hoard?.stop();
});

const cli = (...args: string[]) => hoard.openstack(P, ["database", ...args]);
const connect = (user: string, password: string, database?: string) => mysql.createConnection({ host: address.address, port: address.port, user, password, ...(database ? { database } : {}) });
async function refused(user: string, password: string, database?: string): Promise<string> {
  const err = await connect(user, password, database).then(async (c) => {
    await c.end();
    return null;
  }, (e: Error) => e);
  expect(err, `${user} should have been refused`).not.toBeNull();
  return err!.message;
}

describe("databases", () => {
  it("creates with character set and collation, lists without system databases, and deletes", async () => {
    const created = await cli("db", "create", "schema1", "reports", "--character_set", "utf8mb4", "--collate", "utf8mb4_bin");
    expect(created.code, created.stderr).toBe(0);
    const list = await cli("db", "list", "schema1", "-f", "json");
    expect(list.code, list.stderr).toBe(0);
    expect(list.json.map((d: { Name: string }) => d.Name)).toEqual(["app", "reports"]);
    const conn = await connect("owner", "owner-pw");
    await conn.end();
    const deleted = await cli("db", "delete", "schema1", "reports");
    expect(deleted.code, deleted.stderr).toBe(0);
    expect((await cli("db", "list", "schema1", "-f", "json")).json.map((d: { Name: string }) => d.Name)).toEqual(["app"]);
  });

  it("pages by name with a next link only while more follow", async () => {
    await hoard.api("POST", P, `/instances/${id}/databases`, { databases: ["p1", "p2", "p3"].map((name) => ({ name })) });
    const first = await hoard.api("GET", P, `/instances/${id}/databases?limit=2`);
    expect(first.body.databases.map((d: { name: string }) => d.name)).toEqual(["app", "p1"]);
    const next = new URL(first.body.links[0].href);
    expect(next.searchParams.get("marker")).toBe("p1");
    const second = await hoard.api("GET", P, `/instances/${id}/databases?limit=2&marker=p1`);
    expect(second.body.databases.map((d: { name: string }) => d.name)).toEqual(["p2", "p3"]);
    expect(second.body.links).toBeUndefined();
    for (const name of ["p1", "p2", "p3"]) expect((await hoard.api("DELETE", P, `/instances/${id}/databases/${name}`)).status).toBe(202);
  });

  it("says 404 for a database that does not exist, and 400 for a name that is not allowed", async () => {
    const missing = await hoard.api("DELETE", P, `/instances/${id}/databases/nothere`);
    expect(missing.status).toBe(404);
    expect(missing.body.itemNotFound.message).toContain("nothere");
    for (const name of ["mysql", "a`b", "x;drop", "has space", "q'uote"]) {
      const r = await hoard.api("POST", P, `/instances/${id}/databases`, { databases: [{ name }] });
      expect(r.status, name).toBe(400);
      expect(r.body.badRequest.message).toContain("database name");
    }
    const cs = await hoard.api("POST", P, `/instances/${id}/databases`, { databases: [{ name: "x1", character_set: "klingon" }] });
    expect(cs.status).toBe(400);
    expect((await hoard.api("GET", P, `/instances/${id}/databases`)).body.databases.map((d: { name: string }) => d.name)).toEqual(["app"]);
  });
});

describe("users", () => {
  it("creates a user with a host and grants; the user can log in to its database only", async () => {
    const r = await cli("user", "create", "schema1", "alice", "alice-pw", "--host", "%", "--databases", "app");
    expect(r.code, r.stderr).toBe(0);
    const conn = await connect("alice", "alice-pw", "app");
    await conn.query("create table t (v int)");
    await conn.end();
    expect(await refused("alice", "wrong-pw", "app")).toMatch(/Access denied/);
    const shown = await cli("user", "show", "schema1", "alice", "-f", "json");
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.json).toMatchObject({ name: "alice", host: "%" });
    const list = await cli("user", "list", "schema1", "-f", "json");
    expect(list.json).toEqual(expect.arrayContaining([expect.objectContaining({ Name: "alice", Host: "%", Databases: "app" }), expect.objectContaining({ Name: "owner" })]));
    expect(list.json.map((u: { Name: string }) => u.Name)).not.toContain("root");
    expect(list.json.map((u: { Name: string }) => u.Name)).not.toContain("mariadb.sys");
  });

  it("refuses a user that exists with 400 and changes nothing", async () => {
    const r = await hoard.api("POST", P, `/instances/${id}/users`, { users: [{ name: "alice", password: "other-pw" }] });
    expect(r.status).toBe(400);
    expect(r.body.badRequest.message).toContain("already exists");
    const conn = await connect("alice", "alice-pw", "app");
    await conn.end();
  });

  it("grants and revokes access, and lists a user's databases", async () => {
    await hoard.api("POST", P, `/instances/${id}/databases`, { databases: [{ name: "extra" }] });
    expect(await refused("alice", "alice-pw", "extra")).toMatch(/Access denied/);
    const grant = await cli("user", "grant", "access", "schema1", "alice", "extra");
    expect(grant.code, grant.stderr).toBe(0);
    const conn = await connect("alice", "alice-pw", "extra");
    await conn.end();
    const access = await cli("user", "show", "access", "schema1", "alice", "-f", "json");
    expect(access.json.map((d: { Name: string }) => d.Name).sort()).toEqual(["app", "extra"]);
    const revoke = await cli("user", "revoke", "access", "schema1", "alice", "extra");
    expect(revoke.code, revoke.stderr).toBe(0);
    expect(await refused("alice", "alice-pw", "extra")).toMatch(/Access denied/);
    const again = await hoard.api("DELETE", P, `/instances/${id}/users/alice/databases/extra`);
    expect(again.status).toBe(404);
    expect((await hoard.api("PUT", P, `/instances/${id}/users/alice/databases`, { databases: [{ name: "nothere" }] })).status).toBe(404);
  });

  it("renames, re-hosts and re-passwords a user", async () => {
    const r = await cli("user", "update", "attributes", "schema1", "alice", "--new_name", "alicia", "--new_password", "new-pw");
    expect(r.code, r.stderr).toBe(0);
    const conn = await connect("alicia", "new-pw", "app");
    await conn.end();
    expect(await refused("alice", "alice-pw")).toMatch(/Access denied/);
    const rehost = await hoard.api("PUT", P, `/instances/${id}/users/alicia`, { user: { host: "10.%" } });
    expect(rehost.status).toBe(202);
    expect((await hoard.api("GET", P, `/instances/${id}/users/alicia@10.%25`)).body.user).toMatchObject({ name: "alicia", host: "10.%" });
    expect(await refused("alicia", "new-pw")).toMatch(/Access denied|not allowed/);
    const clash = await hoard.api("PUT", P, `/instances/${id}/users/alicia@10.%25`, { user: { name: "owner", host: "%" } });
    expect(clash.status).toBe(400);
  });

  it("changes several passwords at once", async () => {
    const r = await hoard.api("PUT", P, `/instances/${id}/users`, { users: [{ name: "owner", password: "owner-pw2" }] });
    expect(r.status).toBe(202);
    const conn = await connect("owner", "owner-pw2", "app");
    await conn.end();
    const unknown = await hoard.api("PUT", P, `/instances/${id}/users`, { users: [{ name: "ghost", password: "x" }] });
    expect(unknown.status).toBe(404);
  });

  it("deletes a user", async () => {
    const r = await cli("user", "delete", "schema1", "alicia", "--host", "10.%");
    expect(r.code, r.stderr).toBe(0);
    expect((await hoard.api("GET", P, `/instances/${id}/users/alicia@10.%25`)).status).toBe(404);
    expect((await hoard.api("DELETE", P, `/instances/${id}/users/alicia@10.%25`)).status).toBe(404);
  });

  it("refuses names and hosts that are not allowed, and reserved accounts", async () => {
    for (const name of ["root", "os_admin", "a'b", "x y", "`tick`", "semi;colon"]) {
      const r = await hoard.api("POST", P, `/instances/${id}/users`, { users: [{ name, password: "pw" }] });
      expect(r.status, name).toBe(400);
    }
    const host = await hoard.api("POST", P, `/instances/${id}/users`, { users: [{ name: "bob", password: "pw", host: "a'b" }] });
    expect(host.status).toBe(400);
    const empty = await hoard.api("POST", P, `/instances/${id}/users`, { users: [{ name: "bob", password: "" }] });
    expect(empty.status).toBe(400);
    expect((await hoard.api("GET", P, `/instances/${id}/users/bob`)).status).toBe(404);
  });
});

describe("root", () => {
  it("is not enabled at first; enable returns a password once that logs in as root", async () => {
    const show = await cli("root", "show", "schema1", "-f", "json");
    expect(show.code, show.stderr).toBe(0);
    expect(show.json.is_root_enabled).toBe(false);
    const enabled = await cli("root", "enable", "schema1", "-f", "json");
    expect(enabled.code, enabled.stderr).toBe(0);
    expect(enabled.json.name).toBe("root");
    expect(enabled.json.password).toMatch(/^[A-Za-z0-9]{36}$/);
    const conn = await connect("root", enabled.json.password);
    const [rows] = await conn.query("select count(*) as n from mysql.user");
    expect((rows as { n: number }[])[0]!.n).toBeGreaterThan(0);
    // Root has no FILE privilege (datastores/mariadb/hardening.ts): SQL file I/O never reaches the node's files.
    await expect(conn.query("select 'x' into outfile '/tmp/hoard-escape-test'")).rejects.toThrow(/FILE privilege/);
    const [read] = await conn.query("select load_file('/etc/passwd') as f");
    expect((read as { f: unknown }[])[0]!.f).toBeNull();
    await conn.end();
    expect((await cli("root", "show", "schema1", "-f", "json")).json.is_root_enabled).toBe(true);
  });

  it("takes a given password, and disable takes root away (404 when not enabled)", async () => {
    const given = await hoard.api("POST", P, `/instances/${id}/root`, { password: "MyRootPw1" });
    expect(given.status).toBe(200);
    expect(given.body.user).toEqual({ name: "root", password: "MyRootPw1" });
    const conn = await connect("root", "MyRootPw1");
    await conn.end();
    const disabled = await cli("root", "disable", "schema1");
    expect(disabled.code, disabled.stderr).toBe(0);
    expect(await refused("root", "MyRootPw1")).toMatch(/Access denied/);
    const again = await hoard.api("DELETE", P, `/instances/${id}/root`);
    expect(again.status).toBe(404);
  });
});

describe("what the gateway refuses before any guest is asked", () => {
  it("404 for another project's instance, 404 for an unknown one", async () => {
    expect((await hoard.api("GET", "another-project", `/instances/${id}/databases`)).status).toBe(404);
    expect((await hoard.api("GET", P, "/instances/00000000-0000-4000-8000-000000000000/users")).status).toBe(404);
  });

  it("400 for bodies of the wrong shape", async () => {
    expect((await hoard.api("POST", P, `/instances/${id}/databases`, { databases: [] })).status).toBe(400);
    expect((await hoard.api("POST", P, `/instances/${id}/users`, { user: {} })).status).toBe(400);
    expect((await hoard.api("POST", P, `/instances/${id}/root`, { password: 5 })).status).toBe(400);
    expect((await hoard.api("PUT", P, `/instances/${id}/users/owner`, { user: {} })).status).toBe(400);
  });
});
