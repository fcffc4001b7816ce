import { defineRequest } from "../../runtime/function.js";
import { parameterVersion } from "../configuration-target.js";
import { parameterRules } from "../configuration-values.js";

export default defineRequest("parameter-list", {
  description: "Lists the configuration parameters of a datastore version with their types, ranges and whether they need a restart.",
  timeoutMs: 5_000,
  memoryMb: 128,
  async handle({ datastore, version }, { deps }) {
    const { def, versionId, versionName } = await parameterVersion(deps.db, datastore, version);
    return { versionId, parameters: parameterRules(def, versionName) };
  },
});
