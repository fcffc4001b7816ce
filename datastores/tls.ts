/**
 * Where a guest's TLS files live and what they say, shared by the tracker (which writes them) and the
 * engines' tls.ts (which point their engine at them). In the guest's run folder, `tls/` (root's, 0710, the
 * engine's group: the engine reads, never writes, so nothing it plants there is followed or trusted):
 *   server.crt, server.key (0600), ca.crt   owned by the owner of the guest's data folder (the engine's user)
 *   tls.json                                the instance's mode, { "mode": "enabled" | "required" }, root's 0600
 * Files are replaced by rename, so an engine that reloads them never reads half a certificate.
 */
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";

/** "enabled": TLS offered, plaintext still accepted; "required": the engine refuses plaintext. */
export type TlsMode = "enabled" | "required";

/** The paths of a guest's certificate, key and CA certificate, and its mode. */
export interface GuestTlsFiles {
  dir: string;
  cert: string;
  key: string;
  ca: string;
  mode: TlsMode;
}

/** The guest's TLS folder, whether or not it has certificates yet. */
export function tlsDir(runDir: string): string {
  return path.join(runDir, "tls");
}

/** The mode file's name in tlsDir. */
export const TLS_MODE_FILE = "tls.json";

/** The guest's TLS files if the tracker issued them (guests made before TLS have none: they stay plaintext). */
export function guestTls(runDir: string): GuestTlsFiles | undefined {
  const dir = tlsDir(runDir);
  const files = { dir, cert: path.join(dir, "server.crt"), key: path.join(dir, "server.key"), ca: path.join(dir, "ca.crt") };
  if (!existsSync(files.cert) || !existsSync(files.key)) return undefined;
  let mode: TlsMode = "enabled";
  try {
    mode = (JSON.parse(readFileSync(path.join(dir, TLS_MODE_FILE), "utf8")) as { mode?: string }).mode === "required" ? "required" : "enabled";
  } catch {
    // no mode file: the default
  }
  return { ...files, mode };
}
