import type { InstanceRecord } from "../events/index.js";
import type { Queryable, Transaction } from "./db.js";
import { instanceStatus, operatingStatus, type ServerStatus, type ServiceStatus, type Task } from "./instance-status.js";
import { troveTime } from "./timestamps.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface InstanceRow {
  id: string;
  project_id: string;
  name: string;
  flavor_id: string;
  datastore_version_id: string;
  network_id: string;
  node: string;
  availability_zone: string | null;
  access: { is_public: boolean; allowed_cidrs?: string[] };
  task: Task;
  server_status: ServerStatus;
  service_status: ServiceStatus;
  service_updated_at: Date | null;
  address: string | null;
  port: number | null;
  public_address: string | null;
  public_port: number | null;
  fault_message: string | null;
  fault_at: Date | null;
  configuration_id: string | null;
  /** When the latest configuration change was asked for (see settleConfigure). */
  configure_requested_at: Date | null;
  auto_restart: boolean;
  auto_restarts: number;
  /** Asked for at create ("enabled" | "required"), then as the tracker put it in force (or "off"). */
  tls_mode: string;
  /** When the guest's certificate ends. */
  tls_expires: Date | null;
  created_at: Date;
  updated_at: Date;
  deleted_at: Date | null;
}

/** An instance row joined with what its view needs. */
interface JoinedRow extends InstanceRow {
  datastore_name: string;
  version_name: string;
  version_number: string;
  volume_size: number | null;
  configuration_name: string | null;
}

const joined = (q: Queryable) =>
  q("instances as i")
    .join("datastore_versions as v", "v.id", "i.datastore_version_id")
    .join("datastores as d", "d.id", "v.datastore_id")
    .leftJoin("volumes as vol", function () {
      this.on("vol.instance_id", "=", "i.id").andOnNull("vol.deleted_at");
    })
    .leftJoin("configurations as c", "c.id", "i.configuration_id")
    .whereNull("i.deleted_at")
    .select("i.*", "d.name as datastore_name", "v.name as version_name", "v.number as version_number", "vol.size_gb as volume_size", "c.name as configuration_name");

function toRecord(r: JoinedRow, now: Date, heartbeatExpiryMs: number): InstanceRecord {
  const s = { task: r.task, serverStatus: r.server_status, serviceStatus: r.service_status, serviceUpdatedAt: r.service_updated_at };
  return {
    id: r.id,
    name: r.name,
    project: r.project_id,
    status: instanceStatus(s),
    operatingStatus: operatingStatus(s, now, heartbeatExpiryMs),
    flavorId: r.flavor_id,
    datastore: { type: r.datastore_name, version: r.version_name, versionId: r.datastore_version_id, versionNumber: r.version_number },
    volumeSizeGb: r.volume_size ?? 0,
    networkId: r.network_id,
    node: r.node,
    availabilityZone: r.availability_zone,
    access: r.access,
    address: r.address && r.port ? { address: r.address, port: r.port } : null,
    published: r.public_address && r.public_port ? { address: r.public_address, port: r.public_port } : null,
    created: troveTime(r.created_at),
    updated: troveTime(r.updated_at),
    serviceUpdated: r.service_updated_at ? troveTime(r.service_updated_at) : null,
    fault: r.fault_message ? { message: r.fault_message, created: troveTime(r.fault_at ?? r.updated_at) } : null,
    configuration: r.configuration_id ? { id: r.configuration_id, name: r.configuration_name ?? "" } : null,
    autoRestart: { enabled: r.auto_restart, restarts: r.auto_restarts },
    tls: { mode: r.tls_mode, expires: r.tls_expires ? troveTime(r.tls_expires) : null },
  };
}

/** One live instance of a project, or null. */
export async function findInstance(q: Queryable, project: string, id: string, heartbeatExpiryMs: number): Promise<InstanceRecord | null> {
  if (!UUID.test(id)) return null;
  const row = await joined(q).where("i.project_id", project).andWhere("i.id", id).first();
  return row ? toRecord(row, new Date(), heartbeatExpiryMs) : null;
}

/** A page of a project's live instances, by id after `marker`; Trove then shows the page newest first. */
export async function listInstances(
  q: Queryable,
  project: string,
  page: { limit: number; marker?: string },
  heartbeatExpiryMs: number,
): Promise<{ items: InstanceRecord[]; nextMarker: string | null }> {
  let query = joined(q).where("i.project_id", project).orderBy("i.id").limit(page.limit + 1);
  if (page.marker && !UUID.test(page.marker)) return { items: [], nextMarker: null };
  if (page.marker) query = query.andWhere("i.id", ">", page.marker);
  const rows: JoinedRow[] = await query;
  const more = rows.length > page.limit;
  const pageRows = rows.slice(0, page.limit);
  const now = new Date();
  const items = pageRows.map((r) => toRecord(r, now, heartbeatExpiryMs)).sort((a, b) => (a.created < b.created ? 1 : a.created > b.created ? -1 : 0));
  return { items, nextMarker: more ? pageRows[pageRows.length - 1]!.id : null };
}

