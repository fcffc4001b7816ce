import { fail } from "../../errors/index.js";
import { defineRequest } from "../../runtime/function.js";
import { backupRow, RUNNING_BACKUP } from "../../store/index.js";
import { removeBackup } from "../backup-state.js";

export default defineRequest("backup-delete", {
  description: "Deletes a finished backup: its node's tracker removes the file, and the row goes when it reports; a running backup is refused (422).",
  timeoutMs: 5_000,
  memoryMb: 128,
  async handle({ caller, backupId }, { deps }) {
    return deps.db.transaction(async (trx) => {
      const row = await backupRow(trx, backupId, { project: caller.project, forUpdate: true });
      if (!row) throw fail("NOT_FOUND", { what: "Backup", id: backupId });
      if (RUNNING_BACKUP.includes(row.status)) throw fail("BACKUP_BUSY", { id: row.id, status: row.status });
      // A second delete while the file is being removed is accepted and changes nothing.
      if (row.status !== "DELETING") await removeBackup(trx, row);
      return { accepted: true } as const;
    });
  },
});
