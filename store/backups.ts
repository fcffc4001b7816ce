/** Backups: rows, their views, and the compare-and-set transitions the backup functions make. */
import type { BackupArtifact, BackupRecord, BackupStatus } from "../events/index.js";
import type { Queryable, Transaction } from "./db.js";
import { troveTime } from "./timestamps.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A backup still being made: it holds its instance (one at a time). */
export const RUNNING_BACKUP: BackupStatus[] = ["NEW", "BUILDING"];

export interface BackupRow {
  id: string;
  project_id: string;
  instance_id: string;
  name: string;
  description: string | null;
  status: BackupStatus;
  fail_reason: string | null;
  datastore_version_id: string;
  node: string;
  size_bytes: string | number | null;
  artifact: BackupArtifact | null;
  parent_id: string | null;
  schedule_id: string | null;
  created_at: Date;
  updated_at: Date;
}

interface JoinedRow extends BackupRow {
  datastore_name: string | null;
  version_name: string | null;
  /** The backup's data key row (absent: unencrypted, or the key is gone). */
  key_master_key_id: string | null;
  key_unusable: string | null;
}

const joined = (q: Queryable) =>
  q("backups as b")
    .leftJoin("datastore_versions as v", "v.id", "b.datastore_version_id")
    .leftJoin("datastores as d", "d.id", "v.datastore_id")
    .leftJoin("backup_keys as k", (j) => j.on(q.raw("k.key_id::text = b.artifact #>> '{encryption,keyId}'")))
    .select("b.*", "d.name as datastore_name", "v.name as version_name", "k.master_key_id as key_master_key_id", "k.unusable as key_unusable");

/** What the API shows of a backup's encryption: its keys, and why it cannot be restored if it cannot. */
function encryptionOf(r: JoinedRow): BackupRecord["encryption"] {
  const enc = r.artifact?.encryption;
  if (!enc) return null;
  const problem = r.key_master_key_id === null ? `its data key ${enc.keyId} is gone from this Hoard, so it cannot be decrypted` : r.key_unusable;
  return { cipher: enc.cipher, keyId: enc.keyId, masterKeyId: r.key_master_key_id, problem };
}

function toRecord(r: JoinedRow): BackupRecord {
  return {
    id: r.id,
    name: r.name,
    description: r.description,
    project: r.project_id,
    instanceId: r.instance_id,
    status: r.status,
    failReason: r.fail_reason,
    datastore: r.datastore_name && r.version_name ? { type: r.datastore_name, version: r.version_name, versionId: r.datastore_version_id } : null,
    artifact: r.artifact,
    encryption: encryptionOf(r),
    parentId: r.parent_id,
    scheduleId: r.schedule_id,
    created: troveTime(r.created_at),
    updated: troveTime(r.updated_at),
  };
}

export type NewBackup = Pick<BackupRow, "id" | "project_id" | "instance_id" | "name" | "description" | "datastore_version_id" | "node" | "schedule_id">;

/** Records a backup in NEW. Throws a unique violation (see isRunningBackupConflict) when one already runs. */
export async function insertBackup(trx: Transaction, row: NewBackup): Promise<BackupRow> {
  const rows: BackupRow[] = await trx("backups").insert({ ...row, status: "NEW" }).returning("*");
  return rows[0]!;
}

/** Whether an insert failed because its instance already has a backup running. */
export function isRunningBackupConflict(e: unknown): boolean {
  return (e as { constraint?: string })?.constraint === "backups_running_per_instance";
}

/** One backup of a project as the API shows it, or null. */
export async function findBackup(q: Queryable, project: string, id: string): Promise<BackupRecord | null> {
  if (!UUID.test(id)) return null;
  const row = await joined(q).where("b.project_id", project).andWhere("b.id", id).first();
  return row ? toRecord(row) : null;
}

/** The raw row of a backup (for decisions inside a transaction), locked when `forUpdate`. */
export async function backupRow(q: Queryable, id: string, opts: { project?: string; forUpdate?: boolean } = {}): Promise<BackupRow | null> {
  if (!UUID.test(id)) return null;
  let query = q("backups").where({ id });
  if (opts.project) query = query.andWhere("project_id", opts.project);
  if (opts.forUpdate) query = query.forUpdate();
  return (await query.first()) ?? null;
}

/** The backup running on an instance, if any. */
export async function runningBackup(q: Queryable, instanceId: string): Promise<BackupRow | null> {
  return (await q("backups").where({ instance_id: instanceId }).whereIn("status", RUNNING_BACKUP).first()) ?? null;
}

