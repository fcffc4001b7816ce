import { fail } from "../../errors/index.js";
import { defineRequest } from "../../runtime/function.js";
import { scheduleRecord, scheduleRow } from "../../store/index.js";

export default defineRequest("backup-schedule-show", {
  description: "Shows one of the caller's backup schedules with its next and last run.",
  timeoutMs: 5_000,
  memoryMb: 128,
  async handle({ caller, scheduleId }, { deps }) {
    const row = await scheduleRow(deps.db, scheduleId, caller.project);
    if (!row) throw fail("NOT_FOUND", { what: "Backup schedule", id: scheduleId });
    return scheduleRecord(row);
  },
});
