import { workEvents } from "../../events/index.js";
import { backupRow, deleteBackupRow } from "../../store/index.js";
import { announceBackup } from "../backup-state.js";
import { defineWorkFunction } from "../work-function.js";

export default defineWorkFunction(workEvents.backupFileDeleted, {
  name: "backup-file-deleted",
  description: "A tracker reports a backup's file gone from the store: the backup's row goes too.",
  // Only a backup being deleted goes, and then its row is gone: a repeat finds nothing to do.
  repeats: "compare-and-set",
  async apply(trx, data) {
    // An orphan file's report (its backup FAILED) leaves the row as it is.
    const row = await backupRow(trx, data.backupId, { forUpdate: true });
    if (!row || row.status !== "DELETING") return;
    const gone = await deleteBackupRow(trx, row.id);
    if (gone) await announceBackup(trx, "backupDeleted", gone, "DELETED");
  },
});
