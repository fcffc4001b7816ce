import { defineRequest } from "../../runtime/function.js";
import { callGuest, runningGuest } from "../guest-access.js";
import { password } from "../guest-input.js";
import { userRef } from "../user-ref.js";

export default defineRequest("user-passwords", {
  description: "Changes the passwords of several users at once (Trove's PUT /users); 404 names the first unknown user.",
  timeoutMs: 15_000,
  memoryMb: 128,
  async handle({ caller, instanceId, users }, { deps }) {
    const target = await runningGuest(deps, caller, instanceId, "users");
    const changes = users.map((u) => ({ user: userRef(target, { name: u.name, host: u.host ?? "%" }), password: password(u.password, target.datastore.rules, `password of user '${u.name}'`) }));
    for (const c of changes) await callGuest(deps, target, { action: "user.update", user: c.user, changes: { password: c.password } });
    return { accepted: true };
  },
});
