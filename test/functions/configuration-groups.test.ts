/**
 * Configuration groups on MariaDB through the real openstack CLI: parameters, create, attach (values live),
 * a restart-required change and the restart action, replace and merge, exact big values, detach, delete.
 */
import mysql from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually, startHoard, type Hoard } from "../kit/harness.js";

const P = "c0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5";
type Instance = { id: string; addresses: { address: string; port: number }[] };
let hoard: Hoard;

beforeAll(async () => {
  hoard = await startHoard();
});
afterAll(async () => {
  await hoard?.stop();
});

const cli = (...args: string[]) => hoard.openstack(P, ["database", ...args]);
/** A MariaDB 10.11 instance of the test's own, ACTIVE and HEALTHY. */
const freshInstance = (name: string): Promise<Instance> =>
  hoard.createActive(P, { name, datastore: { type: "mariadb", version: "10.11" }, users: [{ name: "app", password: "app-pw" }] });
async function globals(instance: Instance, ...names: string[]): Promise<Record<string, unknown>> {
  const a = instance.addresses[0]!;
  const root = await hoard.api("POST", P, `/instances/${instance.id}/root`, { password: "cfg-root-pw" });
  expect(root.status).toBe(200);
  const conn = await mysql.createConnection({ host: a.address, port: a.port, user: "root", password: "cfg-root-pw", supportBigNumbers: true, bigNumberStrings: true });
  try {
    const [rows] = await conn.query(`SELECT ${names.map((n) => `@@GLOBAL.${n} AS ${n}`).join(", ")}`);
    return (rows as Record<string, unknown>[])[0]!;
  } finally {
    await conn.end();
  }
}
const status = async (instance: Instance) => (await hoard.api("GET", P, `/instances/${instance.id}`)).body.instance;
const waitStatus = (instance: Instance, want: string) =>
  eventually(async () => {
    const s = await status(instance);
    return s.status === want && (want !== "ACTIVE" || s.operating_status === "HEALTHY") ? true : undefined;
  }, 30_000, 100);

describe("parameters of a datastore version", () => {
  it("lists them with type, range and whether a restart is needed", async () => {
    const r = await cli("configuration", "parameter", "list", "10.11", "--datastore", "mariadb", "-f", "json");
    expect(r.code, r.stderr).toBe(0);
    const max = r.json.find((p: { Name: string }) => p.Name === "max_connections");
    expect(max).toMatchObject({ Type: "integer", "Restart Required": false, "Min Size": 10, "Max Size": 100000 });
    expect(r.json.find((p: { Name: string }) => p.Name === "performance_schema")).toMatchObject({ "Restart Required": true });
  });

  it("shows one, with bounds beyond 2^53 exact, and 404 for an unknown one", async () => {
    const raw = await fetch(`${hoard.url}/v1.0/${P}/datastores/mariadb/versions/10.11/parameters/innodb_buffer_pool_size`);
    expect(raw.status).toBe(200);
    expect(await raw.text()).toContain('"max":18446744073709551615');
    const r = await cli("configuration", "parameter", "show", "10.11", "wait_timeout", "--datastore", "mariadb", "-f", "json");
    expect(r.code, r.stderr).toBe(0);
    expect((await hoard.api("GET", P, "/datastores/mariadb/versions/10.11/parameters/no_such_thing")).status).toBe(404);
  });
});

