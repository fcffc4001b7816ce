import type { FastifyRequest } from "fastify";
import { z } from "zod";
import { fail } from "../../errors/index.js";
import type { Caller } from "../../events/index.js";
import type { Authenticate } from "../auth.js";
import type { Invoke } from "../invoke.js";
import type { LinkBase } from "../views.js";

/** What every tenant route needs. */
export interface RouteDeps {
  invoke: Invoke;
  authenticate: Authenticate;
}

/** Authenticates the request and returns the caller and the base for links. */
export function callerOf(req: FastifyRequest, deps: RouteDeps): { caller: Caller; base: LinkBase } {
  const { project } = req.params as { project: string };
  const token = req.headers["x-auth-token"];
  const host = req.headers.host ?? "localhost";
  const caller = deps.authenticate(project, Array.isArray(token) ? token[0] : token, host);
  return { caller, base: { host, project: caller.project } };
}

/** A path id as the client sends it: Trove tolerates a trailing `.json` format suffix. */
export function pathId(raw: string): string {
  return raw.endsWith(".json") ? raw.slice(0, -5) : raw;
}

/** Unwraps Trove's single-key envelope (`{"instance": {...}}`) and validates it. */
export function envelopeBody<S extends z.ZodTypeAny>(body: unknown, key: string, schema: S): z.infer<S> {
  if (body === undefined || body === null) throw fail("MALFORMED_BODY", { detail: `the request needs a JSON body {"${key}": {...}}` });
  if (typeof body !== "object" || Array.isArray(body) || !(key in body)) {
    throw fail("VALIDATION", { detail: `the body must be a JSON object with the key '${key}'` });
  }
  const parsed = schema.safeParse((body as Record<string, unknown>)[key]);
  if (!parsed.success) {
    const detail = parsed.error.issues.map((i) => `${[key, ...i.path].join(".")}: ${i.message}`).join("; ");
    throw fail("VALIDATION", { detail });
  }
  return parsed.data;
}
