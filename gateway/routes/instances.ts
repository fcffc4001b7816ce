import type { FastifyInstance } from "fastify";
import { InstanceCreateBody } from "../../events/index.js";
import { instanceView } from "../views.js";
import { callerOf, envelopeBody, pageBody, pageQuery, pathId, type RouteDeps } from "./context.js";

/** Instances: create, list (summary and detail), show, delete. */
export function instanceRoutes(app: FastifyInstance, deps: RouteDeps): void {
  const list = (detail: boolean) => async (req: import("fastify").FastifyRequest) => {
    const { caller, base } = callerOf(req, deps);
    const { raw, query } = pageQuery(req);
    const page = await deps.invoke("instance-list", { caller, query });
    return pageBody("instances", page.items.map((i) => instanceView(i, base, detail)), page.nextMarker, base, `instances${detail ? "/detail" : ""}`, raw);
  };
  app.get("/v1.0/:project/instances", list(false));
  app.get("/v1.0/:project/instances/detail", list(true));

  app.post("/v1.0/:project/instances", async (req) => {
    const { caller, base } = callerOf(req, deps);
    const body = envelopeBody(req.body, "instance", InstanceCreateBody);
    const created = await deps.invoke("instance-create", { caller, body });
    return { instance: instanceView(created, base, true) };
  });

  app.get("/v1.0/:project/instances/:id", async (req) => {
    const { caller, base } = callerOf(req, deps);
    const found = await deps.invoke("instance-show", { caller, instanceId: pathId((req.params as { id: string }).id) });
    return { instance: instanceView(found, base, true) };
  });

  // Hoard's addition: the CA certificate (PEM) that verifies the instance's TLS certificate.
  app.get("/v1.0/:project/instances/:id/ca", async (req) => {
    const { caller } = callerOf(req, deps);
    const ca = await deps.invoke("instance-ca", { caller, instanceId: pathId((req.params as { id: string }).id) });
    return { ca: { certificate: ca.certificate, tls_mode: ca.tlsMode } };
  });

  app.delete("/v1.0/:project/instances/:id", async (req, reply) => {
    const { caller } = callerOf(req, deps);
    await deps.invoke("instance-delete", { caller, instanceId: pathId((req.params as { id: string }).id) });
    return reply.code(202).send();
  });
}
