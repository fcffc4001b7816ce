import { defineRequest } from "../../runtime/function.js";
import { quotaLimits } from "../../store/index.js";

export default defineRequest("limits-show", {
  description: "The caller's absolute limits (Trove's ABSOLUTE entry of GET /limits).",
  timeoutMs: 5_000,
  memoryMb: 128,
  async handle({ caller }, { deps }) {
    return quotaLimits(deps.db, caller.project, deps.config.quotas);
  },
});
