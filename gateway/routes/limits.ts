/** `GET /limits` (absolute limits first, then this gateway's rate limits), `/mgmt/quotas/{project}` and `/mgmt/drift`. */
import type { FastifyInstance, FastifyRequest } from "fastify";
import { z } from "zod";
import { fail } from "../../errors/index.js";
import { callerOf, envelopeBody, type RouteDeps } from "./context.js";

const target = (req: FastifyRequest) => (req.params as { target: string }).target;

export function limitRoutes(app: FastifyInstance, deps: RouteDeps): void {
  app.get("/v1.0/:project/limits", async (req) => {
    const { caller } = callerOf(req, deps);
    const q = await deps.invoke("limits-show", { caller });
    const absolute = { verb: "ABSOLUTE", max_instances: q.instances, max_ram: q.ram, max_volumes: q.volumes, max_backups: q.backups };
    const rates = deps.limiter.state(caller.project).map((r) => ({
      verb: r.verb,
      uri: "*",
      regex: ".*",
      value: r.value,
      remaining: r.remaining,
      unit: "MINUTE",
      nextAvailable: `${r.nextAvailable.toISOString().slice(0, 19)}Z`,
    }));
    // The CLI takes the first entry as the ABSOLUTE one.
    return { limits: [absolute, ...rates] };
  });

  app.get("/v1.0/:project/mgmt/quotas/:target", async (req) => {
    const { caller } = callerOf(req, deps);
    const quotas = await deps.invoke("quota-show", { caller, project: target(req) });
    return { quotas };
  });

  // What the reconciler found and repaired, newest first (admins only): ?limit= up to 1000.
  app.get("/v1.0/:project/mgmt/drift", async (req) => {
    const { caller } = callerOf(req, deps);
    const limit = z.coerce.number().int().min(1).max(1000).default(100).safeParse((req.query as { limit?: string }).limit);
    if (!limit.success) throw fail("VALIDATION", { detail: "limit must be a whole number from 1 to 1000" });
    return { drift: await deps.invoke("drift-list", { caller, limit: limit.data }) };
  });

  app.put("/v1.0/:project/mgmt/quotas/:target", async (req) => {
    const { caller } = callerOf(req, deps);
    const quotas = envelopeBody(req.body, "quotas", z.record(z.string(), z.unknown()));
    return { quotas: await deps.invoke("quota-update", { caller, project: target(req), quotas }) };
  });
}
