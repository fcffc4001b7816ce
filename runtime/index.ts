import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import type { Config } from "../config/index.js";
import type { Db } from "../store/index.js";
import type { HoardFunction } from "./function.js";
import { natsGuestCaller } from "./guest-caller.js";
import { startOutboxRelay } from "./outbox-relay.js";
import { serveRequests } from "./request-host.js";
import { serveSchedules } from "./schedule-host.js";
import { ensureStreams } from "../events/index.js";
import { serveWork } from "./work-host.js";

export { defineFunction, lambdaContext, type FunctionDeps, type HoardFunction, type HoardContext } from "./function.js";
export { Reply, toReplyError } from "./reply.js";

export { RUNTIME_QUEUE } from "./request-host.js";
export { startFunctionHost, createFunctionServer, lazyGuestCaller, type FunctionHost } from "./openfaas-http.js";
export { startDispatcher, outcome, type Dispatcher, type DispatcherOptions, type DispatchStats, type Outcome } from "./dispatcher.js";
export type { GuestCaller } from "./guest-caller.js";

/** The local function host: request functions on NATS, work functions on JetStream, timers, and the outbox relay. */
export async function startRuntime(opts: { config: Config; db: Db; nc: NatsConnection; databaseUrl: string; log: Logger; functions: HoardFunction[] }): Promise<{ stop(): Promise<void> }> {
  const deps = { db: opts.db, config: opts.config, log: opts.log, guests: natsGuestCaller(opts.nc, opts.config.guestCallTimeoutMs) };
  await ensureStreams(await jetstreamManager(opts.nc), opts.config.streamReplicas);
  const subs = serveRequests(opts.nc, opts.functions, deps);
  const work = await serveWork(opts.nc, opts.functions, deps);
  const relay = await startOutboxRelay({ db: opts.db, nc: opts.nc, databaseUrl: opts.databaseUrl, log: opts.log });
  const schedules = serveSchedules(opts.functions, deps);
  return {
    async stop() {
      schedules.stop();
      for (const s of subs) s.unsubscribe();
      await work.stop();
      await relay.stop();
    },
  };
}
