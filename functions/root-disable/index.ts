import { fail } from "../../errors/index.js";
import { defineRequest } from "../../runtime/function.js";
import { callGuest, runningGuest } from "../guest-access.js";

export default defineRequest("root-disable", {
  description: "Takes the tenant's superuser away again (404 when it is not enabled).",
  timeoutMs: 15_000,
  memoryMb: 128,
  async handle({ caller, instanceId }, { deps }) {
    const target = await runningGuest(deps, caller, instanceId, "root");
    if (!(await callGuest(deps, target, { action: "root.show" }))) throw fail("ROOT_NOT_ENABLED", { id: instanceId });
    await callGuest(deps, target, { action: "root.disable" });
    return { disabled: true };
  },
});
