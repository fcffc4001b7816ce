import { workEvents } from "../../events/index.js";
import { defineFunction } from "../../runtime/function.js";
import { transitionBackup } from "../../store/index.js";

const kind = workEvents.guestBackupStarted;

export default defineFunction({
  name: "backup-started",
  description: "A tracker began a backup: NEW becomes BUILDING (a late report after the end changes nothing).",
  trigger: { kind: "work", stream: "HOARD_WORK", subject: kind.subject() },
  input: kind.data,
  timeoutMs: 5_000,
  memoryMb: 128,
  async handle(data, { deps }): Promise<void> {
    // Compare-and-set from NEW only: repeats and a report overtaken by the result change nothing.
    await deps.db.transaction((trx) => transitionBackup(trx, data.backupId, ["NEW"], { status: "BUILDING" }));
  },
});
