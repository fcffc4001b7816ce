import { workEvents } from "../../events/index.js";
import { defineFunction } from "../../runtime/function.js";
import { recordHeartbeat } from "../../store/index.js";

const kind = workEvents.guestHeartbeat;

export default defineFunction({
  name: "instance-heartbeat",
  description: "Records what a tracker's heartbeat says of each guest, so operating_status stays true.",
  trigger: { kind: "work", stream: "HOARD_WORK", subject: kind.subject() },
  input: kind.data,
  timeoutMs: 5_000,
  memoryMb: 128,
  async handle(data, { deps }): Promise<void> {
    // Each update is guarded by the heartbeat's time, so repeats and reordering need no event ledger here.
    const at = new Date(data.at);
    for (const g of data.guests) await recordHeartbeat(deps.db, data.node, g.instanceId, g.health, at);
  },
});
