import { fail } from "../../errors/index.js";
import { BackupScheduleRefRequest } from "../../events/index.js";
import { defineFunction } from "../../runtime/function.js";
import { deleteSchedule } from "../../store/index.js";

export default defineFunction({
  name: "backup-schedule-delete",
  description: "Deletes one of the caller's backup schedules: it fires no more; the backups it made stay.",
  trigger: { kind: "request" },
  input: BackupScheduleRefRequest,
  timeoutMs: 5_000,
  memoryMb: 128,
  async handle({ caller, scheduleId }, { deps }): Promise<{ accepted: true }> {
    const deleted = await deps.db.transaction((trx) => deleteSchedule(trx, scheduleId, caller.project));
    if (!deleted) throw fail("NOT_FOUND", { what: "Backup schedule", id: scheduleId });
    return { accepted: true } as const;
  },
});
