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
 * Then what such a root could leave behind: see settleDefiners.
 */
export async function settleRoot(conn: Connection, opts: { definers?: boolean } = {}): Promise<void> {
  const [rows] = await conn.query("SELECT 1 FROM mysql.user WHERE User = ? AND Host = ?", [TENANT_ROOT.name, TENANT_ROOT.host]);
  if ((rows as unknown[]).length > 0) {
    await conn.query("REVOKE ALL PRIVILEGES, GRANT OPTION FROM 'root'@'%'");
    for (const sql of rootGrantStatements()) await conn.query(sql);
  }
  if (opts.definers ?? true) await settleDefiners(conn);
}

/**
 * A file in the data folder saying settleDefiners ran on this data: nothing can add such objects since, so
 * later starts skip the information_schema scans (slow with many tables). In the data folder, not the run
 * folder, so that data brought back from an older backup (rollback, restore) has none and is looked at again.
 */
export const DEFINERS_SETTLED = ".hoard-definers-settled";

/** The service's own account, which no object of a tenant may run as. */
const SERVICE_DEFINER = "root@localhost";
/** Schemas of the engine, whose objects (sys's, mysql's) are the engine's own. */
const ENGINE_SCHEMAS = ["mysql", "information_schema", "performance_schema", "sys"];
const TENANT_ROOT_DEFINER = "`root`@`%`";
/** `CREATE [ALGORITHM=…] DEFINER=`u`@`h`` at the start of SHOW CREATE VIEW/TRIGGER's text. */
const DEFINER_CLAUSE = /^CREATE (ALGORITHM=\w+ )?DEFINER=`(?:[^`]|``)*`@`(?:[^`]|``)*` /i;

const ident = (name: string) => `\`${name.replaceAll("`", "``")}\``;

/**
 * A root with SUPER (an older Hoard's) could create routines, views, triggers and events with
 * DEFINER=root@localhost — the service's own account — in the tenant's databases: calling one later would
 * run the tenant's code with every privilege, the grants above notwithstanding. Each such object is made
 * tenant root's instead (as if root had created it), keeping what it does. Nothing else has the privilege
 * to create them now (SET USER), so on a guest made by this Hoard there is nothing to find.
 */
export async function settleDefiners(conn: Connection): Promise<void> {
  const [routines] = await conn.query("SELECT ROUTINE_SCHEMA AS db, ROUTINE_NAME AS name, ROUTINE_TYPE AS type FROM information_schema.ROUTINES WHERE DEFINER = ? AND ROUTINE_SCHEMA NOT IN (?)", [SERVICE_DEFINER, ENGINE_SCHEMAS]);
  for (const r of routines as { db: string; name: string; type: string }[]) {
    // The engine was just started (or root enabled): no session caches the routine with its old definer yet.
    await conn.query("UPDATE mysql.proc SET definer = 'root@%' WHERE db = ? AND name = ? AND type = ?", [r.db, r.name, r.type]);
  }
  const [events] = await conn.query("SELECT EVENT_SCHEMA AS db, EVENT_NAME AS name, STATUS AS status FROM information_schema.EVENTS WHERE DEFINER = ? AND EVENT_SCHEMA NOT IN (?)", [SERVICE_DEFINER, ENGINE_SCHEMAS]);
  for (const e of events as { db: string; name: string; status: string }[]) {
    await conn.query(`ALTER DEFINER = ${TENANT_ROOT_DEFINER} EVENT ${ident(e.db)}.${ident(e.name)} ${e.status === "ENABLED" ? "ENABLE" : "DISABLE"}`);
  }
  const [views] = await conn.query("SELECT TABLE_SCHEMA AS db, TABLE_NAME AS name FROM information_schema.VIEWS WHERE DEFINER = ? AND TABLE_SCHEMA NOT IN (?)", [SERVICE_DEFINER, ENGINE_SCHEMAS]);
  for (const v of views as { db: string; name: string }[]) {
    const [shown] = await conn.query(`SHOW CREATE VIEW ${ident(v.db)}.${ident(v.name)}`);
    const text = String((shown as Record<string, string>[])[0]!["Create View"]);
    if (!DEFINER_CLAUSE.test(text)) throw new Error(`could not read the definer of view ${v.db}.${v.name}`);
    await inDatabase(conn, v.db, () => conn.query(text.replace(DEFINER_CLAUSE, (_m, algorithm: string | undefined) => `CREATE OR REPLACE ${algorithm ?? ""}DEFINER=${TENANT_ROOT_DEFINER} `)));
  }
  const [triggers] = await conn.query("SELECT TRIGGER_SCHEMA AS db, TRIGGER_NAME AS name FROM information_schema.TRIGGERS WHERE DEFINER = ? AND TRIGGER_SCHEMA NOT IN (?)", [SERVICE_DEFINER, ENGINE_SCHEMAS]);
  for (const t of triggers as { db: string; name: string }[]) {
    const [shown] = await conn.query(`SHOW CREATE TRIGGER ${ident(t.db)}.${ident(t.name)}`);
    const row = (shown as Record<string, string>[])[0]!;
    const text = String(row["SQL Original Statement"]);
    if (!DEFINER_CLAUSE.test(text)) throw new Error(`could not read the definer of trigger ${t.db}.${t.name}`);
    // No ALTER TRIGGER: drop and create again, under the sql_mode the trigger was made with.
    await inDatabase(conn, t.db, async () => {
      await conn.query("SET SESSION sql_mode = ?", [row.sql_mode ?? ""]);
      try {
        await conn.query(`DROP TRIGGER ${ident(t.db)}.${ident(t.name)}`);
        await conn.query(text.replace(DEFINER_CLAUSE, `CREATE DEFINER=${TENANT_ROOT_DEFINER} `));
      } finally {
        await conn.query(ADMIN_SESSION_SQL);
      }
    });
  }
}

/** Runs `work` with `db` as the session's default database (SHOW CREATE names the object unqualified). */
async function inDatabase<T>(conn: Connection, db: string, work: () => Promise<T>): Promise<T> {
  await conn.query(`USE ${ident(db)}`);
  try {
    return await work();
  } finally {
    // Out of the tenant's database again (information_schema holds no object a tenant made), so no later
    // statement of this session could resolve an unqualified name there.
    await conn.query("USE information_schema");
  }
}
