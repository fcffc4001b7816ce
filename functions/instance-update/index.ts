import { fail } from "../../errors/index.js";
import { defineRequest } from "../../runtime/function.js";
import { findConfiguration, findInstance, instanceRow, renameInstance } from "../../store/index.js";
import { reconfigure } from "../reconfigure.js";

export default defineRequest("instance-update", {
  description: "Renames an instance, or attaches a configuration group to it or detaches it (Trove's PUT/PATCH /instances/{id}).",
  timeoutMs: 10_000,
  memoryMb: 128,
  async handle({ caller, instanceId, name, configuration }, { deps }) {
    return deps.db.transaction(async (trx) => {
      // Lock the row: two attaches raced at one instance must not both pass the check below.
      await instanceRow(trx, instanceId, { project: caller.project, forUpdate: true });
      const instance = await findInstance(trx, caller.project, instanceId, deps.config.heartbeatExpiryMs);
      if (!instance) throw fail("NOT_FOUND", { what: "Instance", id: instanceId });
      if (name !== undefined) await renameInstance(trx, instance.id, name);
      if (configuration === undefined) return { accepted: true } as const;

      const current = instance.configuration ? await findConfiguration(trx, caller.project, instance.configuration.id) : null;
      if (configuration === null) {
        if (!current) return { accepted: true } as const;
        await reconfigure(trx, instance, { before: current.values, after: null, configurationId: null });
        return { accepted: true } as const;
      }
      if (current) throw fail("CONFIGURATION_ATTACHED", { id: instance.id, configuration: current.id });
      const group = await findConfiguration(trx, caller.project, configuration);
      if (!group) throw fail("NOT_FOUND", { what: "Configuration group", id: configuration });
      if (group.datastoreVersionId !== instance.datastore.versionId) {
        throw fail("CONFIGURATION_MISMATCH", { id: group.id, configuration: `${group.datastoreName} ${group.datastoreVersionName}`, instance: `${instance.datastore.type} ${instance.datastore.version}` });
      }
      await reconfigure(trx, instance, { before: null, after: group.values, configurationId: group.id });
      return { accepted: true } as const;
    });
  },
});
