import { z } from "zod";
import { defineFunction } from "../../runtime/function.js";
import { expiredBuilds, transitionInstance } from "../../store/index.js";
import { announceInstance } from "../announce.js";

/** Slack on top of the guest start budget for queueing and the trip through NATS. */
const SLACK_MS = 60_000;

export default defineFunction({
  name: "instance-build-expire",
  description: "Moves instances whose tracker has not reported within the build budget from BUILD to ERROR, so none stays in BUILD.",
  trigger: { kind: "schedule", everyMs: 10_000 },
  input: z.object({}),
  timeoutMs: 10_000,
  memoryMb: 128,
  async handle(_data, { deps, log }): Promise<{ expired: number }> {
    const budgetMs = deps.config.guestStartTimeoutMs + SLACK_MS;
    let expired = 0;
    for (const { id, node } of await expiredBuilds(deps.db, budgetMs)) {
      await deps.db.transaction(async (trx) => {
        const row = await transitionInstance(trx, id, ["BUILDING"], {
          task: "BUILDING_ERROR_SERVER",
          server_status: "ERROR",
          fault_message: `The tracker of network node '${node}' did not report within ${Math.round(budgetMs / 1000)} s; the instance was not built. Delete it and try again.`,
          fault_at: new Date(),
        });
        if (!row) return;
        expired++;
        log.warn({ instance: id, node }, "build expired");
        await announceInstance(trx, "instanceError", row, "ERROR");
      });
    }
    return { expired };
  },
});
