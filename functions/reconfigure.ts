/**
 * Moving a running instance from one set of configuration values to another: the new settings go to its
 * tracker (kept for every later start, the dynamic changes applied live), and the instance shows
 * RESTART_REQUIRED when a change only takes effect after a restart.
 */
import { fail } from "../errors/index.js";
import { makeEvent, nodeCommands, sources, type InstanceRecord } from "../events/index.js";
import { enqueue, findFlavor, requestConfigure, type InstanceRow, type Transaction } from "../store/index.js";
import { announceInstance } from "./announce.js";
import { definitionOf } from "./guest-access.js";
import { instanceSettings, settingsChange, type ConfigValues } from "./configuration-values.js";

export async function reconfigure(
  trx: Transaction,
  instance: InstanceRecord,
  change: { before: ConfigValues | null; after: ConfigValues | null; configurationId: string | null },
): Promise<InstanceRow> {
  const def = definitionOf(instance);
  const flavor = await findFlavor(trx, instance.flavorId);
  if (!flavor) throw new Error(`flavor ${instance.flavorId} of instance ${instance.id} is gone`);
  const before = instanceSettings(def, flavor, change.before);
  const after = instanceSettings(def, flavor, change.after);
  const { live, restartRequired } = settingsChange(def, instance.datastore.version, before, after);
  const row = await requestConfigure(trx, instance.id, { configurationId: change.configurationId, restartRequired, at: new Date() });
  if (!row) throw fail("INSTANCE_STATE", { status: instance.status, need: "the configuration can change only while it is ACTIVE" });
  if (restartRequired && instance.status !== "RESTART_REQUIRED") await announceInstance(trx, "instanceStatusChanged", row, "RESTART_REQUIRED");
  const kind = nodeCommands.configure;
  await enqueue(trx, kind.subject(row.node), makeEvent(kind.type, sources.functions, kind.data.parse({ instanceId: row.id, node: row.node, settings: after, live, requestedAt: row.configure_requested_at!.toISOString() }), { subject: row.id }));
  return row;
}
