/**
 * Guest certificate renewal: certificates that end within the renewal window are renewed and taken live;
 * the first pass, right away, also learns the ends of adopted guests' certificates for the heartbeats.
 */
import type { Logger } from "pino";
import type { GuestNetwork } from "../drivers/index.js";
import type { GuestSupervisor } from "./guests/index.js";
import type { GuestCertificates } from "./tls.js";

/** Runs a renewal pass now and every `intervalMs`, one at a time; stop() waits for the pass under way. */
export function startRenewal(opts: { supervisor: GuestSupervisor; tls: GuestCertificates; network: GuestNetwork; intervalMs: number; log: Logger }): { stop(): Promise<void> } {
  const { supervisor, tls, network, log } = opts;
  let renewing: Promise<void> | undefined;
  const renew = () => {
    renewing ??= renewCertificates(supervisor, tls, network, log).finally(() => {
      renewing = undefined;
    });
  };
  renew();
  const renewal = setInterval(renew, opts.intervalMs);
  return {
    async stop() {
      clearInterval(renewal);
      await renewing;
    },
  };
}

/** One renewal pass over the node's guests: a guest whose renewal fails is told in the log and tried again next pass. */
async function renewCertificates(supervisor: GuestSupervisor, tls: GuestCertificates, network: GuestNetwork, log: Logger): Promise<void> {
  for (const id of supervisor.list()) {
    await supervisor
      .act(id, async (engine, guest) => {
        if (await tls.renewIfDue(guest, engine, network.published?.(id)?.address)) log.info({ instance: id }, "guest certificate renewed and taken live");
        await tls.state(guest);
      })
      .catch((err: Error) => log.warn({ instance: id, err: err.message }, "could not renew the guest's certificate"));
  }
}
