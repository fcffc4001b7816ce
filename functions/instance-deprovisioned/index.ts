import { workEvents } from "../../events/index.js";
import { defineFunction } from "../../runtime/function.js";
import { claimEvent, lockFailedBuild, softDeleteInstance } from "../../store/index.js";
import { announceInstance } from "../announce.js";

const kind = workEvents.guestDeprovisioned;

export default defineFunction({
  name: "instance-deprovisioned",
  description: "A tracker reports a guest stopped and its volume and port freed: the instance is gone.",
  trigger: { kind: "work", stream: "HOARD_WORK", subject: kind.subject() },
  input: kind.data,
  timeoutMs: 5_000,
  memoryMb: 128,
  async handle(data, { event, deps }): Promise<void> {
    await deps.db.transaction(async (trx) => {
      if (!(await claimEvent(trx, "instance-deprovisioned", event.id))) return;
      // Deletes go through DELETING; a failed build's late guest is removed without one, and the failed
      // instance stays for its owner to see and delete.
      if (await lockFailedBuild(trx, data.instanceId)) return;
      const row = await softDeleteInstance(trx, data.instanceId);
      if (row) await announceInstance(trx, "instanceDeleted", row, "DELETED");
    });
  },
});
