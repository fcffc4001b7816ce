/**
 * Databases, users, user access and root of an instance (Trove's "mysql" extension routes). Each calls one
 * function, which reaches the guest through its node's tracker.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import { z } from "zod";
import { validationError } from "../../errors/index.js";
import { DatabaseName, DatabaseSpec, GuestUserChanges, RootEnableBody, UserPasswordChange, UserSpec, type GuestDatabase, type GuestUserInfo, type UserView } from "../../events/index.js";
import { callerOf, envelopeBody, pageBody, pageQuery, pathId, pathUser, type RouteDeps } from "./context.js";

type Params = { id: string; user: string; db: string; name: string };
const params = (req: FastifyRequest) => req.params as Params;

const databaseView = (d: GuestDatabase): DatabaseSpec => ({ name: d.name, ...(d.characterSet ? { character_set: d.characterSet } : {}), ...(d.collate ? { collate: d.collate } : {}) });
const userView = (u: GuestUserInfo): UserView => ({ name: u.name, host: u.host, databases: u.databases.map((name) => ({ name })) });
const NameList = z.array(DatabaseName).min(1, "give at least one {\"name\": …}");

export function guestRoutes(app: FastifyInstance, deps: RouteDeps): void {
  const base = "/v1.0/:project/instances/:id";
  const ref = (req: FastifyRequest) => ({ ...callerOf(req, deps), instanceId: pathId(params(req).id) });

  // ---- databases ----
  app.post(`${base}/databases`, async (req, reply) => {
    const { caller, instanceId } = ref(req);
    const databases = envelopeBody(req.body, "databases", z.array(DatabaseSpec).min(1, "give at least one database"));
    await deps.invoke("database-create", { caller, instanceId, databases });
    return reply.code(202).send();
  });
  app.get(`${base}/databases`, async (req) => {
    const { caller, base: links, instanceId } = ref(req);
    const { raw, query } = pageQuery(req);
    const page = await deps.invoke("database-list", { caller, instanceId, query });
    return pageBody("databases", page.items.map(databaseView), page.nextMarker, links, `instances/${instanceId}/databases`, raw);
  });
  app.delete(`${base}/databases/:name`, async (req, reply) => {
    const { caller, instanceId } = ref(req);
    await deps.invoke("database-delete", { caller, instanceId, name: pathId(params(req).name) });
    return reply.code(202).send();
  });

  // ---- users ----
  app.post(`${base}/users`, async (req, reply) => {
    const { caller, instanceId } = ref(req);
    const users = envelopeBody(req.body, "users", z.array(UserSpec).min(1, "give at least one user"));
    await deps.invoke("user-create", { caller, instanceId, users });
    return reply.code(202).send();
  });
  app.get(`${base}/users`, async (req) => {
    const { caller, base: links, instanceId } = ref(req);
    const { raw, query } = pageQuery(req);
    const page = await deps.invoke("user-list", { caller, instanceId, query });
    return pageBody("users", page.items.map(userView), page.nextMarker, links, `instances/${instanceId}/users`, raw);
  });
  app.put(`${base}/users`, async (req, reply) => {
    const { caller, instanceId } = ref(req);
    const users = envelopeBody(req.body, "users", z.array(UserPasswordChange).min(1, "give at least one user"));
    await deps.invoke("user-passwords", { caller, instanceId, users });
    return reply.code(202).send();
  });
  app.get(`${base}/users/:user`, async (req) => {
    const { caller, instanceId } = ref(req);
    const user = await deps.invoke("user-show", { caller, instanceId, user: pathUser(params(req).user) });
    return { user: userView(user) };
  });
  app.put(`${base}/users/:user`, async (req, reply) => {
    const { caller, instanceId } = ref(req);
    const changes = envelopeBody(req.body, "user", GuestUserChanges);
    await deps.invoke("user-update", { caller, instanceId, user: pathUser(params(req).user), changes });
    return reply.code(202).send();
  });
  app.delete(`${base}/users/:user`, async (req, reply) => {
    const { caller, instanceId } = ref(req);
    await deps.invoke("user-delete", { caller, instanceId, user: pathUser(params(req).user) });
    return reply.code(202).send();
  });

  // ---- user access ----
  app.get(`${base}/users/:user/databases`, async (req) => {
    const { caller, instanceId } = ref(req);
    const names = await deps.invoke("user-access-list", { caller, instanceId, user: pathUser(params(req).user) });
    return { databases: names.map((name) => ({ name })) };
  });
  app.put(`${base}/users/:user/databases`, async (req, reply) => {
    const { caller, instanceId } = ref(req);
    const databases = envelopeBody(req.body, "databases", NameList).map((d) => d.name);
    await deps.invoke("user-grant", { caller, instanceId, user: pathUser(params(req).user), databases });
    return reply.code(202).send();
  });
  app.delete(`${base}/users/:user/databases/:db`, async (req, reply) => {
    const { caller, instanceId } = ref(req);
    await deps.invoke("user-revoke", { caller, instanceId, user: pathUser(params(req).user), database: pathId(params(req).db) });
    return reply.code(202).send();
  });

  // ---- root ----
  app.get(`${base}/root`, async (req) => {
    const { caller, instanceId } = ref(req);
    return deps.invoke("root-show", { caller, instanceId });
  });
  app.post(`${base}/root`, async (req) => {
    const { caller, instanceId } = ref(req);
    // The CLI sends no body at all unless a password is given.
    const body = RootEnableBody.safeParse(req.body ?? {});
    if (!body.success) throw validationError(body.error.issues);
    const password = body.data.password;
    const user = await deps.invoke("root-enable", { caller, instanceId, ...(password !== undefined ? { password } : {}) });
    return { user };
  });
  app.delete(`${base}/root`, async (req, reply) => {
    const { caller, instanceId } = ref(req);
    await deps.invoke("root-disable", { caller, instanceId });
    return reply.code(204).send();
  });
}
