import { InstanceRefRequest } from "../../events/index.js";
import { defineFunction } from "../../runtime/function.js";
import { callGuest, runningGuest } from "../guest-access.js";

export default defineFunction({
  name: "root-show",
  description: "Says whether the tenant's superuser is enabled on the instance right now.",
  trigger: { kind: "request" },
  input: InstanceRefRequest,
  timeoutMs: 15_000,
  memoryMb: 128,
  async handle({ caller, instanceId }, { deps }): Promise<{ rootEnabled: boolean }> {
    const target = await runningGuest(deps, caller, instanceId, "root");
    return { rootEnabled: Boolean(await callGuest(deps, target, { action: "root.show" })) };
  },
});
