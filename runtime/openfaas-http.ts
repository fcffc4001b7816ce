/**
 * The OpenFaaS entry: the upstream HTTP server that of-watchdog (mode=http) proxies each invocation to.
 * Deployed, one process serves one function, named by HOARD_FUNCTION; started without it (dev, tests) it
 * serves every registry function under `/function/<name>`, the OpenFaaS gateway's own URL shape. The program
 * that runs it is bin/openfaas-function.ts.
 *
 * The wire contract, shared with runtime/dispatcher.ts:
 *   request   POST, body = the CloudEvent (JSON); `X-Call-Id` becomes the Lambda context's awsRequestId.
 *             An empty body to a schedule function is a tick (what the cron-connector sends).
 *   200       `{"ok":true,"result":…}`, the Reply the NATS request host answers.
 *   4xx/5xx   a catalogued error at its catalogue status: `{"ok":false,"error":{"code","message"}}`.
 *             Input the function's schema refuses is 400 VALIDATION; a body that is not JSON, 400 MALFORMED_BODY.
 *   503       a RetryableError, with Retry-After; the body is Lambda's `{errorType, errorMessage}`.
 *   500       anything else, Lambda's `{errorType, errorMessage}` with a reference only (the log has the rest).
 *   Every error answer carries `X-Hoard-Retryable: true|false`: whether delivering the same event again can
 *   help, decided from the error's type exactly as the local work host decides (runtime/work-host.ts).
 */
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { NatsConnection } from "@nats-io/transport-node";
import { z } from "zod";
import { fail, HoardError, RetryableError } from "../errors/index.js";
import { cronTicks, makeEvent, sources, type CloudEvent } from "../events/index.js";
import { lambdaContext, type FunctionDeps, type HoardFunction } from "./function.js";
import { natsGuestCaller, type GuestCaller } from "./guest-caller.js";
import { toReplyError, type Reply } from "./reply.js";

/** Largest event body accepted; Hoard's events are a few kB. */
const MAX_BODY_BYTES = 1 << 20;
/** The port of-watchdog's stock `upstream_url` points at. */
export const UPSTREAM_PORT = 3000;

/** One HTTP answer of a function: status, headers and the JSON body. */
interface Answer {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

class BodyError extends Error {}

/** Reads the body; past the limit it reads on (so the answer can be sent) but keeps nothing. */
function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    req.on("end", () => (size > MAX_BODY_BYTES ? reject(new BodyError(`the body exceeds ${MAX_BODY_BYTES} bytes`)) : resolve(Buffer.concat(chunks).toString("utf8"))));
    req.on("error", reject);
  });
}

/** The event an invocation carries; a schedule function's empty body is a tick like the local scheduler's. */
function eventOf(fn: HoardFunction, body: string): CloudEvent {
  if (body.trim() === "" && fn.trigger.kind === "schedule") return makeEvent(`hoard.schedule.${fn.name}`, sources.functions, {});
  const tick = fn.trigger.kind === "work" ? cronTicks[fn.trigger.subject] : undefined;
  if (body.trim() === "" && tick) return makeEvent(tick.type, sources.functions, {});
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch (e) {
    throw fail("MALFORMED_BODY", { detail: `the body is not a JSON CloudEvent (${(e as Error).message})` });
  }
  if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) throw fail("MALFORMED_BODY", { detail: "the body is not a JSON CloudEvent object" });
  return parsed as CloudEvent;
}

/** Maps what a handler threw to its HTTP answer; see the contract at the top of this file. */
function errorAnswer(e: unknown, ref: string): Answer {
  if (e instanceof HoardError) {
    const headers: Record<string, string> = { "x-hoard-retryable": String(e.retryable) };
    if (e.retryable) headers["retry-after"] = "1";
    const reply: Reply = { ok: false, error: e.toJSON() };
    return { status: e.status, headers, body: reply };
  }
  if (e instanceof z.ZodError) {
    const reply: Reply = { ok: false, error: toReplyError(e, ref) };
    return { status: 400, headers: { "x-hoard-retryable": "false" }, body: reply };
  }
  const { message } = toReplyError(e, ref);
  if (e instanceof RetryableError) {
    return { status: 503, headers: { "x-hoard-retryable": "true", "retry-after": String(Math.ceil(e.delayMs / 1000)) }, body: { errorType: "RetryableError", errorMessage: message } };
  }
  // Unknown failures (Postgres down, a connection reset) are presumed transient, as the work host presumes.
  return { status: 500, headers: { "x-hoard-retryable": "true" }, body: { errorType: "InternalError", errorMessage: message } };
}

