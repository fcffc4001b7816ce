import { workEvents } from "../../events/index.js";
import { defineFunction } from "../../runtime/function.js";
import { claimEvent, transitionInstance } from "../../store/index.js";
import { announceInstance } from "../announce.js";

const kind = workEvents.guestActionFailed;

export default defineFunction({
  name: "instance-failed",
  description: "A tracker reports that a guest action failed: the instance goes to ERROR with the reason as its fault.",
  trigger: { kind: "work", stream: "HOARD_WORK", subject: kind.subject() },
  input: kind.data,
  timeoutMs: 5_000,
  memoryMb: 128,
  async handle(data, { event, deps }): Promise<void> {
    await deps.db.transaction(async (trx) => {
      if (!(await claimEvent(trx, "instance-failed", event.id))) return;
      const fault = { server_status: "ERROR" as const, fault_message: data.message, fault_at: new Date() };
      const row =
        data.action === "provision"
          ? await transitionInstance(trx, data.instanceId, ["BUILDING"], { ...fault, task: "BUILDING_ERROR_SERVER" }, { node: data.node })
          : // A failed removal leaves the instance in ERROR, where the user may delete it again.
            await transitionInstance(trx, data.instanceId, ["DELETING"], { ...fault, task: "NONE" }, { node: data.node });
      if (row) await announceInstance(trx, "instanceError", row, "ERROR");
    });
  },
});
