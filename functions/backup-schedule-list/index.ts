import { defineRequest } from "../../runtime/function.js";
import { listSchedules } from "../../store/index.js";

export default defineRequest("backup-schedule-list", {
  description: "Lists a project's backup schedules, optionally of one instance (marker = last id of the previous page).",
  timeoutMs: 5_000,
  memoryMb: 128,
  async handle({ caller, query }, { deps }) {
    const limit = Math.min(query.limit ?? deps.config.pageSize, deps.config.pageSize);
    return listSchedules(deps.db, caller.project, { limit, ...(query.marker ? { marker: query.marker } : {}), ...(query.instanceId !== undefined ? { instanceId: query.instanceId } : {}) });
  },
});
