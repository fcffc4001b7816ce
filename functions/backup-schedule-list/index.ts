import { BackupScheduleListRequest, type BackupSchedulePage } from "../../events/index.js";
import { defineFunction } from "../../runtime/function.js";
import { listSchedules } from "../../store/index.js";

export default defineFunction({
  name: "backup-schedule-list",
  description: "Lists a project's backup schedules, optionally of one instance (marker = last id of the previous page).",
  trigger: { kind: "request" },
  input: BackupScheduleListRequest,
  timeoutMs: 5_000,
  memoryMb: 128,
  async handle({ caller, query }, { deps }): Promise<BackupSchedulePage> {
    const limit = Math.min(query.limit ?? deps.config.pageSize, deps.config.pageSize);
    return listSchedules(deps.db, caller.project, { limit, ...(query.marker ? { marker: query.marker } : {}), ...(query.instanceId !== undefined ? { instanceId: query.instanceId } : {}) });
  },
});
