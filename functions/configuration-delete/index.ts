import { fail } from "../../errors/index.js";
import { defineRequest } from "../../runtime/function.js";
import { findConfiguration, softDeleteConfiguration } from "../../store/index.js";

export default defineRequest("configuration-delete", {
  description: "Deletes a configuration group that no instance uses (400 while one does).",
  timeoutMs: 5_000,
  memoryMb: 128,
  async handle({ caller, configurationId }, { deps }) {
    return deps.db.transaction(async (trx) => {
      const found = await findConfiguration(trx, caller.project, configurationId, { forUpdate: true });
      if (!found) throw fail("NOT_FOUND", { what: "Configuration group", id: configurationId });
      if (found.instanceCount > 0) throw fail("CONFIGURATION_IN_USE", { id: configurationId, count: found.instanceCount });
      await softDeleteConfiguration(trx, configurationId);
      return { accepted: true } as const;
    });
  },
});
