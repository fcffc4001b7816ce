/**
 * PostgreSQL's tenant root: every database's data, but not a superuser (see ./accounts.ts ROOT for why), and
 * its sessions end when it is disabled.
 */
import type { GuestHandle, RootGroup } from "../contract.js";
import { roleExists, ROOT, ROOT_GRANTS, SYSTEM_DATABASES, terminateSessions } from "./accounts.js";
import { asAdmin } from "./session.js";
import { passwordClause, quietly, quoteIdentifier } from "./sql.js";

export const postgresqlRoot: RootGroup = {
  async enableRoot(guest: GuestHandle, password: string): Promise<void> {
    await asAdmin(guest, async (conn) => {
      const role = (await roleExists(conn, ROOT)) ? `ALTER ROLE ${ROOT}` : `CREATE ROLE ${ROOT}`;
      await quietly(conn, [`${role} WITH LOGIN NOSUPERUSER CREATEDB NOCREATEROLE ${passwordClause(password)}`], [password], "could not enable root");
      await conn.query(`GRANT ${ROOT_GRANTS.join(", ")} TO ${ROOT}`);
      const dbs = await conn.query<{ name: string }>("SELECT datname AS name FROM pg_catalog.pg_database WHERE datname OPERATOR(pg_catalog.<>) ALL($1::pg_catalog.text[])", [SYSTEM_DATABASES]);
      for (const db of dbs.rows) await conn.query(`GRANT ALL ON DATABASE ${quoteIdentifier(db.name)} TO ${ROOT}`);
    });
  },

  async rootEnabled(guest: GuestHandle): Promise<boolean> {
    return asAdmin(guest, async (conn) => {
      const { rows } = await conn.query<{ enabled: boolean }>("SELECT rolcanlogin AND rolpassword IS NOT NULL AS enabled FROM pg_catalog.pg_authid WHERE rolname OPERATOR(pg_catalog.=) $1", [ROOT]);
      return rows[0]?.enabled === true;
    });
  },

  async disableRoot(guest: GuestHandle): Promise<void> {
    await asAdmin(guest, async (conn) => {
      await conn.query(`ALTER ROLE ${ROOT} WITH NOLOGIN PASSWORD NULL`);
      // A session opened while root was enabled would otherwise keep superuser access.
      await terminateSessions(conn, ROOT);
    });
  },
};
