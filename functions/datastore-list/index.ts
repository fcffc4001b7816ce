import { CatalogListRequest, type DatastoreRecord } from "../../events/index.js";
import { defineFunction } from "../../runtime/function.js";
import { listDatastores } from "../../store/index.js";

export default defineFunction({
  name: "datastore-list",
  description: "Lists the datastores and their versions (inactive versions only for admins).",
  trigger: { kind: "request" },
  input: CatalogListRequest,
  timeoutMs: 5_000,
  memoryMb: 128,
  handle: async ({ caller }, { deps }): Promise<DatastoreRecord[]> => listDatastores(deps.db, caller.roles.includes("admin")),
});
