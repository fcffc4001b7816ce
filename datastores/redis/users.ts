/** Redis's tenant users: ACL users. Hosts do not exist in Redis, so `host` is ignored. */
import { refuse } from "../../errors/index.js";
import type { GuestHandle, UserChanges, UserInfo, UserRef, UsersGroup, UserToCreate } from "../contract.js";
import { getUser, passwordRule, rulesOf, saveAcl, SERVICE_USERS, TENANT_PERMISSIONS } from "./acl.js";
import { asAdmin } from "./connection.js";
import { redisDefinition } from "./definition.js";

/** A user asked to get databases, which Redis does not have. */
const noNamedDatabases = () => refuse("DATABASES_NOT_SUPPORTED", { engine: redisDefinition.title, detail: redisDefinition.noDatabases });

const userNotFound = (name: string) => refuse("USER_NOT_FOUND", { name });

export const redisUsers: UsersGroup = {
  async createUsers(guest: GuestHandle, users: UserToCreate[]): Promise<void> {
    if (users.length === 0) return;
    const seen = new Set<string>();
    for (const user of users) {
      if (SERVICE_USERS.has(user.name)) throw refuse("RESERVED_USER", { name: user.name });
      if (user.databases.length > 0) throw noNamedDatabases();
      if (seen.has(user.name)) throw refuse("USER_GIVEN_TWICE", { name: user.name });
      seen.add(user.name);
    }
    await asAdmin(guest, async (client) => {
      for (const user of users) {
        if (await getUser(client, user.name)) throw refuse("USER_EXISTS", { name: user.name });
      }
      const created: string[] = [];
      try {
        for (const user of users) {
          await client.call("ACL", "SETUSER", user.name, "reset", "on", passwordRule(user.password), ...TENANT_PERMISSIONS);
          created.push(user.name);
        }
      } catch (err) {
        // All or nothing: the users made so far go again.
        for (const name of created) await client.call("ACL", "DELUSER", name).catch(() => {});
        throw err;
      }
      await saveAcl(client);
    });
  },

  async listUsers(guest: GuestHandle): Promise<UserInfo[]> {
    return asAdmin(guest, async (client) => {
      const names = ((await client.call("ACL", "USERS")) as unknown[]).map(String);
      return names
        .filter((name) => !SERVICE_USERS.has(name))
        .sort()
        .map((name) => ({ name, host: "%", databases: [] }));
    });
  },

  async updateUser(guest: GuestHandle, user: UserRef, changes: UserChanges): Promise<void> {
    if (SERVICE_USERS.has(user.name)) throw userNotFound(user.name);
    const target = changes.name ?? user.name;
    const renames = target !== user.name;
    if (renames && SERVICE_USERS.has(target)) throw refuse("RESERVED_USER", { name: target });
    await asAdmin(guest, async (client) => {
      const current = await getUser(client, user.name);
      if (!current) throw userNotFound(user.name);
      if (renames) {
        if (await getUser(client, target)) throw refuse("USER_EXISTS", { name: target });
        // Redis cannot rename: the new user gets the old one's rules and password hashes, then the old one
        // goes (which also closes its connections). Until the second step succeeds, the old user is intact.
        await client.call("ACL", "SETUSER", target, "reset", ...rulesOf(current, changes.password));
        try {
          await client.call("ACL", "DELUSER", user.name);
        } catch (err) {
          await client.call("ACL", "DELUSER", target).catch(() => {});
          throw err;
        }
      } else if (changes.password !== undefined) {
        await client.call("ACL", "SETUSER", user.name, "resetpass", passwordRule(changes.password));
      } else {
        return;
      }
      await saveAcl(client);
    });
  },

  async deleteUser(guest: GuestHandle, user: UserRef): Promise<void> {
    if (SERVICE_USERS.has(user.name)) throw userNotFound(user.name);
    await asAdmin(guest, async (client) => {
      const deleted = Number(await client.call("ACL", "DELUSER", user.name));
      if (deleted === 0) throw userNotFound(user.name);
      await saveAcl(client);
    });
  },
};
