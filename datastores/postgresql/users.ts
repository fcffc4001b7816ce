/**
 * PostgreSQL's tenant users: login roles. A role has no host part (who may connect from where is the
 * guest's pg_hba.conf), and what a deleted role owned goes to the tenant's root, never to a superuser.
 */
import type { GuestHandle, UserChanges, UserInfo, UserRef, UsersGroup, UserToCreate } from "../contract.js";
import { refuse } from "../../errors/index.js";
import { ensureRoot, requireDatabases, requireTenantUser, roleExists, ROOT, SERVICE_ROLES, SYSTEM_DATABASES, terminateSessions } from "./accounts.js";
import { postgresqlDefinition } from "./definition.js";
import { asAdmin, grantSchema, inDatabase } from "./session.js";
import { byCodePoint, passwordClause, quietly, quoteIdentifier } from "./sql.js";

export const postgresqlUsers: UsersGroup = {
  async createUsers(guest: GuestHandle, users: UserToCreate[]): Promise<void> {
    if (users.length === 0) return;
    await asAdmin(guest, async (conn) => {
      const names = new Set<string>();
      for (const user of users) {
        if (names.has(user.name) || (await roleExists(conn, user.name))) {
          throw refuse("USER_EXISTS", { name: user.name });
        }
        names.add(user.name);
      }
      for (const user of users) await requireDatabases(conn, user.databases);
      const statements = users.flatMap((u) => [
        `CREATE ROLE ${quoteIdentifier(u.name)} WITH LOGIN ${passwordClause(u.password)}`,
        ...u.databases.map((db) => `GRANT ALL ON DATABASE ${quoteIdentifier(db)} TO ${quoteIdentifier(u.name)}`),
      ]);
      await quietly(conn, statements, users.map((u) => u.password), "could not create the users");
      for (const user of users) {
        for (const db of user.databases) await grantSchema(guest, db, user.name);
      }
    });
  },

  async listUsers(guest: GuestHandle): Promise<UserInfo[]> {
    return asAdmin(guest, async (conn) => {
      const { rows } = await conn.query<{ name: string; databases: string[] }>(
        `SELECT r.rolname AS name,
                COALESCE((SELECT pg_catalog.array_agg(DISTINCT d.datname::pg_catalog.text ORDER BY d.datname::pg_catalog.text)
                            FROM pg_catalog.pg_database d, pg_catalog.aclexplode(d.datacl) a
                           WHERE a.grantee OPERATOR(pg_catalog.=) r.oid AND a.privilege_type OPERATOR(pg_catalog.=) ANY(ARRAY['CONNECT', 'CREATE'])
                             AND d.datname OPERATOR(pg_catalog.<>) ALL($2::pg_catalog.text[])), '{}'::pg_catalog.text[]) AS databases
           FROM pg_catalog.pg_roles r
          WHERE r.rolcanlogin AND r.rolname OPERATOR(pg_catalog.<>) ALL($1::pg_catalog.text[]) AND r.rolname OPERATOR(pg_catalog.!~~) 'pg\\_%'
          ORDER BY r.rolname COLLATE pg_catalog."C"`,
        [SERVICE_ROLES, SYSTEM_DATABASES],
      );
      return rows.map((r) => ({ name: r.name, host: "%", databases: [...r.databases].sort(byCodePoint) }));
    });
  },

  async updateUser(guest: GuestHandle, user: UserRef, changes: UserChanges): Promise<void> {
    if (changes.host !== undefined && changes.host !== "%") {
      throw refuse("USER_HOST_NOT_SUPPORTED", { engine: postgresqlDefinition.title });
    }
    await asAdmin(guest, async (conn) => {
      await requireTenantUser(conn, user.name);
      const target = changes.name ?? user.name;
      const statements: string[] = [];
      if (target !== user.name) {
        if (await roleExists(conn, target)) throw refuse("USER_EXISTS", { name: target });
        statements.push(`ALTER ROLE ${quoteIdentifier(user.name)} RENAME TO ${quoteIdentifier(target)}`);
      }
      if (changes.password !== undefined) statements.push(`ALTER ROLE ${quoteIdentifier(target)} WITH ${passwordClause(changes.password)}`);
      if (statements.length) await quietly(conn, statements, [changes.password ?? ""], `could not update user '${user.name}'`);
    });
  },

  async deleteUser(guest: GuestHandle, user: UserRef): Promise<void> {
    await asAdmin(guest, async (conn) => {
      await requireTenantUser(conn, user.name);
      const role = quoteIdentifier(user.name);
      await terminateSessions(conn, user.name);
      // What the role owns or was granted lives in each database's catalogs: every one with a trace of it is
      // visited. Its objects (the tenant's data) go to the tenant's root rather than away — never to a
      // superuser: a SECURITY DEFINER function the user left would then run as superuser for whoever calls it.
      await ensureRoot(conn);
      const { rows } = await conn.query<{ name: string }>(
        `SELECT DISTINCT d.datname AS name FROM pg_catalog.pg_shdepend s JOIN pg_catalog.pg_database d ON d.oid OPERATOR(pg_catalog.=) s.dbid
          WHERE s.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_authid'::pg_catalog.regclass
            AND s.refobjid OPERATOR(pg_catalog.=) (SELECT oid FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) $1)
            AND d.datallowconn AND d.datname OPERATOR(pg_catalog.<>) 'postgres'`,
        [user.name],
      );
      for (const db of rows.map((r) => r.name)) {
        // REASSIGN needs both roles' rights (a superuser's here), but it only changes catalog rows: no code of
        // the tenant's runs, and the session's search path is pinned.
        await inDatabase(guest, db, async (c) => {
          await c.query(`REASSIGN OWNED BY ${role} TO ${ROOT}`);
          await c.query(`DROP OWNED BY ${role}`);
        });
      }
      // In `postgres` this also revokes the grants on databases (shared objects).
      await conn.query(`REASSIGN OWNED BY ${role} TO ${ROOT}`);
      await conn.query(`DROP OWNED BY ${role}`);
      await conn.query(`DROP ROLE ${role}`);
    });
  },
};
