/**
 * Engine actions and the true status: restart (through the real CLI), stop and start, a killed engine seen
 * as SHUTDOWN and brought back by auto_restart, raced actions, actions in the wrong state, a start that fails.
 */
import { readFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import mysql from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually, startHoard, type Hoard } from "../kit/harness.js";

const P = "a11ce5a11ce5a11ce5a11ce5a11ce5aa";
let hoard: Hoard;

beforeAll(async () => {
  hoard = await startHoard();
});
afterAll(async () => {
  await hoard?.stop();
});

const show = async (id: string) => (await hoard.api("GET", P, `/instances/${id}`)).body.instance;
const until = (id: string, status: string, operating?: string) =>
  eventually(async () => {
    const i = await show(id);
    return i.status === status && (operating === undefined || i.operating_status === operating) ? i : undefined;
  }, 30_000, 100);
const enginePid = (id: string) => JSON.parse(readFileSync(path.join(hoard.config.home, "run", id, "guest.json"), "utf8")).pid as number;
const canConnect = (a: { address: string; port: number }) =>
  mysql.createConnection({ host: a.address, port: a.port, user: "u", password: "pw", database: "d" }).then(async (c) => {
    await c.end();
    return true;
  }, () => false);

describe("restart, stop and start", () => {
  let id = "";
  let address = { address: "", port: 0 };

  beforeAll(async () => {
    const i = await hoard.createActive(P, { name: "life1", datastore: { type: "mariadb", version: "10.11" }, databases: [{ name: "d" }], users: [{ name: "u", password: "pw", databases: [{ name: "d" }] }] });
    id = i.id;
    address = i.addresses[0];
  });

  it("restarts through the CLI: REBOOT, then ACTIVE and HEALTHY on a new engine process", async () => {
    const before = enginePid(id);
    const r = await hoard.openstack(P, ["database", "instance", "restart", "life1"]);
    expect(r.code, r.stderr).toBe(0);
    await until(id, "ACTIVE", "HEALTHY");
    expect(enginePid(id)).not.toBe(before);
    expect(await canConnect(address)).toBe(true);
  });

  it("stops: SHUTDOWN and nothing answers; start brings it back with its data", async () => {
    const c = await mysql.createConnection({ host: address.address, port: address.port, user: "u", password: "pw", database: "d" });
    await c.query("create table kept (v int)");
    await c.query("insert into kept values (7)");
    await c.end();
    expect((await hoard.api("POST", P, `/instances/${id}/action`, { stop: {} })).status).toBe(202);
    // SHUTDOWN shows from the moment the stop is accepted; the engine is gone a moment later.
    const stopped = await until(id, "SHUTDOWN");
    expect(stopped.operating_status).toBe("");
    await eventually(async () => ((await canConnect(address)) ? undefined : true), 20_000, 100);
    // Stopped on purpose: heartbeats keep it SHUTDOWN, nothing starts it again.
    await new Promise((r) => setTimeout(r, 1_200));
    expect((await show(id)).status).toBe("SHUTDOWN");
    expect((await hoard.api("POST", P, `/instances/${id}/action`, { restart: {} })).status).toBe(422);
    expect((await hoard.api("POST", P, `/instances/${id}/action`, { start: {} })).status).toBe(202);
    await until(id, "ACTIVE", "HEALTHY");
    const again = await mysql.createConnection({ host: address.address, port: address.port, user: "u", password: "pw", database: "d" });
    const [rows] = await again.query("select v from kept");
    expect(rows).toEqual([{ v: 7 }]);
    await again.end();
  });

  it("refuses an action in the wrong state with 422 naming the status, and lets one of two raced actions win", async () => {
    const start = await hoard.api("POST", P, `/instances/${id}/action`, { start: {} });
    expect(start.status).toBe(422);
    expect(start.body.unprocessableEntity.message).toContain("ACTIVE");
    const [a, b] = await Promise.all([hoard.api("POST", P, `/instances/${id}/action`, { restart: {} }), hoard.api("POST", P, `/instances/${id}/action`, { stop: {} })]);
    expect([a.status, b.status].sort()).toEqual([202, 422]);
    const winner = a.status === 202 ? "restart" : "stop";
    if (winner === "stop") {
      await until(id, "SHUTDOWN");
      // SHUTDOWN shows from the moment the stop is accepted; start is taken once the stop has finished.
      await eventually(async () => ((await hoard.api("POST", P, `/instances/${id}/action`, { start: {} })).status === 202 ? true : undefined), 30_000, 200);
    }
    await until(id, "ACTIVE", "HEALTHY");
  });

  it("keeps reset_status for admins (401 otherwise), and answers 400 for an unknown action", async () => {
    const r = await hoard.api("POST", P, `/instances/${id}/action`, { reset_status: {} });
    expect(r.status).toBe(401);
    expect((await hoard.api("POST", P, `/instances/${id}/action`, { dance: {} })).status).toBe(400);
    expect((await hoard.api("POST", P, `/instances/${id}/action`, { restart: {}, stop: {} })).status).toBe(400);
  });
});

