import { fail } from "../../errors/index.js";
import { defineRequest } from "../../runtime/function.js";
import { instanceRow, listBackups } from "../../store/index.js";
import { backupPage } from "../backup-page.js";

export default defineRequest("instance-backups", {
  description: "Lists the backups of one of the caller's instances, newest first (Trove's offset marker).",
  timeoutMs: 5_000,
  memoryMb: 128,
  async handle({ caller, instanceId, query }, { deps }) {
    if (!(await instanceRow(deps.db, instanceId, { project: caller.project }))) throw fail("NOT_FOUND", { what: "Instance", id: instanceId });
    return listBackups(deps.db, caller.project, { ...backupPage(query, deps.config.pageSize), instanceId });
  },
});
