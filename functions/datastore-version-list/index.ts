import { fail } from "../../errors/index.js";
import { DatastoreShowRequest, type DatastoreVersionRecord } from "../../events/index.js";
import { defineFunction } from "../../runtime/function.js";
import { findDatastore } from "../../store/index.js";

export default defineFunction({
  name: "datastore-version-list",
  description: "Lists the versions of one datastore, with their capabilities.",
  trigger: { kind: "request" },
  input: DatastoreShowRequest,
  timeoutMs: 5_000,
  memoryMb: 128,
  async handle({ caller, datastore }, { deps }): Promise<DatastoreVersionRecord[]> {
    const ds = await findDatastore(deps.db, datastore, caller.roles.includes("admin"));
    if (!ds) throw fail("NOT_FOUND", { what: "Datastore", id: datastore });
    return ds.versions;
  },
});
