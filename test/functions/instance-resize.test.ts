/**
 * Resizing an instance to another flavor through the real CLI: the flavor's RAM and vCPUs become the
 * guest's cgroup limits and its engine's memory settings, with one restart; a resize that cannot work goes
 * back to the old flavor and says why.
 */
import mysql from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import path from "node:path";
import { BtrfsVolumes, CgroupLimits, cgroupScope } from "../../drivers/index.js";
import { eventually, startHoard, type Hoard } from "../kit/harness.js";

const P = "5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e";
let hoard: Hoard;
let limits: CgroupLimits;
let instance: { id: string; addresses: { address: string; port: number }[] };

beforeAll(async () => {
  hoard = await startHoard();
  limits = new CgroupLimits({ scope: cgroupScope(hoard.config.home) });
  instance = await hoard.createActive(P, { name: "grow1", datastore: { type: "mariadb", version: "10.11" }, databases: [{ name: "d" }], users: [{ name: "u", password: "pw", databases: [{ name: "d" }] }] });
});
afterAll(async () => {
  await hoard?.stop();
});

const MB = 1024 * 1024;
const show = async () => (await hoard.api("GET", P, `/instances/${instance.id}`)).body.instance;
async function bufferPool(): Promise<number> {
  const a = instance.addresses[0]!;
  const c = await mysql.createConnection({ host: a.address, port: a.port, user: "u", password: "pw", database: "d" });
  const [rows] = await c.query("select @@innodb_buffer_pool_size as b");
  await c.end();
  return Number((rows as { b: string | number }[])[0]!.b);
}

describe("resize to another flavor", () => {
  it("runs the guest within its flavor's limits from the start", async () => {
    const k = await limits.readLimits(instance.id);
    expect(k?.memoryBytes).toBe(512 * MB);
    expect(await bufferPool()).toBe(256 * MB);
  });

  it("moves to flavor 2 through the CLI: new cgroup limits, a buffer pool from the new RAM, the data kept", async () => {
    const a = instance.addresses[0]!;
    const c = await mysql.createConnection({ host: a.address, port: a.port, user: "u", password: "pw", database: "d" });
    await c.query("create table kept (v int)");
    await c.query("insert into kept values (1)");
    await c.end();
    const r = await hoard.openstack(P, ["database", "instance", "resize", "flavor", "grow1", "2"]);
    expect(r.code, r.stderr).toBe(0);
    const resized = await eventually(async () => {
      const s = await show();
      return s.status === "ACTIVE" && s.operating_status === "HEALTHY" && s.flavor.id === "2" ? s : undefined;
    }, 30_000, 100);
    expect(resized.fault).toBeUndefined();
    expect((await limits.readLimits(instance.id))?.memoryBytes).toBe(2048 * MB);
    expect(await bufferPool()).toBe(1024 * MB);
    const again = await mysql.createConnection({ host: a.address, port: a.port, user: "u", password: "pw", database: "d" });
    const [rows] = await again.query("select v from kept");
    expect(rows).toEqual([{ v: 1 }]);
    await again.end();
  });

  it("refuses the same flavor, an unknown one and a malformed body with 400, changing nothing", async () => {
    for (const body of [{ resize: { flavorRef: "2" } }, { resize: { flavorRef: "nope" } }, { resize: {} }, { resize: { flavorRef: "3", volume: { size: 2 } } }]) {
      const r = await hoard.api("POST", P, `/instances/${instance.id}/action`, body);
      expect(r.status, JSON.stringify(body)).toBe(400);
    }
    expect((await show()).flavor.id).toBe("2");
  });

  it("grows the volume through the CLI, and the driver holds the guest to the new size", async () => {
    const r = await hoard.openstack(P, ["database", "instance", "resize", "volume", "grow1", "2"]);
    expect(r.code, r.stderr).toBe(0);
    const grown = await eventually(async () => {
      const s = await show();
      return s.status === "ACTIVE" && s.volume.size === 2 ? s : undefined;
    }, 30_000, 100);
    expect(grown.fault).toBeUndefined();
    const pool = new BtrfsVolumes({ dir: path.join(hoard.config.home, "btrfs") });
    expect((await pool.usage(instance.id)).limitBytes).toBe(2 * 1024 ** 3);
    expect(await bufferPool()).toBe(1024 * MB);
  });

  it("refuses to shrink or keep the volume size (400) and to pass the maximum (413)", async () => {
    for (const [size, status] of [[1, 400], [2, 400], [11, 413]] as const) {
      const r = await hoard.api("POST", P, `/instances/${instance.id}/action`, { resize: { volume: { size } } });
      expect(r.status, `size ${size}`).toBe(status);
    }
    expect((await show()).volume.size).toBe(2);
  });

  it("goes back to the old flavor and says why when the engine cannot run on the new one", async () => {
    // An operator's flavor far beyond this node's memory: InnoDB cannot map a buffer pool of half of it.
    await hoard.plane.db("flavors").insert({ id: "99", name: "x.giant", ram_mb: 400_000, vcpus: 1 });
    const r = await hoard.api("POST", P, `/instances/${instance.id}/action`, { resize: { flavorRef: "99" } });
    expect(r.status).toBe(202);
    const back = await eventually(async () => {
      const s = await show();
      return s.status === "ACTIVE" && s.fault ? s : undefined;
    }, 60_000, 200);
    expect(back.flavor.id).toBe("2");
    expect(back.fault.message).toMatch(/Resize to flavor 99 failed, so the instance is back on flavor 2/);
    await eventually(async () => ((await show()).operating_status === "HEALTHY" ? true : undefined), 30_000, 200);
    expect((await limits.readLimits(instance.id))?.memoryBytes).toBe(2048 * MB);
    expect(await bufferPool()).toBe(1024 * MB);
  });

  it("leaves no cgroup behind when the instance is deleted", async () => {
    expect((await hoard.api("DELETE", P, `/instances/${instance.id}`)).status).toBe(202);
    await eventually(async () => ((await hoard.api("GET", P, `/instances/${instance.id}`)).status === 404 ? true : undefined), 30_000, 100);
    expect(await limits.readLimits(instance.id)).toBeUndefined();
  });
});
