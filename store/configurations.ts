/** Configuration groups: a project's named sets of parameter values for one datastore version. */

import { parse as parseExact, type LosslessNumber } from "lossless-json";
import type { ConfigValue, ConfigurationRecord } from "../events/index.js";
import type { Queryable, Transaction } from "./db.js";
import { troveTime } from "./timestamps.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;


interface Row {
  id: string;
  project_id: string;
  name: string;
  description: string | null;
  datastore_version_id: string;
  values_json: string;
  created_at: Date;
  updated_at: Date;
  datastore_name: string;
  version_name: string;
  version_number: string;
  instance_count: string | number;
}

/** Stored values back from their exact JSON text: numbers stay decimal text. */
function valuesFromJson(text: string): Record<string, ConfigValue> {
  const raw = parseExact(text) as Record<string, string | boolean | LosslessNumber>;
  const out: Record<string, ConfigValue> = {};
  for (const [k, v] of Object.entries(raw)) out[k] = typeof v === "object" ? { number: v.value } : v;
  return out;
}

const joined = (q: Queryable) =>
  q("configurations as c")
    .join("datastore_versions as v", "v.id", "c.datastore_version_id")
    .join("datastores as d", "d.id", "v.datastore_id")
    .whereNull("c.deleted_at")
    .select(
      "c.*",
      "d.name as datastore_name",
      "v.name as version_name",
      "v.number as version_number",
      q.raw("(select count(*) from instances i where i.configuration_id = c.id and i.deleted_at is null) as instance_count"),
    );

function toRecord(r: Row): ConfigurationRecord {
  return {
    id: r.id,
    name: r.name,
    description: r.description,
    project: r.project_id,
    datastoreVersionId: r.datastore_version_id,
    datastoreName: r.datastore_name,
    datastoreVersionName: r.version_name,
    datastoreVersionNumber: r.version_number,
    values: valuesFromJson(r.values_json),
    instanceCount: Number(r.instance_count),
    created: troveTime(r.created_at),
    updated: troveTime(r.updated_at),
  };
}

/** One of a project's configuration groups, or null. */
export async function findConfiguration(q: Queryable, project: string, id: string, opts: { forUpdate?: boolean } = {}): Promise<ConfigurationRecord | null> {
  if (!UUID.test(id)) return null;
  if (opts.forUpdate) await q("configurations").where({ id }).forUpdate().first();
  const row = await joined(q).where("c.project_id", project).andWhere("c.id", id).first();
  return row ? toRecord(row) : null;
}

/** A page of a project's configuration groups by id after `marker`. */
export async function listConfigurations(q: Queryable, project: string, page: { limit: number; marker?: string }): Promise<{ items: ConfigurationRecord[]; nextMarker: string | null }> {
  if (page.marker && !UUID.test(page.marker)) return { items: [], nextMarker: null };
  let query = joined(q).where("c.project_id", project).orderBy("c.id").limit(page.limit + 1);
  if (page.marker) query = query.andWhere("c.id", ">", page.marker);
  const rows: Row[] = await query;
  const items = rows.slice(0, page.limit).map(toRecord);
  return { items, nextMarker: rows.length > page.limit ? items[items.length - 1]!.id : null };
}

export async function insertConfiguration(trx: Transaction, row: { id: string; project_id: string; name: string; description: string | null; datastore_version_id: string; values_json: string }): Promise<void> {
  await trx("configurations").insert(row);
}

export async function updateConfiguration(trx: Transaction, id: string, set: { name?: string; description?: string | null; values_json?: string }): Promise<void> {
  await trx("configurations").where({ id }).update({ ...set, updated_at: trx.fn.now() });
}

export async function softDeleteConfiguration(trx: Transaction, id: string): Promise<void> {
  await trx("configurations").where({ id }).update({ deleted_at: trx.fn.now() });
}

/** The live instances a group is attached to, by id after `marker`. */
export async function configurationInstances(q: Queryable, id: string, page: { limit: number; marker?: string }): Promise<{ items: { id: string; name: string }[]; nextMarker: string | null }> {
  let query = q("instances").where({ configuration_id: id }).whereNull("deleted_at").orderBy("id").limit(page.limit + 1).select("id", "name");
  if (page.marker && UUID.test(page.marker)) query = query.andWhere("id", ">", page.marker);
  const rows: { id: string; name: string }[] = await query;
  const items = rows.slice(0, page.limit);
  return { items, nextMarker: rows.length > page.limit ? items[items.length - 1]!.id : null };
}
