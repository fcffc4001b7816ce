/** MariaDB's databases and who may use them (database-level grants, GRANT's wildcards escaped). */
import { refuse } from "../../errors/index.js";
import type { DatabaseInfo, DatabaseToCreate, GuestHandle, SchemaGroup, UserRef } from "../contract.js";
import { asRoot } from "./connection.js";
import { grantDatabase, grantPattern, missingDatabases, quoteIdentifier, sqlWord, SYSTEM_DATABASES, userExists, userNotFound } from "./sql.js";

export const mariadbSchema: SchemaGroup = {
  async createDatabases(guest: GuestHandle, databases: DatabaseToCreate[]): Promise<void> {
    if (databases.length === 0) return;
    const statements = databases.map((db) => {
      let sql = `CREATE DATABASE IF NOT EXISTS ${quoteIdentifier(db.name)}`;
      if (db.characterSet) sql += ` CHARACTER SET ${sqlWord("character set", db.characterSet)}`;
      if (db.collate) sql += ` COLLATE ${sqlWord("collation", db.collate)}`;
      return sql;
    });
    await asRoot(guest, async (conn) => {
      for (const sql of statements) await conn.query(sql);
    });
  },

  async listDatabases(guest: GuestHandle): Promise<DatabaseInfo[]> {
    return asRoot(guest, async (conn) => {
      const [rows] = await conn.query(
        "SELECT schema_name AS name, default_character_set_name AS cs, default_collation_name AS co FROM information_schema.schemata WHERE schema_name NOT IN (?) ORDER BY schema_name",
        [SYSTEM_DATABASES],
      );
      return (rows as { name: string; cs: string; co: string }[]).map((r) => ({ name: r.name, characterSet: r.cs, collate: r.co }));
    });
  },

  async deleteDatabase(guest: GuestHandle, name: string): Promise<void> {
    await asRoot(guest, async (conn) => {
      await missingDatabases(conn, [name]);
      await conn.query(`DROP DATABASE ${quoteIdentifier(name)}`);
      // Grants on a dropped database would silently apply to a new one of the same name.
      await conn.query("DELETE FROM mysql.db WHERE Db = ?", [grantPattern(name)]);
      await conn.query("FLUSH PRIVILEGES");
    });
  },

  async grantAccess(guest: GuestHandle, user: UserRef, databases: string[]): Promise<void> {
    await asRoot(guest, async (conn) => {
      if (!(await userExists(conn, user))) throw userNotFound(user);
      await missingDatabases(conn, databases);
      for (const db of databases) await conn.query(`GRANT ALL PRIVILEGES ON ${grantDatabase(db)}.* TO ?@?`, [user.name, user.host]);
    });
  },

  async revokeAccess(guest: GuestHandle, user: UserRef, database: string): Promise<void> {
    await asRoot(guest, async (conn) => {
      if (!(await userExists(conn, user))) throw userNotFound(user);
      const [rows] = await conn.query("SELECT 1 FROM mysql.db WHERE User = ? AND Host = ? AND Db = ?", [user.name, user.host, grantPattern(database)]);
      if ((rows as unknown[]).length === 0) {
        throw refuse("USER_NO_ACCESS", { name: user.name, host: user.host, database });
      }
      await conn.query(`REVOKE ALL PRIVILEGES ON ${grantDatabase(database)}.* FROM ?@?`, [user.name, user.host]);
    });
  },
};
