import { fail } from "../../errors/index.js";
import { BackupRefRequest, type BackupRecord } from "../../events/index.js";
import { defineFunction } from "../../runtime/function.js";
import { findBackup } from "../../store/index.js";

export default defineFunction({
  name: "backup-show",
  description: "Shows one of the caller's backups; another project's backup is not found.",
  trigger: { kind: "request" },
  input: BackupRefRequest,
  timeoutMs: 5_000,
  memoryMb: 128,
  async handle({ caller, backupId }, { deps }): Promise<BackupRecord> {
    const found = await findBackup(deps.db, caller.project, backupId);
    if (!found) throw fail("NOT_FOUND", { what: "Backup", id: backupId });
    return found;
  },
});
