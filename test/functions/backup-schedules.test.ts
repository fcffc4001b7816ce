/**
 * Scheduled backups (Hoard's addition) on a real MariaDB instance: a seconds-level cron fires and retention
 * keeps the newest backups (the pruned ones' files gone); a slot missed while the control plane was down
 * fires once at start, not once per missed slot; sweeps racing for one slot fire it once; bad cron
 * expressions, time zones and counts are refused with 400 saying what is wrong, creating nothing.
 */
import { existsSync } from "node:fs";
import path from "node:path";
import { jetstream } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pino } from "pino";
import { makeEvent, sources, workEvents } from "../../events/index.js";
import { functions } from "../../functions/index.js";
import { natsGuestCaller } from "../../runtime/guest-caller.js";
import { startFunctionHost } from "../../runtime/index.js";
import { eventually, startHoard, type Hoard } from "../kit/harness.js";

const P = "5c4ed5c4ed5c4ed5c4ed5c4ed5c4ed55";
let hoard: Hoard;
let instance: any;

beforeAll(async () => {
  hoard = await startHoard();
  instance = await hoard.createActive(P, { name: "sched-src", datastore: { type: "mariadb", version: "10.11" }, databases: [{ name: "app" }] });
});
afterAll(async () => {
  await hoard?.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));
const createSchedule = (body: Record<string, unknown>) => hoard.api("POST", P, "/backup_schedules", { backup_schedule: { instance_id: instance.id, name: "nightly", cron: "0 3 * * *", retention: 3, ...body } });
const backupsOf = async (scheduleId: string): Promise<any[]> => (await hoard.api("GET", P, "/backups")).body.backups.filter((b: any) => b.schedule_id === scheduleId);
const untilIdle = () => eventually(async () => {
  const i = (await hoard.api("GET", P, `/instances/${instance.id}`)).body.instance;
  const running = (await hoard.api("GET", P, "/backups")).body.backups.some((b: any) => b.status === "NEW" || b.status === "BUILDING" || b.status === "DELETING");
  return i.status === "ACTIVE" && !running ? true : undefined;
}, 60_000, 100);

/** The wall-clock fields of `d` in time zone `tz`. */
function fieldsIn(d: Date, tz: string): { second: number; minute: number; hour: number; day: number; month: number } {
  const parts = Object.fromEntries(new Intl.DateTimeFormat("en-US", { timeZone: tz, hourCycle: "h23", year: "numeric", month: "numeric", day: "numeric", hour: "numeric", minute: "numeric", second: "numeric" })
    .formatToParts(d).map((p) => [p.type, Number(p.value)]));
  return { second: parts.second!, minute: parts.minute!, hour: parts.hour!, day: parts.day!, month: parts.month! };
}

/**
 * A cron expression in `tz` whose slots are `count` seconds `step` apart starting at least `leadMs` from now,
 * all in one minute, and then none until the same day next year.
 */
function burst(tz: string, leadMs: number, count: number, step: number): { cron: string; first: Date; last: Date } {
  let first = new Date(Math.ceil((Date.now() + leadMs) / 1000) * 1000);
  if (fieldsIn(first, tz).second + (count - 1) * step > 59) first = new Date(first.getTime() + (60 - fieldsIn(first, tz).second) * 1000);
  const f = fieldsIn(first, tz);
  const seconds = Array.from({ length: count }, (_, i) => f.second + i * step);
  return { cron: `${seconds.join(",")} ${f.minute} ${f.hour} ${f.day} ${f.month} *`, first, last: new Date(first.getTime() + (count - 1) * step * 1000) };
}

