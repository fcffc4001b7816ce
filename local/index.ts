import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { connectAs } from "../bootstrap/index.js";
import { trackerPart, type NatsPart } from "../events/index.js";
import type { Config } from "../config/index.js";
import { functions } from "../functions/index.js";
import { startGateway } from "../gateway/index.js";
import { startRuntime } from "../runtime/index.js";
import { connect, migrate, seed, type Db } from "../store/index.js";
import { startTracker } from "../tracker/index.js";

import { prepareStateFolder } from "./state-folder.js";

// What a caller needs to bring up a control plane: its log, its state folder, and the parts.
export { createLog } from "../log/index.js";
export { prepareStateFolder } from "./state-folder.js";

/** Which parts to run in this process; all by default (one machine). */
export interface Parts {
  runtime?: boolean;
  gateway?: boolean;
  tracker?: boolean;
}

export interface ControlPlane {
  gatewayUrl: string | null;
  db: Db;
  /** Each running part's own NATS connection, made with its own credential. */
  connections: Partial<Record<"runtime" | "gateway" | "tracker", NatsConnection>>;
  tracker: Awaited<ReturnType<typeof startTracker>> | null;
  stop(): Promise<void>;
}

/**
 * Brings up Hoard's control plane against a Postgres and a NATS that already run: migrates and seeds the
 * state, then starts the runtime, the tracker and the gateway, each on a NATS connection of its own made
 * with its own credential from `config.natsCredentials`. Stopping it leaves guests running.
 */
export async function startControlPlane(opts: { config: Config; databaseUrl: string; natsUrl: string; log: Logger; parts?: Parts; progress?: (msg: string) => void }): Promise<ControlPlane> {
  const { config, log } = opts;
  const parts = { runtime: true, gateway: true, tracker: true, ...opts.parts };
  const say = opts.progress ?? (() => {});
  prepareStateFolder(config.home);
  const db = connect(opts.databaseUrl);
  say("migrating the schema and loading datastores and flavors");
  await migrate(db, () => seed(db));
  const connections: ControlPlane["connections"] = {};
  const connectPart = async (name: keyof ControlPlane["connections"], part: NatsPart) => {
    const nc = await connectAs(opts.natsUrl, config.natsCredentials, part, { maxReconnectAttempts: -1 });
    connections[name] = nc;
    return nc;
  };
  const closeAll = async () => {
    for (const nc of Object.values(connections)) await nc.drain().catch(() => {});
  };
  const stops: (() => Promise<void>)[] = [];
  let gatewayUrl: string | null = null;
  let tracker: ControlPlane["tracker"] = null;
  try {
    if (parts.runtime) {
      say(`starting the function runtime (${functions.length} functions)`);
      const runtime = await startRuntime({ config, db, nc: await connectPart("runtime", "runtime"), databaseUrl: opts.databaseUrl, log, functions });
      stops.unshift(runtime.stop);
    }
    if (parts.tracker) {
      say(`starting the tracker of network node '${config.node}'`);
      tracker = await startTracker({ config, nc: await connectPart("tracker", trackerPart(config.node)), log });
      stops.unshift(tracker.stop);
    }
    if (parts.gateway) {
      say("starting the HTTP gateway");
      const gateway = await startGateway({ config, nc: await connectPart("gateway", "gateway"), log });
      gatewayUrl = gateway.url;
      stops.unshift(gateway.stop);
    }
  } catch (e) {
    for (const stop of stops) await stop().catch(() => {});
    await closeAll();
    await db.destroy();
    throw e;
  }
  return {
    gatewayUrl,
    db,
    connections,
    tracker,
    async stop() {
      for (const stop of stops) await stop().catch((err) => log.warn({ err }, "a part did not stop cleanly"));
      await closeAll();
      await db.destroy();
    },
  };
}
