import { jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import pg from "pg";
import type { Logger } from "pino";
import { drain, OUTBOX_CHANNEL, type Db } from "../store/index.js";

const BATCH = 100;

/**
 * Publishes the outbox to JetStream. Woken by Postgres NOTIFY on commit, and by a slow poll in case a
 * notification is lost. Each event is published with its id as the message id, so a re-publication after
 * a crash is deduplicated by the stream.
 */
export async function startOutboxRelay(opts: { db: Db; nc: NatsConnection; databaseUrl: string; log: Logger; pollMs?: number }): Promise<{ stop(): Promise<void> }> {
  const { db, nc, log } = opts;
  const js = jetstream(nc);
  let running: Promise<void> | null = null;
  let again = false;
  let stopped = false;
  let lastErrorLog = 0;

  const pass = async () => {
    do {
      again = false;
      for (;;) {
        const { published, error } = await drain(db, BATCH, async (row) => {
          await js.publish(row.subject, JSON.stringify(row.event), { msgID: row.event_id });
        });
        if (error) throw error;
        if (published < BATCH) break;
      }
    } while (again && !stopped);
  };

  const kick = () => {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    running = pass()
      .catch((err) => {
        // While NATS or Postgres is down this fails every poll: say so now and then, not every time.
        if (Date.now() - lastErrorLog > 10_000) {
          lastErrorLog = Date.now();
          log.warn({ err }, "outbox relay cannot publish yet; events stay queued");
        }
      })
      .finally(() => {
        running = null;
      });
  };

  let listener: pg.Client | null = null;
  const listen = async () => {
    if (stopped) return;
    const client = new pg.Client({ connectionString: opts.databaseUrl });
    client.on("notification", kick);
    client.on("error", () => {
      listener = null;
      setTimeout(() => void listen().catch(() => {}), 1_000);
    });
    await client.connect();
    await client.query(`LISTEN ${OUTBOX_CHANNEL}`);
    listener = client;
  };
  await listen();
  const timer = setInterval(kick, opts.pollMs ?? 1_000);
  kick();

  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
      await (listener as pg.Client | null)?.end().catch(() => {});
    },
  };
}
