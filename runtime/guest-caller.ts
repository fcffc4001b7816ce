import type { NatsConnection } from "@nats-io/transport-node";
import { z } from "zod";
import { fail, fromSerialized } from "../errors/index.js";
import { backupCallSubject, GuestCallReply, guestCallResults, guestCallSubject, type BackupArtifact, type BackupCall, type GuestCallAction, type GuestCallResult, type WrappedDataKey } from "../events/index.js";

/** Asks the tracker of a node to act on one of its guests and waits for the engine's answer. */
export interface GuestCaller {
  /** Carries out `call` on the guest; resolves with the action's result as its schema in events' `guestCallResults` reads it. */
  call<A extends GuestCallAction>(node: string, instanceId: string, call: A): Promise<GuestCallResult<A["action"]>>;
  /**
   * Has the tracker of `node` (whose store holds the backup) read the backup's file and compare it with its
   * recorded size and sha256. Resolves when it matches; BACKUP_FILE_MISSING (404) when the file is missing,
   * BACKUP_FILE_* (400) when it is damaged, BACKUP_KEY_*, BACKUP_KEYS_ABSENT or BACKUP_MASTER_KEY_MISSING (409,
   * BACKUP_KEY_OTHER 400) when it is encrypted and its key cannot be opened on the tracker, UNAVAILABLE (503)
   * when the tracker does not answer.
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
    throw fromSerialized(reply.error);
  };
  return {
    async call<A extends GuestCallAction>(node: string, instanceId: string, call: A): Promise<GuestCallResult<A["action"]>> {
      const result = await ask(guestCallSubject(node), node, { instanceId, call });
      // A tracker answering outside the contract is a fault of the service, never the client's (so not a ZodError).
      const checked = guestCallResults[call.action].safeParse(result);
      if (!checked.success) throw new Error(`the tracker of '${node}' answered ${call.action} outside its contract: ${z.prettifyError(checked.error)}`);
      return checked.data as GuestCallResult<A["action"]>;
    },
    async verifyBackup(node, artifact, dataKey) {
      const body: BackupCall = { call: { action: "backup.verify", artifact, ...(dataKey ? { dataKey } : {}) } };
      await ask(backupCallSubject(node), node, body);
    },
  };
}
