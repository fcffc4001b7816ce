import { defineRequest } from "../../runtime/function.js";
import { callGuest, runningGuest } from "../guest-access.js";
import { userRef } from "../user-ref.js";

export default defineRequest("user-delete", {
  description: "Drops one user of an instance (404 when it does not exist).",
  timeoutMs: 15_000,
  memoryMb: 128,
  async handle({ caller, instanceId, user }, { deps }) {
    const target = await runningGuest(deps, caller, instanceId, "users");
    await callGuest(deps, target, { action: "user.delete", user: userRef(target, user) });
    return { accepted: true };
  },
});
