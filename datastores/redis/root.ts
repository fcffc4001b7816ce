/** Redis's tenant root: the ACL user `root` with every command but ROOT_LIMITS (./acl.ts). */
import type { GuestHandle, RootGroup } from "../contract.js";
import { getUser, passwordRule, ROOT_PERMISSIONS, ROOT_USER, saveAcl } from "./acl.js";
import { asAdmin } from "./connection.js";

export const redisRoot: RootGroup = {
  async enableRoot(guest: GuestHandle, password: string): Promise<void> {
    await asAdmin(guest, async (client) => {
      await client.call("ACL", "SETUSER", ROOT_USER, "reset", "on", passwordRule(password), ...ROOT_PERMISSIONS);
      await saveAcl(client);
    });
  },

  async rootEnabled(guest: GuestHandle): Promise<boolean> {
    return asAdmin(guest, async (client) => (await getUser(client, ROOT_USER))?.flags.includes("on") ?? false);
  },

  async disableRoot(guest: GuestHandle): Promise<void> {
    await asAdmin(guest, async (client) => {
      if (!(await getUser(client, ROOT_USER))) return;
      await client.call("ACL", "SETUSER", ROOT_USER, "reset");
      // Switching a user off does not end its sessions; the tenant's superuser access must end now.
      await client.call("CLIENT", "KILL", "USER", ROOT_USER);
      await saveAcl(client);
    });
  },
};
