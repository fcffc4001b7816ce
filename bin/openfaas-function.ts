/**
 * `node --import tsx bin/openfaas-function.ts`: the OpenFaaS function host (runtime/openfaas-http.ts), the
 * upstream server of-watchdog (mode=http) proxies each invocation to. Deployed, it serves the one function
 * HOARD_FUNCTION names; without it (dev, tests), every registry function under `/function/<name>`. It reads
 * DATABASE_URL (or DATABASE_URL_FILE, where OpenFaaS mounts a secret), NATS_URL and HOARD_NATS_CREDENTIALS (a
 * folder holding runtime.nk), PORT (else the port of of-watchdog's `upstream_url`, else 3000), HOARD_HTTP_HOST
 * and Hoard's HOARD_* settings (config/index.ts), and serves until SIGTERM.
 */
import { connectAs } from "../bootstrap/index.js";
import { loadConfig } from "../config/index.js";
import { functions } from "../functions/index.js";
import { createStdoutLog } from "../log/index.js";
import { lazyGuestCaller, startFunctionHost } from "../runtime/index.js";
import { connect } from "../store/index.js";
import { exitOnSignals, runProgram } from "./program.js";

async function main(): Promise<void> {
  const config = loadConfig();
  const { function: name, host, port } = config.functionHost;
  const served = name ? functions.filter((fn) => fn.name === name) : functions;
  if (name && served.length === 0) throw new Error(`HOARD_FUNCTION=${name} is not a Hoard function`);
  const { databaseUrl, natsUrl } = config;
  if (!databaseUrl) throw new Error("DATABASE_URL (or DATABASE_URL_FILE) is not set");
  if (!natsUrl) throw new Error("NATS_URL is not set");
  // Logs go to stdout, where of-watchdog and `faas-cli logs` read them.
  const log = createStdoutLog(config, { fn: name ?? "all" });
  const db = connect(databaseUrl);
  // Functions are the runtime: they connect with its credential (HOARD_NATS_CREDENTIALS/runtime.nk).
  const guests = lazyGuestCaller(() => connectAs(natsUrl, config.natsCredentials, "runtime", { name: `hoard-fn-${name ?? "all"}`, maxReconnectAttempts: -1 }), config.guestCallTimeoutMs);
  const server = await startFunctionHost({ functions: served, deps: { db, config, log, guests }, host, ...(port === undefined ? {} : { port }) });
  log.info({ url: server.url, functions: served.length }, "function host ready");
  console.log(`Hoard function host: ${served.length === 1 ? served[0]!.name : `${served.length} functions under /function/<name>`} at ${server.url}`);
  exitOnSignals(async () => {
    await server.stop();
    await guests.close();
    await db.destroy();
  });
}

runProgram("Hoard function host", main);
