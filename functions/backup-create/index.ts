import { randomUUID } from "node:crypto";
import { fail } from "../../errors/index.js";
import { defineRequest } from "../../runtime/function.js";
import { findBackup } from "../../store/index.js";
import { startBackup } from "../backup-state.js";

export default defineRequest("backup-create", {
  description: "Records a backup of an ACTIVE instance in NEW, shows the instance as BACKUP and asks its node's tracker to make it.",
  timeoutMs: 5_000,
  memoryMb: 128,
  async handle({ caller, body }, { deps }) {
    // Hoard makes full backups into its own store; Trove's other kinds are refused rather than silently changed.
    if (body.restore_from !== undefined) throw fail("NOT_IMPLEMENTED", { operation: "Importing a backup (restore_from)", datastore: "any datastore in this Hoard" });
    if (body.parent_id || body.incremental === 1 || body.incremental === true) throw fail("NOT_IMPLEMENTED", { operation: "Incremental backups", datastore: "any datastore in this Hoard" });
    const id = randomUUID();
    return deps.db.transaction(async (trx) => {
      await startBackup(trx, deps.config, { id, project: caller.project, instanceId: body.instance, name: body.name, description: body.description ?? null, scheduleId: null });
      return (await findBackup(trx, caller.project, id))!;
    });
  },
});
