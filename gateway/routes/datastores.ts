import type { FastifyInstance } from "fastify";
import { datastoreView, versionView } from "../views.js";
import { callerOf, pathId, type RouteDeps } from "./context.js";

/** Datastores and their versions, addressed by id or name as the CLI does. */
export function datastoreRoutes(app: FastifyInstance, deps: RouteDeps): void {
  app.get("/v1.0/:project/datastores", async (req) => {
    const { caller, base } = callerOf(req, deps);
    const list = await deps.invoke("datastore-list", { caller });
    return { datastores: list.map((d) => datastoreView(d, base)) };
  });
  // Registered before /datastores/:ds so that "versions" is not taken for a datastore name.
  app.get("/v1.0/:project/datastores/versions/:version", async (req) => {
    const { caller, base } = callerOf(req, deps);
    const v = await deps.invoke("datastore-version-show", { caller, version: pathId((req.params as { version: string }).version) });
    return { version: versionView(v, base) };
  });
  app.get("/v1.0/:project/datastores/:ds", async (req) => {
    const { caller, base } = callerOf(req, deps);
    const d = await deps.invoke("datastore-show", { caller, datastore: pathId((req.params as { ds: string }).ds) });
    return { datastore: datastoreView(d, base) };
  });
  app.get("/v1.0/:project/datastores/:ds/versions", async (req) => {
    const { caller, base } = callerOf(req, deps);
    const list = await deps.invoke("datastore-version-list", { caller, datastore: (req.params as { ds: string }).ds });
    return { versions: list.map((v) => versionView(v, base)) };
  });
  app.get("/v1.0/:project/datastores/:ds/versions/:version", async (req) => {
    const { caller, base } = callerOf(req, deps);
    const p = req.params as { ds: string; version: string };
    const v = await deps.invoke("datastore-version-show", { caller, datastore: p.ds, version: pathId(p.version) });
    return { version: versionView(v, base) };
  });
}