describe("a guest that dies", () => {
  it("is seen as SHUTDOWN within two heartbeat intervals", async () => {
    const i = await hoard.createActive(P, { name: "dies", datastore: { type: "mariadb", version: "10.11" } });
    process.kill(enginePid(i.id), "SIGKILL");
    const seen = await until(i.id, "ACTIVE", "SHUTDOWN");
    expect(seen.auto_restart).toEqual({ enabled: false, restarts: 0 });
  });

  it("comes back by itself with auto_restart, which counts how often it had to", async () => {
    const i = await hoard.createActive(P, { name: "phoenix", datastore: { type: "mariadb", version: "10.11" }, auto_restart: true, databases: [{ name: "d" }], users: [{ name: "u", password: "pw", databases: [{ name: "d" }] }] });
    const first = enginePid(i.id);
    process.kill(first, "SIGKILL");
    const back = await eventually(async () => {
      const s = await show(i.id);
      return s.status === "ACTIVE" && s.operating_status === "HEALTHY" && s.auto_restart.restarts === 1 ? s : undefined;
    }, 30_000, 100);
    expect(back.auto_restart).toEqual({ enabled: true, restarts: 1 });
    expect(enginePid(i.id)).not.toBe(first);
    expect(await canConnect(i.addresses[0])).toBe(true);
  });
});

describe("a start that fails", () => {
  it("leaves the instance SHUTDOWN with the engine's reason, not stuck in REBOOT", async () => {
    const i = await hoard.createActive(P, { name: "nostart", datastore: { type: "redis", version: "7.0" } });
    expect((await hoard.api("POST", P, `/instances/${i.id}/action`, { stop: {} })).status).toBe(202);
    await until(i.id, "SHUTDOWN");
    // Something else takes the guest's port while it is stopped: the engine cannot start on it.
    const squatter = net.createServer();
    // SHUTDOWN shows while the stop is under way too: take the port once the engine has let it go.
    await eventually(() => new Promise<true | undefined>((resolve) => {
      squatter.once("error", () => resolve(undefined)).listen(i.addresses[0].port, "127.0.0.1", () => resolve(true));
    }), 30_000, 100);
    try {
      // Taken once the stop has finished (the port is let go a moment before).
      await eventually(async () => ((await hoard.api("POST", P, `/instances/${i.id}/action`, { start: {} })).status === 202 ? true : undefined), 30_000, 200);
      const after = await eventually(async () => {
        const s = await show(i.id);
        return s.status !== "REBOOT" ? s : undefined;
      }, 40_000, 200);
      expect(after.status).toBe("SHUTDOWN");
      expect(after.fault.message).toMatch(/address already in use|could not|stopped while starting/i);
    } finally {
      await new Promise((r) => squatter.close(r));
    }
    expect((await hoard.api("POST", P, `/instances/${i.id}/action`, { start: {} })).status).toBe(202);
    await until(i.id, "ACTIVE");
  }, 90_000);
});
