import { fail } from "../../errors/index.js";
import { defineRequest } from "../../runtime/function.js";
import { parameterVersion } from "../configuration-target.js";
import { parameterRules } from "../configuration-values.js";

export default defineRequest("parameter-show", {
  description: "Shows one configuration parameter of a datastore version.",
  timeoutMs: 5_000,
  memoryMb: 128,
  async handle({ datastore, version, name }, { deps }) {
    const { def, versionId, versionName } = await parameterVersion(deps.db, datastore, version);
    const parameter = parameterRules(def, versionName).find((p) => p.name.toLowerCase() === name.toLowerCase());
    if (!parameter) throw fail("NOT_FOUND", { what: "Configuration parameter", id: name });
    return { versionId, parameter };
  },
});
