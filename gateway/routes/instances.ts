import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { fail } from "../../errors/index.js";
import { InstanceCreateBody, type InstancePage, type InstanceRecord } from "../../events/index.js";
import { instanceView } from "../views.js";
import { callerOf, envelopeBody, pathId, type RouteDeps } from "./context.js";

const ListQuery = z.object({
  limit: z.string().regex(/^[1-9][0-9]{0,8}$/, "limit must be a positive whole number").optional(),
  marker: z.string().max(64).optional(),
});

/** Instances: create, list (summary and detail), show, delete. */
export function instanceRoutes(app: FastifyInstance, deps: RouteDeps): void {
  const list = (detail: boolean) => async (req: import("fastify").FastifyRequest) => {
    const { caller, base } = callerOf(req, deps);
    const q = ListQuery.safeParse(req.query);
    if (!q.success) throw fail("VALIDATION", { detail: q.error.issues.map((i) => i.message).join("; ") });
    const query = { ...(q.data.limit ? { limit: Number(q.data.limit) } : {}), ...(q.data.marker ? { marker: q.data.marker } : {}) };
    const page = await deps.invoke<InstancePage>("instance-list", { caller, query });
    const body: Record<string, unknown> = { instances: page.items.map((i) => instanceView(i, base, detail)) };
    // A next link only when another page exists: the client follows it until it is absent.
    if (page.nextMarker) {
      const params = new URLSearchParams({ ...(q.data.limit ? { limit: q.data.limit } : {}), marker: page.nextMarker });
      body.links = [{ rel: "next", href: `https://${base.host}/v1.0/${base.project}/instances${detail ? "/detail" : ""}?${params}` }];
    }
    return body;
  };
  app.get("/v1.0/:project/instances", list(false));
  app.get("/v1.0/:project/instances/detail", list(true));

  app.post("/v1.0/:project/instances", async (req) => {
    const { caller, base } = callerOf(req, deps);
    const body = envelopeBody(req.body, "instance", InstanceCreateBody);
    const created = await deps.invoke<InstanceRecord>("instance-create", { caller, body });
    return { instance: instanceView(created, base, true) };
  });

  app.get("/v1.0/:project/instances/:id", async (req) => {
    const { caller, base } = callerOf(req, deps);
    const found = await deps.invoke<InstanceRecord>("instance-show", { caller, instanceId: pathId((req.params as { id: string }).id) });
    return { instance: instanceView(found, base, true) };
  });

  app.delete("/v1.0/:project/instances/:id", async (req, reply) => {
    const { caller } = callerOf(req, deps);
    await deps.invoke("instance-delete", { caller, instanceId: pathId((req.params as { id: string }).id) });
    return reply.code(202).send();
  });
}
