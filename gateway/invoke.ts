import type { NatsConnection } from "@nats-io/transport-node";
import { fail, fromSerialized } from "../errors/index.js";
import { functionSubject, makeEvent, sources, type RequestInput, type RequestName, type RequestOutput } from "../events/index.js";
import { Reply } from "../runtime/reply.js";

/**
 * Calls a request function over NATS and returns its result, or throws the catalogued error it answered;
 * the data and the result are typed by the function's contract (events' `requests`).
 */
export type Invoke = <N extends RequestName>(name: N, data: RequestInput<N>) => Promise<RequestOutput<N>>;

/** Builds `invoke` over a NATS connection. No runtime answering in time is a 503 the client may retry. */
export function natsInvoker(nc: NatsConnection, timeoutMs: number): Invoke {
  return async <N extends RequestName>(name: N, data: RequestInput<N>): Promise<RequestOutput<N>> => {
    const event = makeEvent(`hoard.fn.${name}`, sources.gateway, data);
    const payload = JSON.stringify(event);
    // A body the gateway took may still not fit in one NATS message once wrapped: the client's to shorten.
    const max = nc.info?.max_payload;
    if (max && Buffer.byteLength(payload) > max) throw fail("MALFORMED_BODY", { detail: `the request is too large to carry out (${Buffer.byteLength(payload)} bytes with its envelope, at most ${max})` });
    let raw;
    try {
      raw = await nc.request(functionSubject(name), payload, { timeout: timeoutMs });
    } catch {
      throw fail("UNAVAILABLE", { part: "Hoard's function runtime" });
    }
    const reply = Reply.parse(raw.json());
    if (!reply.ok) throw fromSerialized(reply.error);
    // The function host checked the result against this very contract before it answered.
    return reply.result as RequestOutput<N>;
  };
}
