/**
 * Free TCP ports for the servers Hoard starts (NATS, Postgres, gateways) and for its guests.
 *
 * They are taken below the kernel's ephemeral range (ip_local_port_range), not from it: a port inside that
 * range can be given at any moment to an outgoing connection or to anyone's listen(0), between our check and
 * the server's bind ("Address already in use"), or while a crashed server is being started again on its port.
 */
import { randomInt } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";

const ATTEMPTS = 50;
/** The lowest port handed out: above the registered ports most services listen on. */
const LOWEST = 20_000;
/** The kernel's default ephemeral range, when /proc does not say. */
const EPHEMERAL_DEFAULT: [number, number] = [32_768, 60_999];
const NOTHING = { has: (): boolean => false };

/** The ports handed out: from LOWEST to just below the ephemeral range, or above it if that is too small. */
export function portRange(ephemeral = ephemeralRange()): [number, number] {
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
 * A TCP port on `host` that is free right now and not in `exclude` (ports handed out but not bound yet).
 * Chosen at random in portRange(), so that processes sharing a machine seldom pick the same one; `exclude`
 * is asked on each try, so a live view (any `{ has }`) also covers concurrent allocations.
 */
export async function freePort(host = "127.0.0.1", exclude: { has(port: number): boolean } = NOTHING): Promise<number> {
  const [low, high] = portRange();
  for (let i = 0; i < ATTEMPTS; i++) {
    const port = randomInt(low, high + 1);
    if (exclude.has(port)) continue;
    const refused = await tryListen(host, port);
    if (!refused) return port;
    // Only a taken port is worth another try; an address this machine does not have is not.
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
    const server = createServer();
    server.unref();
    server.once("error", (err: NodeJS.ErrnoException) => resolve(err));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(undefined)));
  });
}
