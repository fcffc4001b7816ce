import { defineRequest } from "../../runtime/function.js";
import { callGuest, runningGuest } from "../guest-access.js";

export default defineRequest("root-show", {
  description: "Says whether the tenant's superuser is enabled on the instance right now.",
  timeoutMs: 15_000,
  memoryMb: 128,
  async handle({ caller, instanceId }, { deps }) {
    const target = await runningGuest(deps, caller, instanceId, "root");
    return { rootEnabled: await callGuest(deps, target, { action: "root.show" }) };
  },
});
