import { workEvents } from "../../events/index.js";
import { setVolumeSize, transitionInstance } from "../../store/index.js";
import { announceInstance } from "../announce.js";
import { defineWorkFunction } from "../work-function.js";

export default defineWorkFunction(workEvents.guestResized, {
  name: "instance-resized",
  description: "A tracker moved a guest to its new flavor or grew its volume: the instance takes the new size and shows ACTIVE again.",
  async apply(trx, data) {
    // A resize restarts the engine, which also puts a pending configuration in force: RESTART_REQUIRED ends.
    const changes = data.flavorId ? { flavor_id: data.flavorId, service_status: "HEALTHY" as const, service_updated_at: new Date() } : {};
    const row = await transitionInstance(trx, data.instanceId, ["RESIZING"], { task: "NONE", ...changes, fault_message: null, fault_at: null }, { node: data.node });
    if (row && data.volumeSizeGb) await setVolumeSize(trx, row.id, data.volumeSizeGb);
    if (row) await announceInstance(trx, "instanceResized", row, "ACTIVE");
  },
});
