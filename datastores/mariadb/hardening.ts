/**
 * What keeps a MariaDB guest's tenant inside it, in one place: the server options every guest runs with,
 * the fixed session every admin connection of the tracker starts with, and the privileges tenant root gets.
 *
 * Why each matters (issue 19):
 * - A configuration group sets GLOBAL values that new sessions inherit, the tracker's own included. With
 *   `sql_mode=NO_BACKSLASH_ESCAPES` inherited, mysql2's `\'` escaping of a placeholder is no escape and a
 *   value quoted by the driver could close its string. So every admin session first pins sql_mode and the
 *   character set (a multi-byte client charset such as GBK can also eat a backslash), before any statement
 *   that carries a value.
 * - MariaDB 10.11 checks `SET GLOBAL general_log_file`/`slow_query_log_file` (and every SET GLOBAL not
 *   covered by a finer privilege) against SUPER, `INTO OUTFILE`/`LOAD DATA INFILE`/`LOAD_FILE` against
 *   FILE, `INSTALL PLUGIN/SONAME` against INSERT on mysql.plugin, DEFINER=<someone else> against SET USER,
 *   `CREATE SERVER` against FEDERATED ADMIN. CREATE USER would let root `RENAME USER 'root'@'localhost'` (the
 *   tracker's admin, with every privilege) to a name it can log in as, and DML on the `mysql` schema would
 *   let it write mysql.global_priv, mysql.proc (a DEFINER=root@localhost procedure) or mysql.plugin. Root
 *   therefore gets every privilege on every database through a database-level grant on `%`, shadowed for
 *   `mysql` by an exact grant of SELECT only (the server takes the first matching database row, and an
 *   exact name sorts before a wildcard), and of the global privileges only SHOW DATABASES.
 */
import mysql from "mysql2/promise";
import type { Connection } from "mysql2/promise";

/**
 * Server options every guest starts with, after the configuration group's values so that none of these can
 * be overridden: no LOAD DATA LOCAL (the tenant's client-side files have no business on a shared node and
 * the option is a known channel), no symbolic links (`DATA DIRECTORY`/`INDEX DIRECTORY` of CREATE TABLE
 * would otherwise put table files at any path the engine can write, for InnoDB and MyISAM alike), and no
 * UDFs from arbitrary libraries.
 */
export const SERVER_HARDENING: readonly string[] = ["--local-infile=0", "--skip-symbolic-links", "--skip-allow-suspicious-udfs"];

/**
 * The sql_mode of every admin session: MariaDB 10.11's default, in which a backslash escapes. Written out
 * rather than `DEFAULT` (DEFAULT would be the GLOBAL value, which a configuration group sets).
 */
export const ADMIN_SQL_MODE = "STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION";

/** The one statement every admin connection runs first (constant text, so nothing in it can be injected). */
export const ADMIN_SESSION_SQL = `SET SESSION sql_mode = '${ADMIN_SQL_MODE}', NAMES utf8mb4 COLLATE utf8mb4_general_ci, SESSION sql_quote_show_create = 1`;

/**
 * An admin connection to a guest's unix socket, as root@localhost, with its session pinned. Every connection
 * of the tracker to a MariaDB guest goes through here (strategy, backups); there is no pool, so "per
 * connection" is "per call". LOCAL_FILES is off on our side too: a server can ask a client for any file.
 */
export async function adminConnection(socketPath: string, password: string, connectTimeout = 5_000): Promise<Connection> {
  const conn = await mysql.createConnection({
    socketPath,
    user: "root",
    password,
    connectTimeout,
    charset: "UTF8MB4_GENERAL_CI",
    multipleStatements: false,
    flags: ["-LOCAL_FILES", "-MULTI_STATEMENTS"],
  });
  try {
    await conn.query({ sql: ADMIN_SESSION_SQL, timeout: connectTimeout });
  } catch (err) {
    conn.destroy();
    throw err;
  }
  return conn;
}

/** Global privileges of tenant root (MariaDB 10.11 names). Everything else global stays the service's. */
export const ROOT_GLOBAL_PRIVILEGES: readonly string[] = ["SHOW DATABASES"];

/**
 * Privileges of tenant root on every database (granted on `%`, WITH GRANT OPTION so root can share them
 * with the tenant's users). All the database-level privileges MariaDB 10.11 has.
 */
export const ROOT_DATABASE_PRIVILEGES: readonly string[] = [
  "SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "REFERENCES", "INDEX", "ALTER",
  "CREATE TEMPORARY TABLES", "LOCK TABLES", "EXECUTE", "CREATE VIEW", "SHOW VIEW", "CREATE ROUTINE",
  "ALTER ROUTINE", "EVENT", "TRIGGER", "DELETE HISTORY",
];

/** Privileges of tenant root on the `mysql` schema: reading only (grant tables, time zones, help). */
export const ROOT_MYSQL_PRIVILEGES: readonly string[] = ["SELECT"];

/** The account tenant root is. */
export const TENANT_ROOT = { name: "root", host: "%" } as const;

/** The GRANT statements that give an account tenant root's privileges (constant text). */
export function rootGrantStatements(account = "'root'@'%'"): string[] {
  return [
    `GRANT ${ROOT_GLOBAL_PRIVILEGES.join(", ")} ON *.* TO ${account}`,
    `GRANT ${ROOT_DATABASE_PRIVILEGES.join(", ")} ON \`%\`.* TO ${account} WITH GRANT OPTION`,
    `GRANT ${ROOT_MYSQL_PRIVILEGES.join(", ")} ON \`mysql\`.* TO ${account}`,
  ];
}

/**
 * Brings tenant root, when it exists, to exactly the privileges above: a guest whose root was enabled by an
 * older Hoard (ALL PRIVILEGES ON *.*) or restored from such a guest's backup loses SUPER, FILE and the rest.
 * REVOKE ALL takes every global, database, table, column and routine privilege and the grant option.
 */
export async function settleRoot(conn: Connection): Promise<void> {
  const [rows] = await conn.query("SELECT 1 FROM mysql.user WHERE User = ? AND Host = ?", [TENANT_ROOT.name, TENANT_ROOT.host]);
  if ((rows as unknown[]).length === 0) return;
  await conn.query("REVOKE ALL PRIVILEGES, GRANT OPTION FROM 'root'@'%'");
  for (const sql of rootGrantStatements()) await conn.query(sql);
}
