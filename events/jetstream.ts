/**
 * Hoard's JetStream objects as plain data: the streams, the durable consumer of each work function and the
 * consumer of each network node's tracker. The runtime and the tracker create them from here, and
 * infra/ is generated from here, so a cluster's definitions can never drift from what the code expects.
 */
import { AckPolicy, DeliverPolicy, DiscardPolicy, RetentionPolicy, StorageType, type ConsumerConfig, type JetStreamManager, type StreamConfig } from "@nats-io/jetstream";
import { nanos } from "@nats-io/transport-node";
import { streams } from "./catalogue.js";

/** How often a work event may be delivered before it is dropped (and logged). */
export const WORK_MAX_DELIVER = 20;
/** How often a node command may be delivered before it is dropped. */
export const NODE_MAX_DELIVER = 10;
/**
 * How long a failed delivery waits before the next one: doubling from 250 ms, at most 30 s. The local work
 * host and the OpenFaaS dispatcher both retry by it.
 */
export function redeliveryDelayMs(deliveryCount: number): number {
  return Math.min(30_000, 250 * 2 ** Math.min(deliveryCount, 7));
}

/** Retries of the same event id within this window are dropped by the server. */
const DUPLICATE_WINDOW_MS = 120_000;

export type StreamDefinition = Pick<StreamConfig, "name" | "subjects" | "retention" | "storage" | "discard" | "max_age" | "duplicate_window" | "num_replicas">;
export type ConsumerDefinition = Pick<ConsumerConfig, "durable_name" | "filter_subject" | "ack_policy" | "deliver_policy" | "ack_wait" | "max_deliver" | "max_ack_pending">;

/** The declared streams, as JetStream takes them, each kept on `replicas` servers of the NATS cluster. */
export function streamDefinitions(replicas = 1): StreamDefinition[] {
  return streams.map((s) => ({
    name: s.name,
    subjects: [...s.subjects],
    retention: s.retention === "workqueue" ? RetentionPolicy.Workqueue : RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    max_age: nanos(s.maxAgeMs),
    duplicate_window: nanos(DUPLICATE_WINDOW_MS),
    num_replicas: replicas,
  }));
}

/** The durable consumer that feeds one work function; its lease outlasts the function's time budget. */
export function workConsumer(name: string, subject: string, timeoutMs: number): ConsumerDefinition {
  return {
    durable_name: name,
    filter_subject: subject,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: nanos(Math.max(30_000, timeoutMs * 2)),
    max_deliver: WORK_MAX_DELIVER,
    max_ack_pending: 1_000,
  };
}

/** The durable consumer of one network node's tracker: every command addressed to that node. */
export function nodeConsumer(node: string): ConsumerDefinition {
  return {
    durable_name: `tracker-${node}`,
    filter_subject: `hoard.node.${node}.>`,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: nanos(30_000),
    max_deliver: NODE_MAX_DELIVER,
    max_ack_pending: 1_000,
  };
}

/**
 * Creates Hoard's streams, or updates them to the declared form. Safe to run concurrently. `only` limits it
 * to some streams, and `update: false` leaves existing ones as they are: a tracker, whose NATS user may not
 * change a stream (events/permissions.ts), only makes sure the two it uses exist.
 */
export async function ensureStreams(jsm: JetStreamManager, replicas = 1, opts: { only?: string[]; update?: boolean } = {}): Promise<void> {
  for (const config of streamDefinitions(replicas).filter((s) => !opts.only || opts.only.includes(s.name!))) {
    try {
      await jsm.streams.info(config.name);
      if (opts.update !== false) await jsm.streams.update(config.name, config);
    } catch (e) {
      if (!String(e).includes("not found")) throw e;
      try {
        await jsm.streams.add(config);
      } catch (e2) {
        if (!String(e2).includes("already in use")) throw e2;
      }
    }
  }
}

/** Creates a durable consumer, or updates it to the declared form when it exists. */
export async function ensureConsumer(jsm: JetStreamManager, stream: string, config: ConsumerDefinition): Promise<void> {
  await jsm.consumers.add(stream, config).catch(async (e) => {
    if (!String(e).includes("already in use") && !String(e).includes("exists")) throw e;
    await jsm.consumers.update(stream, config.durable_name!, config);
  });
}
