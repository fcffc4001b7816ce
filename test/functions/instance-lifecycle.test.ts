import { existsSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import mysql from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually, startHoard, type Hoard } from "../kit/harness.js";

const P = "d0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5";
const NET = "a1b2c3d4-0000-4000-8000-00000000abcd";
let hoard: Hoard;

beforeAll(async () => {
  hoard = await startHoard();
});
afterAll(async () => {
  await hoard?.stop();
});

const portIsFree = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = net.createServer().once("error", () => resolve(false)).listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });

describe("catalogue through the real CLI", () => {
  it("lists flavors with the columns the CLI prints", async () => {
    const r = await hoard.openstack(P, ["database", "flavor", "list", "-f", "json"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json).toContainEqual(expect.objectContaining({ ID: 1, Name: "m1.tiny", RAM: 512, vCPUs: 1 }));
  });

  it("lists datastores and the versions of mariadb", async () => {
    const ds = await hoard.openstack(P, ["datastore", "list", "-f", "json"]);
    expect(ds.code, ds.stderr).toBe(0);
    expect(ds.json.map((d: { Name: string }) => d.Name)).toEqual(expect.arrayContaining(["mariadb", "mysql", "redis"]));
    const versions = await hoard.openstack(P, ["datastore", "version", "list", "mariadb", "-f", "json"]);
    expect(versions.code, versions.stderr).toBe(0);
    expect(versions.json).toEqual([expect.objectContaining({ Name: "10.11" })]);
    const show = await hoard.openstack(P, ["datastore", "show", "mariadb", "-f", "json"]);
    expect(show.code, show.stderr).toBe(0);
  });
});

describe("an instance from create to delete, through the real CLI", () => {
  // One story: each step acts on the instance the step before left, and checks what it left.
  it("answers create with BUILD, reaches ACTIVE with a working login, is listed, survives a control-plane restart, and is deleted with its volume and port", async () => {
    // Answered at once with BUILD, storing the network and availability zone.
    const r = await hoard.openstack(P, [
      "database", "instance", "create", "m1", "--flavor", "1", "--size", "1", "--datastore", "mariadb", "--datastore-version", "10.11",
      "--databases", "db1", "--users", "u1:secret", "--nic", `net-id=${NET}`, "--availability-zone", "az1", "-f", "json",
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.name).toBe("m1");
    expect(["BUILD", "ACTIVE"]).toContain(r.json.status);
    const id: string = r.json.id;
    expect((await hoard.api("GET", P, `/instances/${id}`)).body.instance.availability_zone).toBe("az1");

    // ACTIVE and HEALTHY, and the user can connect to its database.
    const shown = await eventually(async () => {
      const s = await hoard.openstack(P, ["database", "instance", "show", "m1", "-f", "json"]);
      return s.json?.status === "ACTIVE" && s.json?.operating_status === "HEALTHY" ? s.json : undefined;
    }, 30_000, 300);
    expect(shown.datastore).toBe("mariadb");
    expect(shown.datastore_version).toBe("10.11");
    expect(shown.flavor).toBe("1");
    expect(shown.volume).toBe(1);
    const address: { address: string; port: number } = shown.addresses[0];
    expect(address).toMatchObject({ address: "127.0.0.1", type: "private", network: NET });
    const conn = await mysql.createConnection({ host: address.address, port: address.port, user: "u1", password: "secret", database: "db1" });
    await conn.query("create table t (v int)");
    await conn.query("insert into t values (42)");
    const [rows] = await conn.query("select v from t");
    expect(rows).toEqual([{ v: 42 }]);
    await conn.end();

    // In the list.
    const list = await hoard.openstack(P, ["database", "instance", "list", "-f", "json"]);
    expect(list.code, list.stderr).toBe(0);
    expect(list.json).toContainEqual(expect.objectContaining({ ID: id, Name: "m1", Status: "ACTIVE" }));

    // A restart of the whole control plane: the guest keeps running and is adopted.
    await hoard.restart();
    const adopted = await eventually(async () => {
      const a = await hoard.api("GET", P, `/instances/${id}`);
      return a.body.instance?.operating_status === "HEALTHY" ? a.body.instance : undefined;
    });
    expect(adopted.status).toBe("ACTIVE");
    const again = await mysql.createConnection({ host: address.address, port: address.port, user: "u1", password: "secret", database: "db1" });
    await again.end();

    // Deleted: the guest stops, its volume and port are freed, and the instance disappears.
    const del = await hoard.openstack(P, ["database", "instance", "delete", "m1"]);
    expect(del.code, del.stderr).toBe(0);
    expect(del.stdout + del.stderr).toContain("has been accepted");
    await eventually(async () => ((await hoard.api("GET", P, `/instances/${id}`)).status === 404 ? true : undefined));
    const show = await hoard.openstack(P, ["database", "instance", "show", "m1"]);
    expect(show.code).not.toBe(0);
    expect(existsSync(path.join(hoard.config.home, "volumes", id))).toBe(false);
    expect(await portIsFree(address.port)).toBe(true);
    await expect(mysql.createConnection({ host: address.address, port: address.port, user: "u1", password: "secret", connectTimeout: 1000 })).rejects.toThrow();
  }, 150_000);
});