describe("backup schedules", () => {
  it("refuses bad input with 400 saying what is wrong, and creates nothing", async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ cron: "bad" }, "is not a cron expression"],
      [{ cron: "61 * * * * *" }, "second"],
      [{ cron: "0 0 31 2 *" }, "never fires"],
      [{ timezone: "Mars/Olympus" }, "IANA time zone"],
      [{ retention: 0 }, "at least 1"],
      [{ retention: 2.5 }, "whole number"],
      [{ name: "" }, "backup_schedule.name"],
      [{ every: "day" }, "every"],
    ];
    for (const [body, says] of cases) {
      const r = await createSchedule(body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.badRequest.message, JSON.stringify(body)).toContain(says);
    }
    const noCron = await hoard.api("POST", P, "/backup_schedules", { backup_schedule: { instance_id: instance.id, name: "x", retention: 1 } });
    expect(noCron.status).toBe(400);
    expect(noCron.body.badRequest.message).toContain("backup_schedule.cron");
    const unknown = await createSchedule({ instance_id: "00000000-0000-4000-8000-000000000000" });
    expect(unknown.status).toBe(404);
    expect((await hoard.api("GET", P, "/backup_schedules")).body.backup_schedules).toEqual([]);
  });

  it("creates, lists, shows and deletes a schedule; its next run is the cron's next slot in its time zone", async () => {
    const r = await createSchedule({ cron: "0 30 2 * * *", timezone: "America/New_York", description: "nightly" });
    expect(r.status).toBe(200);
    const s = r.body.backup_schedule;
    expect(s).toMatchObject({ instance_id: instance.id, name: "nightly", cron: "0 30 2 * * *", timezone: "America/New_York", retention: 3, last_run: null });
    const next = new Date(s.next_run);
    expect(fieldsIn(next, "America/New_York")).toMatchObject({ second: 0, minute: 30, hour: 2 });
    expect(next.getTime() - Date.now()).toBeLessThanOrEqual(25 * 3600_000);
    expect((await hoard.api("GET", P, "/backup_schedules")).body.backup_schedules.map((x: any) => x.id)).toEqual([s.id]);
    expect((await hoard.api("GET", P, `/backup_schedules?instance_id=${instance.id}`)).body.backup_schedules.map((x: any) => x.id)).toEqual([s.id]);
    expect((await hoard.api("GET", P, `/backup_schedules/${s.id}`)).body.backup_schedule.id).toBe(s.id);
    expect((await hoard.api("GET", "0therpr0ject0therpr0ject0therpr0", `/backup_schedules/${s.id}`)).status).toBe(404);
    expect((await hoard.api("DELETE", P, `/backup_schedules/${s.id}`)).status).toBe(202);
    expect((await hoard.api("GET", P, `/backup_schedules/${s.id}`)).status).toBe(404);
    expect((await hoard.api("DELETE", P, `/backup_schedules/${s.id}`)).status).toBe(404);
  });

  it("fires a seconds-level cron and keeps only the newest `retention` completed backups, deleting the others' files", { timeout: 120_000 }, async () => {
    const r = await createSchedule({ name: "every4s", cron: "*/4 * * * * *", timezone: "Europe/Berlin", retention: 2 });
    expect(r.status).toBe(200);
    const id = r.body.backup_schedule.id;
    const seen = new Map<string, any>();
    await eventually(async () => {
      const now = await backupsOf(id);
      for (const b of now) if (b.status === "COMPLETED") seen.set(b.id, b);
      const completed = now.filter((b) => b.status === "COMPLETED");
      return seen.size >= 4 && completed.length === 2 && !now.some((b) => b.status === "DELETING") ? true : undefined;
    }, 100_000, 200);
    expect((await hoard.api("DELETE", P, `/backup_schedules/${id}`)).status).toBe(202);
    await untilIdle();
    // The last run may have completed after the check above: retention holds at every completion.
    const kept = (await backupsOf(id)).filter((b) => b.status === "COMPLETED");
    expect(kept).toHaveLength(2);
    for (const b of kept) expect(b.name).toMatch(/^every4s-\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const newest = [...seen.values()].sort((a, b) => (a.created < b.created ? 1 : a.created > b.created ? -1 : 0)).slice(0, 2).map((b) => b.id);
    expect(kept.map((b) => b.id).sort()).toEqual(newest.sort());
    for (const b of seen.values()) {
      const file = path.join(hoard.config.home, "backups", b.locationRef);
      expect(existsSync(file), b.name).toBe(newest.includes(b.id));
    }
    // Deleted: it fires no more.
    const count = (await backupsOf(id)).length;
    await sleep(5_000);
    expect((await backupsOf(id)).length).toBe(count);
    for (const b of kept) expect((await hoard.api("DELETE", P, `/backups/${b.id}`)).status).toBe(202);
    await untilIdle();
  });

  it("fires a slot missed while the control plane was down once at start, not once per missed slot", { timeout: 180_000 }, async () => {
    const tz = "Asia/Kolkata";
    const slots = burst(tz, 8_000, 5, 2);
    const r = await createSchedule({ name: "missed", cron: slots.cron, timezone: tz, retention: 5 });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const id = r.body.backup_schedule.id;
    expect(new Date(r.body.backup_schedule.next_run).getTime()).toBe(slots.first.getTime());
    await hoard.restart(async () => {
      expect(Date.now(), "the control plane must be down before the first slot").toBeLessThan(slots.first.getTime());
      await sleep(slots.last.getTime() + 1_500 - Date.now());
    });
    const made = await eventually(async () => {
      const b = await backupsOf(id);
      return b.length > 0 && b.every((x) => x.status === "COMPLETED") ? b : undefined;
    }, 60_000, 200);
    await sleep(3_000);
    expect(await backupsOf(id)).toHaveLength(1);
    expect(made).toHaveLength(1);
    const s = (await hoard.api("GET", P, `/backup_schedules/${id}`)).body.backup_schedule;
    expect(s.last_backup_id).toBe(made[0].id);
    expect(new Date(s.last_run).getTime()).toBeGreaterThan(slots.last.getTime());
    // The burst is over: the next slot is a year away.
    expect(new Date(s.next_run).getTime() - Date.now()).toBeGreaterThan(300 * 24 * 3600_000);
    expect((await hoard.api("DELETE", P, `/backup_schedules/${id}`)).status).toBe(202);
    expect((await hoard.api("DELETE", P, `/backups/${made[0].id}`)).status).toBe(202);
    await untilIdle();
  });

  it("fires one slot once when several sweeps race for it (as two runtimes would)", { timeout: 60_000 }, async () => {
    const slots = burst("UTC", 4_000, 1, 1);
    const r = await createSchedule({ name: "raced", cron: slots.cron, timezone: "UTC", retention: 5 });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const id = r.body.backup_schedule.id;
    await sleep(slots.first.getTime() - Date.now());
    // Besides the scheduler's own event, five more sweeps at the same moment, each under its own id.
    const js = jetstream(hoard.nc);
    const kind = workEvents.backupSchedulesDue;
    await Promise.all(Array.from({ length: 5 }, () => {
      const event = makeEvent(kind.type, sources.functions, { at: slots.first.toISOString() });
      return js.publish(kind.subject(), JSON.stringify(event), { msgID: event.id });
    }));
    const made = await eventually(async () => {
      const b = await backupsOf(id);
      return b.length > 0 && b.every((x) => x.status === "COMPLETED") ? b : undefined;
    }, 30_000, 200);
    await sleep(2_000);
    expect(await backupsOf(id)).toHaveLength(1);
    expect(made).toHaveLength(1);
  });

  it("takes the OpenFaaS cron connector's empty call to backup-schedule-run as a tick", async () => {
    const fn = functions.find((f) => f.name === "backup-schedule-run")!;
    const deps = { db: hoard.plane.db, config: hoard.config, log: pino({ level: "silent" }), guests: natsGuestCaller(hoard.nc, 5_000) };
    const host = await startFunctionHost({ functions: [fn], deps, port: 0 });
    try {
      const r = await fetch(host.url, { method: "POST", body: "" });
      expect(r.status).toBe(200);
      expect(await r.json()).toEqual({ ok: true, result: { fired: 0 } });
    } finally {
      await host.stop();
    }
  });
});
