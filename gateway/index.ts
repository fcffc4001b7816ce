import { readFileSync } from "node:fs";
import type { NatsConnection } from "@nats-io/transport-node";
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from "fastify";

import type { Logger } from "pino";
import type { Config } from "../config/index.js";
import { fail } from "../errors/index.js";
import { authenticator } from "./auth.js";
import { RateLimiter } from "./rate-limit.js";
import { holdsNul, nulRefused } from "./text-input.js";
import { limitRoutes } from "./routes/limits.js";
import { natsInvoker, type Invoke } from "./invoke.js";
import { MAX_PARAM_LENGTH, sendError, toHoardError } from "./render-error.js";
import { configurationRoutes } from "./routes/configurations.js";
import { datastoreRoutes } from "./routes/datastores.js";
import { flavorRoutes } from "./routes/flavors.js";
import { guestRoutes } from "./routes/guest.js";
import { instanceActionRoutes } from "./routes/instance-actions.js";
import { instanceRoutes } from "./routes/instances.js";
import { versionRoutes } from "./routes/versions.js";
import { subscriptionRoutes } from "./routes/subscriptions.js";
import { eventStreamRoutes } from "./routes/events-stream.js";
import { backupRoutes } from "./routes/backups.js";

declare module "fastify" {
  interface FastifyRequest {
    /** The request body as received, before JSON parsing. */
    rawBody?: string;
  }
}

/** One route the gateway serves: its method and its path pattern (`/v1.0/:project/instances/:id`). */
export interface RouteEntry {
  method: string;
  url: string;
}

const ROUTES = Symbol("hoard.routes");

/** Every route `app` serves, in registration order (HEAD routes Fastify derives from GET ones left out). */
export function routeTable(app: FastifyInstance): RouteEntry[] {
  return [...((app as unknown as { [ROUTES]?: RouteEntry[] })[ROUTES] ?? [])];
}

/**
 * Builds the HTTP gateway: Trove's v1.0 API, answered by invoking functions. It never talks to a guest.
 * `nc`, when given, feeds the event stream (`GET /v1.0/{project}/events`).
 */
export function buildGateway(opts: { config: Config; invoke: Invoke; log: Logger; nc?: NatsConnection }): FastifyInstance {
  const tls = opts.config.gateway.tlsCert && opts.config.gateway.tlsKey
    ? { https: { cert: readFileSync(opts.config.gateway.tlsCert), key: readFileSync(opts.config.gateway.tlsKey) } }
    : {};
  // An HTTPS server is an HTTP server to every route here; the cast only widens Fastify's server type back.
  const app = Fastify({ ...tls, loggerInstance: opts.log.child({ part: "gateway" }) as FastifyBaseLogger, logController: new LogController({ disableRequestLogging: true }), routerOptions: { ignoreTrailingSlash: true, maxParamLength: MAX_PARAM_LENGTH }, bodyLimit: 1 << 20,
    // Paths the router cannot take (bad percent-encoding, an overlong segment) are answered in Trove's shape too.
    frameworkErrors: (e, req, reply) => sendError(reply, toHoardError(e, opts.log, String(req.id))),
  }) as unknown as FastifyInstance;
  const routes: RouteEntry[] = [];
  Object.assign(app, { [ROUTES]: routes });
  app.addHook("onRoute", (r) => {
    for (const method of [r.method].flat()) if (method !== "HEAD") routes.push({ method, url: r.url });
  });
  const deps = { invoke: opts.invoke, authenticate: authenticator(opts.config.gateway.tokensFile), limiter: new RateLimiter(opts.config.rateLimitPerMinute) };

  // Bodies are JSON whatever the Content-Type claims; an empty body is "no body" (the CLI's bare POSTs).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", { parseAs: "string" }, (req, body, done) => {
    const text = String(body);
    // Kept for the routes that must read numbers exactly (configuration values beyond 2^53).
    req.rawBody = text;
    if (text.trim() === "") return done(null, undefined);
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      return done(fail("MALFORMED_BODY", { detail: `the body is not valid JSON (${(e as Error).message})` }), undefined);
    }
    if (holdsNul(parsed)) return done(nulRefused("body"), undefined);
    done(null, parsed);
  });
  app.addHook("preHandler", async (req) => {
    if (holdsNul(req.params)) throw nulRefused("path");
    if (holdsNul(req.query)) throw nulRefused("query");
  });

  app.setErrorHandler((e, req, reply) => sendError(reply, toHoardError(e, opts.log, String(req.id))));
  app.setNotFoundHandler((req, reply) => sendError(reply, fail("ROUTE_NOT_FOUND", { method: req.method, path: req.url.split("?")[0]! })));

  versionRoutes(app);
  flavorRoutes(app, deps);
  datastoreRoutes(app, deps);
  instanceRoutes(app, deps);
  guestRoutes(app, deps);
  configurationRoutes(app, deps);
  instanceActionRoutes(app, deps);
  limitRoutes(app, deps);
  subscriptionRoutes(app, deps);
  backupRoutes(app, deps);
  eventStreamRoutes(app, deps, opts.nc);
  return app;
}

/** Starts the gateway on the configured address, invoking functions over NATS; HTTPS when given a certificate. */
export async function startGateway(opts: { config: Config; nc: NatsConnection; log: Logger }): Promise<{ url: string; app: FastifyInstance; stop(): Promise<void> }> {
  const app = buildGateway({ config: opts.config, invoke: natsInvoker(opts.nc, opts.config.gateway.invokeTimeoutMs), log: opts.log, nc: opts.nc });
  await app.listen({ host: opts.config.gateway.host, port: opts.config.gateway.port });
  const addr = app.server.address();
  const port = typeof addr === "object" && addr ? addr.port : opts.config.gateway.port;
  const scheme = opts.config.gateway.tlsCert ? "https" : "http";
  return { url: `${scheme}://${opts.config.gateway.host}:${port}`, app, stop: () => app.close() };
}

