import { z } from "zod";
import { eventTypeSelected, ProjectEventData, type CloudEvent } from "../../events/index.js";
import { defineFunction } from "../../runtime/function.js";
import { recordDelivery, subscriptionsAt, type Db } from "../../store/index.js";

/**
 * Events are recorded one after another in the order the stream hands them to this runtime, although the
 * work host runs several at once: each subscription numbers its deliveries in recording order, and that is
 * the order they are sent in.
 */
let tail: Promise<unknown> = Promise.resolve();
function inArrivalOrder<T>(work: () => Promise<T>): Promise<T> {
  const run = tail.then(work);
  tail = run.catch(() => {});
  return run;
}

/** Records a pending delivery of `event` for each of its project's subscriptions whose patterns cover its type. */
async function fanOut(db: Db, event: CloudEvent): Promise<{ recorded: number }> {
  // Any public event names its project in `data`; parsed here so the stored envelope stays as published.
  const { project } = ProjectEventData.parse(event.data);
  const at = Number.isNaN(Date.parse(event.time)) ? new Date() : new Date(event.time);
  // A subscription receives what happens after it was made, also when the stream is replayed.
  const matching = (await subscriptionsAt(db, project, at)).filter((s) => eventTypeSelected(s.event_types, event.type));
  if (!matching.length) return { recorded: 0 };
  // One transaction, subscriptions locked in id order: two runtimes recording at once cannot deadlock.
  return db.transaction(async (trx) => {
    let recorded = 0;
    for (const s of matching) if (await recordDelivery(trx, s.id, event)) recorded++;
    return { recorded };
  });
}

export default defineFunction({
  name: "subscription-fanout",
  description: "Records a pending webhook delivery of each public event for every subscription of its project whose event types cover it.",
  trigger: { kind: "work", stream: "HOARD_EVENTS", subject: "hoard.events.>" },
  // The envelope is stored exactly as published, so its data is not reshaped by a schema here.
  input: z.unknown(),
  timeoutMs: 10_000,
  memoryMb: 128,
  async handle(_data, { event, deps }): Promise<{ recorded: number }> {
    return inArrivalOrder(() => fanOut(deps.db, event));
  },
});
