/**
 * PostgreSQL's roles and databases as the service sees them: the service's own roles (never a tenant's), the
 * system databases, and the catalog queries that find a tenant's user or database or refuse.
 */
import type pg from "pg";
import { refuse } from "../../errors/index.js";
import { pgCode } from "./sql.js";

type Client = pg.Client;

/** The superuser the tracker uses; it may log in only over the unix socket. */
export const ADMIN = "os_admin";
/** The bootstrap superuser of the image: never a tenant's, and it owns nothing of theirs (see deleteUser). */
export const BOOTSTRAP = "postgres";
/**
 * The tenant's "root": every database's data, but not a superuser. A superuser runs programs and reads
 * files as the postgres OS user (COPY … TO PROGRAM), which on this node would reach other tenants' guests.
 * Root keeps CREATEDB, as Trove's root and RDS's master user do: the databases it makes are its own, and
 * the tracker acts in them only with their owner's rights and a pinned search path (see inDatabase).
 */
export const ROOT = "root";
export const ROOT_GRANTS = ["pg_read_all_data", "pg_write_all_data", "pg_monitor", "pg_signal_backend"];
/**
 * The login a logical backup's databases are replayed as (see PgDumpBackup.replay): no superuser, only
 * while a restore runs, and only over the socket.
 */
export const RESTORER = "os_restore";
/** What holds, during that replay, the databases the dump gives to the service's roles (NOLOGIN). */
export const RESTORED_OWNER = "os_restore_owner";
export const SERVICE_ROLES = [ADMIN, BOOTSTRAP, ROOT, RESTORER, RESTORED_OWNER];
export const SYSTEM_DATABASES = ["postgres", "template0", "template1"];
/** Roles of the image and the service that a logical backup does not carry. */
export const IMAGE_ROLES = [ADMIN, BOOTSTRAP];

export function userNotFound(name: string) {
  return refuse("USER_NOT_FOUND", { name });
}

function databaseNotFound(name: string) {
  return refuse("DATABASE_NOT_FOUND", { name });
}

export async function databaseExists(conn: Client, name: string): Promise<boolean> {
  return ((await conn.query("SELECT 1 FROM pg_catalog.pg_database WHERE datname OPERATOR(pg_catalog.=) $1", [name])).rowCount ?? 0) > 0;
}

export async function roleExists(conn: Client, name: string): Promise<boolean> {
  return ((await conn.query("SELECT 1 FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) $1", [name])).rowCount ?? 0) > 0;
}

function isServiceRole(name: string): boolean {
  return SERVICE_ROLES.includes(name) || name.startsWith("pg_");
}

/** Throws NOT_FOUND unless `name` is a login role of the tenant. */
export async function requireTenantUser(conn: Client, name: string): Promise<void> {
  if (isServiceRole(name)) throw userNotFound(name);
  const { rows } = await conn.query<{ login: boolean }>("SELECT rolcanlogin AS login FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) $1", [name]);
  if (!rows[0]?.login) throw userNotFound(name);
}

/** Throws NOT_FOUND naming the first of `names` that is not a tenant database. */
export async function requireDatabases(conn: Client, names: string[]): Promise<void> {
  for (const name of names) {
    if (SYSTEM_DATABASES.includes(name) || !(await databaseExists(conn, name))) throw databaseNotFound(name);
  }
}

/** Ends the sessions of a role (waiting up to 5 s for each to go), so that what follows applies to all. */
export async function terminateSessions(conn: Client, role: string, database?: string): Promise<void> {
  await conn.query(
    `SELECT pg_catalog.pg_terminate_backend(pid, 5000) FROM pg_catalog.pg_stat_activity
      WHERE usename OPERATOR(pg_catalog.=) $1 AND pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid() AND ($2::pg_catalog.text IS NULL OR datname OPERATOR(pg_catalog.=) $2)`,
    [role, database ?? null],
  );
}

/** Makes the tenant's root role (NOLOGIN, as root disabled is) when it does not exist yet. */
export async function ensureRoot(conn: Client): Promise<void> {
  if (await roleExists(conn, ROOT)) return;
  await conn.query(`CREATE ROLE ${ROOT} WITH NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE`).catch((err: unknown) => {
    if (pgCode(err) !== "42710") throw err; // made meanwhile
  });
}
