import { fail } from "../../errors/index.js";
import { makeEvent, nodeCommands, sources } from "../../events/index.js";
import { defineRequest } from "../../runtime/function.js";
import { enqueue, findConfiguration, findFlavor, findInstance, lockProjectQuota, overQuota, quotaLimits, quotaUsage, transitionInstance } from "../../store/index.js";
import { announceInstance } from "../announce.js";
import { instanceSettings } from "../configuration-values.js";
import { definitionOf } from "../guest-access.js";

export default defineRequest("instance-resize", {
  description: "Moves an instance to another flavor: its node's tracker sets the new memory and CPU limits and engine memory settings, with one restart.",
  timeoutMs: 5_000,
  memoryMb: 128,
  async handle({ caller, instanceId, flavorRef, volumeSizeGb }, { deps }) {
    const { db, config } = deps;
    return db.transaction(async (trx) => {
      await lockProjectQuota(trx, caller.project);
      const instance = await findInstance(trx, caller.project, instanceId, config.heartbeatExpiryMs);
      if (!instance) throw fail("NOT_FOUND", { what: "Instance", id: instanceId });
      if (volumeSizeGb !== undefined) {
        // Volumes only grow, up to the operator's maximum and the project's quota.
        if (volumeSizeGb <= instance.volumeSizeGb) throw fail("INVALID_VALUE", { what: "volume size", rule: `the volume is ${instance.volumeSizeGb} GB; a resize must make it larger` });
        if (volumeSizeGb > config.maxVolumeSizeGb) throw fail("VOLUME_TOO_LARGE", { size: volumeSizeGb, max: config.maxVolumeSizeGb });
        if (instance.status !== "ACTIVE" && instance.status !== "RESTART_REQUIRED") throw fail("NOT_ACTIONABLE", { id: instance.id, status: instance.status });
        const overVolume = overQuota(await quotaLimits(trx, caller.project, config.quotas), await quotaUsage(trx, caller.project), { volumes: volumeSizeGb - instance.volumeSizeGb });
        if (overVolume.length) throw fail("QUOTA_EXCEEDED", { resources: overVolume });
        const row = await transitionInstance(trx, instance.id, ["NONE", "RESTART_REQUIRED"], { task: "RESIZING" });
        if (!row) throw fail("NOT_ACTIONABLE", { id: instance.id, status: instance.status });
        const grow = nodeCommands.growVolume;
        await enqueue(trx, grow.subject(row.node), makeEvent(grow.type, sources.functions, { instanceId: row.id, node: row.node, sizeGb: volumeSizeGb }, { subject: row.id }));
        await announceInstance(trx, "instanceStatusChanged", row, "RESIZE");
        return { accepted: true } as const;
      }
      if (flavorRef === undefined) throw fail("VALIDATION", { detail: "resize takes a flavorRef or a volume size" });
      // The CLI may send a flavor URL; its last segment is the id.
      const ref = flavorRef.split("/").pop()!;
      const flavor = await findFlavor(db, ref);
      if (!flavor) throw fail("UNKNOWN_FLAVOR", { ref });
      if (flavor.id === instance.flavorId) throw fail("INVALID_VALUE", { what: "flavor", rule: `the instance already has flavor ${flavor.id}; choose another one` });
      if (instance.status !== "ACTIVE" && instance.status !== "RESTART_REQUIRED") throw fail("NOT_ACTIONABLE", { id: instance.id, status: instance.status });
      const current = await findFlavor(db, instance.flavorId);
      const ramDelta = flavor.ramMb - (current?.ramMb ?? 0);
      const over = overQuota(await quotaLimits(trx, caller.project, config.quotas), await quotaUsage(trx, caller.project), { ram: ramDelta });
      if (over.length) throw fail("QUOTA_EXCEEDED", { resources: over });
      const group = instance.configuration ? await findConfiguration(trx, caller.project, instance.configuration.id) : null;
      const settings = instanceSettings(definitionOf(instance), flavor, group?.values ?? null);
      const row = await transitionInstance(trx, instance.id, ["NONE", "RESTART_REQUIRED"], { task: "RESIZING" });
      if (!row) throw fail("NOT_ACTIONABLE", { id: instance.id, status: instance.status });
      const command = nodeCommands.resize;
      await enqueue(trx, command.subject(row.node), makeEvent(command.type, sources.functions, command.data.parse({ instanceId: row.id, node: row.node, flavor: { id: flavor.id, ramMb: flavor.ramMb, vcpus: flavor.vcpus }, settings }), { subject: row.id }));
      await announceInstance(trx, "instanceStatusChanged", row, "RESIZE");
      return { accepted: true } as const;
    });
  },
});
