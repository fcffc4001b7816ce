/**
 * MariaDB names in SQL (quoted identifiers, GRANT's database patterns, plain words for character sets) and
 * the queries that find a tenant's user or database or refuse.
 */
import type { Connection } from "mysql2/promise";
import { refuse } from "../../errors/index.js";
import type { UserRef } from "../contract.js";

/** Databases and accounts of the engine and of the service, never shown to or touched by tenants. */
export const SYSTEM_DATABASES = ["mysql", "information_schema", "performance_schema", "sys"];
export const SERVICE_USERS = ["root", "mariadb.sys", "mysql", "os_admin", ""];

/** A quoted MariaDB identifier (backticks, with any backtick doubled). */
export function quoteIdentifier(name: string): string {
  return `\`${name.replaceAll("`", "``")}\``;
}

/**
 * A database name as GRANT reads it: `_` and `%` are wildcards there, so they are escaped, or a grant on
 * `a_b` would also cover a database `axb`.
 */
export function grantDatabase(name: string): string {
  return quoteIdentifier(grantPattern(name));
}

/** Charset and collation names go into SQL unquoted, so only plain words pass. */
export function sqlWord(what: string, value: string): string {
  if (!/^[A-Za-z0-9_]+$/.test(value)) throw new Error(`${what} '${value}' is not a valid name`);
  return value;
}

/** How mysql.db stores a database name (GRANT's wildcards escaped). */
export function grantPattern(name: string): string {
  return name.replace(/[\\_%]/g, (c) => `\\${c}`);
}

export function unescapeGrant(db: string): string {
  return db.replace(/\\([\\_%])/g, "$1");
}

export async function userExists(conn: Connection, user: UserRef): Promise<boolean> {
  const [rows] = await conn.query("SELECT 1 FROM mysql.user WHERE User = ? AND Host = ?", [user.name, user.host]);
  return (rows as unknown[]).length > 0;
}

export function userNotFound(user: UserRef) {
  return refuse("USER_NOT_FOUND", { name: user.name, host: user.host });
}

/** Throws NOT_FOUND naming the first of `names` that is not a database. */
export async function missingDatabases(conn: Connection, names: string[]): Promise<void> {
  if (names.length === 0) return;
  const [rows] = await conn.query("SELECT schema_name AS name FROM information_schema.schemata WHERE schema_name IN (?)", [names]);
  const present = new Set((rows as { name: string }[]).map((r) => r.name));
  const missing = names.find((n) => !present.has(n));
  if (missing !== undefined) throw refuse("DATABASE_NOT_FOUND", { name: missing });
}
