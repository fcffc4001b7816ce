import { z } from "zod";
import { fail, HoardError, validationError, type SerializedError } from "../errors/index.js";

/** The body of a request/reply function's answer on NATS. */
export const Reply = z.union([
  z.object({ ok: z.literal(true), result: z.unknown() }),
  z.object({ ok: z.literal(false), error: z.object({ code: z.string(), message: z.string() }) }),
]);
export type Reply = { ok: true; result: unknown } | { ok: false; error: SerializedError };

/** Errors of a Postgres that is down or restarting (node's socket codes, SQLSTATE class 08 and 57P0x). */
const DATABASE_AWAY = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "57P01", "57P02", "57P03"]);

/** Whether an error says the database cannot be reached right now (a retry later can succeed). */
export function databaseUnavailable(e: unknown): boolean {
  if (!e || typeof e !== "object") return false;
  const { code, message } = e as { code?: unknown; message?: unknown };
  if (typeof code === "string" && (DATABASE_AWAY.has(code) || code.startsWith("08"))) return true;
  return typeof message === "string" && /Connection terminated|Timeout acquiring a connection|Client has encountered a connection error|Connection ended unexpectedly/i.test(message);
}

/**
 * Turns whatever a handler threw into the error a caller may see: catalogued errors pass, an unreachable
 * database is a 503 to retry (nothing was written: the transaction did not commit), others are hidden.
 */
export function toReplyError(e: unknown, ref: string): SerializedError {
  if (e instanceof HoardError) return e.toJSON();
  if (databaseUnavailable(e)) return fail("UNAVAILABLE", { part: "Hoard's database" }).toJSON();
  if (e instanceof z.ZodError) return validationError(e.issues).toJSON();
  return { code: "INTERNAL", message: `Internal error (reference ${ref}); the operator's log has the details.` };
}
