import { fail } from "../../errors/index.js";
import { defineRequest } from "../../runtime/function.js";
import { configurationInstances, findConfiguration } from "../../store/index.js";

export default defineRequest("configuration-instances", {
  description: "Lists the instances a configuration group is attached to.",
  timeoutMs: 5_000,
  memoryMb: 128,
  async handle({ caller, configurationId, query }, { deps }) {
    if (!(await findConfiguration(deps.db, caller.project, configurationId))) throw fail("NOT_FOUND", { what: "Configuration group", id: configurationId });
    return configurationInstances(deps.db, configurationId, { limit: Math.min(query.limit ?? deps.config.pageSize, deps.config.pageSize), ...(query.marker ? { marker: query.marker } : {}) });
  },
});
