import { fail } from "../../errors/index.js";
import { BackupScheduleRefRequest, type BackupScheduleRecord } from "../../events/index.js";
import { defineFunction } from "../../runtime/function.js";
import { scheduleRecord, scheduleRow } from "../../store/index.js";

export default defineFunction({
  name: "backup-schedule-show",
  description: "Shows one of the caller's backup schedules with its next and last run.",
  trigger: { kind: "request" },
  input: BackupScheduleRefRequest,
  timeoutMs: 5_000,
  memoryMb: 128,
  async handle({ caller, scheduleId }, { deps }): Promise<BackupScheduleRecord> {
    const row = await scheduleRow(deps.db, scheduleId, caller.project);
    if (!row) throw fail("NOT_FOUND", { what: "Backup schedule", id: scheduleId });
    return scheduleRecord(row);
  },
});
