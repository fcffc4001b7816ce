import { fail } from "../../errors/index.js";
import { InstanceRefRequest, type InstanceRecord } from "../../events/index.js";
import { defineFunction } from "../../runtime/function.js";
import { findInstance } from "../../store/index.js";

export default defineFunction({
  name: "instance-show",
  description: "Shows one of the caller's instances; another project's instance is not found.",
  trigger: { kind: "request" },
  input: InstanceRefRequest,
  timeoutMs: 5_000,
  memoryMb: 128,
  async handle({ caller, instanceId }, { deps }): Promise<InstanceRecord> {
    const found = await findInstance(deps.db, caller.project, instanceId, deps.config.heartbeatExpiryMs);
    if (!found) throw fail("NOT_FOUND", { what: "Instance", id: instanceId });
    return found;
  },
});
