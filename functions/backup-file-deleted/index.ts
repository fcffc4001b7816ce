import { workEvents } from "../../events/index.js";
import { defineFunction } from "../../runtime/function.js";
import { backupRow, deleteBackupRow } from "../../store/index.js";
import { announceBackup } from "../backup-state.js";

const kind = workEvents.backupFileDeleted;

export default defineFunction({
  name: "backup-file-deleted",
  description: "A tracker reports a backup's file gone from the store: the backup's row goes too.",
  trigger: { kind: "work", stream: "HOARD_WORK", subject: kind.subject() },
  input: kind.data,
  timeoutMs: 5_000,
  memoryMb: 128,
  async handle(data, { deps }): Promise<void> {
    await deps.db.transaction(async (trx) => {
      // Only a backup being deleted goes: an orphan file's report (its backup FAILED) leaves the row as it is.
      const row = await backupRow(trx, data.backupId, { forUpdate: true });
      if (!row || row.status !== "DELETING") return;
      const gone = await deleteBackupRow(trx, row.id);
      if (gone) await announceBackup(trx, "backupDeleted", gone, "DELETED");
    });
  },
});
