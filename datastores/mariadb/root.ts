/** MariaDB's tenant root: `'root'@'%'`, like RDS's master user rather than the engine's superuser (./hardening.ts). */
import type { GuestHandle, RootGroup } from "../contract.js";
import { asRoot, withoutSecrets } from "./connection.js";
import { settleRoot, TENANT_ROOT } from "./hardening.js";
import { userExists } from "./sql.js";

export const mariadbRoot: RootGroup = {
  async enableRoot(guest: GuestHandle, password: string): Promise<void> {
    await asRoot(guest, async (conn) => {
      try {
        await conn.query("CREATE USER IF NOT EXISTS 'root'@'%' IDENTIFIED BY ?", [password]);
        await conn.query("ALTER USER 'root'@'%' IDENTIFIED BY ? ACCOUNT UNLOCK", [password]);
      } catch (e) {
        throw withoutSecrets(e, [password], "could not enable root");
      }
      // Like RDS's master user, not the engine's superuser: see hardening.ts for what root gets and why.
      // A root made by an older Hoard (ALL PRIVILEGES ON *.*) is brought down to it here too.
      await settleRoot(conn);
    });
  },

  async rootEnabled(guest: GuestHandle): Promise<boolean> {
    return asRoot(guest, async (conn) => userExists(conn, TENANT_ROOT));
  },

  async disableRoot(guest: GuestHandle): Promise<void> {
    await asRoot(guest, async (conn) => {
      await conn.query("DROP USER IF EXISTS 'root'@'%'");
    });
  },
};
