import { makeEvent, nodeCommands, sources, workEvents } from "../../events/index.js";
import { enqueue, recordGuestCa, runsOnNode, setVolumeStatus, transitionInstance } from "../../store/index.js";
import { announceInstance } from "../announce.js";
import { defineWorkFunction } from "../work-function.js";

export default defineWorkFunction(workEvents.guestProvisioned, {
  name: "instance-provisioned",
  description: "A tracker reports a guest up and answering: the instance becomes ACTIVE and HEALTHY.",
  async apply(trx, data, { log }) {
    const row = await transitionInstance(
      trx,
      data.instanceId,
      ["BUILDING"],
      {
        task: "NONE",
        server_status: "ACTIVE",
        service_status: "HEALTHY",
        service_updated_at: new Date(),
        address: data.address.address,
        port: data.address.port,
        public_address: data.address.published?.address ?? null,
        public_port: data.address.published?.port ?? null,
        ...(data.tls ? { tls_mode: data.tls.mode, tls_expires: data.tls.expires ? new Date(data.tls.expires) : null } : {}),
      },
      { node: data.node },
    );
    if (!row) {
      // The same guest reported again under another id (its provision was redone): the instance already
      // runs on it, so removing "the stray guest" would remove the instance's only one.
      if (await runsOnNode(trx, data.instanceId, data.node)) {
        log.info({ instance: data.instanceId }, "guest reported provisioned again; the instance already runs on it");
        return;
      }
      // No instance is waiting for this guest (it was removed meanwhile): have the tracker remove the guest too.
      log.warn({ instance: data.instanceId }, "guest provisioned for an instance that is not building; deprovisioning it");
      const cmd = nodeCommands.deprovision;
      await enqueue(trx, cmd.subject(data.node), makeEvent(cmd.type, sources.functions, { instanceId: data.instanceId, node: data.node }, { subject: data.instanceId }));
      return;
    }
    if (data.tls) await recordGuestCa(trx, data.node, data.tls.ca);
    await setVolumeStatus(trx, row.id, "in-use");
    await announceInstance(trx, "instanceActive", row, "ACTIVE");
  },
});
