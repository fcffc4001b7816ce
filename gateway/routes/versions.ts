import type { FastifyInstance } from "fastify";

/** The version document; its link has the scheme the request came in on (https when the gateway serves TLS). */
const version = (scheme: string, host: string) => ({
  id: "v1.0",
  status: "CURRENT",
  updated: "2012-08-01T00:00:00Z",
  links: [{ rel: "self", href: `${scheme}://${host}/v1.0/` }],
});

/** `GET /` and `GET /v1.0/`: the API versions (no authentication). */
export function versionRoutes(app: FastifyInstance): void {
  app.get("/", async (req) => ({ versions: [version(req.protocol, req.headers.host ?? "localhost")] }));
  app.get("/v1.0", async (req) => ({ version: version(req.protocol, req.headers.host ?? "localhost") }));
}
