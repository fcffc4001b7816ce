import { UserPasswordsRequest } from "../../events/index.js";
import { defineFunction } from "../../runtime/function.js";
import { callGuest, runningGuest } from "../guest-access.js";
import { password } from "../guest-input.js";
import { userRef } from "../user-ref.js";

export default defineFunction({
  name: "user-passwords",
  description: "Changes the passwords of several users at once (Trove's PUT /users); 404 names the first unknown user.",
  trigger: { kind: "request" },
  input: UserPasswordsRequest,
  timeoutMs: 15_000,
  memoryMb: 128,
  async handle({ caller, instanceId, users }, { deps }): Promise<{ accepted: true }> {
    const target = await runningGuest(deps, caller, instanceId, "users");
    const changes = users.map((u) => ({ user: userRef(target, { name: u.name, host: u.host ?? "%" }), password: password(u.password, target.datastore.rules, `password of user '${u.name}'`) }));
    for (const c of changes) await callGuest(deps, target, { action: "user.update", user: c.user, changes: { password: c.password } });
    return { accepted: true };
  },
});
