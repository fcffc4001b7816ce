import { UserRefRequest } from "../../events/index.js";
import { defineFunction } from "../../runtime/function.js";
import { callGuest, runningGuest } from "../guest-access.js";
import { userRef } from "../user-ref.js";

export default defineFunction({
  name: "user-delete",
  description: "Drops one user of an instance (404 when it does not exist).",
  trigger: { kind: "request" },
  input: UserRefRequest,
  timeoutMs: 15_000,
  memoryMb: 128,
  async handle({ caller, instanceId, user }, { deps }): Promise<{ accepted: true }> {
    const target = await runningGuest(deps, caller, instanceId, "users");
    await callGuest(deps, target, { action: "user.delete", user: userRef(target, user) });
    return { accepted: true };
  },
});