/** Runs one invocation through the function's Lambda-signature handler. */
async function invoke(fn: HoardFunction, body: string, callId: string | undefined, deps: FunctionDeps): Promise<Answer> {
  let event: CloudEvent | undefined;
  try {
    event = eventOf(fn, body);
    const requestId = callId || event.id || randomUUID();
    const result = await fn.handler(event, lambdaContext(fn, requestId, deps));
    const reply: Reply = { ok: true, result };
    return { status: 200, headers: {}, body: reply };
  } catch (e) {
    const ref = event?.id ?? callId ?? "unparsed";
    if (!(e instanceof HoardError) && !(e instanceof z.ZodError)) deps.log.error({ err: e, fn: fn.name, event: ref }, "function failed");
    return errorAnswer(e, ref);
  }
}

function send(res: ServerResponse, answer: Answer): void {
  const text = JSON.stringify(answer.body);
  res.writeHead(answer.status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...answer.headers });
  res.end(text);
}

/**
 * The HTTP server for `fns`. With one function, a POST to any path invokes it (of-watchdog forwards the
 * path after `/function/<name>`); `/function/<name>` always invokes that function. `GET /_/health` is 200.
 */
export function createFunctionServer(fns: HoardFunction[], deps: FunctionDeps): Server {
  const byName = new Map(fns.map((fn) => [fn.name, fn]));
  const only = fns.length === 1 ? fns[0]! : null;
  return createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? "/", "http://upstream");
      if (req.method === "GET" && url.pathname === "/_/health") return send(res, { status: 200, headers: {}, body: { functions: [...byName.keys()] } });
      const named = /^\/function\/([^/]+)\/?$/.exec(url.pathname);
      const fn = named ? byName.get(named[1]!) : only;
      if (!fn) {
        const e = fail("ROUTE_NOT_FOUND", { method: req.method ?? "?", path: url.pathname });
        return send(res, { status: 404, headers: { "x-hoard-retryable": "false" }, body: { ok: false, error: e.toJSON() } satisfies Reply });
      }
      if (req.method !== "POST") {
        const e = fail("ROUTE_NOT_FOUND", { method: req.method ?? "?", path: url.pathname });
        return send(res, { status: 405, headers: { allow: "POST", "x-hoard-retryable": "false" }, body: { ok: false, error: e.toJSON() } satisfies Reply });
      }
      let body: string;
      try {
        body = await readBody(req);
      } catch (e) {
        if (!(e instanceof BodyError)) return; // the caller went away
        return send(res, errorAnswer(fail("MALFORMED_BODY", { detail: e.message }), "unparsed"));
      }
      const callId = req.headers["x-call-id"];
      send(res, await invoke(fn, body, Array.isArray(callId) ? callId[0] : callId, deps));
    })().catch((err) => {
      deps.log.error({ err }, "function host failed to answer");
      if (!res.headersSent) send(res, { status: 500, headers: { "x-hoard-retryable": "true" }, body: { errorType: "InternalError", errorMessage: "Internal error in the function host." } });
      else res.destroy();
    });
  });
}

/** A running function host. */
export interface FunctionHost {
  url: string;
  server: Server;
  stop(): Promise<void>;
}

/** Serves `fns` on host:port (port 0 picks a free one) until stopped. */
export async function startFunctionHost(opts: { functions: HoardFunction[]; deps: FunctionDeps; host?: string; port?: number }): Promise<FunctionHost> {
  const server = createFunctionServer(opts.functions, opts.deps);
  // Longer than the proxy's idle timeout, so the watchdog never reuses a connection this side is closing.
  server.keepAliveTimeout = 65_000;
  const host = opts.host ?? "127.0.0.1";
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? UPSTREAM_PORT, host, () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : (opts.port ?? UPSTREAM_PORT);
  return {
    url: `http://${host}:${port}`,
    server,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}

/**
 * A GuestCaller that connects to NATS at its first call: most functions never reach a guest, and a cold
 * start should not wait for (or fail on) a connection they do not use.
 */
export function lazyGuestCaller(open: () => Promise<NatsConnection>, timeoutMs: number): GuestCaller & { close(): Promise<void> } {
  let nc: Promise<NatsConnection> | null = null;
  const connection = () => {
    nc ??= open().catch((e) => {
      nc = null;
      throw e;
    });
    return nc;
  };
  return {
    async call(node, instanceId, call) {
      let conn: NatsConnection;
      try {
        conn = await connection();
      } catch {
        throw fail("UNAVAILABLE", { part: "NATS" });
      }
      return natsGuestCaller(conn, timeoutMs).call(node, instanceId, call);
    },
    async verifyBackup(node, artifact, dataKey) {
      let conn: NatsConnection;
      try {
        conn = await connection();
      } catch {
        throw fail("UNAVAILABLE", { part: "NATS" });
      }
      return natsGuestCaller(conn, timeoutMs).verifyBackup(node, artifact, dataKey);
    },
    async close() {
      const pending = nc;
      nc = null;
      await pending?.then((c) => c.drain()).catch(() => {});
    },
  };
}
