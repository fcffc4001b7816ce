import { fail } from "../../errors/index.js";
import { defineRequest } from "../../runtime/function.js";
import { guestCaOf, findInstance } from "../../store/index.js";

export default defineRequest("instance-ca", {
  description: "Gives the CA certificate that verifies one of the caller's instances (its node's guest CA), for clients' --ssl-ca / sslrootcert / --cacert.",
  timeoutMs: 5_000,
  memoryMb: 128,
  async handle({ caller, instanceId }, { deps }) {
    const found = await guestCaOf(deps.db, caller.project, instanceId);
    if (!found) throw fail("NOT_FOUND", { what: "Instance", id: instanceId });
    if (!found.certificate) {
      // Its node's tracker has not reported its CA yet (it does with the guest's provisioning and every heartbeat).
      const instance = await findInstance(deps.db, caller.project, instanceId, deps.config.heartbeatExpiryMs);
      throw fail("INSTANCE_NOT_READY", { id: instanceId, status: instance?.status ?? "BUILD" });
    }
    return { certificate: found.certificate, tlsMode: found.tlsMode };
  },
});
