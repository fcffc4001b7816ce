import { fail } from "../../errors/index.js";
import { defineRequest } from "../../runtime/function.js";
import { findDatastore, findVersion } from "../../store/index.js";

export default defineRequest("datastore-version-show", {
  description: "Shows one datastore version, by id, or by name within a datastore.",
  timeoutMs: 5_000,
  memoryMb: 128,
  async handle({ caller, datastore, version }, { deps }) {
    let dsId: string | undefined;
    if (datastore !== undefined) {
      const ds = await findDatastore(deps.db, datastore, true);
      if (!ds) throw fail("NOT_FOUND", { what: "Datastore", id: datastore });
      dsId = ds.id;
    }
    const v = await findVersion(deps.db, dsId, version);
    if (!v || (!v.active && !caller.roles.includes("admin"))) throw fail("NOT_FOUND", { what: "Datastore version", id: version });
    const { manager: _manager, ...record } = v;
    return record;
  },
});
