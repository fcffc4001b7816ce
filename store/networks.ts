import type { Queryable, Transaction } from "./db.js";

export interface NetworkRow { id: string; project_id: string; node: string; is_default: boolean }

/**
 * The network an instance joins: the given one (created on first use, placed on `node`) or the
 * project's default network. A network belongs to the project that first used it.
 * Returns null when the network belongs to another project.
 */
export async function resolveNetwork(trx: Transaction, project: string, requested: string | undefined, node: string, newId: () => string): Promise<NetworkRow | null> {
  if (requested) {
    await trx("networks").insert({ id: requested, project_id: project, node }).onConflict("id").ignore();
    const row: NetworkRow = await trx("networks").where({ id: requested }).first();
    return row.project_id === project ? row : null;
  }
  await trx.raw(
    "insert into networks (id, project_id, node, is_default) values (?, ?, ?, true) on conflict (project_id) where is_default do nothing",
    [newId(), project, node],
  );
  return trx("networks").where({ project_id: project, is_default: true }).first();
}

/** The node with the fewest networks among `nodes` (ties go to the first listed), for a new network. */
export async function leastLoadedNode(q: Queryable, nodes: string[]): Promise<string> {
  const rows: { node: string; n: string | number }[] = await q("networks").whereIn("node", nodes).groupBy("node").select("node", q.raw("count(*) as n"));
  const load = new Map(rows.map((r) => [r.node, Number(r.n)]));
  return nodes.reduce((best, node) => ((load.get(node) ?? 0) < (load.get(best) ?? 0) ? node : best), nodes[0]!);
}
