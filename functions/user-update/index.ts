import { fail } from "../../errors/index.js";
import { defineRequest } from "../../runtime/function.js";
import { callGuest, runningGuest } from "../guest-access.js";
import { checked, password } from "../guest-input.js";
import { userRef } from "../user-ref.js";

export default defineRequest("user-update", {
  description: "Renames a user, moves it to another host or changes its password (400 if the new name@host is taken).",
  timeoutMs: 15_000,
  memoryMb: 128,
  async handle({ caller, instanceId, user, changes }, { deps }) {
    const target = await runningGuest(deps, caller, instanceId, "users");
    const rules = target.datastore.rules;
    if (changes.name === undefined && changes.host === undefined && changes.password === undefined) {
      throw fail("VALIDATION", { detail: "user: give at least one of name, password or host" });
    }
    await callGuest(deps, target, {
      action: "user.update",
      user: userRef(target, user),
      changes: {
        ...(changes.name !== undefined ? { name: checked(rules.user, "user", changes.name) } : {}),
        ...(changes.host !== undefined ? { host: checked(rules.host, "host", changes.host) } : {}),
        ...(changes.password !== undefined ? { password: password(changes.password, rules, `password of user '${user.name}'`) } : {}),
      },
    });
    return { accepted: true };
  },
});
