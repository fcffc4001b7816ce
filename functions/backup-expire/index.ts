import { z } from "zod";
import { defineFunction } from "../../runtime/function.js";
import { expiredBackups, staleRollbacks, transitionInstance, type Db } from "../../store/index.js";
import { announceInstance } from "../announce.js";
import { failBackup } from "../backup-state.js";

/** However the heartbeats look, no backup runs longer than this. */
const MAX_BACKUP_MS = 6 * 3600_000;

export default defineFunction({
  name: "backup-expire",
  description: "Fails backups whose tracker went quiet (no heartbeat for the lease) or that ran past the limit, and rollbacks likewise, so none stays in BUILDING.",
  trigger: { kind: "schedule", everyMs: 10_000 },
  input: z.object({}),
  timeoutMs: 10_000,
  memoryMb: 128,
  async handle(_data, { deps, log }): Promise<{ expired: number }> {
    // A tracker restarted within the lease takes the redelivered command and finishes; past it, the backup is given up.
    const leaseMs = 3 * deps.config.heartbeatExpiryMs;
    let expired = 0;
    for (const row of await expiredBackups(deps.db, leaseMs, MAX_BACKUP_MS)) {
      const reason = `The tracker of network node '${row.node}' stopped reporting while the backup ran; it was given up. Take a new backup.`;
      if (await deps.db.transaction((trx) => failBackup(trx, row.id, reason))) {
        expired++;
        log.warn({ backup: row.id, node: row.node }, "backup expired");
      }
    }
    expired += await expireRollbacks(deps.db, leaseMs);
    return { expired };
  },
});

/** A rollback whose tracker went quiet leaves the instance in ERROR: its data may be half put back. */
async function expireRollbacks(db: Db, leaseMs: number): Promise<number> {
  const stale = await staleRollbacks(db, leaseMs);
  let n = 0;
  for (const { id, node } of stale) {
    await db.transaction(async (trx) => {
      const row = await transitionInstance(trx, id, ["ROLLING_BACK"], {
        task: "NONE",
        server_status: "ERROR",
        fault_message: `The tracker of network node '${node}' stopped reporting during the rollback; the data may be incomplete. Roll back again or restore into a new instance.`,
        fault_at: new Date(),
      });
      if (row) {
        n++;
        await announceInstance(trx, "instanceError", row, "ERROR");
      }
    });
  }
  return n;
}
