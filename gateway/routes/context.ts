import type { FastifyRequest } from "fastify";
import { z } from "zod";
import { fail, validationError } from "../../errors/index.js";
import type { Caller } from "../../events/index.js";
import type { Authenticate } from "../auth.js";
import type { Invoke } from "../invoke.js";
import type { LinkBase } from "../views.js";
import { RateLimitedError } from "../render-error.js";
import type { RateLimiter } from "../rate-limit.js";

/** What every tenant route needs. */
export interface RouteDeps {
  invoke: Invoke;
  authenticate: Authenticate;
  limiter: RateLimiter;
}

/** Authenticates the request and returns the caller and the base for links. */
export function callerOf(req: FastifyRequest, deps: RouteDeps): { caller: Caller; base: LinkBase } {
  const { project } = req.params as { project: string };
  const token = req.headers["x-auth-token"];
  const host = req.headers.host ?? "localhost";
  const caller = deps.authenticate(project, Array.isArray(token) ? token[0] : token, host);
  // After authentication, so nobody can spend another project's budget by naming it in a path.
  const wait = deps.limiter.take(caller.project, req.method);
  if (wait > 0) throw new RateLimitedError(deps.limiter.limit(), req.method, wait);
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
  if (!parsed.success) throw validationError(parsed.error.issues, [key]);
  return parsed.data;
}

/** Trove's limit/marker query of paginated lists. */
export const PageQuery = z.object({
  limit: z.string().regex(/^[1-9][0-9]{0,8}$/, "must be a positive whole number").optional(),
  marker: z.string().max(512).optional(),
});

/** The page query of a request, or a 400 saying what is wrong with it. */
export function pageQuery(req: FastifyRequest): { raw: z.infer<typeof PageQuery>; query: { limit?: number; marker?: string } } {
  const q = PageQuery.safeParse(req.query);
  if (!q.success) throw validationError(q.error.issues);
  return { raw: q.data, query: { ...(q.data.limit ? { limit: Number(q.data.limit) } : {}), ...(q.data.marker ? { marker: q.data.marker } : {}) } };
}

/**
 * A list body `{ key: items }`, with a `next` link only when another page exists (the client follows it
 * until it is absent). `path` is the collection's path after the project.
 */
export function pageBody(key: string, items: unknown[], nextMarker: string | null, base: LinkBase, path: string, raw: z.infer<typeof PageQuery>): Record<string, unknown> {
  const body: Record<string, unknown> = { [key]: items };
  if (nextMarker) {
    const params = new URLSearchParams({ ...(raw.limit ? { limit: raw.limit } : {}), marker: nextMarker });
    body.links = [{ rel: "next", href: `https://${base.host}/v1.0/${base.project}/${path}?${params}` }];
  }
  return body;
}

/** A user named in a path: `name@host`, split at the last '@'; no '@' means host '%'. */
export function pathUser(raw: string): { name: string; host: string } {
  const value = pathId(raw);
  const at = value.lastIndexOf("@");
  return at < 0 ? { name: value, host: "%" } : { name: value.slice(0, at), host: value.slice(at + 1) };
}
