import { fail } from "../../errors/index.js";
import { ConfigurationRefRequest, type ConfigurationRecord } from "../../events/index.js";
import { defineFunction } from "../../runtime/function.js";
import { findConfiguration } from "../../store/index.js";

export default defineFunction({
  name: "configuration-show",
  description: "Shows one of the caller's configuration groups with its values.",
  trigger: { kind: "request" },
  input: ConfigurationRefRequest,
  timeoutMs: 5_000,
  memoryMb: 128,
  async handle({ caller, configurationId }, { deps }): Promise<ConfigurationRecord> {
    const found = await findConfiguration(deps.db, caller.project, configurationId);
    if (!found) throw fail("NOT_FOUND", { what: "Configuration group", id: configurationId });
    return found;
  },
});
