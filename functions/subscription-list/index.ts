import { defineRequest } from "../../runtime/function.js";
import { listSubscriptions } from "../../store/index.js";

export default defineRequest("subscription-list", {
  description: "Lists the caller's webhook subscriptions, a page at a time (secrets masked).",
  timeoutMs: 5_000,
  memoryMb: 128,
  async handle({ caller, query }, { deps }) {
    return listSubscriptions(deps.db, caller.project, { limit: Math.min(query.limit ?? deps.config.pageSize, deps.config.pageSize), ...(query.marker ? { marker: query.marker } : {}) });
  },
});
