import { workEvents } from "../../events/index.js";
import { lockFailedBuild, softDeleteInstance } from "../../store/index.js";
import { announceInstance } from "../announce.js";
import { defineWorkFunction } from "../work-function.js";

export default defineWorkFunction(workEvents.guestDeprovisioned, {
  name: "instance-deprovisioned",
  description: "A tracker reports a guest stopped and its volume and port freed: the instance is gone.",
  async apply(trx, data) {
    // Deletes go through DELETING; a failed build's late guest is removed without one, and the failed
    // instance stays for its owner to see and delete.
    if (await lockFailedBuild(trx, data.instanceId)) return;
    const row = await softDeleteInstance(trx, data.instanceId);
    if (row) await announceInstance(trx, "instanceDeleted", row, "DELETED");
  },
});
