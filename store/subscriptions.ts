/** Webhook subscriptions and their deliveries: one row per (subscription, event), sent in sequence order. */

import type { CloudEvent, DeliveryRecord, DeliveryStatus, SubscriptionRecord } from "../events/index.js";
import type { Db, Queryable, Transaction } from "./db.js";
import { troveTime } from "./timestamps.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

interface SubscriptionRow {
  id: string;
  project_id: string;
  url: string;
  event_types: string[];
  secret: string;
  description: string | null;
  created_at: Date;
}

interface DeliveryRow {
  event_id: string;
  event_type: string;
  seq: number;
  status: DeliveryStatus;
  attempts: number;
  last_status_code: number | null;
  last_error: string | null;
  next_attempt_at: Date;
  delivered_at: Date | null;
  created_at: Date;
}

/** Enough of a secret to tell two apart, never enough to use one. */
const secretHint = (secret: string) => `****${secret.slice(-4)}`;

function toRecord(r: SubscriptionRow): SubscriptionRecord {
  return {
    id: r.id,
    project: r.project_id,
    url: r.url,
    eventTypes: r.event_types,
    description: r.description,
    secretHint: secretHint(r.secret),
    created: troveTime(r.created_at),
  };
}

function toDelivery(r: DeliveryRow): DeliveryRecord {
  return {
    eventId: r.event_id,
    eventType: r.event_type,
    sequence: r.seq,
    status: r.status,
    attempts: r.attempts,
    lastStatusCode: r.last_status_code,
    lastError: r.last_error,
    nextAttemptAt: r.status === "pending" ? troveTime(r.next_attempt_at) : null,
    deliveredAt: r.delivered_at ? troveTime(r.delivered_at) : null,
    created: troveTime(r.created_at),
  };
}

const live = (q: Queryable, project: string) => q("subscriptions").where({ project_id: project }).whereNull("deleted_at");

export async function insertSubscription(q: Queryable, row: { id: string; project_id: string; url: string; event_types: string[]; secret: string; description: string | null }): Promise<SubscriptionRecord> {
  const [inserted] = await q("subscriptions").insert(row).returning("*");
  return toRecord(inserted as SubscriptionRow);
}

/** One of a project's live subscriptions, or null (also for another project's). */
export async function findSubscription(q: Queryable, project: string, id: string): Promise<SubscriptionRecord | null> {
  if (!UUID.test(id)) return null;
  const row: SubscriptionRow | undefined = await live(q, project).andWhere({ id }).first();
  return row ? toRecord(row) : null;
}

/** A page of a project's live subscriptions by id after `marker`. */
export async function listSubscriptions(q: Queryable, project: string, page: { limit: number; marker?: string }): Promise<{ items: SubscriptionRecord[]; nextMarker: string | null }> {
  if (page.marker && !UUID.test(page.marker)) return { items: [], nextMarker: null };
  let query = live(q, project).orderBy("id").limit(page.limit + 1);
  if (page.marker) query = query.andWhere("id", ">", page.marker);
  const rows: SubscriptionRow[] = await query;
  const items = rows.slice(0, page.limit).map(toRecord);
  return { items, nextMarker: rows.length > page.limit ? items[items.length - 1]!.id : null };
}

/** How many of a subscription's deliveries are in each state, and the latest `recent` of them, newest first. */
export async function deliveryState(q: Queryable, subscriptionId: string, recent: number): Promise<{ counts: Record<DeliveryStatus, number>; recent: DeliveryRecord[] }> {
  const counts: Record<DeliveryStatus, number> = { pending: 0, delivered: 0, failed: 0 };
  const grouped: { status: DeliveryStatus; n: number }[] = await q("deliveries").where({ subscription_id: subscriptionId }).groupBy("status").select("status", q.raw("count(*)::int as n"));
  for (const g of grouped) counts[g.status] = g.n;
  const rows: DeliveryRow[] = await q("deliveries").where({ subscription_id: subscriptionId }).orderBy("seq", "desc").limit(recent);
  return { counts, recent: rows.map(toDelivery) };
}

/** Deletes a subscription; its pending deliveries fail. False when the project has no such live subscription. */
export async function softDeleteSubscription(trx: Transaction, project: string, id: string): Promise<boolean> {
  if (!UUID.test(id)) return false;
  const gone = await live(trx, project).andWhere({ id }).update({ deleted_at: trx.fn.now() }).returning("id");
  if (!gone.length) return false;
  await trx("deliveries").where({ subscription_id: id, status: "pending" }).update({ status: "failed", last_error: "the subscription was deleted" });
  return true;
}

