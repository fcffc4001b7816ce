import { workEvents } from "../../events/index.js";
import { defineFunction } from "../../runtime/function.js";
import { claimEvent, transitionInstance } from "../../store/index.js";

const kind = workEvents.guestRestarted;

export default defineFunction({
  name: "instance-restarted",
  description: "A tracker restarted a guest's engine: the instance leaves REBOOT (and RESTART_REQUIRED) and shows ACTIVE again.",
  trigger: { kind: "work", stream: "HOARD_WORK", subject: kind.subject() },
  input: kind.data,
  timeoutMs: 5_000,
  memoryMb: 128,
  async handle(data, { event, deps }): Promise<void> {
    await deps.db.transaction(async (trx) => {
      if (!(await claimEvent(trx, "instance-restarted", event.id))) return;
      // The engine answered before the tracker reported, so it is healthy now; heartbeats take over from here.
      await transitionInstance(trx, data.instanceId, ["REBOOTING"], { task: "NONE", service_status: "HEALTHY", service_updated_at: new Date(), fault_message: null, fault_at: null }, { node: data.node });
    });
  },
});
