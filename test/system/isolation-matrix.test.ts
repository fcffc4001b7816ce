/**
 * The isolation matrix: for every route of the gateway's route table, project B can neither read nor change
 * project A's resources (instances, databases, users, root, configuration groups, subscriptions, quotas,
 * backups and backup schedules, events), a token never works on another project's path, and every admin-only route refuses a non-admin
 * (while an admin is let through, so the refusal is about the role). A route without an entry fails the test.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually, startHoard, type Hoard } from "../kit/harness.js";
import { routeKey, servedRoutes, type RouteEntry } from "../kit/route-table.js";
import { changed, settledDigest, stateDigest } from "../kit/state-digest.js";

const A = "tenant-a";
const B = "tenant-b";
const TOKENS = { a: "tok-a", b: "tok-b", aAdmin: "tok-a-admin", bAdmin: "tok-b-admin" };
/** A quota only A has, so a leak of A's quotas shows. */
const A_BACKUPS_QUOTA = 37;

let hoard: Hoard;
let routes: RouteEntry[];
let client: pg.Client;
const a = { instance: "", configuration: "", subscription: "", versionId: "", backup: "", schedule: "", name: "a-private-instance", db: "a_private_db", user: "a_private_user", backupName: "a-private-backup", scheduleName: "a-private-schedule" };
/** B's own instance, to which B tries to attach A's configuration group. */
let bInstance = "";

const call = (method: string, project: string, p: string, token: string, body?: unknown) => hoard.api(method, project, p, body, { "x-auth-token": token });

beforeAll(async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "hoard-isolation-"));
  const tokensFile = path.join(dir, "tokens.json");
  writeFileSync(
    tokensFile,
    JSON.stringify({ tokens: { [TOKENS.a]: { project: A, roles: [] }, [TOKENS.b]: { project: B, roles: [] }, [TOKENS.aAdmin]: { project: A, roles: ["admin"] }, [TOKENS.bAdmin]: { project: B, roles: ["admin"] } } }),
  );
  // Its subscriptions name the discard port on loopback, which webhooks reach only where the operator allows.
  hoard = await startHoard({ gateway: { port: 0, tokensFile }, volumeDriver: "directory", webhooks: { allow: ["127.0.0.1:9"] } });
  routes = await servedRoutes();
  client = new pg.Client({ connectionString: hoard.databaseUrl });
  await client.connect();

  const created = await call("POST", A, "/instances", TOKENS.a, {
    instance: { name: a.name, flavorRef: "1", volume: { size: 1 }, datastore: { type: "mariadb", version: "10.11" }, databases: [{ name: a.db }], users: [{ name: a.user, password: "a-password", databases: [{ name: a.db }] }] },
  });
  expect(created.status).toBe(200);
  a.instance = created.body.instance.id;
  await eventually(async () => {
    const r = await call("GET", A, `/instances/${a.instance}`, TOKENS.a);
    return r.body.instance?.status === "ACTIVE" && r.body.instance?.operating_status === "HEALTHY" ? true : undefined;
  }, 60_000);
  expect((await call("POST", A, `/instances/${a.instance}/root`, TOKENS.a)).status).toBe(200);
  const conf = await call("POST", A, "/configurations", TOKENS.a, { configuration: { name: "a-conf", values: { max_connections: 150 }, datastore: { type: "mariadb", version: "10.11" } } });
  expect(conf.status).toBe(200);
  a.configuration = conf.body.configuration.id;
  a.versionId = conf.body.configuration.datastore_version_id;
  expect((await call("PUT", A, `/instances/${a.instance}`, TOKENS.a, { instance: { configuration: a.configuration } })).status).toBe(202);
  const sub = await call("POST", A, "/subscriptions", TOKENS.a, { subscription: { url: "http://127.0.0.1:9/a", event_types: ["instance.resized"] } });
  expect(sub.status).toBe(200);
  a.subscription = sub.body.subscription.id;
  expect((await call("PUT", A, `/mgmt/quotas/${A}`, TOKENS.aAdmin, { quotas: { backups: A_BACKUPS_QUOTA } })).status).toBe(200);
  const backup = await call("POST", A, "/backups", TOKENS.a, { backup: { name: a.backupName, instance: a.instance } });
  expect(backup.status).toBe(202);
  a.backup = backup.body.backup.id;
  await eventually(async () => ((await call("GET", A, `/backups/${a.backup}`, TOKENS.a)).body.backup?.status === "COMPLETED" ? true : undefined), 60_000);
  await eventually(async () => ((await call("GET", A, inst(), TOKENS.a)).body.instance?.status === "ACTIVE" ? true : undefined), 30_000);
  // Fires at 03:00 only: no run of it moves rows while the matrix runs.
  const schedule = await call("POST", A, "/backup_schedules", TOKENS.a, { backup_schedule: { instance_id: a.instance, cron: "0 3 * * *", name: a.scheduleName, retention: 3 } });
  expect(schedule.status).toBe(200);
  a.schedule = schedule.body.backup_schedule.id;
  const b = await call("POST", B, "/instances", TOKENS.b, { instance: { name: "b-own", flavorRef: "1", volume: { size: 1 }, datastore: { type: "mariadb", version: "10.11" } } });
  expect(b.status).toBe(200);
  bInstance = b.body.instance.id;
  // Settled before the matrix runs, so that nothing moves in the rows but what B's requests would move.
  await eventually(async () => ((await call("GET", B, `/instances/${bInstance}`, TOKENS.b)).body.instance?.operating_status === "HEALTHY" ? true : undefined), 60_000);
});
afterAll(async () => {
  await client?.end();
  await hoard?.stop();
});

