import type { Transaction } from "./db.js";

/**
 * Claims an event for a consumer inside the transaction that applies it. Returns false when the event was
 * already applied, so a redelivered event changes nothing.
 */
export async function claimEvent(trx: Transaction, consumer: string, eventId: string): Promise<boolean> {
  const rows = await trx("processed_events").insert({ consumer, event_id: eventId }).onConflict(["consumer", "event_id"]).ignore().returning("event_id");
  return rows.length > 0;
}