/**
 * A page of a project's backups, newest first, as Trove pages them: the marker is the offset of the page.
 * `datastore` matches the datastore's name or id.
 */
export async function listBackups(
  q: Queryable,
  project: string,
  page: { limit: number; offset: number; instanceId?: string; datastore?: string },
): Promise<{ items: BackupRecord[]; nextMarker: string | null }> {
  let query = joined(q).where("b.project_id", project);
  if (page.instanceId !== undefined) {
    if (!UUID.test(page.instanceId)) return { items: [], nextMarker: null };
    query = query.andWhere("b.instance_id", page.instanceId);
  }
  if (page.datastore !== undefined) {
    const ds = page.datastore;
    query = query.andWhere((w) => {
      w.where("d.name", ds);
      if (UUID.test(ds)) w.orWhere("d.id", ds);
    });
  }
  const rows: JoinedRow[] = await query.orderBy([{ column: "b.created_at", order: "desc" }, { column: "b.id", order: "desc" }]).offset(page.offset).limit(page.limit + 1);
  const more = rows.length > page.limit;
  return { items: rows.slice(0, page.limit).map(toRecord), nextMarker: more ? String(page.offset + page.limit) : null };
}

/**
 * Compare-and-set on the status: changes the backup only if its status is one of `from`.
 * Returns the updated row, or null when it was not in that state (someone else won).
 */
export async function transitionBackup(
  trx: Transaction,
  id: string,
  from: BackupStatus[],
  set: Partial<Pick<BackupRow, "status" | "fail_reason" | "artifact" | "size_bytes">>,
): Promise<BackupRow | null> {
  const values: Record<string, unknown> = { ...set, updated_at: trx.fn.now() };
  if (set.artifact !== undefined) values.artifact = set.artifact === null ? null : JSON.stringify(set.artifact);
  const rows: BackupRow[] = await trx("backups").where({ id }).whereIn("status", from).update(values).returning("*");
  return rows[0] ?? null;
}

/** Removes a backup's row (its file is gone). */
export async function deleteBackupRow(trx: Transaction, id: string): Promise<BackupRow | null> {
  const rows: BackupRow[] = await trx("backups").where({ id }).delete().returning("*");
  return rows[0] ?? null;
}

/**
 * Running backups whose tracker has gone quiet: started more than `leaseMs` ago while their instance has had
 * no heartbeat for `leaseMs`, or running longer than `maxMs` whatever the heartbeats say.
 */
export async function expiredBackups(q: Queryable, leaseMs: number, maxMs: number): Promise<BackupRow[]> {
  return q("backups as b")
    .join("instances as i", "i.id", "b.instance_id")
    .whereIn("b.status", RUNNING_BACKUP)
    .andWhere((w) => {
      w.where("b.created_at", "<", q.raw("now() - (? * interval '1 millisecond')", [maxMs])).orWhere((w2) => {
        w2.where("b.updated_at", "<", q.raw("now() - (? * interval '1 millisecond')", [leaseMs])).andWhere((w3) => {
          w3.whereNull("i.service_updated_at")
            .orWhere("i.service_updated_at", "<", q.raw("now() - (? * interval '1 millisecond')", [leaseMs]))
            .orWhereNotNull("i.deleted_at");
        });
      });
    })
    .select("b.*");
}

/** The COMPLETED backups of a schedule beyond the newest `keep`, oldest first. */
export async function backupsBeyondRetention(q: Queryable, scheduleId: string, keep: number): Promise<BackupRow[]> {
  return q("backups")
    .where({ schedule_id: scheduleId, status: "COMPLETED" })
    .orderBy([{ column: "created_at", order: "desc" }, { column: "id", order: "desc" }])
    .offset(keep)
    .select("*")
    .then((rows: BackupRow[]) => rows.reverse());
}

/** Instances rolling back for longer than `leaseMs` whose tracker has sent no heartbeat for as long. */
export async function staleRollbacks(q: Queryable, leaseMs: number): Promise<{ id: string; node: string }[]> {
  const ago = () => q.raw("now() - (? * interval '1 millisecond')", [leaseMs]);
  return q("instances")
    .whereNull("deleted_at")
    .where("task", "ROLLING_BACK")
    .andWhere("updated_at", "<", ago())
    .andWhere((w) => w.whereNull("service_updated_at").orWhere("service_updated_at", "<", ago()))
    .select("id", "node");
}
