import { CatalogListRequest } from "../../events/index.js";
import { defineFunction } from "../../runtime/function.js";
import { quotaLimits, type QuotaValues } from "../../store/index.js";

export default defineFunction({
  name: "limits-show",
  description: "The caller's absolute limits (Trove's ABSOLUTE entry of GET /limits).",
  trigger: { kind: "request" },
  input: CatalogListRequest,
  timeoutMs: 5_000,
  memoryMb: 128,
  async handle({ caller }, { deps }): Promise<QuotaValues> {
    return quotaLimits(deps.db, caller.project, deps.config.quotas);
  },
});
