import { fail } from "../../errors/index.js";
import { defineRequest } from "../../runtime/function.js";
import { findConfiguration, findFlavor, findInstance } from "../../store/index.js";
import { definitionOf } from "../guest-access.js";
import { instanceSettings } from "../configuration-values.js";

export default defineRequest("instance-configuration", {
  description: "Shows the parameter values an instance runs with: those derived from its flavor, overridden by its configuration group.",
  timeoutMs: 5_000,
  memoryMb: 128,
  async handle({ caller, instanceId }, { deps }) {
    const instance = await findInstance(deps.db, caller.project, instanceId, deps.config.heartbeatExpiryMs);
    if (!instance) throw fail("NOT_FOUND", { what: "Instance", id: instanceId });
    const flavor = await findFlavor(deps.db, instance.flavorId);
    if (!flavor) throw new Error(`flavor ${instance.flavorId} of instance ${instance.id} is gone`);
    const group = instance.configuration ? await findConfiguration(deps.db, caller.project, instance.configuration.id) : null;
    return instanceSettings(definitionOf(instance), flavor, group?.values ?? null);
  },
});
