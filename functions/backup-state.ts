/**
 * The state changes of a backup that several functions make: start one (backup-create and the schedule
 * run), end one (completed, failed, expired), remove one (backup-delete and retention), and tell
 * subscribers. Each runs inside the caller's transaction, with the outbox.
 */
import type { Config } from "../config/index.js";
import { fail, HoardError } from "../errors/index.js";
import { makeEvent, nodeCommands, publicEvents, sources, type BackupArtifact, type WrappedDataKey } from "../events/index.js";
import type { FunctionDeps } from "../runtime/function.js";
import {
  backupsBeyondRetention,
  currentDataKey,
  dataKeyOf,
  markDataKey,
  wrappedOf,
  deleteBackupRow,
  enqueue,
  insertBackup,
  instanceRow,
  instanceStatus,
  isRunningBackupConflict,
  lockProjectQuota,
  overQuota,
  quotaLimits,
  quotaUsage,
  runningBackup,
  transitionBackup,
  transitionInstance,
  type BackupRow,
  type InstanceRow,
  type Transaction,
} from "../store/index.js";
import { announceInstance } from "./announce.js";

type BackupEventKind = "backupCreated" | "backupCompleted" | "backupFailed" | "backupDeleted";

/** Queues a public backup event for subscribers, in the transaction that made the change. */
export async function announceBackup(trx: Transaction, kind: BackupEventKind, row: BackupRow, status: string = row.status): Promise<void> {
  const k = publicEvents[kind];
  const data = k.data.parse({
    backupId: row.id,
    project: row.project_id,
    instanceId: row.instance_id,
    name: row.name,
    status,
    ...(row.fail_reason ? { reason: row.fail_reason } : {}),
  });
  await enqueue(trx, k.subject(row.project_id), makeEvent(k.type, sources.functions, data, { subject: row.id }));
}

const statusOf = (row: InstanceRow) => instanceStatus({ task: row.task, serverStatus: row.server_status, serviceStatus: row.service_status, serviceUpdatedAt: row.service_updated_at });

/**
 * Starts a backup of an ACTIVE instance: the backup in NEW, the instance in BACKUP, and the command for its
 * node's tracker. 422 when the instance is not ACTIVE or a backup of it already runs; 413 over quota.
 */
export async function startBackup(
  trx: Transaction,
  config: Config,
  req: { id: string; project: string; instanceId: string; name: string; description: string | null; scheduleId: string | null },
): Promise<BackupRow> {
  // The project's quota lock before the instance's row, in the order a resize takes them: the other order
  // deadlocks with a resize of the same instance (Postgres then aborts one of them; found by the crash harness).
  await lockProjectQuota(trx, req.project);
  const instance = await instanceRow(trx, req.instanceId, { project: req.project, forUpdate: true });
  if (!instance) throw fail("NOT_FOUND", { what: "Instance", id: req.instanceId });
  const running = await runningBackup(trx, instance.id);
  if (running) throw fail("BACKUP_RUNNING", { id: instance.id, backupId: running.id });
  if (instance.task !== "NONE" || instance.server_status !== "ACTIVE") throw fail("NOT_ACTIONABLE", { id: instance.id, status: statusOf(instance) });

  const over = overQuota(await quotaLimits(trx, req.project, config.quotas), await quotaUsage(trx, req.project), { backups: 1 });
  if (over.length) throw fail("QUOTA_EXCEEDED", { resources: over });

  let backup: BackupRow;
  try {
    // A savepoint: a lost race on the one-running-backup index must not abort the caller's transaction.
    backup = await trx.transaction((sp) =>
      insertBackup(sp, {
        id: req.id,
        project_id: req.project,
        instance_id: instance.id,
        name: req.name,
        description: req.description,
        datastore_version_id: instance.datastore_version_id,
        node: instance.node,
        schedule_id: req.scheduleId,
      }),
    );
  } catch (e) {
    if (isRunningBackupConflict(e)) throw fail("BACKUP_RUNNING", { id: instance.id, backupId: "(another)" });
    throw e;
  }
  const busy = await transitionInstance(trx, instance.id, ["NONE"], { task: "BACKING_UP" });
  if (!busy) throw fail("NOT_ACTIONABLE", { id: instance.id, status: statusOf(instance) });
  const cmd = nodeCommands.backup;
  // The project's newest data key, wrapped: the tracker opens it with the master key it holds (or, for the
  // project's first backup, makes one and reports it wrapped). Never a key in the clear on NATS.
  const dataKey = await currentDataKey(trx, req.project);
  await enqueue(trx, cmd.subject(instance.node), makeEvent(cmd.type, sources.functions, cmd.data.parse({ instanceId: instance.id, node: instance.node, backupId: backup.id, ...(dataKey ? { dataKey: wrappedOf(dataKey) } : {}) }), { subject: instance.id }));
  await announceBackup(trx, "backupCreated", backup);
  await announceInstance(trx, "instanceStatusChanged", busy, "BACKUP");
  return backup;
}

