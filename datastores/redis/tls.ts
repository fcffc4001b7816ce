/**
 * Redis's TLS. Redis serves one protocol per port, so TLS and plaintext cannot share the guest's one port:
 * a "required" guest serves TLS only on it (`tls-port`, `port 0`); any other Redis guest stays plaintext
 * (the tracker issues it no certificate, and the instance shows TLS "off"). Clients are not asked for
 * certificates (`tls-auth-clients no`: they log in with ACL passwords). The tracker's own session is on the
 * unix socket, which stays plaintext. A renewed certificate is taken live by CONFIG SET of the same file
 * names (Redis reloads its TLS files on every such set, even of an unchanged name).
 */
import type { Redis } from "ioredis";
import { guestTls } from "../tls.js";

/** Whether this engine can offer TLS beside plaintext on one port: it cannot. */
export const REDIS_TLS_ALONGSIDE_PLAINTEXT = false;

/** Options (name, value) that come after the guest's fixed ones, so `port 0` wins over its port. */
export function redisTlsOptions(runDir: string, port: number): [string, string][] {
  const tls = guestTls(runDir);
  if (tls?.mode !== "required") return [];
  return [
    ["tls-port", String(port)],
    ["port", "0"],
    ["tls-cert-file", tls.cert],
    ["tls-key-file", tls.key],
    ["tls-ca-cert-file", tls.ca],
    ["tls-auth-clients", "no"],
  ];
}

/** Makes the running engine load its certificate files again. */
export async function reloadRedisTls(client: Redis, runDir: string): Promise<void> {
  const tls = guestTls(runDir);
  if (tls?.mode !== "required") return;
  await client.call("CONFIG", "SET", "tls-cert-file", tls.cert, "tls-key-file", tls.key, "tls-ca-cert-file", tls.ca);
}
