/**
 * PostgreSQL's TLS: `ssl=on` with the guest's certificate from the start; a "required" guest's pg_hba.conf
 * rejects every TCP connection without TLS before any other rule (`hostnossl … reject`), while the tracker's
 * admin session over the unix socket (a `local` rule) is untouched. A renewed certificate is taken by a
 * reload (pg_reload_conf), which re-reads the certificate files without a restart.
 */
import { guestTls } from "../tls.js";

/** `-c` options for the guest's TLS files ([] for a guest without them). The key must be 0600, the engine's. */
export function postgresqlTlsOptions(runDir: string): string[] {
  const tls = guestTls(runDir);
  if (!tls) return [];
  return ["-c", "ssl=on", "-c", `ssl_cert_file=${tls.cert}`, "-c", `ssl_key_file=${tls.key}`, "-c", "ssl_min_protocol_version=TLSv1.2"];
}

/** The pg_hba.conf lines that come before the tenants' rules: plaintext TCP refused for a "required" guest. */
export function postgresqlTlsHbaRules(runDir: string): string[] {
  if (guestTls(runDir)?.mode !== "required") return [];
  return ["hostnossl all   all       0.0.0.0/0  reject", "hostnossl all   all       ::/0       reject"];
}