/** One request of the matrix: a path below `/v1.0/<project>` (or absolute, for the version routes). */
interface Probe {
  method: string;
  path: string;
  body?: unknown;
  /** What B (a non-admin of another project) must get. */
  status: number[];
  /** For an admin-only probe: what an admin (of A, on A's path) gets, proving the refusal is about the role. */
  admin?: number[];
}

/**
 * - `private`: aims at A's resource from B's project: refused, and nothing of A in the answer.
 * - `own`: B's own collection or settings: answered, with nothing of A in it.
 * - `shared`: the catalogue every project reads alike (flavors, datastores, parameters, versions).
 * - `admin`: admin-only; B is refused for its role.
 * - `stream`: the event stream; checked by a test of its own below.
 */
interface Entry {
  kind: "private" | "own" | "shared" | "admin" | "stream";
  probes: () => Probe[];
}

const NOT_FOUND = [404];
const inst = () => `/instances/${a.instance}`;
const get = (p: () => string, status = NOT_FOUND) => () => [{ method: "GET", path: p(), status }];

const MATRIX: Record<string, Entry> = {
  "GET /": { kind: "shared", probes: () => [{ method: "GET", path: "/", status: [200] }] },
  "GET /v1.0": { kind: "shared", probes: () => [{ method: "GET", path: "/v1.0", status: [200] }] },
  "GET /v1.0/:project/flavors": { kind: "shared", probes: get(() => "/flavors", [200]) },
  "GET /v1.0/:project/flavors/:id": { kind: "shared", probes: get(() => "/flavors/1", [200]) },
  "GET /v1.0/:project/datastores": { kind: "shared", probes: get(() => "/datastores", [200]) },
  "GET /v1.0/:project/datastores/versions/:version": { kind: "shared", probes: get(() => `/datastores/versions/${a.versionId}`, [200]) },
  "GET /v1.0/:project/datastores/:ds": { kind: "shared", probes: get(() => "/datastores/mariadb", [200]) },
  "GET /v1.0/:project/datastores/:ds/versions": { kind: "shared", probes: get(() => "/datastores/mariadb/versions", [200]) },
  "GET /v1.0/:project/datastores/:ds/versions/:version": { kind: "shared", probes: get(() => "/datastores/mariadb/versions/10.11", [200]) },
  "GET /v1.0/:project/datastores/:ds/versions/:ver/parameters": { kind: "shared", probes: get(() => "/datastores/mariadb/versions/10.11/parameters", [200]) },
  "GET /v1.0/:project/datastores/:ds/versions/:ver/parameters/:name": { kind: "shared", probes: get(() => "/datastores/mariadb/versions/10.11/parameters/max_connections", [200]) },
  "GET /v1.0/:project/datastores/versions/:id/parameters": { kind: "shared", probes: get(() => `/datastores/versions/${a.versionId}/parameters`, [200]) },
  "GET /v1.0/:project/datastores/versions/:id/parameters/:name": { kind: "shared", probes: get(() => `/datastores/versions/${a.versionId}/parameters/max_connections`, [200]) },

  "GET /v1.0/:project/instances": { kind: "own", probes: get(() => "/instances", [200]) },
  "GET /v1.0/:project/instances/detail": { kind: "own", probes: get(() => "/instances/detail", [200]) },
  "POST /v1.0/:project/instances": {
    kind: "private",
    // B may create instances, but not with A's configuration group.
    probes: () => [
      { method: "POST", path: "/instances", body: { instance: { name: "b1", flavorRef: "1", volume: { size: 1 }, datastore: { type: "mariadb", version: "10.11" }, configuration: a.configuration } }, status: NOT_FOUND },
      // Nor restored from A's backup.
      { method: "POST", path: "/instances", body: { instance: { name: "b2", flavorRef: "1", volume: { size: 1 }, datastore: { type: "mariadb", version: "10.11" }, restorePoint: { backupRef: a.backup } } }, status: NOT_FOUND },
    ],
  },
  "GET /v1.0/:project/instances/:id": { kind: "private", probes: get(inst) },
  "GET /v1.0/:project/instances/:id/ca": { kind: "private", probes: get(() => `${inst()}/ca`) },
  "DELETE /v1.0/:project/instances/:id": { kind: "private", probes: () => [{ method: "DELETE", path: inst(), status: NOT_FOUND }] },
  "PUT /v1.0/:project/instances/:id": {
    kind: "private",
    probes: () => [
      { method: "PUT", path: inst(), body: { instance: { name: "taken" } }, status: NOT_FOUND },
      { method: "PUT", path: inst(), body: { instance: {} }, status: NOT_FOUND },
      // B's own instance, A's group.
      { method: "PUT", path: `/instances/${bInstance}`, body: { instance: { configuration: a.configuration } }, status: NOT_FOUND },
    ],
  },
  "PATCH /v1.0/:project/instances/:id": {
    kind: "private",
    probes: () => [
      { method: "PATCH", path: inst(), body: { instance: { name: "taken" } }, status: NOT_FOUND },
      { method: "PATCH", path: `/instances/${bInstance}`, body: { instance: { configuration: a.configuration } }, status: NOT_FOUND },
    ],
  },
  "POST /v1.0/:project/instances/:id/action": {
    kind: "admin",
    probes: () => [
      ...["restart", "stop", "start"].map((action) => ({ method: "POST", path: `${inst()}/action`, body: { [action]: {} }, status: NOT_FOUND })),
      { method: "POST", path: `${inst()}/action`, body: { resize: { volume: { size: 2 } } }, status: NOT_FOUND },
      { method: "POST", path: `${inst()}/action`, body: { resize: { flavorRef: "2" } }, status: NOT_FOUND },
      // Rolled back: neither A's instance to A's backup, nor B's own instance to A's backup.
      { method: "POST", path: `${inst()}/action`, body: { rollback: { backupRef: a.backup } }, status: NOT_FOUND },
      { method: "POST", path: `/instances/${bInstance}/action`, body: { rollback: { backupRef: a.backup } }, status: NOT_FOUND },
      // reset_status is admin-only: a non-admin is refused for the role whatever the instance.
      { method: "POST", path: `${inst()}/action`, body: { reset_status: {} }, status: [401], admin: [202] },
    ],
  },
  "GET /v1.0/:project/instances/:id/configuration": { kind: "private", probes: get(() => `${inst()}/configuration`) },
  "POST /v1.0/:project/instances/:id/databases": { kind: "private", probes: () => [{ method: "POST", path: `${inst()}/databases`, body: { databases: [{ name: "b_db" }] }, status: NOT_FOUND }] },
  "GET /v1.0/:project/instances/:id/databases": { kind: "private", probes: get(() => `${inst()}/databases`) },
  "DELETE /v1.0/:project/instances/:id/databases/:name": { kind: "private", probes: () => [{ method: "DELETE", path: `${inst()}/databases/${a.db}`, status: NOT_FOUND }] },
  "POST /v1.0/:project/instances/:id/users": { kind: "private", probes: () => [{ method: "POST", path: `${inst()}/users`, body: { users: [{ name: "b_user", password: "pw", databases: [{ name: a.db }] }] }, status: NOT_FOUND }] },
  "GET /v1.0/:project/instances/:id/users": { kind: "private", probes: get(() => `${inst()}/users`) },
  "PUT /v1.0/:project/instances/:id/users": { kind: "private", probes: () => [{ method: "PUT", path: `${inst()}/users`, body: { users: [{ name: a.user, password: "stolen" }] }, status: NOT_FOUND }] },
  "GET /v1.0/:project/instances/:id/users/:user": { kind: "private", probes: get(() => `${inst()}/users/${a.user}`) },
  "PUT /v1.0/:project/instances/:id/users/:user": { kind: "private", probes: () => [{ method: "PUT", path: `${inst()}/users/${a.user}`, body: { user: { password: "stolen" } }, status: NOT_FOUND }] },
  "DELETE /v1.0/:project/instances/:id/users/:user": { kind: "private", probes: () => [{ method: "DELETE", path: `${inst()}/users/${a.user}`, status: NOT_FOUND }] },
  "GET /v1.0/:project/instances/:id/users/:user/databases": { kind: "private", probes: get(() => `${inst()}/users/${a.user}/databases`) },
  "PUT /v1.0/:project/instances/:id/users/:user/databases": { kind: "private", probes: () => [{ method: "PUT", path: `${inst()}/users/${a.user}/databases`, body: { databases: [{ name: a.db }] }, status: NOT_FOUND }] },
  "DELETE /v1.0/:project/instances/:id/users/:user/databases/:db": { kind: "private", probes: () => [{ method: "DELETE", path: `${inst()}/users/${a.user}/databases/${a.db}`, status: NOT_FOUND }] },
  "GET /v1.0/:project/instances/:id/root": { kind: "private", probes: get(() => `${inst()}/root`) },
  "POST /v1.0/:project/instances/:id/root": { kind: "private", probes: () => [{ method: "POST", path: `${inst()}/root`, body: { password: "stolen-root" }, status: NOT_FOUND }] },
  "DELETE /v1.0/:project/instances/:id/root": { kind: "private", probes: () => [{ method: "DELETE", path: `${inst()}/root`, status: NOT_FOUND }] },

  "GET /v1.0/:project/configurations": { kind: "own", probes: get(() => "/configurations", [200]) },
  "POST /v1.0/:project/configurations": {
    kind: "own",
    // A group of B's own is fine; what must not happen is B's group taking A's: same name, another project.
    probes: () => [{ method: "POST", path: "/configurations", body: { configuration: { name: "a-conf", values: { max_connections: 11 }, datastore: { type: "mariadb", version: "10.11" } } }, status: [200] }],
  },
  "GET /v1.0/:project/configurations/:id": { kind: "private", probes: get(() => `/configurations/${a.configuration}`) },
  "GET /v1.0/:project/configurations/:id/instances": { kind: "private", probes: get(() => `/configurations/${a.configuration}/instances`) },
  "PUT /v1.0/:project/configurations/:id": { kind: "private", probes: () => [{ method: "PUT", path: `/configurations/${a.configuration}`, body: { configuration: { values: { max_connections: 2 } } }, status: NOT_FOUND }] },
  "PATCH /v1.0/:project/configurations/:id": { kind: "private", probes: () => [{ method: "PATCH", path: `/configurations/${a.configuration}`, body: { configuration: { values: { max_connections: 2 } } }, status: NOT_FOUND }] },
  "DELETE /v1.0/:project/configurations/:id": { kind: "private", probes: () => [{ method: "DELETE", path: `/configurations/${a.configuration}`, status: NOT_FOUND }] },

  "GET /v1.0/:project/limits": { kind: "own", probes: get(() => "/limits", [200]) },
  "GET /v1.0/:project/mgmt/quotas/:target": {
    kind: "admin",
    probes: () => [
      { method: "GET", path: `/mgmt/quotas/${A}`, status: [403], admin: [200] },
      { method: "GET", path: `/mgmt/quotas/${B}`, status: [200] },
    ],
  },
  "GET /v1.0/:project/mgmt/drift": {
    kind: "admin",
    probes: () => [{ method: "GET", path: "/mgmt/drift", status: [401], admin: [200] }],
  },
  "PUT /v1.0/:project/mgmt/quotas/:target": {
    kind: "admin",
    probes: () => [
      { method: "PUT", path: `/mgmt/quotas/${A}`, body: { quotas: { instances: 0 } }, status: [401], admin: [200] },
      { method: "PUT", path: `/mgmt/quotas/${B}`, body: { quotas: { instances: 100 } }, status: [401] },
    ],
  },

  "GET /v1.0/:project/subscriptions": { kind: "own", probes: get(() => "/subscriptions", [200]) },
  "POST /v1.0/:project/subscriptions": {
    kind: "own",
    probes: () => [{ method: "POST", path: "/subscriptions", body: { subscription: { url: "http://127.0.0.1:9/b", event_types: ["*"] } }, status: [200] }],
  },
  "GET /v1.0/:project/subscriptions/:id": { kind: "private", probes: get(() => `/subscriptions/${a.subscription}`) },
  "DELETE /v1.0/:project/subscriptions/:id": { kind: "private", probes: () => [{ method: "DELETE", path: `/subscriptions/${a.subscription}`, status: NOT_FOUND }] },

  "GET /v1.0/:project/backups": {
    kind: "own",
    probes: () => [
      { method: "GET", path: "/backups", status: [200] },
      { method: "GET", path: `/backups?instance_id=${a.instance}`, status: [200] },
      { method: "GET", path: "/backups?datastore=mariadb", status: [200] },
    ],
  },
  "POST /v1.0/:project/backups": { kind: "private", probes: () => [{ method: "POST", path: "/backups", body: { backup: { name: "b-steals", instance: a.instance } }, status: NOT_FOUND }] },
  "GET /v1.0/:project/backups/:id": { kind: "private", probes: get(() => `/backups/${a.backup}`) },
  "DELETE /v1.0/:project/backups/:id": { kind: "private", probes: () => [{ method: "DELETE", path: `/backups/${a.backup}`, status: NOT_FOUND }] },
  "GET /v1.0/:project/instances/:id/backups": { kind: "private", probes: get(() => `${inst()}/backups`) },
  "GET /v1.0/:project/backup_schedules": {
    kind: "own",
    probes: () => [
      { method: "GET", path: "/backup_schedules", status: [200] },
      { method: "GET", path: `/backup_schedules?instance_id=${a.instance}`, status: [200] },
    ],
  },
  "POST /v1.0/:project/backup_schedules": {
    kind: "private",
    probes: () => [{ method: "POST", path: "/backup_schedules", body: { backup_schedule: { instance_id: a.instance, cron: "* * * * *", name: "b-steals", retention: 1 } }, status: NOT_FOUND }],
  },
  "GET /v1.0/:project/backup_schedules/:id": { kind: "private", probes: get(() => `/backup_schedules/${a.schedule}`) },
  "DELETE /v1.0/:project/backup_schedules/:id": { kind: "private", probes: () => [{ method: "DELETE", path: `/backup_schedules/${a.schedule}`, status: NOT_FOUND }] },

  "GET /v1.0/:project/events": { kind: "stream", probes: () => [] },
};

