import { defineRequest } from "../../runtime/function.js";
import { callGuest, runningGuest } from "../guest-access.js";
import { checked } from "../guest-input.js";
import { userRef } from "../user-ref.js";
import { fail } from "../../errors/index.js";

export default defineRequest("user-grant", {
  description: "Gives a user all privileges on some databases (404 when the user or a database does not exist).",
  timeoutMs: 15_000,
  memoryMb: 128,
  async handle({ caller, instanceId, user, databases }, { deps }) {
    const target = await runningGuest(deps, caller, instanceId, "users");
    if (!target.datastore.capabilities.includes("databases")) throw fail("NOT_IMPLEMENTED", { operation: "Database access", datastore: target.datastore.name });
    if (databases.length === 0) throw fail("VALIDATION", { detail: "databases: give at least one {\"name\": …}" });
    if (new Set(databases).size !== databases.length) throw fail("VALIDATION", { detail: "databases: each database may appear once" });
    const names = databases.map((d) => checked(target.datastore.rules.database, "database", d));
    await callGuest(deps, target, { action: "user.grant", user: userRef(target, user), databases: names });
    return { accepted: true };
  },
});
