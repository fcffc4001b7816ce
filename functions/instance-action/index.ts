import { fail } from "../../errors/index.js";
import { InstanceActionRequest, makeEvent, nodeCommands, sources } from "../../events/index.js";
import { defineFunction } from "../../runtime/function.js";
import { enqueue, instanceRow, instanceStatus, transitionInstance } from "../../store/index.js";

export default defineFunction({
  name: "instance-action",
  description: "Carries out an instance action (restart: the engine stops cleanly and starts again with its current settings).",
  trigger: { kind: "request" },
  input: InstanceActionRequest,
  timeoutMs: 5_000,
  memoryMb: 128,
  async handle({ caller, instanceId }, { deps }): Promise<{ accepted: true }> {
    return deps.db.transaction(async (trx) => {
      const row = await instanceRow(trx, instanceId, { project: caller.project, forUpdate: true });
      if (!row) throw fail("NOT_FOUND", { what: "Instance", id: instanceId });
      const status = instanceStatus({ task: row.task, serverStatus: row.server_status, serviceStatus: row.service_status, serviceUpdatedAt: row.service_updated_at });
      if (row.server_status !== "ACTIVE") throw fail("NOT_ACTIONABLE", { id: row.id, status });
      const updated = await transitionInstance(trx, row.id, ["NONE", "RESTART_REQUIRED"], { task: "REBOOTING" });
      if (!updated) throw fail("NOT_ACTIONABLE", { id: row.id, status });
      const kind = nodeCommands.restart;
      await enqueue(trx, kind.subject(row.node), makeEvent(kind.type, sources.functions, { instanceId: row.id, node: row.node }, { subject: row.id }));
      return { accepted: true } as const;
    });
  },
});
