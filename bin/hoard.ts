/**
 * `hoard start`: everything on one machine. Installs what is missing, starts a private NATS (JetStream)
 * and Postgres in the state folder unless NATS_URL / DATABASE_URL point elsewhere, then the control plane.
 */
import path from "node:path";
import { ensurePackages, startNats, startPostgres } from "../bootstrap/index.js";
import { loadConfig, type Config } from "../config/index.js";
import { netnsUnavailable } from "../drivers/index.js";
import { prepareStateFolder, startControlPlane, type ControlPlane, type Parts } from "../local/index.js";
import { createLog } from "../log/index.js";
import { runProgram } from "./program.js";

const command = process.argv[2] ?? "start";
if (command === "backup-keys") {
  // The operator's backup master keys (list, rotate, remove): see bin/backup-keys.ts.
  const { backupKeysCommand } = await import("./backup-keys.js");
  process.exit(
    await backupKeysCommand(process.argv.slice(3)).catch((e: Error) => {
      console.error(`backup-keys: ${e.message}`);
      return 1;
    }),
  );
}
if (command !== "start") {
  console.error(`unknown command '${command}'; usage: npm start [-- --parts runtime,gateway,tracker], or node --import tsx bin/hoard.ts backup-keys <list|rotate|remove ID>`);
  process.exit(2);
}

/**
 * Which parts this process runs: all of them by default (one machine). On many machines each process runs
 * some: `--parts runtime`, `--parts gateway`, `--parts tracker` (or HOARD_PARTS), against the shared
 * NATS_URL and DATABASE_URL.
 */
function parts(): Parts {
  const flag = process.argv.indexOf("--parts");
  const list = (flag > 0 ? process.argv[flag + 1] : process.env.HOARD_PARTS) ?? "runtime,gateway,tracker";
  const names = list.split(",").map((p) => p.trim()).filter(Boolean);
  const unknown = names.filter((n) => !["runtime", "gateway", "tracker"].includes(n));
  if (unknown.length || names.length === 0) {
    console.error(`unknown part(s) '${unknown.join(", ")}': use runtime, gateway and/or tracker`);
    process.exit(2);
  }
  return { runtime: names.includes("runtime"), gateway: names.includes("gateway"), tracker: names.includes("tracker") };
}

const started = Date.now();
const step = (msg: string) => console.log(`  [${((Date.now() - started) / 1000).toFixed(1)}s] ${msg}`);

async function main() {
  const config = loadConfig();
  prepareStateFolder(config.home);
  console.log(`Hoard: starting in ${config.home}`);
  const log = createLog(config);

  step("checking the Debian packages Hoard needs");
  await ensurePackages("server", step);
  if (config.networkDriver === "netns" && parts().tracker) {
    // Before any server starts: a node asked to isolate its tenants never runs them unisolated.
    const why = await netnsUnavailable();
    if (why) throw new Error(`HOARD_NETWORK_DRIVER=netns, but ${why}. Run as root with them installed, or use HOARD_NETWORK_DRIVER=host.`);
    step("network driver: netns (a namespace per tenant network)");
  }

  // The private NATS makes every part's credential (this node's tracker's too) in config.natsCredentials.
  const nats = config.natsUrl ? null : await startNats({ dir: path.join(config.home, "nats"), credentials: config.natsCredentials, trackers: [config.node], progress: step });
  const natsUrl = config.natsUrl ?? nats!.url;
  step(nats ? `private NATS JetStream at ${natsUrl}` : `using NATS at ${natsUrl}`);
  const pg = config.databaseUrl ? null : await startPostgres({ dir: path.join(config.home, "postgres"), progress: step });
  const databaseUrl = config.databaseUrl ?? pg!.url;
  // The URL carries the password: only its display form is shown.
  step(pg ? `private Postgres at ${pg.display} (as OS user uid ${pg.uid}; password in ${pg.secretFile})` : "using the Postgres of DATABASE_URL");

  const plane = await startControlPlane({ config, databaseUrl, natsUrl, log, parts: parts(), progress: step });
  announce(plane, config, parts());

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${signal}: stopping Hoard`);
    const guests = plane.tracker?.supervisor.list().length ?? 0;
    await plane.stop();
    step("control plane stopped");
    if (pg) {
      await pg.stop();
      step("Postgres stopped");
    }
    if (nats) {
      await nats.stop();
      step("NATS stopped");
    }
    if (guests) console.log(`${guests} guest database(s) keep running; the next 'npm start' adopts them.`);
    process.exit(0);
  };
  process.on("SIGINT", () => void shutdown("SIGINT"));
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
}

/** What the operator sees once this process is up: the endpoint and a line to paste, or which parts run. */
function announce(plane: ControlPlane, config: Config, running: Parts): void {
  const took = `${((Date.now() - started) / 1000).toFixed(1)}s`;
  if (!plane.gatewayUrl) {
    const names = Object.entries(running).filter(([, on]) => on).map(([p]) => p);
    console.log(`Hoard is ready (${took}): ${names.join(", ")} of network node '${config.node}'.`);
    return;
  }
  // Over HTTPS the CLI verifies the gateway's certificate against the CA it is told of.
  const ca = config.gateway.tlsCert ? " --os-cacert <your CA's PEM>" : "";
  const volumes = plane.tracker?.supervisor.enforcesVolumeSize ? `btrfs pool in ${path.join(config.home, "btrfs")} (sizes enforced, instant snapshots)` : "plain folders (sizes recorded, not enforced)";
  console.log(`
Hoard is ready (${took}). Trove API: ${plane.gatewayUrl}/v1.0/<project>
Network node '${config.node}' (${networkLine(config)}).
Volumes: ${volumes}.

Try it (any project id works without a tokens file):
  openstack --os-auth-type none --os-endpoint ${plane.gatewayUrl}/v1.0/demo${ca} database instance create m1 \\
    --flavor 1 --size 1 --datastore mariadb --datastore-version 10.11 --databases db1 --users u1:secret
  openstack --os-auth-type none --os-endpoint ${plane.gatewayUrl}/v1.0/demo${ca} database instance show m1

Logs: ${path.join(config.home, "hoard.log")}. Ctrl-C stops Hoard; guest databases keep running and are adopted at the next start.
`);
}

/** Which network driver the node runs, and what that means for reaching a guest. */
function networkLine(config: Config): string {
  if (config.networkDriver === "netns") {
    return `netns network driver: each tenant network is a namespace in ${config.netns.pool}, unable to reach the control plane; public instances are published on ${config.netns.publicAddress ?? "the node's addresses"}`;
  }
  return `host network driver: guests listen on ${config.guestHost}, each on its own port; HOARD_NETWORK_DRIVER=netns isolates tenant networks`;
}

runProgram("Hoard", main);
