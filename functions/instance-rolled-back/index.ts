import { workEvents } from "../../events/index.js";
import { defineFunction } from "../../runtime/function.js";
import { claimEvent, transitionInstance } from "../../store/index.js";
import { announceInstance } from "../announce.js";

const kind = workEvents.guestRolledBack;

export default defineFunction({
  name: "instance-rolled-back",
  description: "A tracker reports a guest's data put back to a backup: the instance is ACTIVE again.",
  trigger: { kind: "work", stream: "HOARD_WORK", subject: kind.subject() },
  input: kind.data,
  timeoutMs: 5_000,
  memoryMb: 128,
  async handle(data, { event, deps }): Promise<void> {
    await deps.db.transaction(async (trx) => {
      if (!(await claimEvent(trx, "instance-rolled-back", event.id))) return;
      const row = await transitionInstance(trx, data.instanceId, ["ROLLING_BACK"], { task: "NONE", fault_message: null, fault_at: null }, { node: data.node });
      if (row) await announceInstance(trx, "instanceStatusChanged", row, row.server_status);
    });
  },
});
