import { datastoreDefinitions } from "../../datastores/catalog.js";
import { fail } from "../../errors/index.js";
import { defineRequest } from "../../runtime/function.js";
import { configurationInstances, findConfiguration, findInstance, updateConfiguration } from "../../store/index.js";
import { checkValues, valuesToJson } from "../configuration-values.js";
import { reconfigure } from "../reconfigure.js";

export default defineRequest("configuration-update", {
  description: "Replaces (PUT) or merges into (PATCH) a group's values and applies them to every instance it is attached to.",
  timeoutMs: 10_000,
  memoryMb: 128,
  async handle({ caller, configurationId, mode, values, name, description }, { deps }) {
    return deps.db.transaction(async (trx) => {
      const found = await findConfiguration(trx, caller.project, configurationId, { forUpdate: true });
      if (!found) throw fail("NOT_FOUND", { what: "Configuration group", id: configurationId });
      const def = datastoreDefinitions.find((d) => d.name === found.datastoreName)!;
      const checked = checkValues(def, found.datastoreVersionName, values);
      const next = mode === "replace" ? checked : { ...found.values, ...checked };
      await updateConfiguration(trx, configurationId, {
        values_json: valuesToJson(next),
        ...(name !== undefined ? { name } : {}),
        ...(description !== undefined ? { description } : {}),
      });
      // Every attached instance gets the new values (Trove re-applies them the same way).
      const attached = await configurationInstances(trx, configurationId, { limit: 10_000 });
      for (const ref of attached.items) {
        const instance = await findInstance(trx, caller.project, ref.id, deps.config.heartbeatExpiryMs);
        if (instance) await reconfigure(trx, instance, { before: found.values, after: next, configurationId });
      }
      return (await findConfiguration(trx, caller.project, configurationId))!;
    });
  },
});
