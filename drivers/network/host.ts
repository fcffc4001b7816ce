/**
 * Network driver "host": guests listen on an address of the node itself (loopback by default), each on its
 * own port, taken where the bootstrap takes its servers' ports (below the kernel's ephemeral range, so no
 * outgoing connection takes it before the engine binds it). Other drivers put each tenant network in a
 * namespace instead.
 */
import { freePort, isPortFree } from "../../bootstrap/free-port.js";

export { isPortFree };

/** A TCP port on `host` free right now and not in `exclude` (ports handed out but not yet bound by their guest). */
export function allocatePort(host: string, exclude: { has(port: number): boolean }): Promise<number> {
  return freePort(host, exclude);
}
