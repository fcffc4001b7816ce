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
import { createTestDatabase, dropTestDatabase } from "../kit/test-database.js";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../config/index.js";
import { makeEvent, nodeCommands, publicEvents, sources, workEvents, type CloudEvent, type EventKind } from "../../events/index.js";
import { functions } from "../../functions/index.js";
import { lambdaContext, type FunctionDeps, type GuestCaller } from "../../runtime/index.js";
import { connect, migrate, seed, type Db, type InstanceRow } from "../../store/index.js";

const NODE = "local";
const dbName = `hoard_redelivery_${process.pid}`;
let db: Db;
let deps: FunctionDeps;
let home: string;

beforeAll(async () => {
  db = connect(await createTestDatabase(dbName));
  await migrate(db, () => seed(db));
  home = mkdtempSync(path.join(os.tmpdir(), "hoard-redelivery-"));
  const guests: GuestCaller = new Proxy({} as GuestCaller, {
    get: () => () => Promise.reject(new Error("no guest call is expected from a work function")),
  });
  // Its subscriptions name the discard port on loopback, which webhooks reach only where the operator allows.
  deps = { db, config: loadConfig({ HOARD_HOME: home }, { webhooks: { allow: ["127.0.0.1:9"] } }), log: pino({ level: "silent" }), guests };
});
afterAll(async () => {
  await db?.destroy();
  await dropTestDatabase(dbName);
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
function request<R = unknown>(name: string, data: Record<string, unknown>, project: string, roles: string[] = []): Promise<R> {
  return run<R>(name, makeEvent(`hoard.fn.${name}`, sources.gateway, { caller: { project, roles, host: "localhost" }, ...data }));
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

const artifact = (backupId: string) => ({
  location: `backups/${backupId}.tar.zst`, sizeBytes: 1024, checksum: "ab".repeat(32), dataBytes: 4096,
  strategy: "mariadb-snapshot", manager: "mariadb", version: "10.11", lockMs: 3,
});
const backupStarted = (id: string, backupId: string, eventId?: string) => report(workEvents.guestBackupStarted, { instanceId: id, node: NODE, backupId }, eventId);
const backedUp = (id: string, backupId: string, eventId?: string) => report(workEvents.guestBackedUp, { instanceId: id, node: NODE, backupId, artifact: artifact(backupId) }, eventId);
const fileDeleted = (backupId: string, eventId?: string) => report(workEvents.backupFileDeleted, { node: NODE, backupId }, eventId);
const rolledBack = (id: string, backupId: string, eventId?: string) => report(workEvents.guestRolledBack, { instanceId: id, node: NODE, backupId }, eventId);
const backupFailed = (id: string, backupId: string, eventId?: string) => report(workEvents.guestActionFailed, { instanceId: id, node: NODE, action: "backup", backupId, message: "backup went wrong" }, eventId);
const due = () => makeEvent(workEvents.backupSchedulesDue.type, sources.functions, { at: new Date().toISOString() });

/** A backup of an ACTIVE instance, asked for as the API asks (NEW, the instance in BACKUP). */
async function backedUpInstance(): Promise<{ id: string; project: string; backupId: string }> {
  const i = await active();
  const b = await request<{ id: string }>("backup-create", { body: { name: "b", instance: i.id } }, i.project);
  return { ...i, backupId: b.id };
}

async function backup(backupId: string): Promise<{ status: string; artifact: unknown; fail_reason: string | null } | undefined> {
  return db("backups").where({ id: backupId }).first();
}

/** A schedule of an ACTIVE instance keeping `retention` backups, due now. */
async function dueSchedule(retention: number): Promise<{ id: string; project: string; scheduleId: string }> {
  const i = await active();
  const s = await request<{ id: string }>("backup-schedule-create", { body: { instance_id: i.id, cron: "0 3 * * *", name: "nightly", retention } }, i.project);
  await makeDue(s.id);
  return { ...i, scheduleId: s.id };
}
const makeDue = (scheduleId: string) => db("backup_schedules").where({ id: scheduleId }).update({ next_run_at: new Date(Date.now() - 60_000) });

/** An ACTIVE instance with a COMPLETED backup, put in ROLLING_BACK as the rollback request leaves it (its checksum check needs a tracker, which this file runs none of). */
async function rollingBack(): Promise<{ id: string; project: string; backupId: string }> {
  const b = await backedUpInstance();
  await run("backup-completed", backedUp(b.id, b.backupId));
  await db("instances").where({ id: b.id }).update({ task: "ROLLING_BACK" });
  return b;
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
  backup: nodeCommands.backup.type,
  deleteBackup: nodeCommands.deleteBackup.type,
  rollback: nodeCommands.rollback.type,
  backupCreated: publicEvents.backupCreated.type,
  backupCompleted: publicEvents.backupCompleted.type,
  backupFailed: publicEvents.backupFailed.type,
  backupDeleted: publicEvents.backupDeleted.type,
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
    {
      kind: "reorder",
      name: "a failed backup after it completed: stays COMPLETED, no backup.failed, the instance untouched",
      async run() {
        const { id, backupId } = await backedUpInstance();
        await run("backup-completed", backedUp(id, backupId));
        const before = await row(id);
        await run("instance-failed", backupFailed(id, backupId));
        const b = await backup(backupId);
        expect([b!.status, b!.fail_reason]).toEqual(["COMPLETED", null]);
        expect(count(await queued(id), T.backupFailed)).toBe(0);
        expect((await row(id)).task).toBe(before.task);
      },
    },
    {
      kind: "duplicate",
      name: "a failed backup reported twice: FAILED once, one backup.failed, the instance given back once",
      async run() {
        const { id, backupId } = await backedUpInstance();
        const e = backupFailed(id, backupId);
        await Promise.all([run("instance-failed", e), run("instance-failed", e)]);
        await run("instance-failed", backupFailed(id, backupId));
        expect((await backup(backupId))!.status).toBe("FAILED");
        expect((await row(id)).task).toBe("NONE");
        const q = await queued(id);
        expect(count(q, T.backupFailed)).toBe(1);
        expect(count(q, T.statusChanged)).toBe(2);
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
      name: "an older change's failure reported after the newer change was applied: no fault; the newer's own failure does set it",
      async run() {
        const { id, project } = await active();
        const group = await request<{ id: string }>("configuration-create", { body: { name: "g", values: { max_connections: { number: "200" } }, datastore: { type: "mariadb", version: "10.11" } } }, project);
        await request("instance-update", { instanceId: id, configuration: group.id }, project);
        await request("instance-update", { instanceId: id, configuration: null }, project);
        const rows: { event: CloudEvent }[] = await db("outbox").where("subject", nodeCommands.configure.subject(NODE)).whereRaw("event->'data'->>'instanceId' = ?", [id]).orderBy("seq");
        const [attach, detach] = rows.map((r) => nodeCommands.configure.data.parse(r.event.data).requestedAt!);
        expect(Date.parse(attach!)).toBeLessThan(Date.parse(detach!));
        const failure = (requestedAt: string) => report(workEvents.guestActionFailed, { instanceId: id, node: NODE, action: "configure", message: "max_connections refused", requestedAt });
        await run("instance-configured", report(workEvents.guestConfigured, { instanceId: id, node: NODE, requestedAt: detach }));
        await run("instance-failed", failure(attach!));
        expect((await row(id)).fault_message).toBeNull();
        await run("instance-failed", failure(detach!));
        expect((await row(id)).fault_message).toBe("max_connections refused");
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
  "backup-started": [
    {
      kind: "duplicate",
      name: "started twice, and to two runtimes at once: BUILDING, one backup command, one backup.created",
      async run() {
        const { id, backupId } = await backedUpInstance();
        const e = backupStarted(id, backupId);
        await run("backup-started", e);
        await Promise.all([run("backup-started", e), run("backup-started", backupStarted(id, backupId))]);
        expect((await backup(backupId))!.status).toBe("BUILDING");
        const q = await queued(id);
        expect([count(q, T.backup), count(q, T.backupCreated)]).toEqual([1, 1]);
      },
    },
    {
      kind: "reorder",
      name: "started after the backup completed, or after it failed: the end stands",
      async run() {
        const done = await backedUpInstance();
        await run("backup-completed", backedUp(done.id, done.backupId));
        await run("backup-started", backupStarted(done.id, done.backupId));
        expect((await backup(done.backupId))!.status).toBe("COMPLETED");
        expect((await row(done.id)).task).toBe("NONE");
        const failedOne = await backedUpInstance();
        await run("instance-failed", backupFailed(failedOne.id, failedOne.backupId));
        await run("backup-started", backupStarted(failedOne.id, failedOne.backupId));
        expect((await backup(failedOne.backupId))!.status).toBe("FAILED");
        expect((await row(failedOne.id)).task).toBe("NONE");
      },
    },
  ],
  "backup-completed": [
    {
      kind: "duplicate",
      name: "completed twice (the same report, to two runtimes at once): COMPLETED once, one backup.completed, the instance given back once",
      async run() {
        const { id, backupId } = await backedUpInstance();
        await run("backup-started", backupStarted(id, backupId));
        const e = backedUp(id, backupId);
        await Promise.all([run("backup-completed", e), run("backup-completed", e)]);
        await run("backup-completed", e);
        const b = await backup(backupId);
        expect(b!.status).toBe("COMPLETED");
        expect(b!.artifact).toEqual(artifact(backupId));
        expect((await row(id)).task).toBe("NONE");
        const q = await queued(id);
        expect(count(q, T.backupCompleted)).toBe(1);
        // BACKUP (the request), then ACTIVE (the report): no third.
        expect(count(q, T.statusChanged)).toBe(2);
        expect(count(q, T.deleteBackup)).toBe(0);
      },
    },
    {
      kind: "duplicate",
      name: "completed reported again under a new event id (the tracker's retry): the completed backup's file is kept",
      async run() {
        const { id, backupId } = await backedUpInstance();
        await run("backup-completed", backedUp(id, backupId));
        await run("backup-completed", backedUp(id, backupId));
        expect((await backup(backupId))!.status).toBe("COMPLETED");
        const q = await queued(id);
        expect(count(q, T.backupCompleted)).toBe(1);
        expect(count(q, T.deleteBackup), "a delete command for the file of a COMPLETED backup").toBe(0);
      },
    },
    {
      kind: "duplicate",
      name: "a scheduled backup completed twice: one retention pass, the oldest removed once",
      async run() {
        const { id, scheduleId } = await dueSchedule(1);
        await run("backup-schedule-run", due());
        const first: { id: string } = await db("backups").where({ schedule_id: scheduleId }).first();
        await run("backup-completed", backedUp(id, first.id));
        await makeDue(scheduleId);
        await run("backup-schedule-run", due());
        const second: { id: string } = await db("backups").where({ schedule_id: scheduleId }).whereNot({ id: first.id }).first();
        const e = backedUp(id, second.id);
        await run("backup-completed", e);
        await run("backup-completed", e);
        await run("backup-completed", backedUp(id, second.id));
        expect((await backup(first.id))!.status).toBe("DELETING");
        expect((await backup(second.id))!.status).toBe("COMPLETED");
        const q = await queued(id);
        expect(count(q, T.deleteBackup)).toBe(1);
        expect(count(q, T.backupCompleted)).toBe(2);
      },
    },
    {
      kind: "reorder",
      name: "completed before its started report: COMPLETED, and the late start changes nothing",
      async run() {
        const { id, backupId } = await backedUpInstance();
        await run("backup-completed", backedUp(id, backupId));
        await run("backup-started", backupStarted(id, backupId));
        expect((await backup(backupId))!.status).toBe("COMPLETED");
        expect((await row(id)).task).toBe("NONE");
        expect(count(await queued(id), T.backupCompleted)).toBe(1);
      },
    },
    {
      kind: "reorder",
      name: "completed after the backup was reported failed: stays FAILED, the orphan file is deleted, no backup.completed",
      async run() {
        const { id, backupId } = await backedUpInstance();
        await run("instance-failed", backupFailed(id, backupId));
        await run("backup-completed", backedUp(id, backupId));
        const b = await backup(backupId);
        expect([b!.status, b!.fail_reason]).toEqual(["FAILED", "backup went wrong"]);
        const q = await queued(id);
        expect(count(q, T.backupCompleted)).toBe(0);
        expect(count(q, T.backupFailed)).toBe(1);
        expect(count(q, T.deleteBackup)).toBe(1);
      },
    },
  ],
  "backup-file-deleted": [
    {
      kind: "duplicate",
      name: "file deleted reported twice (and to two runtimes at once): the row goes once, one backup.deleted",
      async run() {
        const { id, project, backupId } = await backedUpInstance();
        await run("backup-completed", backedUp(id, backupId));
        await request("backup-delete", { backupId }, project);
        expect((await backup(backupId))!.status).toBe("DELETING");
        const e = fileDeleted(backupId);
        await Promise.all([run("backup-file-deleted", e), run("backup-file-deleted", e)]);
        await run("backup-file-deleted", fileDeleted(backupId));
        expect(await backup(backupId)).toBeUndefined();
        const q = await queued(id);
        expect(count(q, T.backupDeleted)).toBe(1);
        expect(count(q, T.deleteBackup)).toBe(1);
      },
    },
    {
      kind: "reorder",
      name: "file deleted for a backup nobody deletes (an orphan's file of a FAILED backup, a COMPLETED one): the row stays",
      async run() {
        const orphan = await backedUpInstance();
        await run("instance-failed", backupFailed(orphan.id, orphan.backupId));
        await run("backup-completed", backedUp(orphan.id, orphan.backupId));
        await run("backup-file-deleted", fileDeleted(orphan.backupId));
        expect((await backup(orphan.backupId))!.status).toBe("FAILED");
        const kept = await backedUpInstance();
        await run("backup-completed", backedUp(kept.id, kept.backupId));
        await run("backup-file-deleted", fileDeleted(kept.backupId));
        expect((await backup(kept.backupId))!.status).toBe("COMPLETED");
        expect(count(await queued(kept.id), T.backupDeleted)).toBe(0);
      },
    },
    {
      kind: "reorder",
      name: "file deleted after the delete was reported failed: stays DELETE_FAILED (a retry deletes it)",
      async run() {
        const { id, project, backupId } = await backedUpInstance();
        await run("backup-completed", backedUp(id, backupId));
        await request("backup-delete", { backupId }, project);
        await run("instance-failed", report(workEvents.guestActionFailed, { instanceId: id, node: NODE, action: "delete-backup", backupId, message: "store down" }));
        await run("backup-file-deleted", fileDeleted(backupId));
        expect((await backup(backupId))!.status).toBe("DELETE_FAILED");
        await request("backup-delete", { backupId }, project);
        await run("backup-file-deleted", fileDeleted(backupId));
        expect(await backup(backupId)).toBeUndefined();
        expect(count(await queued(id), T.backupDeleted)).toBe(1);
      },
    },
  ],
  "instance-rolled-back": [
    {
      kind: "duplicate",
      name: "rolled back twice (the same report, to two runtimes at once, and a new id): ACTIVE once, one status change",
      async run() {
        const { id, backupId } = await rollingBack();
        const q0 = await queued(id);
        const e = rolledBack(id, backupId);
        await Promise.all([run("instance-rolled-back", e), run("instance-rolled-back", e)]);
        await run("instance-rolled-back", rolledBack(id, backupId));
        const r = await row(id);
        expect([r.task, r.server_status]).toEqual(["NONE", "ACTIVE"]);
        expect(count(await queued(id), T.statusChanged) - count(q0, T.statusChanged)).toBe(1);
      },
    },
    {
      kind: "reorder",
      name: "rolled back after the rollback was reported failed: the fault stays, no status change",
      async run() {
        const { id, backupId } = await rollingBack();
        await run("instance-failed", report(workEvents.guestActionFailed, { instanceId: id, node: NODE, action: "rollback", backupId, message: "rollback went wrong" }));
        const q0 = await queued(id);
        await run("instance-rolled-back", rolledBack(id, backupId));
        const r = await row(id);
        expect([r.task, r.fault_message]).toEqual(["NONE", "rollback went wrong"]);
        expect(await queued(id)).toEqual(q0);
      },
    },
    {
      kind: "reorder",
      name: "rolled back after the instance was deleted: not brought back",
      async run() {
        const { id, project, backupId } = await rollingBack();
        await request("instance-action", { instanceId: id, action: "reset_status" }, project, ["admin"]);
        await request("instance-delete", { instanceId: id }, project);
        await run("instance-deprovisioned", deprovisioned(id));
        const before = await row(id);
        expect(before.deleted_at).not.toBeNull();
        const q0 = await queued(id);
        await run("instance-rolled-back", rolledBack(id, backupId));
        expect(await row(id)).toEqual(before);
        expect(await queued(id)).toEqual(q0);
      },
    },
  ],
  "backup-schedule-run": [
    {
      kind: "duplicate",
      name: "the same due tick twice, and to two runtimes at once: the slot fires once, one backup",
      async run() {
        const { id, scheduleId } = await dueSchedule(3);
        const e = due();
        await Promise.all([run("backup-schedule-run", e), run("backup-schedule-run", e), run("backup-schedule-run", due())]);
        await run("backup-schedule-run", e);
        expect(await db("backups").where({ schedule_id: scheduleId })).toHaveLength(1);
        const q = await queued(id);
        expect([count(q, T.backup), count(q, T.backupCreated)]).toEqual([1, 1]);
        const s = await db("backup_schedules").where({ id: scheduleId }).first();
        expect(s.next_run_at.getTime()).toBeGreaterThan(Date.now());
      },
    },
    {
      kind: "reorder",
      name: "a due tick after the schedule was deleted, or after its instance was: no backup",
      async run() {
        const gone = await dueSchedule(3);
        await request("backup-schedule-delete", { scheduleId: gone.scheduleId }, gone.project);
        await run("backup-schedule-run", due());
        expect(await db("backups").where({ schedule_id: gone.scheduleId })).toEqual([]);
        const orphan = await dueSchedule(3);
        await db("backup_schedules").where({ id: orphan.scheduleId }).update({ next_run_at: null });
        await request("instance-delete", { instanceId: orphan.id }, orphan.project);
        await run("instance-deprovisioned", deprovisioned(orphan.id));
        await makeDue(orphan.scheduleId);
        await run("backup-schedule-run", due());
        expect(await db("backups").where({ schedule_id: orphan.scheduleId })).toEqual([]);
        expect(count(await queued(orphan.id), T.backup)).toBe(0);
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
