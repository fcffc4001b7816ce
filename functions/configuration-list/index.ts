import { ConfigurationListRequest } from "../../events/index.js";
import { defineFunction } from "../../runtime/function.js";
import { listConfigurations } from "../../store/index.js";

export default defineFunction({
  name: "configuration-list",
  description: "Lists the caller's configuration groups, a page at a time.",
  trigger: { kind: "request" },
  input: ConfigurationListRequest,
  timeoutMs: 5_000,
  memoryMb: 128,
  async handle({ caller, query }, { deps }) {
    return listConfigurations(deps.db, caller.project, { limit: Math.min(query.limit ?? deps.config.pageSize, deps.config.pageSize), ...(query.marker ? { marker: query.marker } : {}) });
  },
});