export type NewInstance = Pick<InstanceRow, "id" | "project_id" | "name" | "flavor_id" | "datastore_version_id" | "network_id" | "node" | "availability_zone" | "access" | "configuration_id" | "auto_restart"> & Partial<Pick<InstanceRow, "tls_mode">>;

/** Inserts an instance in BUILD with its volume row. */
export async function insertInstance(trx: Transaction, row: NewInstance, volume: { id: string; sizeGb: number }): Promise<void> {
  await trx("instances").insert({
    ...row,
    access: JSON.stringify(row.access),
    task: "BUILDING",
    server_status: "BUILD",
    service_status: "NEW",
  });
  await trx("volumes").insert({ id: volume.id, instance_id: row.id, size_gb: volume.sizeGb, node: row.node, status: "creating" });
}

/**
 * Compare-and-set on the task: changes the instance only if its task is one of `from`.
 * Returns the updated row, or null when the instance was not in that state (someone else won).
 */
export async function transitionInstance(
  trx: Transaction,
  id: string,
  from: Task[],
  set: Partial<Omit<InstanceRow, "id" | "project_id">>,
  where: { project?: string; node?: string } = {},
): Promise<InstanceRow | null> {
  let q = trx("instances").where({ id }).whereNull("deleted_at").whereIn("task", from);
  if (where.project) q = q.andWhere("project_id", where.project);
  if (where.node) q = q.andWhere("node", where.node);
  const rows: InstanceRow[] = await q.update({ ...set, updated_at: trx.fn.now() }).returning("*");
  return rows[0] ?? null;
}

/** Tasks in which an instance's configuration may change, and a configure request's answer applies. */
const CONFIGURABLE_TASKS = ["NONE", "RESTART_REQUIRED"] as const;

/**
 * Records a configuration request on an instance in a configurable task: its configuration group, the task
 * RESTART_REQUIRED when a change takes effect only after a restart, and the request's time, later than the
 * instance's last request even within one millisecond (the tracker and the answers' handlers tell the latest
 * request by it). Null when the instance is in no configurable task.
 */
export async function requestConfigure(
  trx: Transaction,
  id: string,
  change: { configurationId: string | null; restartRequired: boolean; at: Date },
): Promise<InstanceRow | null> {
  return transitionInstance(trx, id, [...CONFIGURABLE_TASKS], {
    configuration_id: change.configurationId,
    configure_requested_at: trx.raw("greatest(?::timestamptz, configure_requested_at + interval '1 millisecond')", [change.at]) as unknown as Date,
    ...(change.restartRequired ? { task: "RESTART_REQUIRED" as const } : {}),
  });
}

/**
 * Changes the instance only if it is still exactly as it was read (same task, status and last change), so a
 * decision taken on `row` outside a transaction applies to nothing when the instance moved on meanwhile.
 */
export async function updateInstanceIfUnchanged(trx: Transaction, row: InstanceRow, set: Partial<InstanceRow>): Promise<InstanceRow | null> {
  const rows: InstanceRow[] = await trx("instances")
    .where({ id: row.id, task: row.task, server_status: row.server_status })
    // Postgres keeps microseconds, the row read back has milliseconds.
    .andWhereRaw("date_trunc('milliseconds', updated_at) = ?", [row.updated_at])
    .whereNull("deleted_at")
    .update({ ...set, updated_at: trx.fn.now() })
    .returning("*");
  return rows[0] ?? null;
}

/** Renames an instance. */
export async function renameInstance(trx: Transaction, id: string, name: string): Promise<void> {
  await trx("instances").where({ id }).update({ name, updated_at: trx.fn.now() });
}

/**
 * An engine that died under an instance that should be running and asked for auto_restart: its task becomes
 * REBOOTING (counted in auto_restarts) by compare-and-set, so a repeated heartbeat restarts it once. Returns
 * the updated row, or null when the instance is not one to restart.
 */
export async function markAutoRestart(trx: Transaction, node: string, instanceId: string): Promise<InstanceRow | null> {
  const rows: InstanceRow[] = await trx("instances")
    .where({ id: instanceId, node, task: "NONE", server_status: "ACTIVE", auto_restart: true })
    .whereNull("deleted_at")
    .update({ task: "REBOOTING", auto_restarts: trx.raw("auto_restarts + 1"), updated_at: trx.fn.now() })
    .returning("*");
  return rows[0] ?? null;
}

/** Whether the live instance is a failed build (BUILDING_ERROR_SERVER); its row is locked when it is. */
export async function lockFailedBuild(trx: Transaction, id: string): Promise<boolean> {
  return Boolean(await trx("instances").where({ id, task: "BUILDING_ERROR_SERVER" }).whereNull("deleted_at").forUpdate().first("id"));
}

