/**
 * The local stand-in for OpenFaaS's cron connector, for backup schedules: it sleeps until the earliest
 * schedule's slot (looking again every `pollMs` for schedules created meanwhile) and then publishes
 * backup-schedules.due, which backup-schedule-run consumes to fire every schedule whose time has come.
 *
 * Every runtime runs one. Two of them publish the same slot under the same message id, which JetStream
 * keeps once; and backup-schedule-run claims each slot in Postgres, so a slot fires once however often the
 * event comes. A slot that passed while Hoard was down is due at start and fires once: its run moves the
 * schedule to its first slot after now.
 */
import { jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { makeEvent, sources, workEvents } from "../events/index.js";
import { earliestSlot, type Db } from "../store/index.js";

/** How long a published slot may stay due before it is published again (the event may have been lost). */
const REPUBLISH_MS = 10_000;

export function startBackupScheduler(opts: { db: Db; nc: NatsConnection; log: Logger; pollMs?: number }): { stop(): Promise<void> } {
  const pollMs = opts.pollMs ?? 1_000;
  const js = jetstream(opts.nc);
  const kind = workEvents.backupSchedulesDue;
  let stopped = false;
  let wake: (() => void) | null = null;
  let published: { slot: number; at: number; tries: number } | null = null;

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        wake = null;
        resolve();
      }
      wake = done;
    });

  const tick = async (): Promise<number> => {
    const slot = await earliestSlot(opts.db);
    if (!slot) return pollMs;
    const now = Date.now();
    const waitMs = slot.getTime() - now;
    if (waitMs > 0) return Math.min(waitMs, pollMs);
    // Due: publish once per slot, and again only if the slot is still due long after (the event was lost).
    if (published?.slot === slot.getTime() && now - published.at < REPUBLISH_MS) return Math.min(pollMs, 100);
    const tries = published?.slot === slot.getTime() ? published.tries + 1 : 0;
    const id = `backup-schedules-due:${slot.toISOString()}:${tries}`;
    const event = makeEvent(kind.type, sources.functions, kind.data.parse({ at: slot.toISOString() }), { id });
    await js.publish(kind.subject(), JSON.stringify(event), { msgID: id });
    published = { slot: slot.getTime(), at: now, tries };
    return Math.min(pollMs, 100);
  };

  const loop = (async () => {
    while (!stopped) {
      let next = pollMs;
      try {
        next = await tick();
      } catch (err) {
        // Postgres or NATS away: look again later; nothing is lost, the slot stays due in Postgres.
        opts.log.warn({ err: String(err) }, "backup scheduler could not look for due schedules; retrying");
      }
      if (!stopped) await sleep(Math.max(10, next));
    }
  })();

  return {
    async stop() {
      stopped = true;
      wake?.();
      await loop;
    },
  };
}
