import { fail } from "../../errors/index.js";
import { defineRequest } from "../../runtime/function.js";
import { QUOTA_RESOURCES, quotaLimits, quotaUsage } from "../../store/index.js";

export default defineRequest("quota-show", {
  description: "A project's quotas with what it uses: its own project for anyone, any project for admins.",
  timeoutMs: 5_000,
  memoryMb: 128,
  async handle({ caller, project }, { deps }) {
    if (project !== caller.project && !caller.roles.includes("admin")) throw fail("WRONG_PROJECT", { project: caller.project });
    const [limits, usage] = await Promise.all([quotaLimits(deps.db, project, deps.config.quotas), quotaUsage(deps.db, project)]);
    return QUOTA_RESOURCES.map((resource) => ({ resource, in_use: usage[resource], reserved: 0, limit: limits[resource] }));
  },
});