/** Whether the instance already runs on a guest of `node`: live, addressed, and not being deleted. */
export async function runsOnNode(trx: Transaction, id: string, node: string): Promise<boolean> {
  return Boolean(await trx("instances").where({ id, node }).whereNull("deleted_at").whereNot("task", "DELETING").whereNotNull("address").first("id"));
}

/**
 * Applies a tracker's answer to a configure request to a running instance (`set`: the fault it leaves or
 * clears), unless the instance has been asked for a newer configuration since: answers may arrive in any
 * order, and only the latest request's tells how the instance stands. Answers without a request time
 * (commands queued before the time was kept) apply as they come.
 */
export async function settleConfigure(
  trx: Transaction,
  result: { instanceId: string; node: string; requestedAt?: string },
  set: Pick<InstanceRow, "fault_message" | "fault_at">,
): Promise<InstanceRow | null> {
  let q = trx("instances").where({ id: result.instanceId, node: result.node }).whereNull("deleted_at").whereIn("task", [...CONFIGURABLE_TASKS]);
  if (result.requestedAt) {
    const at = new Date(result.requestedAt);
    q = q.andWhere((w) => w.whereNull("configure_requested_at").orWhere("configure_requested_at", "<=", at));
  }
  // Clearing a fault that is not there changes nothing (and keeps updated_at).
  if (set.fault_message === null) q = q.whereNotNull("fault_message");
  const rows: InstanceRow[] = await q.update({ ...set, updated_at: trx.fn.now() }).returning("*");
  return rows[0] ?? null;
}

/** The raw row of a live instance (for decisions inside a transaction), locked when `forUpdate`. */
export async function instanceRow(q: Queryable, id: string, opts: { project?: string; forUpdate?: boolean } = {}): Promise<InstanceRow | null> {
  if (!UUID.test(id)) return null;
  let query = q("instances").where({ id }).whereNull("deleted_at");
  if (opts.project) query = query.andWhere("project_id", opts.project);
  if (opts.forUpdate) query = query.forUpdate();
  return (await query.first()) ?? null;
}

/** Marks an instance and its volume deleted (rows are kept for history). */
export async function softDeleteInstance(trx: Transaction, id: string): Promise<InstanceRow | null> {
  const rows: InstanceRow[] = await trx("instances").where({ id }).whereNull("deleted_at")
    .update({ deleted_at: trx.fn.now(), updated_at: trx.fn.now(), server_status: "SHUTDOWN" }).returning("*");
  await trx("volumes").where({ instance_id: id }).whereNull("deleted_at").update({ status: "deleted", deleted_at: trx.fn.now() });
  return rows[0] ?? null;
}

/** Sets the volume's state as the tracker reported it. */
export async function setVolumeStatus(trx: Transaction, instanceId: string, status: "in-use" | "deleting"): Promise<void> {
  await trx("volumes").where({ instance_id: instanceId }).whereNull("deleted_at").update({ status });
}

/** Records the size the tracker grew the instance's volume to. */
export async function setVolumeSize(trx: Transaction, instanceId: string, sizeGb: number): Promise<void> {
  await trx("volumes").where({ instance_id: instanceId }).whereNull("deleted_at").update({ size_gb: sizeGb });
}

/**
 * Records a heartbeat's view of one guest, unless a newer heartbeat was already recorded (so a late,
 * reordered heartbeat never overwrites a fresher one).
 */
/**
 * Records a heartbeat's word on one guest unless a newer one is already recorded. Returns the updated row
 * and the service status it had before (null when nothing was updated).
 */
export async function recordHeartbeat(q: Queryable, node: string, instanceId: string, status: ServiceStatus, at: Date, tlsExpires?: string): Promise<{ row: InstanceRow; previous: ServiceStatus } | null> {
  const result = await q.raw(
    `update instances i set service_status = ?, service_updated_at = ?, tls_expires = coalesce(?::timestamptz, i.tls_expires)
       from (select id, service_status as previous from instances where id = ? for update) o
      where i.id = o.id and i.node = ? and i.deleted_at is null and (i.service_updated_at is null or i.service_updated_at <= ?)
      returning i.*, o.previous`,
    [status, at, tlsExpires ?? null, instanceId, node, at],
  );
  const updated = (result.rows as (InstanceRow & { previous: ServiceStatus })[])[0];
  if (!updated) return null;
  const { previous, ...row } = updated;
  return { row, previous };
}

/** Instances that have been building for longer than `budgetMs`. */
export async function expiredBuilds(q: Queryable, budgetMs: number): Promise<{ id: string; node: string }[]> {
  return q("instances").whereNull("deleted_at").where("task", "BUILDING")
    .andWhere("created_at", "<", q.raw("now() - (? * interval '1 millisecond')", [budgetMs])).select("id", "node");
}
