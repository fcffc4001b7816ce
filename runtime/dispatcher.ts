/**
 * The dispatcher: what the local runtime does with NATS, done over HTTP for functions that run on OpenFaaS
 * (whose Community Edition has no JetStream queue-worker).
 *
 * - Work functions: the same durable JetStream consumer the local runtime uses (events/jetstream.ts); each
 *   message is POSTed to `${gateway}/function/<name>` and settled from the answer (see `outcome`).
 * - Request functions: a NATS→HTTP bridge on `hoard.fn.<name>` in the runtime's queue group, so the Hoard
 *   gateway's request/reply calls reach OpenFaaS unchanged.
 * - The outbox relay, when given the database: on OpenFaaS no runtime process runs it otherwise.
 * - Schedule functions need nothing here: OpenFaaS's cron-connector calls them over HTTP.
 *
 * Any number of dispatchers may run: they share the durable consumers and the queue group. The program that
 * runs one is bin/dispatcher.ts.
 */
import { jetstream, jetstreamManager, type ConsumerMessages, type JsMsg } from "@nats-io/jetstream";
import { type Msg, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { fail } from "../errors/index.js";
import { ensureConsumer, ensureStreams, functionSubject, redeliveryDelayMs, workConsumer, type CloudEvent } from "../events/index.js";
import type { Db } from "../store/index.js";
import type { HoardFunction } from "./function.js";
import { startOutboxRelay } from "./outbox-relay.js";
import type { Reply } from "./reply.js";
import { RUNTIME_QUEUE } from "./request-host.js";

/** Calls in flight per work function and dispatcher, as the local work host allows. */
const IN_FLIGHT = 8;
/** How long a call may outlast the function's own budget before the dispatcher gives up on it. */
const CALL_SLACK_MS = 5_000;

/** How a delivered message is settled. */
export type Outcome = { kind: "ack" } | { kind: "nak"; delayMs: number } | { kind: "term" };


/**
 * Settles one delivery from the function's HTTP answer (`status` null: no answer at all). 2xx acks. An
 * `X-Hoard-Retryable` header (the function host's verdict from the error's type) decides whether a
 * failure is retried; without it, 429 and 5xx are retried and other answers are not. A retry waits
 * Retry-After when given, else the backoff, and stops at the consumer's max_deliver.
 */
export function outcome(status: number | null, headers: Headers | null, deliveryCount: number, maxDeliver: number): Outcome {
  if (status !== null && status >= 200 && status < 300) return { kind: "ack" };
  const verdict = headers?.get("x-hoard-retryable");
  const retryable = verdict === "true" ? true : verdict === "false" ? false : status === null || status === 429 || status >= 500;
  if (!retryable || deliveryCount >= maxDeliver) return { kind: "term" };
  const after = Number(headers?.get("retry-after") ?? NaN);
  return { kind: "nak", delayMs: Number.isFinite(after) && after >= 0 ? after * 1000 : redeliveryDelayMs(deliveryCount) };
}

/** The event id in a message body, for X-Call-Id; null when the body is not an event. */
function eventId(text: string): string | null {
  try {
    const id = (JSON.parse(text) as Partial<CloudEvent>)?.id;
    return typeof id === "string" && id ? id : null;
  } catch {
    return null;
  }
}

/** Counts of settled deliveries per work function. */
export type DispatchStats = Record<string, { ack: number; nak: number; term: number }>;

export interface Dispatcher {
  stats(): DispatchStats;
  stop(): Promise<void>;
}

export interface DispatcherOptions {
  nc: NatsConnection;
  functions: HoardFunction[];
  /** Where functions answer: `${gatewayUrl}/function/<name>` (the OpenFaaS gateway, or a function host). */
  gatewayUrl: string;
  log: Logger;
  /** Extra headers on every call, e.g. the OpenFaaS gateway's basic auth. */
  headers?: Record<string, string>;
  /** Calls in flight per work function (default 8). */
  inFlight?: number;
  /** Serve work functions from JetStream (default true). */
  work?: boolean;
  /** Bridge request functions from NATS request/reply (default true). */
  bridge?: boolean;
  /** Servers each stream is kept on (HOARD_STREAM_REPLICAS; 1 unless the NATS cluster has more). */
  streamReplicas?: number;
  /** Run the outbox relay on this database. */
  outbox?: { db: Db; databaseUrl: string };
}

/** Starts the dispatcher; see the top of this file. */
export async function startDispatcher(opts: DispatcherOptions): Promise<Dispatcher> {
  const { nc, log } = opts;
  const gateway = opts.gatewayUrl.replace(/\/+$/, "");
  const inFlight = opts.inFlight ?? IN_FLIGHT;
  const counts: DispatchStats = {};
  const stops: (() => Promise<void>)[] = [];

  const post = (fn: HoardFunction, body: string, callId: string | null) =>
    fetch(`${gateway}/function/${fn.name}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(callId ? { "x-call-id": callId } : {}), ...opts.headers },
      body,
      signal: AbortSignal.timeout(fn.timeoutMs + CALL_SLACK_MS),
    });

  /** One delivery: call the function, keeping the lease alive meanwhile, and settle from its answer. */
  const deliver = async (fn: HoardFunction, m: JsMsg, maxDeliver: number) => {
    const tally = (counts[fn.name] ??= { ack: 0, nak: 0, term: 0 });
    const keepAlive = setInterval(() => m.working(), Math.max(1_000, fn.timeoutMs / 3));
    let status: number | null = null;
    let headers: Headers | null = null;
    let detail = "";
    try {
      const body = m.string();
      const res = await post(fn, body, eventId(body) ?? `${m.info.stream}:${m.seq}`);
      status = res.status;
      headers = res.headers;
      detail = status >= 300 ? (await res.text()).slice(0, 500) : "";
      if (status < 300) await res.body?.cancel();
    } catch (e) {
      detail = String(e);
    } finally {
      clearInterval(keepAlive);
    }
    const o = outcome(status, headers, m.info.deliveryCount, maxDeliver);
    tally[o.kind]++;
    const where = { fn: fn.name, subject: m.subject, status, deliveries: m.info.deliveryCount, detail };
    if (o.kind === "ack") m.ack();
    else if (o.kind === "nak") {
      log.warn({ ...where, retryInMs: o.delayMs }, "event will be retried");
      m.nak(o.delayMs);
    } else {
      log.error(where, "event dropped: it cannot succeed");
      m.term();
    }
  };

  if (opts.work !== false) {
    const jsm = await jetstreamManager(nc);
    const js = jetstream(nc);
    await ensureStreams(jsm, opts.streamReplicas ?? 1);
    for (const fn of opts.functions) {
      if (fn.trigger.kind !== "work") continue;
      const definition = workConsumer(fn.name, fn.trigger.subject, fn.timeoutMs);
      await ensureConsumer(jsm, fn.trigger.stream, definition);
      const consumer = await js.consumers.get(fn.trigger.stream, fn.name);
      const messages: ConsumerMessages = await consumer.consume({ max_messages: inFlight * 2 });
      const running = new Set<Promise<void>>();
      const done = (async () => {
        for await (const m of messages) {
          const p = deliver(fn, m, definition.max_deliver!).finally(() => running.delete(p));
          running.add(p);
          if (running.size >= inFlight) await Promise.race(running);
        }
        await Promise.all(running);
      })();
      stops.push(async () => {
        messages.stop();
        await done.catch(() => {});
      });
    }
  }

  if (opts.bridge !== false) {
    const pending = new Set<Promise<void>>();
    /** Answers one gateway call with the function's Reply, passed through byte for byte when it is one. */
    const bridge = async (fn: HoardFunction, msg: Msg) => {
      const body = msg.string();
      const callId = eventId(body);
      let answer: string;
      try {
        const res = await post(fn, body, callId);
        const text = await res.text();
        answer = replyText(res.status, text, callId ?? "unparsed");
      } catch (e) {
        log.warn({ err: String(e), fn: fn.name }, "function did not answer");
        answer = JSON.stringify({ ok: false, error: fail("UNAVAILABLE", { part: "Hoard's function runtime" }).toJSON() } satisfies Reply);
      }
      msg.respond(answer);
    };
    const subs: Subscription[] = opts.functions
      .filter((fn) => fn.trigger.kind === "request")
      .map((fn) =>
        nc.subscribe(functionSubject(fn.name), {
          queue: RUNTIME_QUEUE,
          callback: (err, msg) => {
            if (err) return log.error({ err, fn: fn.name }, "request subscription failed");
            const p = bridge(fn, msg).finally(() => pending.delete(p));
            pending.add(p);
          },
        }),
      );
    stops.push(async () => {
      for (const s of subs) s.unsubscribe();
      await Promise.all(pending);
    });
  }

  if (opts.outbox) {
    const relay = await startOutboxRelay({ db: opts.outbox.db, nc, databaseUrl: opts.outbox.databaseUrl, log });
    stops.push(relay.stop);
  }

  return {
    stats: () => structuredClone(counts),
    async stop() {
      for (const stop of stops) await stop();
    },
  };
}

/** The Reply for a function's HTTP answer: its own Reply when it sent one, else one built from the status. */
function replyText(status: number, text: string, ref: string): string {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (body && typeof body === "object" && typeof (body as { ok?: unknown }).ok === "boolean") return text;
  if (status >= 200 && status < 300) return JSON.stringify({ ok: true, result: body ?? null } satisfies Reply);
  // Lambda's error shape from the function host: already a reference, never internals.
  const message = (body as { errorMessage?: unknown } | undefined)?.errorMessage;
  if (typeof message === "string") return JSON.stringify({ ok: false, error: { code: "INTERNAL", message } } satisfies Reply);
  // No answer of the function's own: the gateway in front of it could not reach it.
  if (status === 429 || status === 502 || status === 503 || status === 504) {
    return JSON.stringify({ ok: false, error: fail("UNAVAILABLE", { part: "Hoard's function runtime" }).toJSON() } satisfies Reply);
  }
  return JSON.stringify({ ok: false, error: fail("INTERNAL", { ref }).toJSON() } satisfies Reply);
}
