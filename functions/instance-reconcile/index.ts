import type { Logger } from "pino";
import { z } from "zod";
import { makeEvent, nodeCommands, sources } from "../../events/index.js";
import { defineFunction, type FunctionDeps } from "../../runtime/function.js";
import {
  enqueue,
  freshNodeReports,
  guestsWithoutRow,
  nodesWithOpenDrift,
  noteDrift,
  recordRepair,
  resolveDrift,
  rowsMissingFromReport,
  settledRowsInReport,
  stalledTasks,
  updateInstanceIfUnchanged,
  type DriftRecord,
  type NodeReport,
  type Task,
} from "../../store/index.js";
import { announceInstance } from "../announce.js";

/** Slack on top of an operation's own budget (engine start, clean stop) for queueing and the trip through NATS. */
const SLACK_MS = 60_000;
/** How long a clean engine stop may take before the tracker kills it. */
const STOP_MS = 30_000;
/** Times a lost command is sent again before the instance is given up to ERROR. */
const RESENDS = 3;

/** For a task the tracker carries out with a command that can safely be sent again: that command. */
const RESENDABLE: Partial<Record<Task, (typeof nodeCommands)[keyof typeof nodeCommands]>> = {
  DELETING: nodeCommands.deprovision,
  REBOOTING: nodeCommands.restart,
  STOPPING: nodeCommands.stop,
  STARTING: nodeCommands.start,
};

export default defineFunction({
  name: "instance-reconcile",
  description:
    "Repairs drift between instance rows and what trackers report: removes orphaned guests and leftover volumes, puts instances whose guest is gone in ERROR, resends lost commands; records each repair (GET /mgmt/drift).",
  trigger: { kind: "schedule", everyMs: 10_000 },
  input: z.object({}),
  timeoutMs: 10_000,
  memoryMb: 128,
  async handle(_data, { deps, log }) {
    const done = { orphans: 0, leftovers: 0, missing: 0, flavors: 0, resent: 0, failed: 0 };
    // Only a recent report says what a node has now; a silent node's guests are left to heartbeat expiry.
    for (const report of await freshNodeReports(deps.db, deps.config.heartbeatExpiryMs)) {
      const r = await reconcileNode(deps, log, report);
      done.orphans += r.orphans;
      done.leftovers += r.leftovers;
      done.missing += r.missing;
      done.flavors += r.flavors;
    }
    const stalled = await reconcileStalled(deps, log);
    done.resent += stalled.resent;
    done.failed += stalled.failed;
    return done;
  },
});

/** The budget of a task before it counts as lost: an engine start and a clean stop, plus slack. */
const taskBudgetMs = (deps: FunctionDeps) => deps.config.guestStartTimeoutMs + STOP_MS + SLACK_MS;

