/**
 * Duplicates and reordering: every function fed by JetStream (the registry's `work` functions: trackers'
 * results, heartbeats, public events) gets the same event twice and events out of order, and must leave the
 * rows right with every step done once: no second command to a tracker, no second public event.
 *
 * The handlers run as the runtime runs them (their Lambda handler with the runtime's context) against a
 * real, migrated Postgres of their own; with no relay draining it, the outbox shows everything each step
 * asked for. A work function without scenarios here fails the first test.
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { loadConfig } from "../config/index.js";
import { makeEvent, publicEvents, sources, workEvents, type CloudEvent, type EventKind } from "../events/index.js";
import { functions } from "../functions/index.js";
import { lambdaContext, type FunctionDeps, type GuestCaller } from "../runtime/index.js";
import { connect, migrate, seed, type Db, type InstanceRow } from "../store/index.js";

const NODE = "local";
const dbName = `hoard_redelivery_${process.pid}`;
let db: Db;
let deps: FunctionDeps;
let home: string;

beforeAll(async () => {
  const admin = new pg.Client({ connectionString: inject("databaseUrl") });
  await admin.connect();
  await admin.query(`create database ${dbName}`);
  await admin.end();
  const url = new URL(inject("databaseUrl"));
  url.pathname = `/${dbName}`;
  db = connect(url.toString());
  await migrate(db, () => seed(db));
  home = mkdtempSync(path.join(os.tmpdir(), "hoard-redelivery-"));
  const guests: GuestCaller = new Proxy({} as GuestCaller, {
    get: () => () => Promise.reject(new Error("no guest call is expected from a work function")),
  });
  deps = { db, config: loadConfig({ HOARD_HOME: home }), log: pino({ level: "silent" }), guests };
});
afterAll(async () => {
  await db?.destroy();
  const admin = new pg.Client({ connectionString: inject("databaseUrl") });
  await admin.connect();
  await admin.query(`drop database if exists ${dbName} with (force)`);
  await admin.end();
  if (home) rmSync(home, { recursive: true, force: true });
});

// ---- running functions as the runtime does ----

const byName = (name: string) => {
  const fn = functions.find((f) => f.name === name);
  if (!fn) throw new Error(`no function ${name} in the registry`);
  return fn;
};

/** Runs a function on an event, as the work host (or the request host) would. */
async function run<R = unknown>(name: string, event: CloudEvent): Promise<R> {
  const fn = byName(name);
  return (await fn.handler(event, lambdaContext(fn, event.id, deps))) as R;
}

/** A tracker's report of `kind`, with an id of its own unless given (a redelivery keeps the id). */
function report<K extends EventKind<any>>(kind: K, data: unknown, id: string = randomUUID()): CloudEvent {
  return makeEvent(kind.type, sources.tracker(NODE), kind.data.parse(data), { id });
}

/** Calls a request function as the gateway would, for the project `project`. */
function request<R = unknown>(name: string, data: Record<string, unknown>, project: string): Promise<R> {
  return run<R>(name, makeEvent(`hoard.fn.${name}`, sources.gateway, { caller: { project, roles: [], host: "localhost" }, ...data }));
}

/** A new instance in BUILD, in a project of its own. */
async function created(opts: { autoRestart?: boolean } = {}): Promise<{ id: string; project: string }> {
  const project = `p-${randomUUID().slice(0, 8)}`;
  const body = { name: "dup", flavorRef: "1", volume: { size: 1 }, datastore: { type: "mariadb", version: "10.11" }, ...(opts.autoRestart ? { auto_restart: true } : {}) };
  const record = await request<{ id: string }>("instance-create", { body }, project);
  return { id: record.id, project };
}

const address = { address: "127.0.0.1", port: 40_001, network: "n" };
const provisioned = (id: string, eventId?: string) => report(workEvents.guestProvisioned, { instanceId: id, node: NODE, address, startedMs: 5 }, eventId);
const failed = (id: string, action: string, eventId?: string) => report(workEvents.guestActionFailed, { instanceId: id, node: NODE, action, message: `${action} went wrong` }, eventId);
const deprovisioned = (id: string, eventId?: string) => report(workEvents.guestDeprovisioned, { instanceId: id, node: NODE }, eventId);
const heartbeat = (id: string, health: string, at: Date) => report(workEvents.guestHeartbeat, { node: NODE, at: at.toISOString(), guests: [{ instanceId: id, health }] });

