import type { FastifyInstance } from "fastify";
import { flavorView } from "../views.js";
import { callerOf, pathId, type RouteDeps } from "./context.js";

/** Flavors: what sizes an instance may have. */
export function flavorRoutes(app: FastifyInstance, deps: RouteDeps): void {
  app.get("/v1.0/:project/flavors", async (req) => {
    const { caller, base } = callerOf(req, deps);
    const flavors = await deps.invoke("flavor-list", { caller });
    return { flavors: flavors.map((f) => flavorView(f, base)) };
  });
  app.get("/v1.0/:project/flavors/:id", async (req) => {
    const { caller, base } = callerOf(req, deps);
    const flavor = await deps.invoke("flavor-show", { caller, flavorId: pathId((req.params as { id: string }).id) });
    return { flavor: flavorView(flavor, base) };
  });
}
