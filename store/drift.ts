/**
 * What the reconciler reads and writes: each node's latest heartbeat as a whole, the rows that disagree
 * with it, tasks past their deadline, and the record of every repair (drift_repairs).
 */
import type { Queryable, Transaction } from "./db.js";
import type { InstanceRow } from "./instances.js";
import type { Task } from "./instance-status.js";

export interface NodeReport {
  node: string;
  at: Date;
  guests: { instanceId: string; health: string; flavorId?: string }[];
  leftovers: string[];
}

/** Keeps a node's heartbeat unless a newer one is already kept (heartbeats may arrive out of order). */
export async function recordNodeReport(q: Queryable, report: NodeReport): Promise<void> {
  await q.raw(
    `insert into node_heartbeats (node, at, guests, leftovers) values (?, ?, ?::jsonb, ?::jsonb)
     on conflict (node) do update set at = excluded.at, guests = excluded.guests, leftovers = excluded.leftovers
     where node_heartbeats.at < excluded.at`,
    [report.node, report.at, JSON.stringify(report.guests), JSON.stringify(report.leftovers)],
  );
}

/** The nodes whose latest heartbeat is younger than `maxAgeMs`: only those are trusted to say what is there. */
export async function freshNodeReports(q: Queryable, maxAgeMs: number): Promise<NodeReport[]> {
  return q("node_heartbeats").where("at", ">", q.raw("now() - (? * interval '1 millisecond')", [maxAgeMs])).select("node", "at", "guests", "leftovers");
}

/**
 * Of the ids a node reports, those with no row alive when the report was made: no row at all, or a row
 * deleted before the report. With the deleted row if any. (A live row of another node is left alone: its
 * removal report would read as the removal of that row's own guest.)
 */
export async function guestsWithoutRow(q: Queryable, report: NodeReport, ids: string[]): Promise<{ id: string; row: InstanceRow | null }[]> {
  if (ids.length === 0) return [];
  const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
  const rows: InstanceRow[] = await q("instances").whereIn("id", ids.filter((i) => uuid.test(i)));
  const byId = new Map(rows.map((r) => [r.id, r]));
  return ids.flatMap((id) => {
    const row = byId.get(id) ?? null;
    if (row && (row.deleted_at === null || row.deleted_at >= report.at)) return [];
    return [{ id, row }];
  });
}

/**
 * Rows that claim a settled guest (ACTIVE or SHUTDOWN, no task under way) on the report's node, were
 * settled well before the report was made, and are not in it.
 */
export async function rowsMissingFromReport(q: Queryable, report: NodeReport, graceMs: number): Promise<InstanceRow[]> {
  const listed = report.guests.map((g) => g.instanceId);
  let query = q("instances").whereNull("deleted_at").where({ node: report.node }).whereIn("task", ["NONE", "RESTART_REQUIRED"]).whereIn("server_status", ["ACTIVE", "SHUTDOWN"])
    .andWhere("updated_at", "<", new Date(report.at.getTime() - graceMs));
  if (listed.length) query = query.whereNotIn("id", listed);
  return query;
}

/**
 * Rows of the guests the report lists with their flavor that were settled (no task under way) on its node
 * well before the report was made: their flavor is the guest's to say.
 */
export async function settledRowsInReport(q: Queryable, report: NodeReport, graceMs: number): Promise<InstanceRow[]> {
  return q("instances").whereNull("deleted_at").where({ node: report.node, task: "NONE" })
    .whereIn("id", report.guests.filter((g) => g.flavorId).map((g) => g.instanceId))
    .andWhere("updated_at", "<", new Date(report.at.getTime() - graceMs));
}

/** Live rows whose task has been under way longer than `budgetMs` (counted from the row's last change). */
export async function stalledTasks(q: Queryable, tasks: Task[], budgetMs: number): Promise<InstanceRow[]> {
  return q("instances").whereNull("deleted_at").whereIn("task", tasks)
    .andWhere("updated_at", "<", q.raw("now() - (? * interval '1 millisecond')", [budgetMs]));
}

export type DriftKind = "orphaned_guest" | "leftover_volume" | "missing_guest" | "flavor_mismatch" | "stalled_task";

export interface DriftRecord {
  kind: DriftKind;
  instanceId: string;
  node: string;
  projectId: string | null;
  detail: string;
}

/**
 * Records a drift, or counts another attempt on the open record of the same drift. Returns the attempts so
 * far, or null when the open record was acted on less than `againAfterMs` ago (nothing to do yet).
 */
export async function noteDrift(trx: Transaction, d: DriftRecord, againAfterMs: number): Promise<number | null> {
  const open = await trx("drift_repairs").where({ kind: d.kind, instance_id: d.instanceId, node: d.node }).whereNull("resolved_at").forUpdate().first();
  if (!open) {
    // Every runtime sweeps: of two finding the same drift at once, one records it and acts.
    const inserted = await trx.raw(
      `insert into drift_repairs (kind, instance_id, node, project_id, detail) values (?, ?, ?, ?, ?)
       on conflict (kind, instance_id, node) where resolved_at is null do nothing returning id`,
      [d.kind, d.instanceId, d.node, d.projectId, d.detail],
    );
    return inserted.rows.length ? 1 : null;
  }
  const due = Date.now() - new Date(open.acted_at).getTime() >= againAfterMs;
  if (!due) return null;
  const [row] = await trx("drift_repairs").where({ id: open.id }).update({ attempts: open.attempts + 1, acted_at: trx.fn.now(), detail: d.detail }).returning("attempts");
  return row.attempts as number;
}

/** Records a drift repaired at once (nothing left to follow up). */
export async function recordRepair(trx: Transaction, d: DriftRecord): Promise<void> {
  await trx("drift_repairs").insert({ kind: d.kind, instance_id: d.instanceId, node: d.node, project_id: d.projectId, detail: d.detail, resolved_at: trx.fn.now() });
}

/** Closes the open records of a drift that is no longer seen. */
export async function resolveDrift(q: Queryable, kind: DriftKind, node: string, stillSeen: string[]): Promise<number> {
  let query = q("drift_repairs").where({ kind, node }).whereNull("resolved_at");
  if (stillSeen.length) query = query.whereNotIn("instance_id", stillSeen);
  return query.update({ resolved_at: q.fn.now() });
}

/** The nodes with open records of a kind of drift. */
export async function nodesWithOpenDrift(q: Queryable, kind: DriftKind): Promise<string[]> {
  const rows: { node: string }[] = await q("drift_repairs").distinct("node").where({ kind }).whereNull("resolved_at");
  return rows.map((r) => r.node);
}

/** The newest drift records, open ones first (what GET /mgmt/drift shows). */
export async function listDrift(q: Queryable, limit: number): Promise<Record<string, unknown>[]> {
  return q("drift_repairs").orderByRaw("resolved_at is not null, id desc").limit(limit);
}
