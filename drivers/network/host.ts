/**
 * Network driver "host": guests listen on an address of the node itself (loopback by default), each on its
 * own port. Later drivers put each tenant network in a namespace instead.
 *
 * Guest ports are taken below the kernel's ephemeral range (ip_local_port_range): a port from inside it can
 * be given at any moment to an outgoing connection (to Postgres, NATS, another guest) or to anyone's
 * listen(0), and the engine's bind a moment later fails with "Address already in use".
 */
import net from "node:net";
import { readFileSync } from "node:fs";
import { randomInt } from "node:crypto";

const ATTEMPTS = 50;
/** The lowest port handed to a guest: above the registered ports most services listen on. */
const LOWEST = 20_000;
/** The kernel's default ephemeral range, when /proc does not say. */
const EPHEMERAL_DEFAULT: [number, number] = [32_768, 60_999];

/** The ports guests are given: from LOWEST to just below the ephemeral range, or above it if that is empty. */
export function guestPortRange(ephemeral = ephemeralRange()): [number, number] {
  const [low, high] = ephemeral;
  if (low - 1 >= LOWEST + 1_000) return [LOWEST, low - 1];
  if (high < 65_535 - 1_000) return [high + 1, 65_535];
  return [LOWEST, 65_535];
}

function ephemeralRange(): [number, number] {
  try {
    const [low, high] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/).map(Number);
    if (low && high && low <= high) return [low, high];
  } catch {
    // not Linux, or no /proc
  }
  return EPHEMERAL_DEFAULT;
}

/**
 * A TCP port on `host` that is free right now and not in `exclude` (ports handed out but not yet bound by
 * their guest). Chosen at random in the guest range, so that trackers sharing a machine seldom meet on one;
 * `exclude` is asked after each probe, so a live view (any `{ has }`) also covers concurrent allocations.
 */
export async function allocatePort(host: string, exclude: { has(port: number): boolean }): Promise<number> {
  const [low, high] = guestPortRange();
  for (let i = 0; i < ATTEMPTS; i++) {
    const port = randomInt(low, high + 1);
    if (exclude.has(port)) continue;
    const refused = await tryListen(host, port);
    if (!refused) return port;
    // Only a taken port is worth another try; an address this node does not have is not.
    if (refused.code !== "EADDRINUSE" && refused.code !== "EACCES") throw new Error(`cannot listen on ${host}: ${refused.message}`);
  }
  throw new Error(`no free TCP port found on ${host} between ${low} and ${high} after ${ATTEMPTS} attempts`);
}

/** Whether `port` on `host` can be listened on right now. */
export async function isPortFree(host: string, port: number): Promise<boolean> {
  return !(await tryListen(host, port));
}

/** Listens on `port` and closes again: undefined if that worked, the error if not. */
function tryListen(host: string, port: number): Promise<NodeJS.ErrnoException | undefined> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", (err: NodeJS.ErrnoException) => resolve(err));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(undefined)));
  });
}
