import { defineRequest } from "../../runtime/function.js";
import { listDatastores } from "../../store/index.js";

export default defineRequest("datastore-list", {
  description: "Lists the datastores and their versions (inactive versions only for admins).",
  timeoutMs: 5_000,
  memoryMb: 128,
  handle: async ({ caller }, { deps }) => listDatastores(deps.db, caller.roles.includes("admin")),
});
