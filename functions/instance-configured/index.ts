import { workEvents } from "../../events/index.js";
import { defineFunction } from "../../runtime/function.js";
import { claimEvent } from "../../store/index.js";

const kind = workEvents.guestConfigured;

export default defineFunction({
  name: "instance-configured",
  description: "A tracker applied new settings to a guest: an earlier configuration fault is cleared.",
  trigger: { kind: "work", stream: "HOARD_WORK", subject: kind.subject() },
  input: kind.data,
  timeoutMs: 5_000,
  memoryMb: 128,
  async handle(data, { event, deps }): Promise<void> {
    await deps.db.transaction(async (trx) => {
      if (!(await claimEvent(trx, "instance-configured", event.id))) return;
      await trx("instances").where({ id: data.instanceId, node: data.node }).whereNull("deleted_at").whereNotNull("fault_message").whereIn("task", ["NONE", "RESTART_REQUIRED"]).update({ fault_message: null, fault_at: null });
    });
  },
});
