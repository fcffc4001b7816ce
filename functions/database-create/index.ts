import { defineRequest } from "../../runtime/function.js";
import { callGuest, runningGuest } from "../guest-access.js";
import * as guestInput from "../guest-input.js";

export default defineRequest("database-create", {
  description: "Creates databases on an instance's engine (an existing one is left as it is, as in Trove).",
  timeoutMs: 15_000,
  memoryMb: 128,
  async handle({ caller, instanceId, databases }, { deps }) {
    const target = await runningGuest(deps, caller, instanceId, "databases");
    const checked = guestInput.databases(databases, target.datastore.rules);
    await callGuest(deps, target, { action: "database.create", databases: checked });
    return { accepted: true };
  },
});
