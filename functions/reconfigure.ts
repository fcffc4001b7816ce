/**
 * Moving a running instance from one set of configuration values to another: the new settings go to its
 * tracker (kept for every later start, the dynamic changes applied live), and the instance shows
 * RESTART_REQUIRED when a change only takes effect after a restart.
 */
import type { Knex } from "knex";
import { fail } from "../errors/index.js";
import { makeEvent, nodeCommands, sources, type InstanceRecord } from "../events/index.js";
import { CONFIGURABLE_TASKS, enqueue, findFlavor, transitionInstance, type Db, type InstanceRow } from "../store/index.js";
import { announceInstance } from "./announce.js";
import { definitionOf } from "./guest-access.js";
import { instanceSettings, settingsChange, type ConfigValues } from "./configuration-values.js";

export async function reconfigure(
  trx: Knex.Transaction,
  instance: InstanceRecord,
  change: { before: ConfigValues | null; after: ConfigValues | null; configurationId: string | null },
): Promise<InstanceRow> {
  const def = definitionOf(instance);
  const flavor = await findFlavor(trx as unknown as Db, instance.flavorId);
  if (!flavor) throw new Error(`flavor ${instance.flavorId} of instance ${instance.id} is gone`);
  const before = instanceSettings(def, flavor, change.before);
  const after = instanceSettings(def, flavor, change.after);
  const { live, restartRequired } = settingsChange(def, instance.datastore.version, before, after);
  // Each change of an instance is later than its last (even within one millisecond): the tracker and the
  // answers' handlers tell the latest request by this time.
  const now = new Date();
  const row = await transitionInstance(trx, instance.id, [...CONFIGURABLE_TASKS], {
    configuration_id: change.configurationId,
    configure_requested_at: trx.raw("greatest(?::timestamptz, configure_requested_at + interval '1 millisecond')", [now]) as unknown as Date,
    ...(restartRequired ? { task: "RESTART_REQUIRED" as const } : {}),
  });
  if (!row) throw fail("INSTANCE_STATE", { status: instance.status, need: "the configuration can change only while it is ACTIVE" });
  if (restartRequired && instance.status !== "RESTART_REQUIRED") await announceInstance(trx, "instanceStatusChanged", row, "RESTART_REQUIRED");
  const kind = nodeCommands.configure;
  await enqueue(trx, kind.subject(row.node), makeEvent(kind.type, sources.functions, kind.data.parse({ instanceId: row.id, node: row.node, settings: after, live, requestedAt: row.configure_requested_at!.toISOString() }), { subject: row.id }));
  return row;
}
