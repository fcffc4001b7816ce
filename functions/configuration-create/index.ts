import { randomUUID } from "node:crypto";
import { defineRequest } from "../../runtime/function.js";
import { findConfiguration, insertConfiguration } from "../../store/index.js";
import { resolveVersion } from "../configuration-target.js";
import { checkValues, valuesToJson } from "../configuration-values.js";

export default defineRequest("configuration-create", {
  description: "Creates a configuration group for a datastore version after checking every value against its parameter rules.",
  timeoutMs: 5_000,
  memoryMb: 128,
  async handle({ caller, body }, { deps }) {
    const { def, versionId, versionName } = await resolveVersion(deps.db, body.datastore?.type, body.datastore?.version);
    const values = checkValues(def, versionName, body.values);
    const id = randomUUID();
    return deps.db.transaction(async (trx) => {
      await insertConfiguration(trx, { id, project_id: caller.project, name: body.name, description: body.description ?? null, datastore_version_id: versionId, values_json: valuesToJson(values) });
      return (await findConfiguration(trx, caller.project, id))!;
    });
  },
});