/** The live subscriptions of a project that existed when an event happened, with their patterns. */
export async function subscriptionsAt(q: Queryable, project: string, at: Date): Promise<{ id: string; event_types: string[] }[]> {
  // Event times carry milliseconds, created_at microseconds: compared at the events' precision, so an event
  // of the very millisecond the subscription was made is not lost.
  return live(q, project).andWhereRaw("date_trunc('milliseconds', created_at) <= ?", [at]).orderBy("id").select("id", "event_types");
}

/**
 * Records an event as the next pending delivery of a subscription, numbered after the previous one. Locks
 * the subscription row so numbers are gapless and in commit order. False when already recorded (a
 * redelivered event) or when the subscription is gone.
 */
export async function recordDelivery(trx: Transaction, subscriptionId: string, event: CloudEvent): Promise<boolean> {
  const sub = await trx("subscriptions").where({ id: subscriptionId }).whereNull("deleted_at").forUpdate().first("id");
  if (!sub) return false;
  if (await trx("deliveries").where({ subscription_id: subscriptionId, event_id: event.id }).first("id")) return false;
  const [{ last_seq: seq }] = await trx("subscriptions").where({ id: subscriptionId }).increment("last_seq", 1).returning("last_seq");
  await trx("deliveries").insert({ subscription_id: subscriptionId, seq, event_id: event.id, event_type: event.type, event: JSON.stringify(event) });
  return true;
}

/** A delivery taken by one deliverer, with what it needs to send it. `attempts` counts this one. */
export interface DeliveryClaim {
  id: number;
  subscriptionId: string;
  seq: number;
  eventId: string;
  event: CloudEvent;
  attempts: number;
  url: string;
  secret: string;
  createdAt: Date;
}

/**
 * Takes up to `limit` deliveries that are due and at the head of their subscription's queue (its oldest
 * pending one), and leases them for `leaseMs`: another deliverer neither takes them (SKIP LOCKED while the
 * claim commits, the lease after) nor any later delivery of the same subscription, so each subscription's
 * deliveries go out one at a time, in order. A deliverer that dies loses its lease, and the delivery is
 * tried again when it runs out.
 */
export async function claimDueDeliveries(db: Db, limit: number, leaseMs: number): Promise<DeliveryClaim[]> {
  const { rows } = await db.raw(
    `with heads as (
       select distinct on (subscription_id) id from deliveries where status = 'pending' order by subscription_id, seq
     ), due as (
       select d.id from deliveries d
         join heads h on h.id = d.id
         join subscriptions s on s.id = d.subscription_id
        where d.status = 'pending' and d.next_attempt_at <= now() and s.deleted_at is null
        order by d.next_attempt_at
        limit ?
        for update of d skip locked
     )
     update deliveries d
        set attempts = d.attempts + 1, last_attempt_at = now(), next_attempt_at = now() + make_interval(secs => ?)
       from due, subscriptions s
      where d.id = due.id and s.id = d.subscription_id
     returning d.id, d.subscription_id, d.seq, d.event_id, d.event, d.attempts, d.created_at, s.url, s.secret`,
    [limit, leaseMs / 1000],
  );
  return (rows as { id: number; subscription_id: string; seq: number; event_id: string; event: CloudEvent; attempts: number; created_at: Date; url: string; secret: string }[]).map((r) => ({
    id: r.id,
    subscriptionId: r.subscription_id,
    seq: r.seq,
    eventId: r.event_id,
    event: r.event,
    attempts: r.attempts,
    url: r.url,
    secret: r.secret,
    createdAt: r.created_at,
  }));
}

/** What came of one attempt: delivered, or not (then retried after `retryInMs`, or failed for good when null). */
export type DeliveryOutcome =
  | { delivered: true; statusCode: number }
  | { delivered: false; statusCode: number | null; error: string; retryInMs: number | null };

/**
 * Records an attempt's outcome, if the claim still holds (same attempt, still pending): a deliverer whose
 * lease ran out and was taken over records nothing.
 */
export async function recordAttempt(db: Db, claim: DeliveryClaim, outcome: DeliveryOutcome): Promise<boolean> {
  const q = db("deliveries").where({ id: claim.id, attempts: claim.attempts, status: "pending" });
  const set = outcome.delivered
    ? { status: "delivered", delivered_at: db.fn.now(), last_status_code: outcome.statusCode, last_error: null }
    : outcome.retryInMs === null
      ? { status: "failed", last_status_code: outcome.statusCode, last_error: outcome.error }
      : { next_attempt_at: db.raw("now() + make_interval(secs => ?)", [outcome.retryInMs / 1000]), last_status_code: outcome.statusCode, last_error: outcome.error };
  return (await q.update(set)) > 0;
}
