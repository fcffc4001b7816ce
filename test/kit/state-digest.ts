/**
 * A digest of everything Hoard stores and publishes, to prove that a refused request changed nothing: each
 * Postgres table (columns that heartbeats move by design left out) and the last sequence of the command and
 * public-event streams.
 */
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type pg from "pg";

/**
 * Columns that move by themselves, which a refused request cannot be told apart from: rewritten by every
 * heartbeat, and a webhook delivery's retries (its attempts go on, with backoff, long after the event that
 * made it; a new delivery row still shows).
 */
const MOVING_COLUMNS = ["service_updated_at"];
const MOVING_BY_TABLE: Record<string, string[]> = {
  deliveries: ["status", "attempts", "next_attempt_at", "last_attempt_at", "last_status_code", "last_error", "delivered_at"],
};
/**
 * The outbox is emptied by the relay; what it carried shows in the streams' sequences. node_heartbeats is
 * each node's latest heartbeat, rewritten by every one.
 */
const TRANSIENT_TABLES = ["outbox", "node_heartbeats"];

export type Digest = Record<string, string>;

/** Per table an md5 of its rows (order-independent), plus `stream:<name>` → last sequence. */
export async function stateDigest(client: pg.Client, nc: NatsConnection): Promise<Digest> {
  const tables = (
    await client.query<{ table_name: string }>(
      "select table_name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE' order by table_name",
    )
  ).rows.map((r) => r.table_name).filter((t) => !TRANSIENT_TABLES.includes(t));
  const moving = tables.map((t) => [...MOVING_COLUMNS, ...(MOVING_BY_TABLE[t] ?? [])]);
  const parts = tables.map(
    (t, i) => `select '${t}' as name, md5(coalesce(string_agg(x, E'\\n' order by x), '')) as digest from (select (to_jsonb(t) - $${i + 1}::text[])::text as x from "${t}" t) s`,
  );
  const out: Digest = {};
  for (const row of (await client.query<{ name: string; digest: string }>(parts.join(" union all "), moving)).rows) out[row.name] = row.digest;
  const jsm = await jetstreamManager(nc);
  for (const stream of ["HOARD_NODES", "HOARD_EVENTS"]) out[`stream:${stream}`] = String((await jsm.streams.info(stream)).state.last_seq);
  return out;
}

/** The names whose digest differs. */
export function changed(before: Digest, after: Digest): string[] {
  return [...new Set([...Object.keys(before), ...Object.keys(after)])].filter((k) => before[k] !== after[k]);
}

/** Waits until the outbox is drained and no node command is pending, then until two digests agree. */
export async function settledDigest(client: pg.Client, nc: NatsConnection, timeoutMs = 20_000): Promise<Digest> {
  const deadline = Date.now() + timeoutMs;
  const jsm = await jetstreamManager(nc);
  let last: Digest | null = null;
  for (;;) {
    const outbox = Number((await client.query<{ n: string }>("select count(*) as n from outbox")).rows[0]!.n);
    const pending = (await jsm.streams.info("HOARD_NODES")).state.messages + (await jsm.streams.info("HOARD_WORK")).state.messages;
    if (outbox === 0 && pending === 0) {
      const now = await stateDigest(client, nc);
      if (last && changed(last, now).length === 0) return now;
      last = now;
    } else {
      last = null;
    }
    if (Date.now() > deadline) return stateDigest(client, nc);
    await new Promise((r) => setTimeout(r, 150));
  }
}
