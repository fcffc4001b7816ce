import { defineRequest } from "../../runtime/function.js";
import { callGuest, runningGuest } from "../guest-access.js";
import { existingUser } from "../user-ref.js";

export default defineRequest("user-access-list", {
  description: "Lists the databases one user of an instance may use.",
  timeoutMs: 15_000,
  memoryMb: 128,
  async handle({ caller, instanceId, user }, { deps }) {
    const target = await runningGuest(deps, caller, instanceId, "users");
    return existingUser(await callGuest(deps, target, { action: "user.list" }), target, user).databases;
  },
});
