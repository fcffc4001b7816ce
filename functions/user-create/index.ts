import { defineRequest } from "../../runtime/function.js";
import { callGuest, runningGuest } from "../guest-access.js";
import * as guestInput from "../guest-input.js";

export default defineRequest("user-create", {
  description: "Creates users with passwords, hosts and database grants on an instance's engine (400 if one exists).",
  timeoutMs: 15_000,
  memoryMb: 128,
  async handle({ caller, instanceId, users }, { deps }) {
    const target = await runningGuest(deps, caller, instanceId, "users");
    const checked = guestInput.users(users, target.datastore.rules);
    if (checked.length === 0) return { accepted: true };
    await callGuest(deps, target, { action: "user.create", users: checked });
    return { accepted: true };
  },
});
