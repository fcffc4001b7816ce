/**
 * Instance update (rename, attach or detach a configuration group), instance actions, and the values an
 * instance runs with.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { fail, validationError } from "../../errors/index.js";
import { InstanceResizeBody, InstanceRollbackBody, InstanceUpdateBody } from "../../events/index.js";
import { callerOf, envelopeBody, pathId, type RouteDeps } from "./context.js";

const params = (req: FastifyRequest) => req.params as { id: string };

/** The actions Hoard carries out, and those Trove has that it does not (yet): 501. */
const ACTIONS = ["restart", "stop", "start", "reset_status", "resize", "rollback"] as const;
const NOT_YET = ["promote_to_replica_source", "eject_replica_source"] as const;

export function instanceActionRoutes(app: FastifyInstance, deps: RouteDeps): void {
  const instanceUpdate = async (req: FastifyRequest, reply: FastifyReply) => {
    const { caller } = callerOf(req, deps);
    const body = envelopeBody(req.body, "instance", InstanceUpdateBody);
    const instanceId = pathId(params(req).id);
    const other = (["replica_of", "slave_of", "datastore_version", "access"] as const).find((k) => body[k] !== undefined);
    if (other) throw fail("NOT_IMPLEMENTED", { operation: `Updating '${other}'`, datastore: "any datastore in this Hoard" });
    // Trove: an instance body without a name or group detaches the group.
    const configuration = body.configuration !== undefined ? body.configuration : body.name === undefined ? null : undefined;
    await deps.invoke("instance-update", { caller, instanceId, ...(body.name !== undefined ? { name: body.name } : {}), ...(configuration !== undefined ? { configuration } : {}) });
    return reply.code(202).send();
  };
  app.put("/v1.0/:project/instances/:id", instanceUpdate);
  app.patch("/v1.0/:project/instances/:id", instanceUpdate);

  app.post("/v1.0/:project/instances/:id/action", async (req, reply) => {
    const { caller } = callerOf(req, deps);
    const body = req.body;
    if (typeof body !== "object" || body === null || Array.isArray(body)) throw fail("VALIDATION", { detail: `the body must be one action, e.g. {"restart": {}}` });
    const keys = Object.keys(body);
    if (keys.length !== 1) throw fail("VALIDATION", { detail: `give exactly one action of ${ACTIONS.join(", ")}` });
    const key = keys[0]!;
    if ((NOT_YET as readonly string[]).includes(key)) throw fail("NOT_IMPLEMENTED", { operation: `The '${key}' action`, datastore: "any datastore in this Hoard" });
    if (!(ACTIONS as readonly string[]).includes(key)) throw fail("VALIDATION", { detail: `'${key}' is not an action; give exactly one of ${ACTIONS.join(", ")}` });
    if (key === "resize") {
      const parsed = InstanceResizeBody.safeParse((body as Record<string, unknown>).resize);
      if (!parsed.success) throw validationError(parsed.error.issues, ["resize"]);
      const target = "volume" in parsed.data ? { volumeSizeGb: Number(parsed.data.volume.size) } : { flavorRef: String(parsed.data.flavorRef) };
      await deps.invoke("instance-resize", { caller, instanceId: pathId(params(req).id), ...target });
      return reply.code(202).send();
    }
    if (key === "rollback") {
      const parsed = InstanceRollbackBody.safeParse((body as Record<string, unknown>).rollback);
      if (!parsed.success) throw validationError(parsed.error.issues, ["rollback"]);
      await deps.invoke("instance-action", { caller, instanceId: pathId(params(req).id), action: "rollback", backupRef: parsed.data.backupRef });
      return reply.code(202).send();
    }
    // resize and rollback were answered above: what is left is an engine action or reset_status.
    const action = key as Exclude<(typeof ACTIONS)[number], "resize" | "rollback">;
    await deps.invoke("instance-action", { caller, instanceId: pathId(params(req).id), action });
    return reply.code(202).send();
  });

  app.get("/v1.0/:project/instances/:id/configuration", async (req) => {
    const { caller } = callerOf(req, deps);
    const values = await deps.invoke("instance-configuration", { caller, instanceId: pathId(params(req).id) });
    return { instance: { configuration: values } };
  });
}