/** An ACTIVE instance (its guest reported up). */
async function active(opts: { autoRestart?: boolean } = {}) {
  const i = await created(opts);
  await run("instance-provisioned", provisioned(i.id));
  expect((await row(i.id)).server_status).toBe("ACTIVE");
  return i;
}

// ---- what the state says ----

async function row(id: string): Promise<InstanceRow> {
  return db("instances").where({ id }).first();
}

/** The types of everything queued about an instance, in order: commands to its tracker and public events. */
async function queued(id: string): Promise<string[]> {
  const rows: { type: string }[] = await db("outbox").whereRaw("event->'data'->>'instanceId' = ?", [id]).orderBy("seq").select(db.raw("event->>'type' as type"));
  return rows.map((r) => r.type);
}
const count = (types: string[], type: string) => types.filter((t) => t === type).length;

const T = {
  provision: "hoard.instance.provision.requested",
  deprovision: "hoard.instance.deprovision.requested",
  restart: "hoard.instance.restart.requested",
  active: publicEvents.instanceActive.type,
  error: publicEvents.instanceError.type,
  deleted: publicEvents.instanceDeleted.type,
  statusChanged: publicEvents.instanceStatusChanged.type,
  resized: publicEvents.instanceResized.type,
};

// ---- the scenarios, per work function ----

interface Scenario {
  kind: "duplicate" | "reorder";
  name: string;
  run(): Promise<void>;
}