/** What of A must never appear in an answer to B. */
const secretsOfA = () => [a.instance, a.configuration, a.subscription, a.backup, a.schedule, a.name, a.db, a.user, a.backupName, a.scheduleName, A];

const url = (project: string, p: string) => (p.startsWith("/v1.0") || p === "/" ? p : `/v1.0/${project}${p}`);

async function send(token: string, project: string, probe: Probe): Promise<{ status: number; text: string }> {
  const res = await fetch(`${hoard.url}${url(project, probe.path)}`, {
    method: probe.method,
    headers: { accept: "application/json", "x-auth-token": token, ...(probe.body !== undefined ? { "content-type": "application/json" } : {}) },
    ...(probe.body !== undefined ? { body: JSON.stringify(probe.body) } : {}),
  });
  return { status: res.status, text: await res.text() };
}

/** What A sees of its own resources; unchanged by anything B does. */
async function aView() {
  const [instance, dbs, users, root, conf, confInstances, sub, quotas, backups, schedule] = await Promise.all([
    call("GET", A, inst(), TOKENS.a),
    call("GET", A, `${inst()}/databases`, TOKENS.a),
    call("GET", A, `${inst()}/users`, TOKENS.a),
    call("GET", A, `${inst()}/root`, TOKENS.a),
    call("GET", A, `/configurations/${a.configuration}`, TOKENS.a),
    call("GET", A, `/configurations/${a.configuration}/instances`, TOKENS.a),
    call("GET", A, `/subscriptions/${a.subscription}`, TOKENS.a),
    call("GET", A, `/mgmt/quotas/${A}`, TOKENS.a),
    call("GET", A, `${inst()}/backups`, TOKENS.a),
    call("GET", A, `/backup_schedules/${a.schedule}`, TOKENS.a),
  ]);
  return {
    instance: { name: instance.body.instance.name, status: instance.body.instance.status, configuration: instance.body.instance.configuration?.id },
    databases: dbs.body.databases,
    users: users.body.users,
    root: root.body,
    configuration: conf.body.configuration.values,
    configurationInstances: confInstances.body.instances,
    subscription: sub.body.subscription.url,
    quotas: quotas.body.quotas,
    backups: backups.body.backups.map((k: { id: string; status: string; updated: string }) => [k.id, k.status, k.updated]),
    schedule: schedule.body.backup_schedule,
  };
}

