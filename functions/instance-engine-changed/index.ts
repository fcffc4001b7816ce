import { workEvents } from "../../events/index.js";
import { transitionInstance } from "../../store/index.js";
import { announceInstance } from "../announce.js";
import { defineWorkFunction } from "../work-function.js";

export default defineWorkFunction(workEvents.guestRestarted, {
  name: "instance-engine-changed",
  description: "A tracker restarted, stopped or started a guest's engine: the instance leaves REBOOT/SHUTDOWN for ACTIVE, or rests in SHUTDOWN.",
  // Restarted, stopped and started share a payload and one subject family.
  subject: "hoard.work.guest.engine.>",
  async apply(trx, data, { event }) {
    const where = { node: data.node };
    if (event.type === workEvents.guestStopped.type) {
      const row = await transitionInstance(trx, data.instanceId, ["STOPPING"], { task: "NONE", server_status: "SHUTDOWN", service_status: "SHUTDOWN", service_updated_at: new Date() }, where);
      if (row) await announceInstance(trx, "instanceStatusChanged", row, "SHUTDOWN");
      return;
    }
    // Restarted or started: the engine answered before the tracker reported, so it is healthy now;
    // heartbeats take over from here.
    const row = await transitionInstance(trx, data.instanceId, ["REBOOTING", "STARTING"], { task: "NONE", server_status: "ACTIVE", service_status: "HEALTHY", service_updated_at: new Date(), fault_message: null, fault_at: null }, where);
    if (row) await announceInstance(trx, "instanceStatusChanged", row, "ACTIVE");
  },
});