const SCENARIOS: Record<string, Scenario[]> = {
  "instance-provisioned": [
    {
      kind: "duplicate",
      name: "the same report twice: ACTIVE once, one instance.active, no deprovision",
      async run() {
        const { id } = await created();
        const e = provisioned(id);
        await run("instance-provisioned", e);
        await run("instance-provisioned", e);
        expect((await row(id)).server_status).toBe("ACTIVE");
        const q = await queued(id);
        expect(count(q, T.active)).toBe(1);
        expect(count(q, T.deprovision)).toBe(0);
      },
    },
    {
      kind: "duplicate",
      name: "the same report to two runtimes at once: ACTIVE once, one instance.active",
      async run() {
        const { id } = await created();
        const e = provisioned(id);
        await Promise.all([run("instance-provisioned", e), run("instance-provisioned", e), run("instance-provisioned", provisioned(id))]);
        expect((await row(id)).server_status).toBe("ACTIVE");
        const q = await queued(id);
        expect(count(q, T.active)).toBe(1);
        expect(count(q, T.deprovision)).toBe(0);
      },
    },
    {
      kind: "duplicate",
      name: "a second report of the same guest under a new id (a provision redone): the live guest is kept",
      async run() {
        const { id } = await created();
        await run("instance-provisioned", provisioned(id));
        await run("instance-provisioned", provisioned(id));
        const r = await row(id);
        expect([r.server_status, r.task, r.deleted_at]).toEqual(["ACTIVE", "NONE", null]);
        const q = await queued(id);
        expect(count(q, T.active)).toBe(1);
        expect(count(q, T.deprovision), "a deprovision command for an ACTIVE instance's only guest").toBe(0);
      },
    },
    {
      kind: "reorder",
      name: "provisioned after the build failed and the instance was deleted: the late guest is removed, the row goes once",
      async run() {
        const { id, project } = await created();
        await run("instance-failed", failed(id, "provision"));
        await request("instance-delete", { instanceId: id }, project);
        expect((await row(id)).task).toBe("DELETING");
        await run("instance-provisioned", provisioned(id));
        let r = await row(id);
        expect([r.task, r.deleted_at]).toEqual(["DELETING", null]);
        expect(count(await queued(id), T.deprovision)).toBe(2);
        // Both deprovision commands report back.
        await run("instance-deprovisioned", deprovisioned(id));
        await run("instance-deprovisioned", deprovisioned(id));
        r = await row(id);
        expect(r.deleted_at).not.toBeNull();
        const q = await queued(id);
        expect(count(q, T.deleted)).toBe(1);
        expect(count(q, T.active)).toBe(0);
      },
    },
    {
      kind: "reorder",
      name: "provisioned after the instance is gone: not brought back, the guest is removed",
      async run() {
        const { id, project } = await active();
        await request("instance-delete", { instanceId: id }, project);
        await run("instance-deprovisioned", deprovisioned(id));
        await run("instance-provisioned", provisioned(id));
        const r = await row(id);
        expect(r.deleted_at).not.toBeNull();
        const q = await queued(id);
        expect(count(q, T.active)).toBe(1);
        expect(count(q, T.deleted)).toBe(1);
        expect(count(q, T.deprovision)).toBe(2);
      },
    },
  ],
  "instance-failed": [
    {
      kind: "duplicate",
      name: "a failed build reported twice: ERROR once, one instance.error",
      async run() {
        const { id } = await created();
        const e = failed(id, "provision");
        await run("instance-failed", e);
        await run("instance-failed", e);
        await run("instance-failed", failed(id, "provision"));
        const r = await row(id);
        expect([r.server_status, r.task]).toEqual(["ERROR", "BUILDING_ERROR_SERVER"]);
        expect(count(await queued(id), T.error)).toBe(1);
      },
    },
    {
      kind: "reorder",
      name: "failed after provisioned (an earlier attempt's report): the instance stays ACTIVE without a fault",
      async run() {
        const { id } = await active();
        await run("instance-failed", failed(id, "provision"));
        const r = await row(id);
        expect([r.server_status, r.task, r.fault_message]).toEqual(["ACTIVE", "NONE", null]);
        expect(count(await queued(id), T.error)).toBe(0);
      },
    },
    {
      kind: "reorder",
      name: "a failed removal after the instance is gone: not brought back",
      async run() {
        const { id, project } = await active();
        await request("instance-delete", { instanceId: id }, project);
        await run("instance-deprovisioned", deprovisioned(id));
        await run("instance-failed", failed(id, "deprovision"));
        const r = await row(id);
        expect(r.deleted_at).not.toBeNull();
        expect(r.server_status).toBe("SHUTDOWN");
        expect(count(await queued(id), T.error)).toBe(0);
      },
    },
    {
      kind: "duplicate",
      name: "a failed stop or start, reported twice: the task ends with the reason as the fault, once",
      async run() {
        const { id, project } = await active();
        await request("instance-action", { instanceId: id, action: "stop" }, project);
        const e = failed(id, "stop");
        await run("instance-failed", e);
        await run("instance-failed", e);
        let r = await row(id);
        expect([r.task, r.server_status, r.fault_message]).toEqual(["NONE", "ACTIVE", "stop went wrong"]);
        // Stopped after all (a later attempt), then a failed start: SHUTDOWN, the start's reason shown.
        await request("instance-action", { instanceId: id, action: "stop" }, project);
        await run("instance-engine-changed", report(workEvents.guestStopped, { instanceId: id, node: NODE }));
        await request("instance-action", { instanceId: id, action: "start" }, project);
        await run("instance-failed", failed(id, "start"));
        r = await row(id);
        expect([r.task, r.server_status, r.fault_message]).toEqual(["NONE", "SHUTDOWN", "start went wrong"]);
      },
    },
    {
      kind: "reorder",
      name: "a failed restart after the restart succeeded: no fault",
      async run() {
        const { id, project } = await active();
        await request("instance-action", { instanceId: id, action: "restart" }, project);
        await run("instance-engine-changed", report(workEvents.guestRestarted, { instanceId: id, node: NODE }));
        await run("instance-failed", failed(id, "restart"));
        const r = await row(id);
        expect([r.task, r.fault_message]).toEqual(["NONE", null]);
      },
    },
  ],
  "instance-deprovisioned": [
    {
      kind: "duplicate",
      name: "removed twice (the same report, and the report of a second command): one instance.deleted",
      async run() {
        const { id, project } = await active();
        await request("instance-delete", { instanceId: id }, project);
        const e = deprovisioned(id);
        await run("instance-deprovisioned", e);
        await run("instance-deprovisioned", e);
        await run("instance-deprovisioned", deprovisioned(id));
        expect((await row(id)).deleted_at).not.toBeNull();
        expect(count(await queued(id), T.deleted)).toBe(1);
        expect(await db("volumes").where({ instance_id: id }).whereNull("deleted_at")).toEqual([]);
      },
    },
    {
      kind: "duplicate",
      name: "removed, reported to two runtimes at once: one instance.deleted",
      async run() {
        const { id, project } = await active();
        await request("instance-delete", { instanceId: id }, project);
        const e = deprovisioned(id);
        await Promise.all([run("instance-deprovisioned", e), run("instance-deprovisioned", e), run("instance-deprovisioned", deprovisioned(id))]);
        expect((await row(id)).deleted_at).not.toBeNull();
        expect(count(await queued(id), T.deleted)).toBe(1);
      },
    },
    {
      kind: "reorder",
      name: "the late guest of a failed build removed: the instance stays in ERROR until its owner deletes it",
      async run() {
        const { id, project } = await created();
        await run("instance-failed", failed(id, "provision"));
        await run("instance-provisioned", provisioned(id));
        expect(count(await queued(id), T.deprovision)).toBe(1);
        await run("instance-deprovisioned", deprovisioned(id));
        let r = await row(id);
        expect([r.deleted_at, r.server_status, r.fault_message]).toEqual([null, "ERROR", "provision went wrong"]);
        expect(count(await queued(id), T.deleted)).toBe(0);
        await request("instance-delete", { instanceId: id }, project);
        await run("instance-deprovisioned", deprovisioned(id));
        r = await row(id);
        expect(r.deleted_at).not.toBeNull();
        expect(count(await queued(id), T.deleted)).toBe(1);
      },
    },
    {
      kind: "reorder",
      name: "removed before the delete's own report of a failure: stays deleted, no instance.error",
      async run() {
        const { id, project } = await active();
        await request("instance-delete", { instanceId: id }, project);
        await run("instance-deprovisioned", deprovisioned(id));
        await run("instance-failed", failed(id, "deprovision"));
        const r = await row(id);
        expect(r.deleted_at).not.toBeNull();
        expect(count(await queued(id), T.error)).toBe(0);
      },
    },
  ],
  "instance-heartbeat": [
    {
      kind: "duplicate",
      name: "a dead engine's heartbeat twice: one status change, one restart",
      async run() {
        const { id } = await active({ autoRestart: true });
        const e = heartbeat(id, "SHUTDOWN", new Date());
        await run("instance-heartbeat", e);
        await run("instance-heartbeat", e);
        // And the next heartbeat, still dead, while the restart is under way.
        await run("instance-heartbeat", heartbeat(id, "SHUTDOWN", new Date(Date.now() + 1)));
        const r = await row(id);
        expect([r.task, r.auto_restarts]).toEqual(["REBOOTING", 1]);
        const q = await queued(id);
        expect(count(q, T.restart)).toBe(1);
        // HEALTHY → SHUTDOWN, then SHUTDOWN → REBOOT by the restart: one each.
        expect(count(q, T.statusChanged)).toBe(2);
      },
    },
    {
      kind: "duplicate",
      name: "a dead engine's heartbeat to two runtimes at once: one restart",
      async run() {
        const { id } = await active({ autoRestart: true });
        const e = heartbeat(id, "SHUTDOWN", new Date());
        await Promise.all([run("instance-heartbeat", e), run("instance-heartbeat", e), run("instance-heartbeat", heartbeat(id, "SHUTDOWN", new Date(Date.now() + 1)))]);
        const r = await row(id);
        expect([r.task, r.auto_restarts]).toEqual(["REBOOTING", 1]);
        expect(count(await queued(id), T.restart)).toBe(1);
      },
    },
    {
      kind: "reorder",
      name: "a heartbeat before the guest's provisioned report: ACTIVE and HEALTHY after it, one instance.active",
      async run() {
        const { id } = await created();
        await run("instance-heartbeat", heartbeat(id, "HEALTHY", new Date()));
        expect((await row(id)).task).toBe("BUILDING");
        await run("instance-provisioned", provisioned(id));
        const r = await row(id);
        expect([r.task, r.server_status, r.service_status]).toEqual(["NONE", "ACTIVE", "HEALTHY"]);
        const q = await queued(id);
        expect(count(q, T.active)).toBe(1);
        expect(count(q, T.deprovision)).toBe(0);
      },
    },
    {
      kind: "reorder",
      name: "an older heartbeat after a newer one: the newer stands, no event, no restart",
      async run() {
        const { id } = await active({ autoRestart: true });
        const now = Date.now();
        await run("instance-heartbeat", heartbeat(id, "HEALTHY", new Date(now + 2_000)));
        await run("instance-heartbeat", heartbeat(id, "SHUTDOWN", new Date(now + 1_000)));
        const r = await row(id);
        expect([r.service_status, r.task]).toEqual(["HEALTHY", "NONE"]);
        const q = await queued(id);
        expect(count(q, T.restart)).toBe(0);
        expect(count(q, T.statusChanged)).toBe(0);
      },
    },
    {
      kind: "reorder",
      name: "a heartbeat after the instance is gone: nothing changes",
      async run() {
        const { id, project } = await active({ autoRestart: true });
        await request("instance-delete", { instanceId: id }, project);
        await run("instance-deprovisioned", deprovisioned(id));
        const before = await row(id);
        const q0 = await queued(id);
        await run("instance-heartbeat", heartbeat(id, "SHUTDOWN", new Date(Date.now() + 5_000)));
        expect(await row(id)).toEqual(before);
        expect(await queued(id)).toEqual(q0);
      },
    },
    {
      kind: "reorder",
      name: "a dead engine's heartbeat while the instance is being deleted: no restart",
      async run() {
        const { id, project } = await active({ autoRestart: true });
        await request("instance-delete", { instanceId: id }, project);
        await run("instance-heartbeat", heartbeat(id, "SHUTDOWN", new Date(Date.now() + 1_000)));
        const r = await row(id);
        expect(r.task).toBe("DELETING");
        expect(count(await queued(id), T.restart)).toBe(0);
      },
    },
  ],
  "instance-engine-changed": [
    {
      kind: "duplicate",
      name: "restarted twice: ACTIVE once, one status change for it",
      async run() {
        const { id, project } = await active();
        await request("instance-action", { instanceId: id, action: "restart" }, project);
        const e = report(workEvents.guestRestarted, { instanceId: id, node: NODE });
        await run("instance-engine-changed", e);
        await run("instance-engine-changed", e);
        await run("instance-engine-changed", report(workEvents.guestRestarted, { instanceId: id, node: NODE }));
        const r = await row(id);
        expect([r.task, r.server_status]).toEqual(["NONE", "ACTIVE"]);
        // REBOOT (the action), then ACTIVE (the report): no third.
        expect(count(await queued(id), T.statusChanged)).toBe(2);
      },
    },
    {
      kind: "duplicate",
      name: "stopped twice: SHUTDOWN once",
      async run() {
        const { id, project } = await active();
        await request("instance-action", { instanceId: id, action: "stop" }, project);
        const e = report(workEvents.guestStopped, { instanceId: id, node: NODE });
        await run("instance-engine-changed", e);
        await run("instance-engine-changed", e);
        const r = await row(id);
        expect([r.task, r.server_status]).toEqual(["NONE", "SHUTDOWN"]);
        expect(count(await queued(id), T.statusChanged)).toBe(2);
      },
    },
    {
      kind: "reorder",
      name: "a stale 'started' while a stop runs, then 'stopped': SHUTDOWN, the stale one ignored",
      async run() {
        const { id, project } = await active();
        await request("instance-action", { instanceId: id, action: "stop" }, project);
        await run("instance-engine-changed", report(workEvents.guestStarted, { instanceId: id, node: NODE }));
        expect((await row(id)).task).toBe("STOPPING");
        await run("instance-engine-changed", report(workEvents.guestStopped, { instanceId: id, node: NODE }));
        const r = await row(id);
        expect([r.task, r.server_status]).toEqual(["NONE", "SHUTDOWN"]);
      },
    },
  ],
  "instance-configured": [
    {
      kind: "duplicate",
      name: "configured twice after a failure: the fault is cleared, nothing queued",
      async run() {
        const { id } = await active();
        await run("instance-failed", failed(id, "configure"));
        expect((await row(id)).fault_message).toBe("configure went wrong");
        const q0 = await queued(id);
        const e = report(workEvents.guestConfigured, { instanceId: id, node: NODE });
        await run("instance-configured", e);
        await run("instance-configured", e);
        expect((await row(id)).fault_message).toBeNull();
        expect(await queued(id)).toEqual(q0);
      },
    },
    {
      kind: "reorder",
      name: "configured after the instance is gone: not touched",
      async run() {
        const { id, project } = await active();
        await request("instance-delete", { instanceId: id }, project);
        await run("instance-deprovisioned", deprovisioned(id));
        const before = await row(id);
        await run("instance-configured", report(workEvents.guestConfigured, { instanceId: id, node: NODE }));
        expect(await row(id)).toEqual(before);
      },
    },
  ],
  "instance-resized": [
    {
      kind: "duplicate",
      name: "resized twice: the new flavor once, one instance.resized",
      async run() {
        const { id, project } = await active();
        await request("instance-resize", { instanceId: id, flavorRef: "2" }, project);
        const e = report(workEvents.guestResized, { instanceId: id, node: NODE, flavorId: "2" });
        await run("instance-resized", e);
        await run("instance-resized", e);
        await run("instance-resized", report(workEvents.guestResized, { instanceId: id, node: NODE, flavorId: "2" }));
        const r = await row(id);
        expect([r.task, r.flavor_id]).toEqual(["NONE", "2"]);
        expect(count(await queued(id), T.resized)).toBe(1);
      },
    },
    {
      kind: "reorder",
      name: "resized after the resize was reported failed: the old flavor stays",
      async run() {
        const { id, project } = await active();
        await request("instance-resize", { instanceId: id, volumeSizeGb: 2 }, project);
        await run("instance-failed", failed(id, "resize"));
        await run("instance-resized", report(workEvents.guestResized, { instanceId: id, node: NODE, volumeSizeGb: 2 }));
        const r = await row(id);
        expect([r.task, r.fault_message]).toEqual(["NONE", "resize went wrong"]);
        expect((await db("volumes").where({ instance_id: id }).whereNull("deleted_at").first()).size_gb).toBe(1);
        expect(count(await queued(id), T.resized)).toBe(0);
      },
    },
  ],
  "subscription-fanout": [
    {
      kind: "duplicate",
      name: "a public event twice: one delivery",
      async run() {
        const project = `p-${randomUUID().slice(0, 8)}`;
        const sub = await request<{ id: string }>("subscription-create", { body: { url: "http://127.0.0.1:9/dup", event_types: ["*"] } }, project);
        const e = makeEvent(publicEvents.instanceActive.type, sources.functions, { instanceId: randomUUID(), project, name: "x", status: "ACTIVE" });
        await run("subscription-fanout", e);
        await run("subscription-fanout", e);
        const rows = await db("deliveries").where({ subscription_id: sub.id });
        expect(rows.map((d: { event_id: string; seq: string }) => [d.event_id, Number(d.seq)])).toEqual([[e.id, 1]]);
      },
    },
    {
      kind: "reorder",
      name: "events out of order: numbered as they arrive, each once; one from before the subscription is not sent, one from its very millisecond is",
      async run() {
        const project = `p-${randomUUID().slice(0, 8)}`;
        const early = { ...makeEvent(publicEvents.instanceActive.type, sources.functions, { instanceId: randomUUID(), project, name: "x", status: "ACTIVE" }), time: new Date(Date.now() - 60_000).toISOString() };
        const sub = await request<{ id: string }>("subscription-create", { body: { url: "http://127.0.0.1:9/order", event_types: ["*"] } }, project);
        // Stamped (to the millisecond, as event times are) in the very millisecond the subscription was made.
        const made: Date = (await db("subscriptions").where({ id: sub.id }).first("created_at")).created_at;
        const first = { ...makeEvent(publicEvents.instanceActive.type, sources.functions, { instanceId: randomUUID(), project, name: "x", status: "ACTIVE" }), time: made.toISOString() };
        const second = makeEvent(publicEvents.instanceDeleted.type, sources.functions, { instanceId: randomUUID(), project, name: "x", status: "DELETED" });
        for (const e of [second, early, first, second]) await run("subscription-fanout", e);
        const rows = await db("deliveries").where({ subscription_id: sub.id }).orderBy("seq");
        expect(rows.map((d: { event_id: string; seq: string }) => [d.event_id, Number(d.seq)])).toEqual([[second.id, 1], [first.id, 2]]);
      },
    },
  ],
};

describe("redelivery and reordering", () => {
  it("has duplicate and reorder scenarios for every work function of the registry", () => {
    const work = functions.filter((f) => f.trigger.kind === "work").map((f) => f.name);
    expect(work.length).toBeGreaterThan(0);
    for (const name of work) {
      const kinds = new Set((SCENARIOS[name] ?? []).map((s) => s.kind));
      expect([...kinds].sort(), `scenarios of ${name}`).toEqual(["duplicate", "reorder"]);
    }
    expect(Object.keys(SCENARIOS).filter((n) => !work.includes(n)), "scenarios for functions that are not work functions").toEqual([]);
  });

  for (const [name, scenarios] of Object.entries(SCENARIOS)) {
    describe(name, () => {
      for (const s of scenarios) it(`${s.kind}: ${s.name}`, () => s.run());
    });
  }
});
