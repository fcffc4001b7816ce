import { fail } from "../../errors/index.js";
import { makeEvent, nodeCommands, sources, type Accepted, type InstanceAction } from "../../events/index.js";
import { defineRequest, type FunctionDeps } from "../../runtime/function.js";
import { backupRow, enqueue, instanceRow, runningBackup, instanceStatus, transitionInstance, type InstanceRow, type Queryable, type ServerStatus, type Task } from "../../store/index.js";
import { announceInstance } from "../announce.js";
import { failBackup, verifyBackupFile } from "../backup-state.js";

/** For each engine action: the states it may start from, the task it sets, and the tracker command. */
const ENGINE_ACTIONS = {
  restart: { server: ["ACTIVE"], from: ["NONE", "RESTART_REQUIRED"], task: "REBOOTING", command: nodeCommands.restart },
  stop: { server: ["ACTIVE"], from: ["NONE", "RESTART_REQUIRED"], task: "STOPPING", command: nodeCommands.stop },
  start: { server: ["SHUTDOWN"], from: ["NONE"], task: "STARTING", command: nodeCommands.start },
} as const satisfies Record<Exclude<InstanceAction, "reset_status" | "rollback">, { server: ServerStatus[]; from: Task[]; task: Task; command: unknown }>;

export default defineRequest("instance-action", {
  description: "Instance actions: restart, stop and start the engine (the tracker carries them out); rollback puts the data back to a backup of the instance in place; reset_status (admin) clears a stuck task.",
  timeoutMs: 5_000,
  memoryMb: 128,
  async handle({ caller, instanceId, action, backupRef }, { deps }) {
    if (action === "reset_status" && !caller.roles.includes("admin")) throw fail("ADMIN_REQUIRED");
    if (action === "rollback") return rollback(deps, caller.project, instanceId, backupRef);
    return deps.db.transaction(async (trx) => {
      const row = await instanceRow(trx, instanceId, { project: caller.project, forUpdate: true });
      if (!row) throw fail("NOT_FOUND", { what: "Instance", id: instanceId });
      const status = statusOf(row);
      if (action === "reset_status") {
        // Trove: the task is cleared and the guest's state becomes unknown until the next heartbeat.
        const failedBuild = row.task === "BUILDING" || row.task === "BUILDING_ERROR_SERVER";
        const reset = await transitionInstance(trx, row.id, [row.task], { task: "NONE", service_status: "UNKNOWN", ...(failedBuild ? { server_status: "ERROR" as const } : {}) });
        // Trove marks the instance's running backups FAILED: their tracker's late report then only removes the file.
        const backup = await runningBackup(trx, row.id);
        if (backup) await failBackup(trx, backup.id, "The instance's status was reset by an administrator while the backup ran.");
        if (reset) await announceInstance(trx, "instanceStatusChanged", reset, statusOf(reset));
        return { accepted: true } as const;
      }
      const rule = ENGINE_ACTIONS[action as keyof typeof ENGINE_ACTIONS];
      if (!(rule.server as readonly ServerStatus[]).includes(row.server_status)) throw fail("NOT_ACTIONABLE", { id: row.id, status });
      const updated = await transitionInstance(trx, row.id, [...rule.from], { task: rule.task });
      if (!updated) throw fail("NOT_ACTIONABLE", { id: row.id, status });
      await enqueue(trx, rule.command.subject(row.node), makeEvent(rule.command.type, sources.functions, { instanceId: row.id, node: row.node }, { subject: row.id }));
      await announceInstance(trx, "instanceStatusChanged", updated, statusOf(updated));
      return { accepted: true } as const;
    });
  },
});

/**
 * Rollback (Hoard's addition): the instance must be ACTIVE and the backup a COMPLETED backup of it whose file
 * passes its checksum; the instance shows ROLLBACK until its tracker reports.
 */
async function rollback(deps: FunctionDeps, project: string, instanceId: string, backupRef: string | undefined): Promise<Accepted> {
  if (!backupRef) throw fail("VALIDATION", { detail: 'rollback needs the backup: {"rollback": {"backupRef": "<backup id>"}}' });
  const check = async (q: Queryable) => {
    const backup = await backupRow(q, backupRef, { project });
    if (!backup) throw fail("NOT_FOUND", { what: "Backup", id: backupRef });
    const row = await instanceRow(q, instanceId, { project });
    if (!row) throw fail("NOT_FOUND", { what: "Instance", id: instanceId });
    if (backup.instance_id !== row.id) throw fail("BACKUP_OF_OTHER_INSTANCE", { id: backup.id, instance: row.id });
    if (backup.status !== "COMPLETED" || !backup.artifact) throw fail("BACKUP_NOT_COMPLETED", { id: backup.id, status: backup.status });
    if (row.task !== "NONE" || row.server_status !== "ACTIVE") throw fail("NOT_ACTIONABLE", { id: row.id, status: statusOf(row) });
    return { backup: { ...backup, artifact: backup.artifact }, row };
  };
  // Checked before the slow checksum, and again under the lock after it: nothing may have changed meanwhile.
  const { backup } = await check(deps.db);
  const dataKey = await verifyBackupFile(deps, { ...backup, project });
  return deps.db.transaction(async (trx) => {
    await instanceRow(trx, instanceId, { project, forUpdate: true });
    const { row } = await check(trx);
    const updated = await transitionInstance(trx, row.id, ["NONE"], { task: "ROLLING_BACK" });
    if (!updated) throw fail("NOT_ACTIONABLE", { id: row.id, status: statusOf(row) });
    const cmd = nodeCommands.rollback;
    await enqueue(trx, cmd.subject(row.node), makeEvent(cmd.type, sources.functions, cmd.data.parse({ instanceId: row.id, node: row.node, backupId: backup.id, artifact: backup.artifact, ...(dataKey ? { dataKey } : {}) }), { subject: row.id }));
    await announceInstance(trx, "instanceStatusChanged", updated, statusOf(updated));
    return { accepted: true } as const;
  });
}

function statusOf(row: InstanceRow): string {
  return instanceStatus({ task: row.task, serverStatus: row.server_status, serviceStatus: row.service_status, serviceUpdatedAt: row.service_updated_at });
}
