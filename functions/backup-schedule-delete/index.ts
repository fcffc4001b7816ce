import { fail } from "../../errors/index.js";
import { defineRequest } from "../../runtime/function.js";
import { deleteSchedule } from "../../store/index.js";

export default defineRequest("backup-schedule-delete", {
  description: "Deletes one of the caller's backup schedules: it fires no more; the backups it made stay.",
  timeoutMs: 5_000,
  memoryMb: 128,
  async handle({ caller, scheduleId }, { deps }) {
    const deleted = await deps.db.transaction((trx) => deleteSchedule(trx, scheduleId, caller.project));
    if (!deleted) throw fail("NOT_FOUND", { what: "Backup schedule", id: scheduleId });
    return { accepted: true } as const;
  },
});
