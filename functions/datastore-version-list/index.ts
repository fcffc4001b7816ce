import { fail } from "../../errors/index.js";
import { defineRequest } from "../../runtime/function.js";
import { findDatastore } from "../../store/index.js";

export default defineRequest("datastore-version-list", {
  description: "Lists the versions of one datastore, with their capabilities.",
  timeoutMs: 5_000,
  memoryMb: 128,
  async handle({ caller, datastore }, { deps }) {
    const ds = await findDatastore(deps.db, datastore, caller.roles.includes("admin"));
    if (!ds) throw fail("NOT_FOUND", { what: "Datastore", id: datastore });
    return ds.versions;
  },
});
