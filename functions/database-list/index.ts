import { defineRequest } from "../../runtime/function.js";
import { callGuest, pageByKey, runningGuest } from "../guest-access.js";

export default defineRequest("database-list", {
  description: "Lists an instance's databases by name, a page at a time; system databases are hidden.",
  timeoutMs: 15_000,
  memoryMb: 128,
  async handle({ caller, instanceId, query }, { deps }) {
    const target = await runningGuest(deps, caller, instanceId, "databases");
    const all = await callGuest(deps, target, { action: "database.list" });
    return pageByKey(all, (d) => d.name, query, deps.config.pageSize);
  },
});
