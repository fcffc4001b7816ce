import { makeEvent, nodeCommands, sources, workEvents } from "../../events/index.js";
import { backupRow, enqueue, insertDataKey, scheduleRow, transitionBackup } from "../../store/index.js";
import { announceBackup, pruneSchedule, releaseInstance } from "../backup-state.js";
import { defineWorkFunction } from "../work-function.js";

export default defineWorkFunction(workEvents.guestBackedUp, {
  name: "backup-completed",
  description: "A tracker reports a backup made: it becomes COMPLETED with its size, checksum and lock time, the instance ACTIVE again, and its schedule's retention applies.",
  async apply(trx, data, { log }) {
    const row = await transitionBackup(trx, data.backupId, ["NEW", "BUILDING"], { status: "COMPLETED", artifact: data.artifact, size_bytes: data.artifact.sizeBytes, fail_reason: null });
    if (!row) {
      // The same file reported again (the tracker's retry, under a new event id): the backup already holds it,
      // and deleting it would leave a COMPLETED backup without its file.
      if ((await backupRow(trx, data.backupId))?.artifact?.location === data.artifact.location) return;
      // The backup was given up meanwhile (expired, or its instance deleted): the file counts as no backup, so it goes.
      log.warn({ backup: data.backupId }, "backup file reported for a backup that is not running; deleting the file");
      const cmd = nodeCommands.deleteBackup;
      await enqueue(trx, cmd.subject(data.node), makeEvent(cmd.type, sources.functions, { node: data.node, backupId: data.backupId, artifact: data.artifact, instanceId: data.instanceId }, { subject: data.backupId }));
      return;
    }
    // The data key the tracker made for it joins the project's keys with it, in one transaction.
    if (data.newDataKey) await insertDataKey(trx, row.project_id, data.newDataKey);
    await releaseInstance(trx, row.instance_id);
    await announceBackup(trx, "backupCompleted", row);
    const schedule = row.schedule_id ? await scheduleRow(trx, row.schedule_id) : null;
    if (schedule) await pruneSchedule(trx, schedule.id, schedule.retention);
  },
});
