/**
 * PostgreSQL's SQL as the tracker writes it: quoted names and literals (NUL and over-long names refused,
 * never truncated), passwords as SCRAM secrets, statements that carry secrets run unlogged, and the server's
 * errors sorted into refusals the user can act on and failures of the service.
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes } from "node:crypto";
import pg from "pg";
import { GuestActionError, refuse } from "../../errors/index.js";
import { postgresqlDefinition } from "./definition.js";

/** PostgreSQL truncates longer identifiers (NAMEDATALEN - 1). */
const MAX_IDENTIFIER_BYTES = 63;

type Client = pg.Client;

/** A quoted identifier (double quotes, doubled inside); NUL and over-long names are refused, never truncated. */
export function quoteIdentifier(name: string): string {
  checkText("name", name);
  if (Buffer.byteLength(name) > MAX_IDENTIFIER_BYTES) throw refuse("IDENTIFIER_TOO_LONG", { name, maxBytes: MAX_IDENTIFIER_BYTES });
  return pg.escapeIdentifier(name);
}

/** A string literal; pg.escapeLiteral doubles quotes and switches to E'' when there is a backslash. */
export function literal(value: string): string {
  checkText("value", value);
  return pg.escapeLiteral(value);
}

function checkText(what: string, text: string): void {
  if (text.includes("\0")) throw refuse("NUL_CHARACTER", { what });
}

/**
 * The SCRAM-SHA-256 secret of a password, computed here as psql's \password does, so that no statement (nor
 * a log line quoting it) ever carries the password itself. Same format and iteration count as the server's.
 */
export function scramSecret(password: string, iterations = 4096): string {
  const salt = randomBytes(16);
  const salted = pbkdf2Sync(password, salt, iterations, 32, "sha256");
  const clientKey = createHmac("sha256", salted).update("Client Key").digest();
  const storedKey = createHash("sha256").update(clientKey).digest();
  const serverKey = createHmac("sha256", salted).update("Server Key").digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString("base64")}$${storedKey.toString("base64")}:${serverKey.toString("base64")}`;
}

/**
 * `PASSWORD '…'` for a statement. The server normalizes non-ASCII passwords (SASLprep) before hashing; to
 * stay exact those are left to it (still never logged, see quietly()). An ASCII password is hashed here.
 */
export function passwordClause(password: string): string {
  // eslint-disable-next-line no-control-regex
  return `PASSWORD ${literal(/^[\x00-\x7f]*$/.test(password) ? scramSecret(password) : password)}`;
}
export function pgCode(err: unknown): string | undefined {
  return (err as { code?: string }).code;
}

/** Refused credentials or login: the server answers, so it is up. */
export function isAuthFailure(err: unknown): boolean {
  return pgCode(err) === "28P01" || pgCode(err) === "28000";
}

/** A fresh error without any of `secrets` in its message (and without the driver's fields). */
export function withoutSecrets(err: unknown, secrets: string[], context: string): Error {
  let message = (err as Error).message ?? String(err);
  for (const secret of secrets) if (secret) message = message.replaceAll(secret, "***");
  return new Error(`${context}: ${message}`);
}

/** The server refused a value the tenant chose (an encoding, a locale, a parameter value). */
export function invalidInput(err: unknown, what: string): unknown {
  const code = pgCode(err);
  // 22023 invalid_parameter_value, 42704 undefined_object (an unknown encoding), 42809 wrong_object_type (an
  // unknown locale), 22P02 invalid text, 0A000 not supported
  if (code === "22023" || code === "42704" || code === "42809" || code === "22P02" || code === "0A000") {
    return refuse("ENGINE_REFUSED", { engine: postgresqlDefinition.title, what, detail: (err as Error).message });
  }
  return err;
}
/** A statement on schema `public` in a database that has none (a tenant dropped it) has nothing to do. */
export function unlessNoSchema(err: unknown): void {
  if (pgCode(err) !== "3F000") throw err;
}

/**
 * Runs statements that carry secrets in one transaction whose statements are never logged, whatever the
 * tenant configured (log_statement = all, log_min_duration_statement = 0, the failing statement of an error).
 * Each statement is its own query: a multi-statement string would be logged whole before the SET LOCALs act.
 */
export async function quietly(conn: Client, statements: string[], secrets: string[], context: string): Promise<void> {
  await conn.query("BEGIN");
  try {
    await conn.query("SET LOCAL log_statement = 'none'");
    await conn.query("SET LOCAL log_min_duration_statement = -1");
    await conn.query("SET LOCAL log_min_error_statement = 'panic'");
    for (const sql of statements) await conn.query(sql);
    await conn.query("COMMIT");
  } catch (err) {
    await conn.query("ROLLBACK").catch(() => {});
    if (err instanceof GuestActionError) throw err;
    const code = pgCode(err);
    // 42710 duplicate_object (made meanwhile), 42939 reserved_name
    if (code === "42710" || code === "42939") throw refuse("STATEMENT_REFUSED", { context, detail: (err as Error).message });
    throw withoutSecrets(err, secrets, context);
  }
}

export function byCodePoint(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

