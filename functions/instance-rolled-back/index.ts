import { workEvents } from "../../events/index.js";
import { transitionInstance } from "../../store/index.js";
import { announceInstance } from "../announce.js";
import { defineWorkFunction } from "../work-function.js";

export default defineWorkFunction(workEvents.guestRolledBack, {
  name: "instance-rolled-back",
  description: "A tracker reports a guest's data put back to a backup: the instance is ACTIVE again.",
  async apply(trx, data) {
    const row = await transitionInstance(trx, data.instanceId, ["ROLLING_BACK"], { task: "NONE", fault_message: null, fault_at: null }, { node: data.node });
    if (row) await announceInstance(trx, "instanceStatusChanged", row, row.server_status);
  },
});