/** Repairs what one node's report disagrees with. */
async function reconcileNode(deps: FunctionDeps, log: Logger, report: NodeReport) {
  const { db, config } = deps;
  const node = report.node;
  const counts = { orphans: 0, leftovers: 0, missing: 0, flavors: 0 };
  // Sent again only after a removal had time to finish: the tracker may be busy or restarting.
  const againAfterMs = taskBudgetMs(deps);

  // Guests (complete, or left half-built) whose instance is gone: stop and remove them on their node.
  const removals: [DriftRecord["kind"], string[]][] = [
    ["orphaned_guest", report.guests.map((g) => g.instanceId)],
    ["leftover_volume", report.leftovers],
  ];
  for (const [kind, ids] of removals) {
    let strays = await guestsWithoutRow(db, report, ids);
    // A database that knows few of a node's guests is more likely the wrong database (or a restored old
    // one) than a node full of strays: tenant data is not removed on its word.
    const unknown = strays.filter((s) => !s.row).length;
    if (unknown > 2 && unknown * 2 > ids.length) {
      log.error({ node, kind, unknown, reported: ids.length }, "drift: most of this node's guests have no row at all; not removing them (is DATABASE_URL right?)");
      strays = strays.filter((s) => s.row);
    }
    for (const { id, row } of strays) {
      await db.transaction(async (trx) => {
        const what = kind === "orphaned_guest" ? "a running guest" : "a volume or run folder";
        const detail = `${what} of ${row ? "deleted " : "unknown "}instance ${id} was found on node '${node}' at ${report.at.toISOString()}; it was removed`;
        const attempts = await noteDrift(trx, { kind, instanceId: id, node, projectId: row?.project_id ?? null, detail }, againAfterMs);
        if (attempts === null) return;
        await enqueue(trx, nodeCommands.deprovision.subject(node), makeEvent(nodeCommands.deprovision.type, sources.functions, { instanceId: id, node }, { subject: id }));
        // Its project hears of it when it had one (the row is kept after a delete).
        if (row && attempts === 1) await announceInstance(trx, "instanceOrphanRemoved", { ...row, fault_message: detail }, "DELETED");
        log.warn({ instance: id, node, kind, attempts }, "drift: removing what has no instance");
        counts[kind === "orphaned_guest" ? "orphans" : "leftovers"]++;
      });
    }
    await resolveDrift(db, kind, node, strays.map((s) => s.id));
  }

  // Rows whose guest the node no longer has: ERROR, with the reason.
  for (const row of await rowsMissingFromReport(db, report, config.heartbeatIntervalMs * 2)) {
    await db.transaction(async (trx) => {
      const detail = `The guest of this instance is gone from network node '${node}' (its tracker's report of ${report.at.toISOString()} does not list it). Delete the instance.`;
      const updated = await updateInstanceIfUnchanged(trx, row, { server_status: "ERROR", task: "NONE", fault_message: detail, fault_at: new Date() });
      if (!updated) return;
      await recordRepair(trx, { kind: "missing_guest", instanceId: row.id, node, projectId: row.project_id, detail });
      await announceInstance(trx, "instanceError", updated, "ERROR");
      log.warn({ instance: row.id, node }, "drift: the guest of an instance is missing");
      counts.missing++;
    });
  }

  // A guest that runs another flavor than its row says (a resize whose report was lost): the guest is right.
  const settled = await settledRowsInReport(db, report, config.heartbeatIntervalMs * 2);
  const flavorOf = new Map(report.guests.map((g) => [g.instanceId, g.flavorId]));
  for (const row of settled) {
    const flavor = flavorOf.get(row.id);
    if (!flavor || flavor === row.flavor_id) continue;
    await db.transaction(async (trx) => {
      const updated = await updateInstanceIfUnchanged(trx, row, { flavor_id: flavor });
      if (!updated) return;
      const detail = `instance ${row.id} runs flavor ${flavor} on node '${node}' but its row said ${row.flavor_id}; the row now says ${flavor}`;
      await recordRepair(trx, { kind: "flavor_mismatch", instanceId: row.id, node, projectId: row.project_id, detail });
      log.warn({ instance: row.id, node, flavor, was: row.flavor_id }, "drift: flavor corrected from the guest");
      counts.flavors++;
    });
  }
  return counts;
}

/** Tasks under way past their budget: the command is sent again a few times, then the task is given up. */
async function reconcileStalled(deps: FunctionDeps, log: Logger) {
  const budgetMs = taskBudgetMs(deps);
  const counts = { resent: 0, failed: 0 };
  const stalled = await stalledTasks(deps.db, ["DELETING", "REBOOTING", "STOPPING", "STARTING", "RESIZING"], budgetMs);
  for (const row of stalled) {
    await deps.db.transaction(async (trx) => {
      const command = RESENDABLE[row.task];
      const detail = `${row.task} did not finish within ${Math.round(budgetMs / 1000)} s on network node '${row.node}'`;
      const attempts = await noteDrift(trx, { kind: "stalled_task", instanceId: row.id, node: row.node, projectId: row.project_id, detail }, budgetMs);
      if (attempts === null) return;
      if (command && attempts <= RESENDS) {
        // Every tracker command is idempotent: carried out already, it changes nothing (or restarts once more).
        await enqueue(trx, command.subject(row.node), makeEvent(command.type, sources.functions, { instanceId: row.id, node: row.node }, { subject: row.id }));
        log.warn({ instance: row.id, task: row.task, attempts }, "drift: a command was lost; sent again");
        counts.resent++;
        return;
      }
      // Given up: a removal ends in ERROR (delete again); an engine action or resize leaves the guest as the
      // heartbeats show it, with the reason as the fault (as when the tracker reports the failure itself).
      const fault = { fault_message: `${detail}; the operation was given up. ${row.task === "DELETING" ? "Delete the instance again." : "Try it again."}`, fault_at: new Date() };
      const updated = await updateInstanceIfUnchanged(trx, row, row.task === "DELETING" ? { ...fault, task: "NONE", server_status: "ERROR" } : { ...fault, task: "NONE" });
      if (!updated) return;
      await announceInstance(trx, row.task === "DELETING" ? "instanceError" : "instanceStatusChanged", updated, updated.server_status);
      log.warn({ instance: row.id, task: row.task }, "drift: a task was given up");
      counts.failed++;
    });
  }
  // Records of tasks that have finished meanwhile are closed.
  const stillStalled = new Map<string, string[]>();
  for (const row of stalled) stillStalled.set(row.node, [...(stillStalled.get(row.node) ?? []), row.id]);
  for (const node of await nodesWithOpenDrift(deps.db, "stalled_task")) await resolveDrift(deps.db, "stalled_task", node, stillStalled.get(node) ?? []);
  return counts;
}
