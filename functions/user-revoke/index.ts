import { fail } from "../../errors/index.js";
import { defineRequest } from "../../runtime/function.js";
import { callGuest, runningGuest } from "../guest-access.js";
import { checked } from "../guest-input.js";
import { userRef } from "../user-ref.js";

export default defineRequest("user-revoke", {
  description: "Takes a user's privileges on one database away (404 when it had none).",
  timeoutMs: 15_000,
  memoryMb: 128,
  async handle({ caller, instanceId, user, database }, { deps }) {
    const target = await runningGuest(deps, caller, instanceId, "users");
    if (!target.datastore.capabilities.includes("databases")) throw fail("NOT_IMPLEMENTED", { operation: "Database access", datastore: target.datastore.name });
    await callGuest(deps, target, { action: "user.revoke", user: userRef(target, user), database: checked(target.datastore.rules.database, "database", database) });
    return { accepted: true };
  },
});
