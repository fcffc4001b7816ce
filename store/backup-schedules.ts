/**
 * Backup schedules: a cron expression in a time zone, a name prefix and a retention count per instance.
 * `next_run_at` is the slot the next run fires at; a run claims it by compare-and-set, so two runtimes
 * never fire one slot twice and a slot missed while Hoard was down fires once.
 */
import type { BackupScheduleRecord } from "../events/index.js";
import type { Queryable, Transaction } from "./db.js";
import { troveTime } from "./timestamps.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface BackupScheduleRow {
  id: string;
  project_id: string;
  instance_id: string;
  name: string;
  description: string | null;
  cron: string;
  timezone: string;
  retention: number;
  next_run_at: Date | null;
  last_run_at: Date | null;
  last_backup_id: string | null;
  last_error: string | null;
  created_at: Date;
  updated_at: Date;
  deleted_at: Date | null;
}

export function scheduleRecord(r: BackupScheduleRow): BackupScheduleRecord {
  return {
    id: r.id,
    project: r.project_id,
    instanceId: r.instance_id,
    name: r.name,
    description: r.description,
    cron: r.cron,
    timezone: r.timezone,
    retention: r.retention,
    nextRun: r.next_run_at ? r.next_run_at.toISOString() : null,
    lastRun: r.last_run_at ? r.last_run_at.toISOString() : null,
    lastBackupId: r.last_backup_id,
    lastError: r.last_error,
    created: troveTime(r.created_at),
    updated: troveTime(r.updated_at),
  };
}

export type NewBackupSchedule = Pick<BackupScheduleRow, "id" | "project_id" | "instance_id" | "name" | "description" | "cron" | "timezone" | "retention" | "next_run_at">;

export async function insertSchedule(trx: Transaction, row: NewBackupSchedule): Promise<BackupScheduleRow> {
  const rows: BackupScheduleRow[] = await trx("backup_schedules").insert(row).returning("*");
  return rows[0]!;
}

/** A live schedule of a project, or null. */
export async function scheduleRow(q: Queryable, id: string, project?: string): Promise<BackupScheduleRow | null> {
  if (!UUID.test(id)) return null;
  let query = q("backup_schedules").where({ id }).whereNull("deleted_at");
  if (project) query = query.andWhere("project_id", project);
  return (await query.first()) ?? null;
}

/** A page of a project's live schedules by id after `marker`. */
export async function listSchedules(q: Queryable, project: string, page: { limit: number; marker?: string; instanceId?: string }): Promise<{ items: BackupScheduleRecord[]; nextMarker: string | null }> {
  let query = q("backup_schedules").where({ project_id: project }).whereNull("deleted_at").orderBy("id").limit(page.limit + 1);
  if (page.marker) {
    if (!UUID.test(page.marker)) return { items: [], nextMarker: null };
    query = query.andWhere("id", ">", page.marker);
  }
  if (page.instanceId !== undefined) {
    if (!UUID.test(page.instanceId)) return { items: [], nextMarker: null };
    query = query.andWhere("instance_id", page.instanceId);
  }
  const rows: BackupScheduleRow[] = await query;
  const more = rows.length > page.limit;
  const items = rows.slice(0, page.limit);
  return { items: items.map(scheduleRecord), nextMarker: more ? items[items.length - 1]!.id : null };
}

/** Marks a schedule deleted; it fires no more. An id that is not a uuid names no schedule (null). */
export async function deleteSchedule(trx: Transaction, id: string, project?: string): Promise<BackupScheduleRow | null> {
  if (!UUID.test(id)) return null;
  let q = trx("backup_schedules").where({ id }).whereNull("deleted_at");
  if (project) q = q.andWhere("project_id", project);
  const rows: BackupScheduleRow[] = await q.update({ deleted_at: trx.fn.now(), updated_at: trx.fn.now(), next_run_at: null }).returning("*");
  return rows[0] ?? null;
}

/** Live schedules whose slot has come, oldest slot first. */
export async function dueSchedules(q: Queryable, now: Date, limit: number): Promise<BackupScheduleRow[]> {
  return q("backup_schedules").whereNull("deleted_at").andWhere("next_run_at", "<=", now).orderBy("next_run_at").limit(limit);
}

/** The earliest slot of any live schedule, or null when none is scheduled. */
export async function earliestSlot(q: Queryable): Promise<Date | null> {
  const row = await q("backup_schedules").whereNull("deleted_at").whereNotNull("next_run_at").min({ at: "next_run_at" }).first();
  return (row as { at: Date | null } | undefined)?.at ?? null;
}

/**
 * Claims a schedule's slot: moves `next_run_at` from `slot` to `next`, only if nobody moved it first.
 * Returns the claimed row, or null when another runtime fired this slot.
 */
export async function claimSlot(trx: Transaction, id: string, slot: Date, next: Date | null, now: Date): Promise<BackupScheduleRow | null> {
  const rows: BackupScheduleRow[] = await trx("backup_schedules")
    .where({ id, next_run_at: slot })
    .whereNull("deleted_at")
    .update({ next_run_at: next, last_run_at: now, updated_at: trx.fn.now() })
    .returning("*");
  return rows[0] ?? null;
}

/** Records what a run made: the backup, or why there is none. */
export async function recordRun(trx: Transaction, id: string, outcome: { backupId: string } | { error: string }): Promise<void> {
  await trx("backup_schedules")
    .where({ id })
    .update("backupId" in outcome ? { last_backup_id: outcome.backupId, last_error: null } : { last_error: outcome.error });
}

/** Stops the schedules of an instance that is gone. */
export async function deleteSchedulesOf(trx: Transaction, instanceId: string): Promise<number> {
  return trx("backup_schedules").where({ instance_id: instanceId }).whereNull("deleted_at").update({ deleted_at: trx.fn.now(), next_run_at: null });
}
