/**
 * `GET /v1.0/{project}/events`: the project's events as server-sent events, for dashboards. Live only: a
 * client sees what is published while it is connected (webhooks are the way to miss nothing).
 */
import type { NatsConnection } from "@nats-io/transport-node";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { fail, validationError } from "../../errors/index.js";
import { EventTypePattern, eventTypeSelected, projectEventsSubject, type CloudEvent } from "../../events/index.js";
import { callerOf, type RouteDeps } from "./context.js";

/** A comment line this often keeps proxies and load balancers from closing an idle stream. */
const PING_MS = 15_000;
/** A client that lets this much pile up unread is cut off rather than buffered without end. */
const MAX_BUFFERED_BYTES = 1 << 20;

/** The optional `?types=` filter (comma-separated, or repeated): known types or patterns; absent means all. */
function typesFilter(req: FastifyRequest): string[] | null {
  const raw = (req.query as { types?: string | string[] }).types;
  if (raw === undefined) return null;
  const patterns = (Array.isArray(raw) ? raw : [raw]).flatMap((v) => v.split(",")).map((v) => v.trim()).filter(Boolean);
  if (!patterns.length) throw fail("VALIDATION", { detail: "types is empty: name event types or patterns such as 'instance.*', separated by commas" });
  for (const p of patterns) {
    const checked = EventTypePattern.safeParse(p);
    if (!checked.success) throw validationError(checked.error.issues, ["types"]);
  }
  return patterns;
}

/** One event in the SSE wire form; ids and types never hold a line break, the data is one line of JSON. */
const frame = (e: CloudEvent) => `id: ${e.id.replace(/[\r\n]/g, "")}\nevent: ${e.type.replace(/[\r\n]/g, "")}\ndata: ${JSON.stringify(e)}\n\n`;

export function eventStreamRoutes(app: FastifyInstance, deps: RouteDeps, nc: NatsConnection | undefined): void {
  const open = new Set<() => void>();
  // Streams never end by themselves: close them, or the server would wait for them on shutdown.
  app.addHook("preClose", async () => {
    for (const close of [...open]) close();
  });

  app.get("/v1.0/:project/events", async (req, reply) => {
    const { caller } = callerOf(req, deps);
    const types = typesFilter(req);
    if (!nc || nc.isClosed()) throw fail("UNAVAILABLE", { part: "The event stream" });

    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache, no-transform", connection: "keep-alive", "x-accel-buffering": "no" });
    // A HEAD has no body, so Node would hold the headers back for good: answer and end at once.
    if (req.method === "HEAD") {
      res.end();
      return reply;
    }
    res.write(`retry: 3000\n: events of project ${caller.project}\n\n`);

    // The subject is the project's own: another project's events never reach this stream.
    const sub = nc.subscribe(projectEventsSubject(caller.project), {
      callback: (err, msg) => {
        if (err) return close();
        let event: CloudEvent;
        try {
          event = msg.json<CloudEvent>();
        } catch {
          return;
        }
        if (typeof event?.id !== "string" || typeof event.type !== "string") return;
        if (types && !eventTypeSelected(types, event.type)) return;
        res.write(frame(event));
        if (res.writableLength > MAX_BUFFERED_BYTES) close();
      },
    });
    const ping = setInterval(() => res.write(": ping\n\n"), PING_MS);
    const close = () => {
      if (!open.delete(close)) return;
      clearInterval(ping);
      sub.unsubscribe();
      if (!res.writableEnded) res.end();
    };
    open.add(close);
    res.on("close", close);
    return reply;
  });
}
