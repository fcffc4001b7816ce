/**
 * MariaDB's TLS: the guest's certificate from the start (`--ssl-*`), plaintext over TCP refused for a
 * "required" guest (`require_secure_transport`, which counts the unix socket as secure, so the tracker's own
 * admin session over it keeps working), and a renewed certificate taken live with `FLUSH SSL`.
 */
import type { Connection } from "mysql2/promise";
import { guestTls } from "../tls.js";

/** The engine options for the guest's TLS files ([] for a guest without them). */
export function mariadbTlsOptions(runDir: string): string[] {
  const tls = guestTls(runDir);
  if (!tls) return [];
  return [`--ssl-cert=${tls.cert}`, `--ssl-key=${tls.key}`, `--ssl-ca=${tls.ca}`, ...(tls.mode === "required" ? ["--require-secure-transport=ON"] : [])];
}

/** Makes the running engine read its certificate files again (new connections get the new certificate). */
export async function reloadMariadbTls(conn: Connection): Promise<void> {
  await conn.query("FLUSH SSL");
}
