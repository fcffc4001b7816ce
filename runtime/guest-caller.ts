import type { NatsConnection } from "@nats-io/transport-node";
import { fail, type ErrorCode } from "../errors/index.js";
import { GuestCallReply, guestCallSubject, type GuestCallAction } from "../events/index.js";

/** Asks the tracker of a node to act on one of its guests and waits for the engine's answer. */
export interface GuestCaller {
  call(node: string, instanceId: string, call: GuestCallAction): Promise<unknown>;
}

const byReason: Record<string, ErrorCode> = {
  NOT_FOUND: "GUEST_NOT_FOUND",
  CONFLICT: "GUEST_CONFLICT",
  INVALID: "GUEST_REFUSED",
  NOT_SUPPORTED: "GUEST_NOT_SUPPORTED",
};

/** A GuestCaller over NATS request/reply. A tracker that does not answer in time is a 503 the client may retry. */
export function natsGuestCaller(nc: NatsConnection, timeoutMs: number): GuestCaller {
  return {
    async call(node, instanceId, call) {
      let raw;
      try {
        raw = await nc.request(guestCallSubject(node), JSON.stringify({ instanceId, call }), { timeout: timeoutMs });
      } catch {
        throw fail("UNAVAILABLE", { part: `The tracker of network node '${node}'` });
      }
      const reply = GuestCallReply.parse(raw.json());
      if (reply.ok) return reply.result;
      const code = byReason[reply.reason];
      if (code) throw fail(code as "GUEST_NOT_FOUND", { message: reply.message });
      throw fail("GUEST_FAILED", { detail: `The database engine could not do it: ${reply.message}` });
    },
  };
}
