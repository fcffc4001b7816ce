import { fail } from "../../errors/index.js";
import { defineRequest } from "../../runtime/function.js";
import { findDatastore } from "../../store/index.js";

export default defineRequest("datastore-show", {
  description: "Shows one datastore, by id or name, with its versions.",
  timeoutMs: 5_000,
  memoryMb: 128,
  async handle({ caller, datastore }, { deps }) {
    const ds = await findDatastore(deps.db, datastore, caller.roles.includes("admin"));
    if (!ds) throw fail("NOT_FOUND", { what: "Datastore", id: datastore });
    return ds;
  },
});
