import type { CloudEvent } from "../events/index.js";
import type { Db, Transaction } from "./db.js";

/** The channel Postgres notifies on commit of an outbox write, so the relay need not poll hard. */
export const OUTBOX_CHANNEL = "hoard_outbox";

/** Queues an event for publication; it is published only if the transaction commits. */
export async function enqueue(trx: Transaction, subject: string, event: CloudEvent): Promise<void> {
  await trx("outbox").insert({ event_id: event.id, subject, event: JSON.stringify(event) });
  await trx.raw("select pg_notify(?, '')", [OUTBOX_CHANNEL]);
}

export interface OutboxRow { seq: number; event_id: string; subject: string; event: CloudEvent }

/**
 * Takes up to `limit` queued events (skipping rows another relay holds), hands them to `publish` in order,
 * and deletes those published. Stops at the first failure, keeping the rest queued, and reports it.
 */
export async function drain(db: Db, limit: number, publish: (row: OutboxRow) => Promise<void>): Promise<{ published: number; error?: unknown }> {
  return db.transaction(async (trx) => {
    const rows: OutboxRow[] = await trx("outbox").orderBy("seq").limit(limit).forUpdate().skipLocked();
    const done: number[] = [];
    let error: unknown;
    for (const row of rows) {
      try {
        await publish(row);
      } catch (e) {
        error = e;
        break;
      }
      done.push(row.seq);
    }
    // Deleting (not flagging) also removes the copies of secrets some commands carry.
    if (done.length) await trx("outbox").whereIn("seq", done).delete();
    return { published: done.length, error };
  });
}
