/**
 * The node's heartbeat: every interval, the health, flavor and certificate end of each guest, the
 * leftovers of cut-short builds and removals, and the node's disk state, for the reconciler.
 */
import type { JetStreamClient } from "@nats-io/jetstream";
import type { Logger } from "pino";
import { makeEvent, workEvents } from "../events/index.js";
import type { EngineLogs } from "./engine-logs.js";
import type { GuestSupervisor } from "./guests/index.js";
import type { GuestCertificates } from "./tls.js";

/** Starts sending heartbeats; a beat still under way when the next is due skips that one. */
export function startHeartbeat(opts: { js: JetStreamClient; node: string; source: string; supervisor: GuestSupervisor; tls: GuestCertificates; engineLogs: EngineLogs; intervalMs: number; log: Logger }): { stop(): void } {
  const { js, node, source, supervisor, tls, engineLogs, log } = opts;
  let beating = false;
  const beat = setInterval(() => {
    if (beating) return;
    beating = true;
    void (async () => {
      // Sent also with no guest: the reconciler learns from it that the node has none.
      const at = new Date().toISOString();
      const [health, leftovers] = await Promise.all([supervisor.health(), supervisor.leftovers()]);
      const guests = health.map((g) => ({ ...g, flavorId: supervisor.flavorOf(g.instanceId), tlsExpires: tls.expiresOf(g.instanceId) }));
      const kind = workEvents.guestHeartbeat;
      const disk = engineLogs.state();
      const data = kind.data.parse({ node, at, guests, leftovers, ca: tls.caPem, ...(disk ? { disk } : {}) });
      await js.publish(kind.subject(), JSON.stringify(makeEvent(kind.type, source, data)));
    })()
      .catch((err) => log.debug({ err: String(err) }, "heartbeat not sent"))
      .finally(() => {
        beating = false;
      });
  }, opts.intervalMs);
  return { stop: () => clearInterval(beat) };
}
