import { z } from "zod";
import { HoardError, type SerializedError } from "../errors/index.js";

/** The body of a request/reply function's answer on NATS. */
export const Reply = z.union([
  z.object({ ok: z.literal(true), result: z.unknown() }),
  z.object({ ok: z.literal(false), error: z.object({ code: z.string(), message: z.string() }) }),
]);
export type Reply = { ok: true; result: unknown } | { ok: false; error: SerializedError };

/** Turns whatever a handler threw into the error a caller may see: catalogued errors pass, others are hidden. */
export function toReplyError(e: unknown, ref: string): SerializedError {
  if (e instanceof HoardError) return e.toJSON();
  if (e instanceof z.ZodError) {
    const detail = e.issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`).join("; ");
    return { code: "VALIDATION", message: `Validation error: ${detail}` };
  }
  return { code: "INTERNAL", message: `Internal error (reference ${ref}); the operator's log has the details.` };
}
