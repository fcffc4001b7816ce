/** Users named in a path (`name@host`), checked by the engine's rules, and found in a guest's list. */
import { fail } from "../errors/index.js";
import type { GuestUserInfo, GuestUserRef } from "../events/index.js";
import type { GuestTarget } from "./guest-access.js";
import { checked } from "./guest-input.js";

/** The user named in a request, with name and host checked against the engine's rules. */
export function userRef(target: GuestTarget, user: GuestUserRef): GuestUserRef {
  const rules = target.datastore.rules;
  return { name: checked(rules.user, "user", user.name), host: checked(rules.host, "host", user.host) };
}

/** The listed user the request names, or 404. */
export function existingUser(users: GuestUserInfo[], target: GuestTarget, user: GuestUserRef): GuestUserInfo {
  const ref = userRef(target, user);
  const found = users.find((u) => u.name === ref.name && u.host === ref.host);
  if (!found) throw fail("USER_NOT_FOUND", { name: ref.name, host: ref.host });
  return found;
}
