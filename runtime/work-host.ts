import { jetstream, jetstreamManager, type ConsumerMessages, type JsMsg } from "@nats-io/jetstream";
import { type NatsConnection } from "@nats-io/transport-node";
import { z } from "zod";
import { HoardError, RetryableError } from "../errors/index.js";
import { ensureConsumer, redeliveryDelayMs, WORK_MAX_DELIVER, workConsumer, type CloudEvent } from "../events/index.js";
import { lambdaContext, type FunctionDeps, type HoardFunction } from "./function.js";

const IN_FLIGHT = 8;

/** Whether an error can be cured by delivering the same event again later. */
function retryDelayMs(e: unknown, deliveryCount: number): number | null {
  if (e instanceof RetryableError) return e.delayMs;
  if (e instanceof HoardError || e instanceof z.ZodError || e instanceof SyntaxError) return null;
  // Unknown failures (Postgres down, a connection reset) are presumed transient: back off and retry.
  return redeliveryDelayMs(deliveryCount);
}

/** Runs one message through its function and settles it: ack, nak with a delay, or term. */
async function settle(fn: HoardFunction, m: JsMsg, deps: FunctionDeps): Promise<void> {
  // Keep the lease alive while the handler works, so a slow step is not redelivered to another runtime.
  const keepAlive = setInterval(() => m.working(), Math.max(1_000, fn.timeoutMs / 3));
  try {
    const event = m.json<CloudEvent>();
    await fn.handler(event, lambdaContext(fn, event.id, deps));
    m.ack();
  } catch (e) {
    const delay = retryDelayMs(e, m.info.deliveryCount);
    if (delay === null || m.info.deliveryCount >= WORK_MAX_DELIVER) {
      deps.log.error({ err: e, fn: fn.name, subject: m.subject, deliveries: m.info.deliveryCount }, "event dropped: it cannot succeed");
      m.term();
    } else {
      deps.log.warn({ err: e, fn: fn.name, deliveries: m.info.deliveryCount, retryInMs: delay }, "event will be retried");
      m.nak(delay);
    }
  } finally {
    clearInterval(keepAlive);
  }
}

/** Feeds each work function from its durable JetStream consumer, a few messages at a time. */
export async function serveWork(nc: NatsConnection, fns: HoardFunction[], deps: FunctionDeps): Promise<{ stop(): Promise<void> }> {
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  const feeds: { messages: ConsumerMessages; done: Promise<void> }[] = [];
  for (const fn of fns) {
    if (fn.trigger.kind !== "work") continue;
    const { stream, subject } = fn.trigger;
    await ensureConsumer(jsm, stream, workConsumer(fn.name, subject, fn.timeoutMs));
    const consumer = await js.consumers.get(stream, fn.name);
    const messages = await consumer.consume({ max_messages: IN_FLIGHT * 2 });
    const running = new Set<Promise<void>>();
    const done = (async () => {
      for await (const m of messages) {
        const p = settle(fn, m, deps).finally(() => running.delete(p));
        running.add(p);
        if (running.size >= IN_FLIGHT) await Promise.race(running);
      }
      await Promise.all(running);
    })();
    feeds.push({ messages, done });
  }
  return {
    async stop() {
      for (const f of feeds) f.messages.stop();
      await Promise.all(feeds.map((f) => f.done.catch(() => {})));
    },
  };
}
