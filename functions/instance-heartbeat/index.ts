import { makeEvent, nodeCommands, sources, workEvents } from "../../events/index.js";
import { defineFunction } from "../../runtime/function.js";
import { enqueue, instanceStatus, markAutoRestart, operatingStatus, recordGuestCa, recordHeartbeat, recordNodeReport, type Db } from "../../store/index.js";
import { announceInstance } from "../announce.js";

const kind = workEvents.guestHeartbeat;

export default defineFunction({
  name: "instance-heartbeat",
  description: "Records what a tracker's heartbeat says of each guest, so operating_status stays true, and keeps the node's report for the reconciler; a dead engine of an auto_restart instance is started again.",
  trigger: { kind: "work", stream: "HOARD_WORK", subject: kind.subject() },
  input: kind.data,
  timeoutMs: 5_000,
  memoryMb: 128,
  async handle(data, { deps }): Promise<void> {
    // Each update is guarded by the heartbeat's time, so repeats and reordering need no event ledger here.
    const at = new Date(data.at);
    // The report as a whole, for the reconciler: which guests the node has, and what builds left behind.
    await recordNodeReport(deps.db, { node: data.node, at, guests: data.guests, leftovers: data.leftovers });
    // The CA that verifies the node's guests (an operator may replace it; renewals then move to the new one).
    if (data.ca) await recordGuestCa(deps.db, data.node, data.ca);
    for (const g of data.guests) {
      const applied = await deps.db.transaction(async (trx) => {
        const recorded = await recordHeartbeat(trx, data.node, g.instanceId, g.health, at, g.tlsExpires);
        if (!recorded) return false;
        if (recorded.previous === g.health) return true;
        // The guest's health changed (HEALTHY → SHUTDOWN, and back): subscribers hear of it.
        const s = { task: recorded.row.task, serverStatus: recorded.row.server_status, serviceStatus: recorded.row.service_status, serviceUpdatedAt: recorded.row.service_updated_at };
        await announceInstance(trx, "instanceStatusChanged", recorded.row, operatingStatus(s, new Date(), deps.config.heartbeatExpiryMs) || instanceStatus(s));
        return true;
      });
      // Every SHUTDOWN heartbeat asks again: the compare-and-set inside restarts the engine once per death.
      if (applied && g.health === "SHUTDOWN") await restartIfWanted(deps.db, data.node, g.instanceId);
    }
  },
});

/**
 * An engine that died under an instance that should be running and asked for auto_restart is restarted;
 * the compare-and-set on the task makes a repeated heartbeat restart it once.
 */
async function restartIfWanted(db: Db, node: string, instanceId: string): Promise<void> {
  await db.transaction(async (trx) => {
    const row = await markAutoRestart(trx, node, instanceId);
    if (!row) return;
    const command = nodeCommands.restart;
    await enqueue(trx, command.subject(node), makeEvent(command.type, sources.functions, { instanceId, node }, { subject: instanceId }));
    await announceInstance(trx, "instanceStatusChanged", row, "REBOOT");
  });
}
