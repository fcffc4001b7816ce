/**
 * Per-project quotas (Trove's instances, ram, volumes, backups): a project's own limits over the configured
 * defaults, what it uses now, and the check that a request fits, made atomic per project.
 */
import { QuotaResource } from "../events/quotas.js";
import type { Queryable, Transaction } from "./db.js";

export const QUOTA_RESOURCES = QuotaResource.options;
export type { QuotaResource };
export type QuotaValues = Record<QuotaResource, number>;

/** The limits in force for a project: its own rows over `defaults` (-1 means unlimited). */
export async function quotaLimits(q: Queryable, project: string, defaults: QuotaValues): Promise<QuotaValues> {
  const rows: { resource: QuotaResource; hard_limit: number }[] = await q("quotas").where({ project_id: project });
  const limits = { ...defaults };
  for (const r of rows) if ((QUOTA_RESOURCES as readonly string[]).includes(r.resource)) limits[r.resource] = r.hard_limit;
  return limits;
}

/** What a project uses now: live instances, their flavors' RAM (MB), their volumes (GB) and its backups. */
export async function quotaUsage(q: Queryable, project: string): Promise<QuotaValues> {
  const row = await q("instances as i")
    .join("flavors as f", "f.id", "i.flavor_id")
    .leftJoin("volumes as v", function () {
      this.on("v.instance_id", "=", "i.id").andOnNull("v.deleted_at");
    })
    .where("i.project_id", project)
    .whereNull("i.deleted_at")
    .first(q.raw("count(distinct i.id)::int as instances"), q.raw("coalesce(sum(f.ram_mb), 0)::int as ram"), q.raw("coalesce(sum(v.size_gb), 0)::int as volumes"));
  const backups = await q("backups").where({ project_id: project }).whereNot({ status: "DELETING" }).first(q.raw("count(*)::int as n"));
  return { instances: row?.instances ?? 0, ram: row?.ram ?? 0, volumes: row?.volumes ?? 0, backups: (backups as { n?: number } | undefined)?.n ?? 0 };
}

/** Serialises quota decisions of one project until the transaction ends, so two creates cannot both fit the last slot. */
export async function lockProjectQuota(trx: Transaction, project: string): Promise<void> {
  await trx.raw("select pg_advisory_xact_lock(hashtext(?))", [`quota:${project}`]);
}

/** The resources `request` would take beyond their limits (empty when it fits). */
export function overQuota(limits: QuotaValues, usage: QuotaValues, request: Partial<QuotaValues>): QuotaResource[] {
  return QUOTA_RESOURCES.filter((r) => {
    const want = request[r] ?? 0;
    return want > 0 && limits[r] >= 0 && usage[r] + want > limits[r];
  });
}

/** Sets some of a project's limits. */
export async function setQuotas(trx: Transaction, project: string, values: Partial<QuotaValues>): Promise<void> {
  for (const [resource, limit] of Object.entries(values)) {
    await trx("quotas").insert({ project_id: project, resource, hard_limit: limit }).onConflict(["project_id", "resource"]).merge({ hard_limit: limit, updated_at: trx.fn.now() });
  }
}
