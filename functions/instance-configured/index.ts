import { workEvents } from "../../events/index.js";
import { defineFunction } from "../../runtime/function.js";
import { claimEvent, settleConfigure } from "../../store/index.js";

const kind = workEvents.guestConfigured;

export default defineFunction({
  name: "instance-configured",
  description: "A tracker applied new settings to a guest: an earlier configuration fault is cleared, unless a newer configuration has been asked for since.",
  trigger: { kind: "work", stream: "HOARD_WORK", subject: kind.subject() },
  input: kind.data,
  timeoutMs: 5_000,
  memoryMb: 128,
  async handle(data, { event, deps }): Promise<void> {
    await deps.db.transaction(async (trx) => {
      if (!(await claimEvent(trx, "instance-configured", event.id))) return;
      await settleConfigure(trx, data, { fault_message: null, fault_at: null });
    });
  },
});
