/**
 * The tracker of one network node: takes the node's commands from JetStream, carries them out on the
 * guests through the GuestSupervisor, publishes the results, and sends heartbeats. Guests outlive it; a
 * restarted tracker adopts them. This module only wires the parts: the command table (commands.ts), the
 * guest calls (calls.ts), the heartbeat, certificate renewal and engine logs; the drivers come from drivers/.
 */
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { type NatsConnection } from "@nats-io/transport-node";
import path from "node:path";
import type { Logger } from "pino";
import type { Config } from "../config/index.js";
import { datastoreDefinitions } from "../datastores/catalog.js";
import { backupKeys, selectDrivers, type GuestNetwork } from "../drivers/index.js";
import { ensureStreams, sources } from "../events/index.js";
import { serveGuestCalls } from "./calls.js";
import { commandHandlers, consumeCommands } from "./commands.js";
import { EngineLogs } from "./engine-logs.js";
import { GuestSupervisor, RUN_FOLDER } from "./guests/index.js";
import { startHeartbeat } from "./heartbeat.js";
import { startRenewal } from "./renewal.js";
import { GuestCertificates } from "./tls.js";

/** Starts the tracker of `config.node`; stop() leaves its guests running (a restarted tracker adopts them). */
export async function startTracker(opts: { config: Config; nc: NatsConnection; log: Logger }): Promise<{ supervisor: GuestSupervisor; network: GuestNetwork; stop(): Promise<void> }> {
  const { config, nc } = opts;
  const node = config.node;
  const log = opts.log.child({ part: "tracker", node });
  const jsm = await jetstreamManager(nc);
  await ensureStreams(jsm, config.streamReplicas, { only: ["HOARD_NODES", "HOARD_WORK"], update: false });
  const js = jetstream(nc);
  const source = sources.tracker(node);

  const { limits, volumes, network, backups } = await selectDrivers(config, log);
  const tls = new GuestCertificates({ home: config.home, node, log, validityDays: config.guestTls.certDays, renewBeforeDays: config.guestTls.renewBeforeDays, ...(config.guestTls.caCertFile ? { caCertFile: config.guestTls.caCertFile } : {}), ...(config.guestTls.caKeyFile ? { caKeyFile: config.guestTls.caKeyFile } : {}) });
  await tls.open();
  const keys = await backupKeys(config, log);
  const supervisor = new GuestSupervisor({ home: config.home, guestHost: config.guestHost, startTimeoutMs: config.guestStartTimeoutMs, log, volumes, network, backups, tls, keys, ...(limits ? { limits } : {}) });
  const adopted = await supervisor.adopt();
  if (adopted.length) log.info({ guests: adopted.length }, "adopted running guests");
  const MB = 1024 * 1024;
  const engineLogs = new EngineLogs({ home: config.home, runRoot: path.join(config.home, RUN_FOLDER), maxBytes: config.engineLogs.maxMb * MB, checkMs: config.engineLogs.checkMs, floorBytes: config.diskFloorMb * MB, node, log });
  await engineLogs.start();
  const roomFor = (what: string) => {
    const refused = engineLogs.refusal(what);
    if (refused) throw new Error(refused);
  };

  // Build golden images ahead of the first create, so no tenant waits for the slow initialisation.
  const images = [...new Map(datastoreDefinitions.flatMap((d) => d.versions.map((v) => [`${d.manager}-${v.name}`, { manager: d.manager, version: v.name }]))).values()];
  const warming = supervisor.warm(images).catch((err) => log.warn({ err: String(err) }, "a golden image could not be built yet; it will be retried at the first create"));

  const handlers = commandHandlers({ js, node, source, supervisor, network, tls, roomFor, log });
  const commands = await consumeCommands({ js, jsm, node, handlers, log });
  const calls = serveGuestCalls(nc, node, supervisor, log);
  const heartbeat = startHeartbeat({ js, node, source, supervisor, tls, engineLogs, intervalMs: config.heartbeatIntervalMs, log });
  const renewal = startRenewal({ supervisor, tls, network, intervalMs: config.guestTls.checkIntervalMs, log });

  return {
    supervisor,
    network,
    async stop() {
      await renewal.stop();
      heartbeat.stop();
      await engineLogs.stop();
      await calls.drain().catch(() => calls.unsubscribe());
      await commands.stop();
      await warming;
    },
  };
}
