/**
 * The common first steps of every operation on a running guest (schema, users, root, settings): find the
 * caller's instance, check that its datastore can do it and that the guest is up, then ask the tracker.
 */
import { datastoreDefinitions, type Capability, type DatastoreDefinition } from "../datastores/catalog.js";
import { fail } from "../errors/index.js";
import type { Caller, GuestCallAction, GuestCallResult, InstanceRecord } from "../events/index.js";
import type { FunctionDeps } from "../runtime/function.js";
import { findInstance } from "../store/index.js";

/** What users call each capability in messages (Trove's wording: "<operation> is not supported for datastore X"). */
const OPERATION: Record<Capability, string> = {
  provision: "Provisioning",
  databases: "Database management",
  users: "User management",
  root: "Root access",
  configuration: "Configuration groups",
  backup: "Backup",
  restore: "Restore",
  resize: "Resize",
};

export interface GuestTarget {
  instance: InstanceRecord;
  datastore: DatastoreDefinition;
}

/** The datastore definition an instance runs. */
export function definitionOf(instance: { datastore: { type: string } }): DatastoreDefinition {
  const def = datastoreDefinitions.find((d) => d.name === instance.datastore.type);
  if (!def) throw new Error(`no built-in definition for datastore '${instance.datastore.type}'`);
  return def;
}

/** The caller's instance, if its datastore has `capability` (501) and its guest answers (422). */
export async function runningGuest(deps: FunctionDeps, caller: Caller, instanceId: string, capability: Capability): Promise<GuestTarget> {
  const instance = await findInstance(deps.db, caller.project, instanceId, deps.config.heartbeatExpiryMs);
  if (!instance) throw fail("NOT_FOUND", { what: "Instance", id: instanceId });
  const datastore = definitionOf(instance);
  if (!datastore.capabilities.includes(capability)) throw fail("NOT_IMPLEMENTED", { operation: OPERATION[capability], datastore: datastore.name });
  const up = (instance.status === "ACTIVE" || instance.status === "RESTART_REQUIRED") && ["HEALTHY", "ACTIVE", ""].includes(instance.operatingStatus);
  if (!up || !instance.address) throw fail("INSTANCE_NOT_READY", { id: instance.id, status: instance.operatingStatus ? `${instance.status}/${instance.operatingStatus}` : instance.status });
  return { instance, datastore };
}

/** Carries out an action on the instance's guest through the tracker of its node. */
export function callGuest<A extends GuestCallAction>(deps: FunctionDeps, target: GuestTarget, call: A): Promise<GuestCallResult<A["action"]>> {
  return deps.guests.call(target.instance.node, target.instance.id, call);
}

/** One page of a name-ordered list: items after `marker` (exclusive), at most `limit` (capped by the config). */
export function pageByKey<T>(items: T[], key: (item: T) => string, query: { limit?: number; marker?: string }, cap: number): { items: T[]; nextMarker: string | null } {
  const limit = Math.min(query.limit ?? cap, cap);
  const after = query.marker === undefined ? items : items.filter((i) => key(i) > query.marker!);
  const page = after.slice(0, limit);
  return { items: page, nextMarker: after.length > limit ? key(page[page.length - 1]!) : null };
}
