import { fail } from "../../errors/index.js";
import { defineRequest } from "../../runtime/function.js";
import { findBackup } from "../../store/index.js";

export default defineRequest("backup-show", {
  description: "Shows one of the caller's backups; another project's backup is not found.",
  timeoutMs: 5_000,
  memoryMb: 128,
  async handle({ caller, backupId }, { deps }) {
    const found = await findBackup(deps.db, caller.project, backupId);
    if (!found) throw fail("NOT_FOUND", { what: "Backup", id: backupId });
    return found;
  },
});
