import { fail } from "../../errors/index.js";
import { makeEvent, nodeCommands, sources } from "../../events/index.js";
import { defineRequest } from "../../runtime/function.js";
import { enqueue, instanceRow, instanceStatus, setVolumeStatus, transitionInstance } from "../../store/index.js";
import { announceInstance } from "../announce.js";

export default defineRequest("instance-delete", {
  description: "Moves an instance to DELETING and asks its node's tracker to remove the guest; the row goes when the tracker confirms.",
  timeoutMs: 5_000,
  memoryMb: 128,
  async handle({ caller, instanceId }, { deps }) {
    return deps.db.transaction(async (trx) => {
      const row = await instanceRow(trx, instanceId, { project: caller.project, forUpdate: true });
      if (!row) throw fail("NOT_FOUND", { what: "Instance", id: instanceId });
      // A second delete of an instance already being deleted is accepted and changes nothing.
      if (row.task === "DELETING") return { accepted: true } as const;
      const status = instanceStatus({ task: row.task, serverStatus: row.server_status, serviceStatus: row.service_status, serviceUpdatedAt: row.service_updated_at });
      const updated = await transitionInstance(trx, row.id, ["NONE", "BUILDING_ERROR_SERVER"], { task: "DELETING" });
      if (!updated) throw fail("NOT_ACTIONABLE", { id: row.id, status });
      await setVolumeStatus(trx, row.id, "deleting");
      const kind = nodeCommands.deprovision;
      await enqueue(trx, kind.subject(row.node), makeEvent(kind.type, sources.functions, { instanceId: row.id, node: row.node }, { subject: row.id }));
      await announceInstance(trx, "instanceDeleting", updated, "SHUTDOWN");
      return { accepted: true } as const;
    });
  },
});
