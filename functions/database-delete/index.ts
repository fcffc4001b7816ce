import { defineRequest } from "../../runtime/function.js";
import { callGuest, runningGuest } from "../guest-access.js";
import { checked } from "../guest-input.js";

export default defineRequest("database-delete", {
  description: "Drops one database of an instance (404 when it does not exist).",
  timeoutMs: 15_000,
  memoryMb: 128,
  async handle({ caller, instanceId, name }, { deps }) {
    const target = await runningGuest(deps, caller, instanceId, "databases");
    await callGuest(deps, target, { action: "database.delete", name: checked(target.datastore.rules.database, "database", name) });
    return { accepted: true };
  },
});
