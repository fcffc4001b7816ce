import { fail } from "../../errors/index.js";
import { defineRequest } from "../../runtime/function.js";
import { findInstance } from "../../store/index.js";

export default defineRequest("instance-show", {
  description: "Shows one of the caller's instances; another project's instance is not found.",
  timeoutMs: 5_000,
  memoryMb: 128,
  async handle({ caller, instanceId }, { deps }) {
    const found = await findInstance(deps.db, caller.project, instanceId, deps.config.heartbeatExpiryMs);
    if (!found) throw fail("NOT_FOUND", { what: "Instance", id: instanceId });
    return found;
  },
});
