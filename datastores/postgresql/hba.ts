/**
 * A PostgreSQL guest's pg_hba.conf (first match wins) and pg_ident.conf: the service's admin over the unix
 * socket only, tenants over TCP with SCRAM, and only over TLS when the instance says so.
 */
import { userInfo } from "node:os";
import path from "node:path";
import { ADMIN } from "./accounts.js";
import { engineUser, writeEngineFile, type EngineUser } from "./engine-user.js";
import { postgresqlTlsHbaRules } from "./tls.js";

/** The peer-authentication map of the golden image (see bootstrapHba). */
const IDENT_MAP = "hoard";

const TENANT_RULES = [
  "host    all   os_admin  0.0.0.0/0  reject",
  "host    all   os_admin  ::/0       reject",
  "host    all   os_restore 0.0.0.0/0 reject",
  "host    all   os_restore ::/0      reject",
  "host    all   all       0.0.0.0/0  scram-sha-256",
  "host    all   all       ::/0       scram-sha-256",
];

/**
 * The golden image's rules: os_admin has no password yet, so the tracker's own OS user may log in as os_admin
 * over the socket by peer authentication until secure() sets the password and installs securedHba.
 */
export function bootstrapHba(): string {
  return hbaFile([`local   all   os_admin             peer map=${IDENT_MAP}`]);
}

/**
 * A guest's rules once secured: os_admin with its password, only over the socket (and os_restore, which exists
 * only while a logical backup is replayed); tenants only over TCP, and only over TLS when the instance says so.
 */
export function securedHba(runDir: string): string {
  return hbaFile(["local   all   os_admin             scram-sha-256", "local   all   os_restore           scram-sha-256"], postgresqlTlsHbaRules(runDir));
}

function hbaFile(adminRules: string[], beforeTenants: string[] = []): string {
  return [
    "# Written by Hoard. The service's admin over the unix socket only; tenants over TCP with SCRAM.",
    "# TYPE DATABASE USER      ADDRESS    METHOD",
    ...adminRules,
    "local   all   all                  reject",
    ...beforeTenants,
    ...TENANT_RULES,
    "",
  ].join("\n");
}

/** pg_ident.conf: peer authentication maps the tracker's own OS user (root, as a rule) to os_admin, until secure(). */
export function identConf(): string {
  return `# Written by Hoard: the tracker's OS user, until the guest is secured.\n${IDENT_MAP}  ${userInfo().username}  ${ADMIN}\n`;
}

/**
 * Opens a data folder restored from a backup to this node's tracker again: its pg_hba.conf and pg_ident.conf
 * are the golden image's (os_admin by peer authentication of the tracker's OS user), as on a fresh clone, so
 * that secure() sets this guest's admin password and closes it again. The old guest's password goes unused.
 */
export async function reopenRestoredData(dataDir: string, owner: EngineUser | undefined): Promise<void> {
  const user = engineUser(owner);
  await writeEngineFile(path.join(dataDir, "pg_hba.conf"), bootstrapHba(), user);
  await writeEngineFile(path.join(dataDir, "pg_ident.conf"), identConf(), user);
}