describe("a group's values are checked against the rules", () => {
  const create = (values: Record<string, unknown>) => hoard.api("POST", P, "/configurations", { configuration: { name: "bad", values, datastore: { type: "mariadb", version: "10.11" } } });

  it.each([
    [{ no_such_parameter: 1 }, "no_such_parameter"],
    [{ max_connections: 5 }, "from 10 to 100000"],
    [{ max_connections: "lots" }, "max_connections"],
    [{ slow_query_log: "maybe" }, "true or false"],
    [{ transaction_isolation: "CHAOS" }, "one of READ-UNCOMMITTED"],
    [{ max_connections: 1.5 }, "max_connections"],
  ])("refuses %j with 422 naming what is wrong", async (values, words) => {
    const r = await create(values);
    expect(r.status).toBe(422);
    expect(r.body.unprocessableEntity.message).toContain(words);
  });

  it("keeps an integer beyond 2^53 exact, and stores nothing for a refused group", async () => {
    expect((await create({ max_connections: 5 })).status).toBe(422);
    const body = `{"configuration":{"name":"big","values":{"max_heap_table_size":18446744073709551615,"tmp_table_size":9007199254740993},"datastore":{"type":"mariadb","version":"10.11"}}}`;
    const res = await fetch(`${hoard.url}/v1.0/${P}/configurations`, { method: "POST", headers: { "content-type": "application/json" }, body });
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toContain('"max_heap_table_size":18446744073709551615');
    expect(text).toContain('"tmp_table_size":9007199254740993');
    const id = JSON.parse(text).configuration.id;
    const shown = await (await fetch(`${hoard.url}/v1.0/${P}/configurations/${id}`)).text();
    expect(shown).toContain("18446744073709551615");
    expect((await hoard.api("DELETE", P, `/configurations/${id}`)).status).toBe(202);
    const list = await hoard.api("GET", P, "/configurations");
    expect(list.body.configurations.map((c: { name: string }) => c.name)).not.toContain("bad");
  });
});

