import { fail } from "../../errors/index.js";
import { DatastoreShowRequest, type DatastoreRecord } from "../../events/index.js";
import { defineFunction } from "../../runtime/function.js";
import { findDatastore } from "../../store/index.js";

export default defineFunction({
  name: "datastore-show",
  description: "Shows one datastore, by id or name, with its versions.",
  trigger: { kind: "request" },
  input: DatastoreShowRequest,
  timeoutMs: 5_000,
  memoryMb: 128,
  async handle({ caller, datastore }, { deps }): Promise<DatastoreRecord> {
    const ds = await findDatastore(deps.db, datastore, caller.roles.includes("admin"));
    if (!ds) throw fail("NOT_FOUND", { what: "Datastore", id: datastore });
    return ds;
  },
});
