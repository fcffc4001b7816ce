import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { HoardError } from "../errors/index.js";
import { functionSubject, type CloudEvent } from "../events/index.js";
import { lambdaContext, type FunctionDeps, type HoardFunction } from "./function.js";
import { toReplyError, type Reply } from "./reply.js";

/** Queue group shared by every runtime, so each call is answered by exactly one of them. */
export const RUNTIME_QUEUE = "hoard-runtime";

/** Answers the gateway's synchronous calls (NATS request/reply) with the request functions. */
export function serveRequests(nc: NatsConnection, fns: HoardFunction[], deps: FunctionDeps): Subscription[] {
  return fns
    .filter((fn) => fn.trigger.kind === "request")
    .map((fn) =>
      nc.subscribe(functionSubject(fn.name), {
        queue: RUNTIME_QUEUE,
        callback: (err, msg) => {
          if (err) return deps.log.error({ err, fn: fn.name }, "request subscription failed");
          void (async () => {
            let event: CloudEvent | undefined;
            let reply: Reply;
            try {
              event = msg.json<CloudEvent>();
              const result = await fn.handler(event, lambdaContext(fn, event.id, deps));
              reply = { ok: true, result };
            } catch (e) {
              const ref = event?.id ?? "unparsed";
              if (!(e instanceof HoardError)) deps.log.error({ err: e, fn: fn.name, event: ref }, "function failed");
              reply = { ok: false, error: toReplyError(e, ref) };
            }
            msg.respond(JSON.stringify(reply));
          })();
        },
      }),
    );
}
