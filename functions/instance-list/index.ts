import { defineRequest } from "../../runtime/function.js";
import { listInstances } from "../../store/index.js";

export default defineRequest("instance-list", {
  description: "Lists a project's instances, a page at a time (marker = last id of the previous page).",
  timeoutMs: 5_000,
  memoryMb: 128,
  async handle({ caller, query }, { deps }) {
    const limit = Math.min(query.limit ?? deps.config.pageSize, deps.config.pageSize);
    return listInstances(deps.db, caller.project, { limit, ...(query.marker ? { marker: query.marker } : {}) }, deps.config.heartbeatExpiryMs);
  },
});