/** Gives the instance back after its backup ended (BACKUP → ACTIVE). */
export async function releaseInstance(trx: Transaction, instanceId: string): Promise<void> {
  const row = await transitionInstance(trx, instanceId, ["BACKING_UP"], { task: "NONE" });
  if (row) await announceInstance(trx, "instanceStatusChanged", row, statusOf(row));
}

/** Ends a running backup as FAILED with its reason and gives the instance back. Returns false if it was not running. */
export async function failBackup(trx: Transaction, backupId: string, reason: string): Promise<boolean> {
  const row = await transitionBackup(trx, backupId, ["NEW", "BUILDING"], { status: "FAILED", fail_reason: reason });
  if (!row) return false;
  await releaseInstance(trx, row.instance_id);
  await announceBackup(trx, "backupFailed", row);
  return true;
}

/**
 * Removes a backup: a file in the store is deleted by the tracker of the node that holds it (the row goes
 * when it reports); a backup without a file goes at once.
 */
export async function removeBackup(trx: Transaction, row: BackupRow): Promise<void> {
  if (!row.artifact) {
    const gone = await deleteBackupRow(trx, row.id);
    if (gone) await announceBackup(trx, "backupDeleted", gone, "DELETED");
    return;
  }
  const deleting = await transitionBackup(trx, row.id, [row.status], { status: "DELETING", fail_reason: null });
  if (!deleting) return;
  const cmd = nodeCommands.deleteBackup;
  await enqueue(trx, cmd.subject(row.node), makeEvent(cmd.type, sources.functions, cmd.data.parse({ node: row.node, backupId: row.id, artifact: row.artifact, instanceId: row.instance_id }), { subject: row.id }));
}

/** Retention: removes the COMPLETED backups of a schedule beyond its newest `keep`. Returns how many. */
export async function pruneSchedule(trx: Transaction, scheduleId: string, keep: number): Promise<number> {
  const old = await backupsBeyondRetention(trx, scheduleId, keep);
  for (const row of old) await removeBackup(trx, row);
  return old.length;
}

/** What the checksum check needs of a backup. */
interface StoredBackup {
  id: string;
  project: string;
  node: string;
  artifact: BackupArtifact;
}

/**
 * Has the tracker of the node that holds a backup check its file against the recorded sha256, and that it can
 * open the backup's data key, before the backup is used; returns that key (wrapped) for the command. 409 when
 * the file is missing or differs, or its data key or master key is gone (recorded, so the backup shows it);
 * 503 when the tracker does not answer. Nothing else changes.
 */
export async function verifyBackupFile(deps: FunctionDeps, backup: StoredBackup): Promise<WrappedDataKey | undefined> {
  const enc = backup.artifact.encryption;
  const key = enc ? await dataKeyOf(deps.db, backup.project, enc.keyId) : null;
  if (enc && !key) throw fail("BACKUP_DATA_KEY_GONE", { id: backup.id, keyId: enc.keyId });
  const wrapped = key ? wrappedOf(key) : undefined;
  try {
    await deps.guests.verifyBackup(backup.node, backup.artifact, wrapped);
  } catch (e) {
    if (e instanceof HoardError && e.status === 503) throw e;
    if (key && e instanceof HoardError && (e.code === "BACKUP_KEYS_ABSENT" || e.code === "BACKUP_MASTER_KEY_MISSING" || e.code === "BACKUP_KEY_NOT_GIVEN" || e.code === "BACKUP_KEY_UNOPENED")) {
      await markDataKey(deps.db, key.key_id, `it was encrypted with master key '${key.master_key_id}', which this Hoard no longer has`);
      throw fail("BACKUP_MASTER_KEY_GONE", { id: backup.id, masterKey: key.master_key_id });
    }
    throw fail("BACKUP_CORRUPT", { id: backup.id, detail: (e as Error).message });
  }
  if (key?.unusable) await markDataKey(deps.db, key.key_id, null);
  return wrapped;
}
