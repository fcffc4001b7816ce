import type { NatsConnection } from "@nats-io/transport-node";
import { fail, fromSerialized, type SerializedError } from "../errors/index.js";
import { backupCallSubject, GuestCallReply, guestCallSubject, type BackupArtifact, type BackupCall, type GuestCallAction, type WrappedDataKey } from "../events/index.js";

/** Asks the tracker of a node to act on one of its guests and waits for the engine's answer. */
export interface GuestCaller {
  call(node: string, instanceId: string, call: GuestCallAction): Promise<unknown>;
  /**
   * Has the tracker of `node` (whose store holds the backup) read the backup's file and compare it with its
   * recorded size and sha256. Resolves when it matches; GUEST_NOT_FOUND (404) when the file is missing,
   * GUEST_CONFLICT (409) when it is damaged, GUEST_KEY_MISSING (409) when it is encrypted and `dataKey`'s
   * master key is gone from the tracker, UNAVAILABLE (503) when the tracker does not answer.
   */
  verifyBackup(node: string, artifact: BackupArtifact, dataKey?: WrappedDataKey): Promise<void>;
}

/** A GuestCaller over NATS request/reply. A tracker that does not answer in time is a 503 the client may retry. */
export function natsGuestCaller(nc: NatsConnection, timeoutMs: number): GuestCaller {
  const ask = async (subject: string, node: string, body: unknown): Promise<unknown> => {
    let raw;
    try {
      raw = await nc.request(subject, JSON.stringify(body), { timeout: timeoutMs });
    } catch {
      throw fail("UNAVAILABLE", { part: `The tracker of network node '${node}'` });
    }
    const reply = GuestCallReply.parse(raw.json());
    if (reply.ok) return reply.result;
    throw fromSerialized(reply.error as SerializedError);
  };
  return {
    call: (node, instanceId, call) => ask(guestCallSubject(node), node, { instanceId, call }),
    async verifyBackup(node, artifact, dataKey) {
      const body: BackupCall = { call: { action: "backup.verify", artifact, ...(dataKey ? { dataKey } : {}) } };
      await ask(backupCallSubject(node), node, body);
    },
  };
}
