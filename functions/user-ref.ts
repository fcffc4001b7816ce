/** Users named in a path (`name@host`), checked by the engine's rules, and found in a guest's list. */
import type { UserInfo, UserRef } from "../datastores/contract.js";
import { fail } from "../errors/index.js";
import type { GuestTarget } from "./guest-access.js";
import { checked } from "./guest-input.js";

/** The user named in a request, with name and host checked against the engine's rules. */
export function userRef(target: GuestTarget, user: UserRef): UserRef {
  const rules = target.datastore.rules;
  return { name: checked(rules.user, "user", user.name), host: checked(rules.host, "host", user.host) };
}

/** The listed user the request names, or 404. */
export function existingUser(users: UserInfo[], target: GuestTarget, user: UserRef): UserInfo {
  const ref = userRef(target, user);
  const found = users.find((u) => u.name === ref.name && u.host === ref.host);
  if (!found) throw fail("GUEST_NOT_FOUND", { message: `User '${ref.name}'@'${ref.host}' does not exist.` });
  return found;
}
