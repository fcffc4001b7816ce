/**
 * The tracker's sessions with a PostgreSQL guest: as the superuser os_admin with the guest's admin password,
 * over the unix socket in the engine's folder (runtime files belong in the run folder rather than in the
 * volume, whose clones and snapshots would carry a stale socket), each with its search path and other
 * settings pinned so that nothing a tenant configures changes how the tracker's statements are read.
 */
import pg from "pg";
import type { GuestHandle, GuestLayout } from "../contract.js";
import { guestSocketDir } from "../guest-files.js";
import { ADMIN } from "./accounts.js";
import { pgCode, quoteIdentifier, unlessNoSchema } from "./sql.js";

/** How long a configuration reload may take to reach the tracker's session. */
const RELOAD_TIMEOUT_MS = 5_000;

type Client = pg.Client;

/**
 * The search path of every superuser session: the catalog first and the session's own temporary schema last
 * (never searched for functions or operators), so no name the tracker uses can resolve to a tenant's object.
 * A tenant who owns a database can give it a search_path (ALTER DATABASE … SET search_path = evil, …) and
 * everyone with CREATE somewhere can add functions and operators; without this pin the tracker's `=` once
 * resolved to a tenant's operator whose function then ran as superuser (issue 19, escape 2).
 */
export const ADMIN_SEARCH_PATH = "pg_catalog, pg_temp";

/**
 * Pinned in every admin session, plain or not: a client option outranks what a database or role sets
 * (ALTER DATABASE … SET), so a tenant's database cannot change how the tracker's statements are read.
 */
const PINNED = [`search_path=${ADMIN_SEARCH_PATH.replace(" ", "")}`, "standard_conforming_strings=on", "default_transaction_read_only=off"];

/**
 * Options of every admin session: a tenant's configuration (statement_timeout = 1, idle timeouts) must not
 * break the tracker's own statements, which get a bound of their own instead.
 */
const ADMIN_SESSION_OPTIONS = [...PINNED, "statement_timeout=60000", "lock_timeout=0", "idle_in_transaction_session_timeout=0", "idle_session_timeout=0"]
  .map((o) => `-c ${o}`)
  .join(" ");
/** The options of a session that reads the configured values (readSettings): only the pins. */
const PLAIN_SESSION_OPTIONS = PINNED.map((o) => `-c ${o}`).join(" ");
/** The same pins for the tools (pg_dump, psql) the backup strategies run. */
export const TOOL_SESSION_OPTIONS = PLAIN_SESSION_OPTIONS;

/**
 * The folder of the guest's unix socket (guestSocketDir: the engine's folder, or a short one when that path
 * would not fit in a socket address); the tracker makes it before every start and removes it with the guest.
 */
export function socketDir(guest: Pick<GuestLayout, "runDir">): string {
  return guestSocketDir(guest.runDir);
}

/**
 * os_admin's own search path, a second wall behind the one every admin session pins in its options (a tool
 * or session opened without them still finds only the catalog). Set on every start, so a guest made before
 * it gets it at its next start.
 */
export async function pinAdminSearchPath(conn: Client): Promise<void> {
  await conn.query(`ALTER ROLE ${ADMIN} SET search_path = ${ADMIN_SEARCH_PATH}`).catch((err: unknown) => {
    if (pgCode(err) !== "25006") throw err; // a server that takes no writes (yet) keeps the value it has
  });
}

/**
 * A session as the service's superuser over the guest's socket, with the admin session's options, or only the
 * pins (`plain`, for reading the values a tenant configured).
 */
export async function connect(guest: GuestHandle, opts: { database?: string; timeoutMs?: number; plain?: boolean; application?: string } = {}): Promise<Client> {
  const client = new pg.Client({
    host: socketDir(guest),
    port: guest.port,
    user: ADMIN,
    password: guest.adminPassword,
    database: opts.database ?? "postgres",
    application_name: opts.application ?? "hoard",
    connectionTimeoutMillis: opts.timeoutMs ?? 5_000,
    options: opts.plain ? PLAIN_SESSION_OPTIONS : ADMIN_SESSION_OPTIONS,
  });
  // An engine going away while the client idles would otherwise raise an unhandled 'error'.
  client.on("error", () => {});
  await client.connect();
  return client;
}

/** The superuser session of the backup strategies, named for them in pg_stat_activity. */
export function adminSession(guest: GuestHandle, database = "postgres"): Promise<Client> {
  return connect(guest, { database, application: "hoard-backup" });
}

/** Runs `work` in a superuser session, closed afterwards. */
export async function asAdmin<T>(guest: GuestHandle, work: (conn: Client) => Promise<T>, opts: { plain?: boolean } = {}): Promise<T> {
  const conn = await connect(guest, opts);
  try {
    return await work(conn);
  } finally {
    await conn.end().catch(() => {});
  }
}

/**
 * A superuser session inside a tenant's database, with the search path pinned like every admin session.
 * `asOwner`: in a database that a tenant's role owns (what root's CREATE DATABASE makes), the session
 * first becomes that owner (SET ROLE), so the statements that follow run with the owner's rights and not a
 * superuser's. A session that began as superuser could RESET ROLE if any code of the tenant's ran in it;
 * none does (the pinned path, qualified names, no DO blocks): the role is a second wall, not the first.
 */
export async function inDatabase<T>(guest: GuestHandle, database: string, work: (conn: Client) => Promise<T>, opts: { asOwner?: boolean } = {}): Promise<T> {
  const conn = await connect(guest, { database });
  try {
    if (opts.asOwner) {
      const { rows } = await conn.query<{ owner: string; su: boolean }>(
        `SELECT r.rolname AS owner, r.rolsuper AS su FROM pg_catalog.pg_database d JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) d.datdba
          WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database()`,
      );
      if (rows[0] && !rows[0].su) await conn.query(`SET ROLE ${quoteIdentifier(rows[0].owner)}`);
    }
    return await work(conn);
  } finally {
    await conn.end().catch(() => {});
  }
}

/**
 * In PostgreSQL 15 only the owner may create in `public`: the user gets USAGE and CREATE on it, granted as
 * the database's owner (root, for a database root made). A plain statement, not a DO block: nothing in it
 * is looked up by name in the tenant's schemas.
 */
export async function grantSchema(guest: GuestHandle, database: string, user: string): Promise<void> {
  await inDatabase(
    guest,
    database,
    async (c) => {
      await c.query(`GRANT ALL ON SCHEMA public TO ${quoteIdentifier(user)}`).catch(unlessNoSchema);
    },
    { asOwner: true },
  );
}

/**
 * Reloads the configuration and waits until this session has read it: the postmaster reloads before it
 * tells its children, so every session started afterwards sees the new values too.
 */
export async function reload(conn: Client): Promise<void> {
  const before = (await conn.query<{ t: string }>("SELECT pg_catalog.pg_conf_load_time()::pg_catalog.text AS t")).rows[0]!.t;
  await conn.query("SELECT pg_catalog.pg_reload_conf()");
  const deadline = Date.now() + RELOAD_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const { rows } = await conn.query<{ done: boolean }>("SELECT pg_catalog.pg_conf_load_time() OPERATOR(pg_catalog.>) $1::pg_catalog.timestamptz AS done", [before]);
    if (rows[0]?.done) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`PostgreSQL did not reload its configuration within ${RELOAD_TIMEOUT_MS / 1000} s`);
}
