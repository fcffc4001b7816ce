import { defineRequest } from "../../runtime/function.js";
import { listBackups } from "../../store/index.js";
import { backupPage } from "../backup-page.js";

export default defineRequest("backup-list", {
  description: "Lists a project's backups newest first, filtered by instance or datastore; Trove's offset marker pages them.",
  timeoutMs: 5_000,
  memoryMb: 128,
  async handle({ caller, query }, { deps }) {
    return listBackups(deps.db, caller.project, { ...backupPage(query, deps.config.pageSize), ...(query.instanceId !== undefined ? { instanceId: query.instanceId } : {}), ...(query.datastore !== undefined ? { datastore: query.datastore } : {}) });
  },
});
