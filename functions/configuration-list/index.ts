import { defineRequest } from "../../runtime/function.js";
import { listConfigurations } from "../../store/index.js";

export default defineRequest("configuration-list", {
  description: "Lists the caller's configuration groups, a page at a time.",
  timeoutMs: 5_000,
  memoryMb: 128,
  async handle({ caller, query }, { deps }) {
    return listConfigurations(deps.db, caller.project, { limit: Math.min(query.limit ?? deps.config.pageSize, deps.config.pageSize), ...(query.marker ? { marker: query.marker } : {}) });
  },
});
