import type { ParameterRule } from "../../datastores/catalog.js";
import { ParameterListRequest } from "../../events/index.js";
import { defineFunction } from "../../runtime/function.js";
import { parameterVersion } from "../configuration-target.js";
import { parameterRules } from "../configuration-values.js";

export default defineFunction({
  name: "parameter-list",
  description: "Lists the configuration parameters of a datastore version with their types, ranges and whether they need a restart.",
  trigger: { kind: "request" },
  input: ParameterListRequest,
  timeoutMs: 5_000,
  memoryMb: 128,
  async handle({ datastore, version }, { deps }): Promise<{ versionId: string; parameters: ParameterRule[] }> {
    const { def, versionId, versionName } = await parameterVersion(deps.db, datastore, version);
    return { versionId, parameters: parameterRules(def, versionName) };
  },
});