describe("isolation matrix", () => {
  it("has an entry for every route the gateway serves, and none for a route it does not", () => {
    const served = routes.map(routeKey);
    expect(served.filter((k) => !(k in MATRIX)), "routes without an isolation entry").toEqual([]);
    expect(Object.keys(MATRIX).filter((k) => !served.includes(k)), "entries for routes the gateway does not serve").toEqual([]);
  });

  it("lets no token work on another project's path, for any route", async () => {
    for (const r of routes.filter((r) => r.url.includes(":project"))) {
      for (const probe of MATRIX[routeKey(r)]!.probes()) {
        for (const [token, who] of [[TOKENS.b, "B"], [TOKENS.bAdmin, "B's admin"]] as const) {
          const res = await send(token, A, probe);
          expect(res.status, `${who} on A's path: ${probe.method} ${probe.path} → ${res.text}`).toBe(403);
          expect(JSON.parse(res.text).forbidden.message).toContain(B);
        }
      }
    }
  });

  it("keeps A's resources from B on every route: refused or unseen, nothing of A in any answer, nothing of A changed", async () => {
    const viewBefore = await aView();
    let digest = await settledDigest(client, hoard.nc);
    for (const r of routes) {
      const entry = MATRIX[routeKey(r)]!;
      for (const probe of entry.probes()) {
        const res = await send(TOKENS.b, B, probe);
        const label = `${entry.kind} ${probe.method} ${probe.path} as B → ${res.status} ${res.text.slice(0, 300)}`;
        expect(probe.status, label).toContain(res.status);
        // An id B sent may come back in the refusal ("Instance <id> could not be found"); nothing else of A may.
        const asked = `${probe.path} ${JSON.stringify(probe.body ?? "")}`;
        for (const secret of secretsOfA().filter((s) => !asked.includes(s))) expect(res.text.includes(secret), `${label} shows A's ${secret}`).toBe(false);
        if (res.status >= 400) {
          const body = JSON.parse(res.text);
          const fault = Object.values(body)[0] as { code: number; message: string };
          expect(fault.code, label).toBe(res.status);
          expect(fault.message.length, label).toBeGreaterThan(0);
          // Refused: nothing anywhere changed.
          const after = await stateDigest(client, hoard.nc);
          expect(changed(digest, after), label).toEqual([]);
        } else {
          digest = await settledDigest(client, hoard.nc);
        }
      }
    }
    // B's limits are B's: A's own quota is not among them.
    const limits = await call("GET", B, "/limits", TOKENS.b);
    expect(limits.body.limits[0].max_backups).not.toBe(A_BACKUPS_QUOTA);
    expect(await aView()).toEqual(viewBefore);
  });

  it("refuses every admin-only request to a non-admin, and lets an admin do it", async () => {
    const adminProbes = routes.flatMap((r) => MATRIX[routeKey(r)]!.probes().filter((p) => p.admin).map((p) => ({ r, p })));
    expect(adminProbes.length).toBeGreaterThanOrEqual(3);
    for (const { p } of adminProbes) {
      // A refusal for the role holds for A itself too, on its own resources.
      if (p.status.includes(401)) {
        const own = await send(TOKENS.a, A, p);
        expect(own.status, `${p.method} ${p.path} as A without admin → ${own.text}`).toBe(401);
        expect(JSON.parse(own.text).unauthorized.message).toMatch(/admin/i);
      }
      const admin = await send(TOKENS.aAdmin, A, p);
      expect(p.admin, `${p.method} ${p.path} as A's admin → ${admin.text}`).toContain(admin.status);
    }
  });

  it("streams to B none of A's events", async () => {
    const open = async (project: string, token: string) => {
      const controller = new AbortController();
      const res = await fetch(`${hoard.url}/v1.0/${project}/events`, { headers: { "x-auth-token": token }, signal: controller.signal });
      expect(res.status).toBe(200);
      const reader = res.body!.getReader();
      let text = "";
      void (async () => {
        try {
          for (;;) {
            const { value, done } = await reader.read();
            if (done) return;
            text += new TextDecoder().decode(value);
          }
        } catch {
          // aborted
        }
      })();
      return { text: () => text, close: () => controller.abort() };
    };
    const streamA = await open(A, TOKENS.a);
    const streamB = await open(B, TOKENS.b);
    // Restarting A's instance publishes A's status changes.
    expect((await call("POST", A, `${inst()}/action`, TOKENS.a, { restart: {} })).status).toBe(202);
    await eventually(async () => (streamA.text().includes(a.instance) && streamA.text().includes("instance.status_changed") ? true : undefined), 30_000);
    await eventually(async () => ((await call("GET", A, inst(), TOKENS.a)).body.instance.status === "ACTIVE" ? true : undefined), 30_000);
    await new Promise((r) => setTimeout(r, 500));
    streamA.close();
    streamB.close();
    for (const secret of secretsOfA()) expect(streamB.text()).not.toContain(secret);
  });
});
