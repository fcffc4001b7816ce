import { randomUUID } from "node:crypto";
import { fail } from "../../errors/index.js";
import { nextCronRun } from "../../events/index.js";
import { defineRequest } from "../../runtime/function.js";
import { insertSchedule, instanceRow, scheduleRecord } from "../../store/index.js";

export default defineRequest("backup-schedule-create", {
  description: "Schedules backups of one of the caller's instances by a cron expression in a time zone, keeping the newest `retention` of them.",
  timeoutMs: 5_000,
  memoryMb: 128,
  async handle({ caller, body }, { deps }) {
    return deps.db.transaction(async (trx) => {
      const instance = await instanceRow(trx, body.instance_id, { project: caller.project });
      if (!instance) throw fail("NOT_FOUND", { what: "Instance", id: body.instance_id });
      const row = await insertSchedule(trx, {
        id: randomUUID(),
        project_id: caller.project,
        instance_id: instance.id,
        name: body.name,
        description: body.description ?? null,
        cron: body.cron,
        timezone: body.timezone,
        retention: body.retention,
        // The body was checked to fire at least once, so there is a first slot.
        next_run_at: nextCronRun(body.cron, body.timezone, new Date()),
      });
      return scheduleRecord(row);
    });
  },
});
