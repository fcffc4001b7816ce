/**
 * Network driver "host": guests listen on an address of the node itself (loopback by default), each on its
 * own port. Later drivers put each tenant network in a namespace instead.
 */
import net from "node:net";

const ATTEMPTS = 50;

/**
 * A TCP port on `host` that is free right now and not in `exclude` (ports handed out but not yet bound by
 * their guest). The kernel picks it (listen on port 0); the port is released again before returning.
 * `exclude` is asked after each probe, so a live view (any `{ has }`) also covers concurrent allocations.
 */
export async function allocatePort(host: string, exclude: { has(port: number): boolean }): Promise<number> {
  for (let i = 0; i < ATTEMPTS; i++) {
    const port = await probeFreePort(host);
    if (!exclude.has(port)) return port;
  }
  throw new Error(`no free TCP port found on ${host} after ${ATTEMPTS} attempts`);
}

/** Whether `port` on `host` can be listened on right now. */
export async function isPortFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", () => resolve(false));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

function probeFreePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", (err) => reject(new Error(`cannot listen on ${host}: ${err.message}`)));
    server.listen({ host, port: 0, exclusive: true }, () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}
