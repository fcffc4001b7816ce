import { fail } from "../../errors/index.js";
import { defineRequest } from "../../runtime/function.js";
import { findConfiguration } from "../../store/index.js";

export default defineRequest("configuration-show", {
  description: "Shows one of the caller's configuration groups with its values.",
  timeoutMs: 5_000,
  memoryMb: 128,
  async handle({ caller, configurationId }, { deps }) {
    const found = await findConfiguration(deps.db, caller.project, configurationId);
    if (!found) throw fail("NOT_FOUND", { what: "Configuration group", id: configurationId });
    return found;
  },
});
