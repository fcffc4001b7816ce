/**
 * Configuration groups and their parameters per datastore version. Values are read and written exactly:
 * an integer beyond 2^53 keeps every digit. (Attaching a group is an instance update: see instance-actions.ts.)
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { LosslessNumber, parse as parseExact, stringify as stringifyExact } from "lossless-json";
import { fail } from "../../errors/index.js";
import { ConfigurationCreateBody, ConfigurationUpdateBody, type ConfigValue } from "../../events/index.js";
import { configurationView, parameterView } from "../views.js";
import { callerOf, envelopeBody, pageBody, pageQuery, pathId, type RouteDeps } from "./context.js";

type Params = { id: string; ds: string; ver: string; name: string };
const params = (req: FastifyRequest) => req.params as Params;

/** Sends a JSON body that may hold exact numbers (LosslessNumber). */
function sendExact(reply: FastifyReply, status: number, body: unknown) {
  return reply.code(status).type("application/json; charset=utf-8").send(stringifyExact(body));
}

/** `configuration.values` of the request, read from the raw body so that no number is rounded. */
function exactValues(req: FastifyRequest, required: boolean): Record<string, ConfigValue> | undefined {
  let parsed: unknown;
  try {
    parsed = parseExact(req.rawBody ?? "");
  } catch (e) {
    throw fail("MALFORMED_BODY", { detail: `the body is not valid JSON (${(e as Error).message})` });
  }
  const values = (parsed as { configuration?: { values?: unknown } } | null)?.configuration?.values;
  if (values === undefined) {
    if (required) throw fail("VALIDATION", { detail: "configuration.values is required: an object of parameter names and values" });
    return undefined;
  }
  if (typeof values !== "object" || values === null || Array.isArray(values) || values instanceof LosslessNumber) {
    throw fail("VALIDATION", { detail: "configuration.values must be an object of parameter names and values" });
  }
  const out: Record<string, ConfigValue> = {};
  for (const [name, v] of Object.entries(values)) {
    if (v instanceof LosslessNumber) out[name] = { number: v.value };
    else if (typeof v === "string" || typeof v === "boolean") out[name] = v;
    else throw fail("INVALID_PARAMETER", { name, rule: "must be a number, a string or true/false" });
  }
  return out;
}

export function configurationRoutes(app: FastifyInstance, deps: RouteDeps): void {
  // ---- configuration groups ----
  app.get("/v1.0/:project/configurations", async (req) => {
    const { caller, base } = callerOf(req, deps);
    const { raw, query } = pageQuery(req);
    const page = await deps.invoke("configuration-list", { caller, query });
    return pageBody("configurations", page.items.map((c) => configurationView(c, base, false)), page.nextMarker, base, "configurations", raw);
  });
  app.post("/v1.0/:project/configurations", async (req, reply) => {
    const { caller, base } = callerOf(req, deps);
    const body = envelopeBody(req.body, "configuration", ConfigurationCreateBody);
    const values = exactValues(req, true)!;
    const created = await deps.invoke("configuration-create", { caller, body: { ...body, values } });
    return sendExact(reply, 200, { configuration: configurationView(created, base, true) });
  });
  app.get("/v1.0/:project/configurations/:id", async (req, reply) => {
    const { caller, base } = callerOf(req, deps);
    const found = await deps.invoke("configuration-show", { caller, configurationId: pathId(params(req).id) });
    return sendExact(reply, 200, { configuration: configurationView(found, base, true) });
  });
  app.get("/v1.0/:project/configurations/:id/instances", async (req) => {
    const { caller, base } = callerOf(req, deps);
    const { raw, query } = pageQuery(req);
    const configurationId = pathId(params(req).id);
    const page = await deps.invoke("configuration-instances", { caller, configurationId, query });
    return pageBody("instances", page.items, page.nextMarker, base, `configurations/${configurationId}/instances`, raw);
  });
  const update = (mode: "replace" | "merge") => async (req: FastifyRequest, reply: FastifyReply) => {
    const { caller } = callerOf(req, deps);
    const body = envelopeBody(req.body, "configuration", ConfigurationUpdateBody);
    const values = exactValues(req, mode === "replace") ?? {};
    await deps.invoke("configuration-update", {
      caller,
      configurationId: pathId(params(req).id),
      mode,
      values,
      ...(body.name !== undefined ? { name: body.name } : {}),
      ...(body.description !== undefined ? { description: body.description } : {}),
    });
    // Trove: PUT answers 202, PATCH 200, both without a body.
    return reply.code(mode === "replace" ? 202 : 200).send();
  };
  app.put("/v1.0/:project/configurations/:id", update("replace"));
  app.patch("/v1.0/:project/configurations/:id", update("merge"));
  app.delete("/v1.0/:project/configurations/:id", async (req, reply) => {
    const { caller } = callerOf(req, deps);
    await deps.invoke("configuration-delete", { caller, configurationId: pathId(params(req).id) });
    return reply.code(202).send();
  });

  // ---- parameters of a datastore version ----
  const parameters = (byName: boolean) => async (req: FastifyRequest, reply: FastifyReply) => {
    const { caller } = callerOf(req, deps);
    const p = params(req);
    const target = { caller, ...(p.ds ? { datastore: p.ds } : {}), version: p.ver ?? p.id };
    if (byName) {
      const found = await deps.invoke("parameter-show", { ...target, name: pathId(p.name) });
      return sendExact(reply, 200, parameterView(found.parameter, found.versionId));
    }
    const list = await deps.invoke("parameter-list", target);
    return sendExact(reply, 200, { "configuration-parameters": list.parameters.map((r) => parameterView(r, list.versionId)) });
  };
  app.get("/v1.0/:project/datastores/:ds/versions/:ver/parameters", parameters(false));
  app.get("/v1.0/:project/datastores/:ds/versions/:ver/parameters/:name", parameters(true));
  app.get("/v1.0/:project/datastores/versions/:id/parameters", parameters(false));
  app.get("/v1.0/:project/datastores/versions/:id/parameters/:name", parameters(true));
}
