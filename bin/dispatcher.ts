/**
 * `node --import tsx bin/dispatcher.ts`: the dispatcher of a cluster (runtime/dispatcher.ts), what the local
 * runtime does with NATS done over HTTP for the functions on OpenFaaS. It reads NATS_URL and
 * HOARD_NATS_CREDENTIALS (a folder holding runtime.nk), HOARD_GATEWAY_URL (the OpenFaaS gateway),
 * DATABASE_URL (or DATABASE_URL_FILE) for the outbox relay, and optionally HOARD_GATEWAY_AUTH
 * (`user:password`, basic auth), HOARD_DISPATCH_IN_FLIGHT, HOARD_STREAM_REPLICAS and HOARD_LOG_LEVEL
 * (config/index.ts). Runs until SIGTERM; any number may run.
 */
import { connectAs } from "../bootstrap/index.js";
import { loadConfig } from "../config/index.js";
import { functions } from "../functions/index.js";
import { createStdoutLog } from "../log/index.js";
import { startDispatcher } from "../runtime/index.js";
import { connect } from "../store/index.js";
import { exitOnSignals, runProgram } from "./program.js";

async function main(): Promise<void> {
  const config = loadConfig();
  const { natsUrl, databaseUrl } = config;
  const { gatewayUrl, gatewayAuth, inFlight } = config.dispatcher;
  if (!natsUrl || !gatewayUrl || !databaseUrl) throw new Error("NATS_URL, HOARD_GATEWAY_URL and DATABASE_URL (or DATABASE_URL_FILE) must be set");
  const log = createStdoutLog(config, { part: "dispatcher" });
  // The dispatcher is the runtime on a cluster: its credential is HOARD_NATS_CREDENTIALS/runtime.nk.
  const nc = await connectAs(natsUrl, config.natsCredentials, "runtime", { name: "hoard-dispatcher", maxReconnectAttempts: -1 });
  const db = connect(databaseUrl);
  const dispatcher = await startDispatcher({
    nc,
    functions,
    gatewayUrl,
    log,
    outbox: { db, databaseUrl },
    streamReplicas: config.streamReplicas,
    ...(gatewayAuth ? { headers: { authorization: `Basic ${Buffer.from(gatewayAuth).toString("base64")}` } } : {}),
    ...(inFlight ? { inFlight } : {}),
  });
  console.log(`Hoard dispatcher: ${functions.length} functions at ${gatewayUrl}/function/<name>`);
  exitOnSignals(async () => {
    await dispatcher.stop();
    await nc.drain().catch(() => {});
    await db.destroy();
  });
}

runProgram("Hoard dispatcher", main);
