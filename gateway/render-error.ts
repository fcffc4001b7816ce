import type { FastifyError, FastifyReply } from "fastify";
import type { Logger } from "pino";
import { catalogue, fail, HoardError } from "../errors/index.js";

/** The longest path segment (an id, a name, `user@host`) the gateway routes. */
export const MAX_PARAM_LENGTH = 1024;

/** A project went over its request rate: Trove's overLimit with `retryAfter` and a Retry-After header. */
export class RateLimitedError extends HoardError {
  constructor(
    readonly limit: number,
    readonly verb: string,
    readonly retryAfter: number,
  ) {
    super("RATE_LIMITED", fail("RATE_LIMITED", { limit, verb, retryAfter }).message);
  }
}

/** Sends a catalogued error in Trove's shape: `{"<fault>": {"code": N, "message": "…"}}`. */
export function sendError(reply: FastifyReply, e: HoardError): FastifyReply {
  if (e instanceof RateLimitedError) {
    reply.header("Retry-After", String(e.retryAfter));
    const details = `Only ${e.limit} ${e.verb} request(s) can be made to * every minute.`;
    return reply.code(e.status).type("application/json").send({ [e.fault]: { code: e.status, message: e.message, details, retryAfter: String(e.retryAfter) } });
  }
  if (e.status === 503) reply.header("Retry-After", "5");
  return reply.code(e.status).type("application/json").send({ [e.fault]: { code: e.status, message: e.message } });
}

/** Maps anything thrown while handling a request to a catalogued error; unexpected ones are logged, not shown. */
export function toHoardError(e: unknown, log: Logger, ref: string): HoardError {
  if (e instanceof HoardError) return e;
  const fe = e as FastifyError;
  if (fe?.code === "FST_ERR_BAD_URL") return fail("MALFORMED_PATH", { detail: "it is not valid percent-encoding (a '%' must be followed by two hex digits of UTF-8)" });
  if (fe?.code === "FST_ERR_MAX_PARAM_LENGTH") return fail("MALFORMED_PATH", { detail: `a path segment is longer than ${MAX_PARAM_LENGTH} characters` });
  if (fe?.code === "FST_ERR_CTP_BODY_TOO_LARGE") return new HoardError("MALFORMED_BODY", "Request body is too large (limit 1 MiB).");
  if (fe?.code === "FST_ERR_CTP_INVALID_MEDIA_TYPE") return fail("MALFORMED_BODY", { detail: "send JSON with Content-Type: application/json" });
  if (typeof fe?.statusCode === "number" && fe.statusCode >= 400 && fe.statusCode < 500) return fail("MALFORMED_BODY", { detail: fe.message });
  log.error({ err: e, ref }, "request failed");
  return fail("INTERNAL", { ref });
}

export { catalogue };
