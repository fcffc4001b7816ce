/**
 * PostgreSQL's databases and who may use them. A database's access is what its users are granted (never
 * every role through PUBLIC); in PostgreSQL 15 only a schema's owner may create in `public`, so a user with
 * access also gets USAGE and CREATE there, granted as the database's owner (see ./session.ts grantSchema).
 */
import type { DatabaseInfo, DatabaseToCreate, GuestHandle, SchemaGroup, UserRef } from "../contract.js";
import { refuse } from "../../errors/index.js";
import { databaseExists, requireDatabases, requireTenantUser, roleExists, ROOT, SYSTEM_DATABASES } from "./accounts.js";
import { asAdmin, grantSchema, inDatabase } from "./session.js";
import { invalidInput, literal, pgCode, quoteIdentifier, unlessNoSchema } from "./sql.js";

export const postgresqlSchema: SchemaGroup = {
  async createDatabases(guest: GuestHandle, databases: DatabaseToCreate[]): Promise<void> {
    if (databases.length === 0) return;
    await asAdmin(guest, async (conn) => {
      for (const db of databases) {
        if (SYSTEM_DATABASES.includes(db.name) || (await databaseExists(conn, db.name))) continue;
        const name = quoteIdentifier(db.name);
        let sql = `CREATE DATABASE ${name} TEMPLATE template0`;
        if (db.characterSet) sql += ` ENCODING ${literal(db.characterSet)}`;
        // Only the C locale goes with every encoding: the image's C.UTF-8 would refuse e.g. LATIN1.
        const locale = db.collate ?? (db.characterSet && db.characterSet.toUpperCase().replace(/[-_]/g, "") !== "UTF8" ? "C" : undefined);
        if (locale) sql += ` LC_COLLATE ${literal(locale)} LC_CTYPE ${literal(locale)}`;
        try {
          await conn.query(sql);
        } catch (err) {
          if (pgCode(err) === "42P04") continue; // made meanwhile by someone else
          throw invalidInput(err, `database '${db.name}'`);
        }
        // Access is what the users are granted: not every role of the guest through PUBLIC.
        await conn.query(`REVOKE ALL ON DATABASE ${name} FROM PUBLIC`);
        // The tenant's root (when it exists) reaches every database.
        if (await roleExists(conn, ROOT)) await conn.query(`GRANT ALL ON DATABASE ${name} TO ${ROOT}`);
      }
    });
  },

  async listDatabases(guest: GuestHandle): Promise<DatabaseInfo[]> {
    return asAdmin(guest, async (conn) => {
      const { rows } = await conn.query<{ name: string; cs: string; co: string }>(
        `SELECT datname AS name, pg_catalog.pg_encoding_to_char(encoding) AS cs, datcollate AS co
           FROM pg_catalog.pg_database WHERE datname OPERATOR(pg_catalog.<>) ALL($1::pg_catalog.text[]) ORDER BY datname COLLATE pg_catalog."C"`,
        [SYSTEM_DATABASES],
      );
      return rows.map((r) => ({ name: r.name, characterSet: r.cs, collate: r.co }));
    });
  },

  async deleteDatabase(guest: GuestHandle, name: string): Promise<void> {
    await asAdmin(guest, async (conn) => {
      await requireDatabases(conn, [name]);
      // FORCE ends the other sessions on it first (PostgreSQL 13+).
      await conn.query(`DROP DATABASE ${quoteIdentifier(name)} WITH (FORCE)`);
    });
  },

  async grantAccess(guest: GuestHandle, user: UserRef, databases: string[]): Promise<void> {
    await asAdmin(guest, async (conn) => {
      await requireTenantUser(conn, user.name);
      await requireDatabases(conn, databases);
      for (const db of databases) {
        await conn.query(`GRANT ALL ON DATABASE ${quoteIdentifier(db)} TO ${quoteIdentifier(user.name)}`);
        await grantSchema(guest, db, user.name);
      }
    });
  },

  async revokeAccess(guest: GuestHandle, user: UserRef, database: string): Promise<void> {
    await asAdmin(guest, async (conn) => {
      await requireTenantUser(conn, user.name);
      await requireDatabases(conn, [database]);
      const granted = await conn.query(
        `SELECT 1 FROM pg_catalog.pg_database d, pg_catalog.aclexplode(d.datacl) a
          WHERE d.datname OPERATOR(pg_catalog.=) $1 AND a.grantee OPERATOR(pg_catalog.=) (SELECT oid FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) $2) AND a.privilege_type OPERATOR(pg_catalog.=) ANY(ARRAY['CONNECT', 'CREATE'])`,
        [database, user.name],
      );
      if (!granted.rowCount) throw refuse("USER_NO_ACCESS", { name: user.name, database });
      const role = quoteIdentifier(user.name);
      await conn.query(`REVOKE ALL ON DATABASE ${quoteIdentifier(database)} FROM ${role}`);
      await inDatabase(
        guest,
        database,
        async (c) => {
          await c.query(`REVOKE ALL ON SCHEMA public FROM ${role}`).catch(unlessNoSchema);
        },
        { asOwner: true },
      );
    });
  },
};
