import { fail } from "../../errors/index.js";
import { InstanceActionRequest, makeEvent, nodeCommands, sources, type InstanceAction } from "../../events/index.js";
import { defineFunction } from "../../runtime/function.js";
import { enqueue, instanceRow, instanceStatus, transitionInstance, type InstanceRow, type ServerStatus, type Task } from "../../store/index.js";
import { announceInstance } from "../announce.js";

/** For each engine action: the states it may start from, the task it sets, and the tracker command. */
const ENGINE_ACTIONS = {
  restart: { server: ["ACTIVE"], from: ["NONE", "RESTART_REQUIRED"], task: "REBOOTING", command: nodeCommands.restart },
  stop: { server: ["ACTIVE"], from: ["NONE", "RESTART_REQUIRED"], task: "STOPPING", command: nodeCommands.stop },
  start: { server: ["SHUTDOWN"], from: ["NONE"], task: "STARTING", command: nodeCommands.start },
} as const satisfies Record<Exclude<InstanceAction, "reset_status">, { server: ServerStatus[]; from: Task[]; task: Task; command: unknown }>;

export default defineFunction({
  name: "instance-action",
  description: "Instance actions: restart, stop and start the engine (the tracker carries them out); reset_status (admin) clears a stuck task.",
  trigger: { kind: "request" },
  input: InstanceActionRequest,
  timeoutMs: 5_000,
  memoryMb: 128,
  async handle({ caller, instanceId, action }, { deps }): Promise<{ accepted: true }> {
    if (action === "reset_status" && !caller.roles.includes("admin")) throw fail("ADMIN_REQUIRED");
    return deps.db.transaction(async (trx) => {
      const row = await instanceRow(trx, instanceId, { project: caller.project, forUpdate: true });
      if (!row) throw fail("NOT_FOUND", { what: "Instance", id: instanceId });
      const status = statusOf(row);
      if (action === "reset_status") {
        // Trove: the task is cleared and the guest's state becomes unknown until the next heartbeat.
        const failedBuild = row.task === "BUILDING" || row.task === "BUILDING_ERROR_SERVER";
        const reset = await transitionInstance(trx, row.id, [row.task], { task: "NONE", service_status: "UNKNOWN", ...(failedBuild ? { server_status: "ERROR" as const } : {}) });
        if (reset) await announceInstance(trx, "instanceStatusChanged", reset, statusOf(reset));
        return { accepted: true } as const;
      }
      const rule = ENGINE_ACTIONS[action];
      if (!(rule.server as readonly ServerStatus[]).includes(row.server_status)) throw fail("NOT_ACTIONABLE", { id: row.id, status });
      const updated = await transitionInstance(trx, row.id, [...rule.from], { task: rule.task });
      if (!updated) throw fail("NOT_ACTIONABLE", { id: row.id, status });
      await enqueue(trx, rule.command.subject(row.node), makeEvent(rule.command.type, sources.functions, { instanceId: row.id, node: row.node }, { subject: row.id }));
      await announceInstance(trx, "instanceStatusChanged", updated, statusOf(updated));
      return { accepted: true } as const;
    });
  },
});

function statusOf(row: InstanceRow): string {
  return instanceStatus({ task: row.task, serverStatus: row.server_status, serviceStatus: row.service_status, serviceUpdatedAt: row.service_updated_at });
}