describe("a group attached to an instance", () => {
  // One story on one instance: each step changes the group or the instance the step before left.
  it("is created and shown with the CLI, applied live when attached, blocks a second group and its own deletion, needs a restart for a static value (kept by the restart action), is replaced with PUT, then detached and deleted", async () => {
    const instance = await freshInstance("cfg1");

    // Created with the CLI and shown with its values.
    const r = await cli("configuration", "create", "web", JSON.stringify({ max_connections: 300, tmp_table_size: "64M" }), "--datastore", "mariadb", "--datastore-version", "10.11", "--description", "for the web tier", "-f", "json");
    expect(r.code, r.stderr).toBe(0);
    const groupId: string = r.json.id;
    const shown = await cli("configuration", "show", "web", "-f", "json");
    expect(shown.code, shown.stderr).toBe(0);
    expect(JSON.parse(shown.json.values)).toEqual({ max_connections: 300, tmp_table_size: 67108864 });
    const list = await cli("configuration", "list", "-f", "json");
    expect(list.json).toContainEqual(expect.objectContaining({ Name: "web", "Datastore Name": "mariadb" }));

    // Attached: dynamic values apply live and the instance stays ACTIVE.
    const attach = await cli("configuration", "attach", "cfg1", "web");
    expect(attach.code, attach.stderr).toBe(0);
    await eventually(async () => ((await globals(instance, "max_connections")).max_connections === "300" ? true : undefined), 20_000, 200);
    expect(await globals(instance, "tmp_table_size")).toEqual({ tmp_table_size: "67108864" });
    expect((await status(instance)).status).toBe("ACTIVE");
    expect((await status(instance)).configuration).toMatchObject({ id: groupId, name: "web" });
    const instances = await cli("configuration", "instances", "web", "-f", "json");
    expect(instances.json).toEqual([expect.objectContaining({ ID: instance.id, Name: "cfg1" })]);
    const inForce = await cli("configuration", "default", "cfg1", "-f", "json");
    expect(inForce.code, inForce.stderr).toBe(0);
    expect(inForce.json).toMatchObject({ max_connections: "300", innodb_buffer_pool_size: String(256 * 1024 * 1024) });

    // A second group is refused, and so is deleting the group in use.
    const other = await hoard.api("POST", P, "/configurations", { configuration: { name: "other", values: { wait_timeout: 100 }, datastore: { type: "mariadb" } } });
    const second = await hoard.api("PUT", P, `/instances/${instance.id}`, { instance: { configuration: other.body.configuration.id } });
    expect(second.status).toBe(400);
    expect(second.body.badRequest.message).toContain("detach it first");
    expect((await hoard.api("DELETE", P, `/configurations/${groupId}`)).status).toBe(400);
    expect((await hoard.api("DELETE", P, `/configurations/${other.body.configuration.id}`)).status).toBe(202);

    // A static parameter shows RESTART_REQUIRED until the restart action, which keeps every value.
    const set = await cli("configuration", "parameter", "set", groupId, JSON.stringify({ performance_schema: true }));
    expect(set.code, set.stderr).toBe(0);
    await waitStatus(instance, "RESTART_REQUIRED");
    expect(await globals(instance, "performance_schema")).toEqual({ performance_schema: "0" });
    const restart = await cli("instance", "restart", "cfg1");
    expect(restart.code, restart.stderr).toBe(0);
    await waitStatus(instance, "ACTIVE");
    expect(await globals(instance, "performance_schema", "max_connections", "tmp_table_size")).toEqual({ performance_schema: "1", max_connections: "300", tmp_table_size: "67108864" });

    // PUT replaces all values: the dropped static value needs a restart, the changed dynamic one applies live.
    const replaced = await cli("configuration", "set", groupId, JSON.stringify({ max_connections: 200 }));
    expect(replaced.code, replaced.stderr).toBe(0);
    await eventually(async () => ((await globals(instance, "max_connections")).max_connections === "200" ? true : undefined), 20_000, 200);
    await waitStatus(instance, "RESTART_REQUIRED");
    expect((await hoard.api("POST", P, `/instances/${instance.id}/action`, { restart: {} })).status).toBe(202);
    await waitStatus(instance, "ACTIVE");
    expect(await globals(instance, "performance_schema", "max_connections", "tmp_table_size")).toEqual({ performance_schema: "0", max_connections: "200", tmp_table_size: "16777216" });

    // Detached, after which the group can be deleted.
    const detach = await cli("configuration", "detach", "cfg1");
    expect(detach.code, detach.stderr).toBe(0);
    await eventually(async () => ((await status(instance)).configuration === undefined ? true : undefined), 10_000, 100);
    const del = await cli("configuration", "delete", "web");
    expect(del.code, del.stderr).toBe(0);
    expect((await hoard.api("GET", P, `/configurations/${groupId}`)).status).toBe(404);
  }, 180_000);

  it("gives a new instance the group's values from its first start", async () => {
    const g = await hoard.api("POST", P, "/configurations", { configuration: { name: "boot", values: { max_connections: 123, performance_schema: true }, datastore: { type: "mariadb", version: "10.11" } } });
    expect(g.status).toBe(200);
    const second = await hoard.createActive(P, { name: "cfg2", datastore: { type: "mariadb", version: "10.11" }, configuration: g.body.configuration.id });
    expect(second.status).toBe("ACTIVE");
    expect(await globals(second, "max_connections", "performance_schema")).toEqual({ max_connections: "123", performance_schema: "1" });
  });

  it("refuses a group of another datastore version, and the restart of an instance that is not running", async () => {
    const instance = await freshInstance("cfg3");
    const redisGroup = await hoard.api("POST", P, "/configurations", { configuration: { name: "r", values: { maxmemory: 1048576 }, datastore: { type: "redis", version: "7.0" } } });
    expect(redisGroup.status).toBe(200);
    const mismatch = await hoard.api("PUT", P, `/instances/${instance.id}`, { instance: { configuration: redisGroup.body.configuration.id } });
    expect(mismatch.status).toBe(400);
    expect(mismatch.body.badRequest.message).toContain("redis 7.0");
    expect((await hoard.api("POST", P, `/instances/${instance.id}/action`, { promote_to_replica_source: {} })).status).toBe(501);
    expect((await hoard.api("POST", P, `/instances/${instance.id}/action`, { explode: {} })).status).toBe(400);
  });
});
