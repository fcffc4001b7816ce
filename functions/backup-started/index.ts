import { workEvents } from "../../events/index.js";
import { transitionBackup } from "../../store/index.js";
import { defineWorkFunction } from "../work-function.js";

export default defineWorkFunction(workEvents.guestBackupStarted, {
  name: "backup-started",
  description: "A tracker began a backup: NEW becomes BUILDING (a late report after the end changes nothing).",
  // Compare-and-set from NEW only: repeats and a report overtaken by the result change nothing.
  repeats: "compare-and-set",
  async apply(trx, data) {
    await transitionBackup(trx, data.backupId, ["NEW"], { status: "BUILDING" });
  },
});
