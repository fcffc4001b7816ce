import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import { HoardError } from "../../errors/index.js";
import { nextCronRun, workEvents } from "../../events/index.js";
import { defineFunction, type FunctionDeps } from "../../runtime/function.js";
import { claimSlot, deleteSchedulesOf, dueSchedules, instanceRow, recordRun, type BackupScheduleRow } from "../../store/index.js";
import { pruneSchedule, startBackup } from "../backup-state.js";

const kind = workEvents.backupSchedulesDue;
/** Schedules fired per sweep; the rest stay due, and the scheduler publishes them again. */
const BATCH = 100;

export default defineFunction({
  name: "backup-schedule-run",
  description: "Fires the backup schedules whose time has come: claims each slot once, backs the instance up as backup-create does, and prunes beyond the retention count.",
  trigger: { kind: "work", stream: "HOARD_WORK", subject: kind.subject() },
  input: kind.data,
  timeoutMs: 30_000,
  memoryMb: 128,
  async handle(_data, { deps, log }): Promise<{ fired: number }> {
    let fired = 0;
    for (const schedule of await dueSchedules(deps.db, new Date(), BATCH)) {
      if (await fire(deps, schedule, log)) fired++;
    }
    return { fired };
  },
});

/**
 * Fires one schedule's slot, once: the next slot is the first after now, so slots missed while Hoard was
 * down fire once, not once each. Returns false when another runtime fired it first.
 */
async function fire(deps: FunctionDeps, schedule: BackupScheduleRow, log: Logger): Promise<boolean> {
  const now = new Date();
  return deps.db.transaction(async (trx) => {
    const claimed = await claimSlot(trx, schedule.id, schedule.next_run_at!, nextCronRun(schedule.cron, schedule.timezone, now), now);
    if (!claimed) return false;
    if (!(await instanceRow(trx, schedule.instance_id))) {
      // The instance is gone: so is its schedule.
      await deleteSchedulesOf(trx, schedule.instance_id);
      return true;
    }
    const stamp = now.toISOString().replace(/\.\d+Z$/, "Z");
    try {
      // A savepoint: a refused backup (instance busy) must not undo the claim of the slot.
      const backup = await trx.transaction((sp) =>
        startBackup(sp, deps.config, {
          id: randomUUID(),
          project: schedule.project_id,
          instanceId: schedule.instance_id,
          name: `${schedule.name}-${stamp}`,
          description: schedule.description ?? `Made by backup schedule ${schedule.id}`,
          scheduleId: schedule.id,
        }),
      );
      await recordRun(trx, schedule.id, { backupId: backup.id });
    } catch (e) {
      if (!(e instanceof HoardError)) throw e;
      log.warn({ schedule: schedule.id, reason: e.message }, "scheduled backup not taken");
      await recordRun(trx, schedule.id, { error: e.message });
    }
    await pruneSchedule(trx, schedule.id, schedule.retention);
    return true;
  });
}
