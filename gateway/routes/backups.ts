/** Backups: create, list (all, or one instance's), show, delete; and Hoard's backup schedules. */
import type { FastifyInstance, FastifyRequest } from "fastify";
import { z } from "zod";
import { fail, validationError } from "../../errors/index.js";
import { BackupCreateBody, BackupScheduleCreateBody } from "../../events/index.js";
import { backupScheduleView, backupView } from "../views.js";
import { callerOf, envelopeBody, pageBody, pageQuery, pathId, type RouteDeps } from "./context.js";

const idOf = (req: FastifyRequest) => pathId((req.params as { id: string }).id);

/** The list filters Trove's client sends besides limit and marker. */
const BackupFilters = z.object({
  instance_id: z.string().max(64).optional(),
  datastore: z.string().max(255).optional(),
  all_projects: z.string().optional(),
  project_id: z.string().optional(),
});

export function backupRoutes(app: FastifyInstance, deps: RouteDeps): void {
  app.get("/v1.0/:project/backups", async (req) => {
    const { caller, base } = callerOf(req, deps);
    const { raw, query } = pageQuery(req);
    const filters = BackupFilters.safeParse(req.query);
    if (!filters.success) throw validationError(filters.error.issues);
    const f = filters.data;
    const allProjects = f.all_projects !== undefined && !/^(false|0)$/i.test(f.all_projects);
    if (allProjects || (f.project_id !== undefined && f.project_id !== caller.project)) throw fail("NOT_IMPLEMENTED", { operation: "Listing other projects' backups", datastore: "any datastore in this Hoard" });
    const page = await deps.invoke("backup-list", { caller, query: { ...query, ...(f.instance_id ? { instanceId: f.instance_id } : {}), ...(f.datastore ? { datastore: f.datastore } : {}) } });
    const body: Record<string, unknown> = { backups: page.items.map(backupView) };
    if (page.nextMarker) {
      // The next page keeps the filters (the client follows the link as it is).
      const params = new URLSearchParams({ ...(f.instance_id ? { instance_id: f.instance_id } : {}), ...(f.datastore ? { datastore: f.datastore } : {}), ...(raw.limit ? { limit: raw.limit } : {}), marker: page.nextMarker });
      body.links = [{ rel: "next", href: `https://${base.host}/v1.0/${base.project}/backups?${params}` }];
    }
    return body;
  });
  app.post("/v1.0/:project/backups", async (req, reply) => {
    const { caller } = callerOf(req, deps);
    const body = envelopeBody(req.body, "backup", BackupCreateBody);
    const created = await deps.invoke("backup-create", { caller, body });
    return reply.code(202).send({ backup: backupView(created) });
  });
  app.get("/v1.0/:project/backups/:id", async (req) => {
    const { caller } = callerOf(req, deps);
    const found = await deps.invoke("backup-show", { caller, backupId: idOf(req) });
    return { backup: backupView(found) };
  });
  app.delete("/v1.0/:project/backups/:id", async (req, reply) => {
    const { caller } = callerOf(req, deps);
    await deps.invoke("backup-delete", { caller, backupId: idOf(req) });
    return reply.code(202).send();
  });
  app.get("/v1.0/:project/instances/:id/backups", async (req) => {
    const { caller, base } = callerOf(req, deps);
    const { raw, query } = pageQuery(req);
    const instanceId = idOf(req);
    const page = await deps.invoke("instance-backups", { caller, instanceId, query });
    return pageBody("backups", page.items.map(backupView), page.nextMarker, base, `instances/${instanceId}/backups`, raw);
  });

  app.get("/v1.0/:project/backup_schedules", async (req) => {
    const { caller, base } = callerOf(req, deps);
    const { raw, query } = pageQuery(req);
    const instanceId = (req.query as { instance_id?: unknown }).instance_id;
    const page = await deps.invoke("backup-schedule-list", { caller, query: { ...query, ...(typeof instanceId === "string" ? { instanceId } : {}) } });
    return pageBody("backup_schedules", page.items.map((s) => backupScheduleView(s, base)), page.nextMarker, base, "backup_schedules", raw);
  });
  app.post("/v1.0/:project/backup_schedules", async (req) => {
    const { caller, base } = callerOf(req, deps);
    const body = envelopeBody(req.body, "backup_schedule", BackupScheduleCreateBody);
    const created = await deps.invoke("backup-schedule-create", { caller, body });
    return { backup_schedule: backupScheduleView(created, base) };
  });
  app.get("/v1.0/:project/backup_schedules/:id", async (req) => {
    const { caller, base } = callerOf(req, deps);
    const found = await deps.invoke("backup-schedule-show", { caller, scheduleId: idOf(req) });
    return { backup_schedule: backupScheduleView(found, base) };
  });
  app.delete("/v1.0/:project/backup_schedules/:id", async (req, reply) => {
    const { caller } = callerOf(req, deps);
    await deps.invoke("backup-schedule-delete", { caller, scheduleId: idOf(req) });
    return reply.code(202).send();
  });
}
