import { InstanceListRequest, type InstancePage } from "../../events/index.js";
import { defineFunction } from "../../runtime/function.js";
import { listInstances } from "../../store/index.js";

export default defineFunction({
  name: "instance-list",
  description: "Lists a project's instances, a page at a time (marker = last id of the previous page).",
  trigger: { kind: "request" },
  input: InstanceListRequest,
  timeoutMs: 5_000,
  memoryMb: 128,
  async handle({ caller, query }, { deps }): Promise<InstancePage> {
    const limit = Math.min(query.limit ?? deps.config.pageSize, deps.config.pageSize);
    return listInstances(deps.db, caller.project, { limit, ...(query.marker ? { marker: query.marker } : {}) }, deps.config.heartbeatExpiryMs);
  },
});
