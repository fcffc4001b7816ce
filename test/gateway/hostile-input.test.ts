/**
 * Hostile names and passwords against a MariaDB guest: every one is refused with a 4xx or stored exactly,
 * nothing else in the guest changes, operations on an instance that is not ACTIVE get 422, and no password
 * reaches the log or the published events.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import mysql from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually, startHoard, type Hoard } from "../kit/harness.js";

const P = "f00dfeed00000000000000000000beef";
let hoard: Hoard;
let instance: { id: string; addresses: { address: string; port: number }[] };
const secrets: string[] = [];

const HOSTILE = [
  "a'b", 'a"b', "a`b", "a;b", "x; DROP DATABASE mysql; --", "a\\b", "a%b", "100%", "ünïcødé", "数据库", "💥", "a b", "", "x".repeat(10_240),
];

beforeAll(async () => {
  hoard = await startHoard();
  instance = await hoard.createActive(P, { name: "hostile", datastore: { type: "mariadb", version: "10.11" }, databases: [{ name: "keep" }], users: [{ name: "keeper", password: "keeper-pw", databases: [{ name: "keep" }] }] });
  secrets.push("keeper-pw");
});
afterAll(async () => {
  await hoard?.stop();
});

/** Everything a tenant could see change in the guest: databases, users and their grants. */
async function guestState(): Promise<unknown> {
  const [dbs, users] = await Promise.all([hoard.api("GET", P, `/instances/${instance.id}/databases`), hoard.api("GET", P, `/instances/${instance.id}/users`)]);
  return { databases: dbs.body.databases, users: users.body.users };
}

describe("hostile names", () => {
  it("are refused with 400 everywhere they reach the engine, and the guest is unchanged", async () => {
    const before = await guestState();
    for (const name of HOSTILE) {
      const attempts = [
        await hoard.api("POST", P, `/instances/${instance.id}/databases`, { databases: [{ name }] }),
        await hoard.api("POST", P, `/instances/${instance.id}/users`, { users: [{ name, password: "pw" }] }),
        await hoard.api("POST", P, `/instances/${instance.id}/users`, { users: [{ name: "okname", password: "pw", databases: [{ name }] }] }),
        await hoard.api("PUT", P, `/instances/${instance.id}/users/keeper`, { user: { name } }),
        await hoard.api("PUT", P, `/instances/${instance.id}/users/keeper/databases`, { databases: [{ name }] }),
      ];
      for (const r of attempts) {
        expect(r.status, `${JSON.stringify(name.slice(0, 40))} → ${JSON.stringify(r.body)}`).toBeGreaterThanOrEqual(400);
        expect(r.status).toBeLessThan(500);
      }
      // A host is a pattern: '%' is its wildcard, so some of these are valid hosts, stored exactly.
      const host = await hoard.api("POST", P, `/instances/${instance.id}/users`, { users: [{ name: "okname", password: "pw", host: name }] });
      if (host.status === 202) {
        const shown = await hoard.api("GET", P, `/instances/${instance.id}/users/${encodeURIComponent(`okname@${name}`)}`);
        expect(shown.body.user).toMatchObject({ name: "okname", host: name });
        expect((await hoard.api("DELETE", P, `/instances/${instance.id}/users/${encodeURIComponent(`okname@${name}`)}`)).status).toBe(202);
      } else {
        expect(host.status, `host ${JSON.stringify(name.slice(0, 40))}`).toBe(400);
      }
      if (name) {
        const inPath = await hoard.api("DELETE", P, `/instances/${instance.id}/databases/${encodeURIComponent(name)}`);
        expect(inPath.status, name.slice(0, 40)).toBeGreaterThanOrEqual(400);
        expect(inPath.status).toBeLessThan(500);
      }
    }
    expect(await guestState()).toEqual(before);
  });
});

describe("hostile passwords", () => {
  const storable = HOSTILE.filter((p) => p.length > 0 && p.length <= 512);

  it.each(storable.map((p, i) => [i, p]))("password %i is stored exactly: the user logs in with it and with nothing else", async (i, password) => {
    const name = `pw${i}`;
    secrets.push(password as string);
    const r = await hoard.api("POST", P, `/instances/${instance.id}/users`, { users: [{ name, password, databases: [{ name: "keep" }] }] });
    expect(r.status).toBe(202);
    const a = instance.addresses[0]!;
    const conn = await mysql.createConnection({ host: a.address, port: a.port, user: name, password: password as string, database: "keep", charset: "utf8mb4" });
    await conn.end();
    const wrong = await mysql.createConnection({ host: a.address, port: a.port, user: name, password: `${password}x`, database: "keep" }).then((c) => c.end().then(() => "logged in"), (e: Error) => e.message);
    expect(wrong).toMatch(/Access denied/);
    expect((await hoard.api("DELETE", P, `/instances/${instance.id}/users/${name}`)).status).toBe(202);
  });

  it("refuses an empty, a 10 kB and a control-character password with 400", async () => {
    for (const password of ["", "x".repeat(10_240), "tab\there"]) {
      const r = await hoard.api("POST", P, `/instances/${instance.id}/users`, { users: [{ name: "badpw", password }] });
      expect(r.status).toBe(400);
      expect(r.body.badRequest.message).toContain("password");
    }
    expect((await hoard.api("GET", P, `/instances/${instance.id}/users/badpw`)).status).toBe(404);
  });
});

describe("an instance that is not ACTIVE", () => {
  it("answers 422 to schema, user and root operations, saying its status", async () => {
    // A version an operator registered but this node has not installed: the build fails, the instance is ERROR.
    const ds = await hoard.plane.db("datastores").where({ name: "mariadb" }).first();
    await hoard.plane.db("datastore_versions").insert({ id: "0d0d0d0d-0000-4000-8000-0000000000aa", datastore_id: ds.id, name: "9.8", number: "9.8", active: true });
    const created = await hoard.api("POST", P, "/instances", { instance: { name: "broken", flavorRef: "1", volume: { size: 1 }, datastore: { type: "mariadb", version: "9.8" } } });
    const id = created.body.instance.id;
    await eventually(async () => ((await hoard.api("GET", P, `/instances/${id}`)).body.instance.status === "ERROR" ? true : undefined), 30_000, 100);
    const calls: [string, string, unknown?][] = [
      ["GET", "databases"],
      ["POST", "databases", { databases: [{ name: "d" }] }],
      ["GET", "users"],
      ["POST", "users", { users: [{ name: "u", password: "p" }] }],
      ["GET", "root"],
      ["POST", "root"],
    ];
    for (const [method, route, body] of calls) {
      const r = await hoard.api(method, P, `/instances/${id}/${route}`, body);
      expect(r.status, `${method} ${route}`).toBe(422);
      expect(r.body.unprocessableEntity.message).toContain("ERROR");
    }
    expect((await hoard.api("POST", P, `/instances/${id}/action`, { restart: {} })).status).toBe(422);
    expect((await hoard.api("DELETE", P, `/instances/${id}`)).status).toBe(202);
  });
});

describe("secrets", () => {
  it("never reach the log or the published events", async () => {
    const root = await hoard.api("POST", P, `/instances/${instance.id}/root`);
    secrets.push(root.body.user.password);
    const log = readFileSync(path.join(hoard.config.home, "hoard.log"), "utf8");
    const jsm = await jetstreamManager(hoard.nc);
    const events: string[] = [];
    for (const stream of ["HOARD_EVENTS", "HOARD_WORK", "HOARD_NODES"]) {
      const info = await jsm.streams.info(stream);
      for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
        const m = await jsm.streams.getMessage(stream, { seq }).catch(() => null);
        if (m) events.push(m.string());
      }
    }
    expect(events.length).toBeGreaterThan(0);
    for (const secret of secrets.filter((s) => s.length >= 4)) {
      expect(log.includes(secret), `log contains ${secret.slice(0, 20)}`).toBe(false);
      expect(events.some((e) => e.includes(secret)), `an event contains ${secret.slice(0, 20)}`).toBe(false);
    }
    const outbox = await hoard.plane.db("outbox").select("event");
    expect(outbox.filter((r: { event: unknown }) => secrets.some((s) => s.length >= 4 && JSON.stringify(r.event).includes(s)))).toEqual([]);
  });
});
