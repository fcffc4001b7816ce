/**
 * Redis's ACL users as the service keeps them: the file they live in (inside the data directory, so they travel
 * with the data in clones and snapshots), what each kind of user may do, and passwords as SHA-256 hashes
 * (`#<hex>`), so that no plain password is in an ACL command, the slow log or the file.
 */
import { createHash, randomBytes } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Redis } from "ioredis";
import type { GuestLayout } from "../contract.js";
import { writeGuestFile } from "../guest-files.js";
import { ADMIN_USER, pairs } from "./connection.js";

/** The superuser a tenant may enable. */
export const ROOT_USER = "root";
/** Accounts of the engine and the service: never listed, changed or removed through the tenant's calls. */
export const SERVICE_USERS = new Set(["default", ADMIN_USER, ROOT_USER]);

/** The ACL file, inside the data directory so that it is cloned and snapshotted with the data. */
export const ACL_FILE = "users.acl";
/** A one-time password for os_admin on a fresh clone (in the run folder, 0600), until secure() replaces it. */
export const BOOTSTRAP_FILE = "bootstrap.secret";

/**
 * What a tenant's user may do: every key, channel and command except the @admin and @dangerous ones
 * (CONFIG, ACL, SHUTDOWN, DEBUG, MODULE, MONITOR, CLIENT KILL/LIST, SAVE, replication …). A few @dangerous
 * commands come back because they act only on the tenant's own data or describe the server, and client
 * libraries and tools rely on them: KEYS, SORT, FLUSHDB, FLUSHALL, SWAPDB and INFO. MIGRATE and RESTORE stay
 * out (they reach other hosts or load raw serialized payloads).
 */
export const TENANT_PERMISSIONS = ["~*", "&*", "+@all", "-@admin", "-@dangerous", "+keys", "+sort", "+sort_ro", "+flushdb", "+flushall", "+swapdb", "+info"];
/** os_admin: everything. */
export const SUPERUSER_PERMISSIONS = ["~*", "&*", "+@all"];
/**
 * What the tenant's root may not do on top of a tenant user's rights: reach other hosts from the node's place
 * in the network (REPLICAOF/SLAVEOF, MIGRATE, FAILOVER: a root could point its guest at the node's own
 * services, or at a rogue primary that pushes whatever it likes), act as a replica (SYNC, PSYNC), load code
 * or poke the server (MODULE, DEBUG), stop it, touch the ACL users (it could lock the service's own
 * os_admin out), or change settings (CONFIG SET port/bind would open listeners of its own on the node's
 * addresses, tls-* and port undo the instance's TLS mode): settings go through configuration groups, as on
 * RDS. Root keeps CONFIG GET and every data command.
 */
export const ROOT_LIMITS = ["-replicaof", "-slaveof", "-migrate", "-failover", "-sync", "-psync", "-module", "-debug", "-shutdown", "-acl", "+acl|whoami", "+acl|cat", "-config|set", "-config|rewrite"];
/** root: everything but ROOT_LIMITS. */
export const ROOT_PERMISSIONS = [...SUPERUSER_PERMISSIONS, ...ROOT_LIMITS];

/** A password as an ACL rule: its SHA-256, so the plain text is in no ACL command, slow log or file. */
export function passwordRule(password: string): string {
  return `#${createHash("sha256").update(password, "utf8").digest("hex")}`;
}

/** The guest's ACL file. */
export function aclFile(guest: Pick<GuestLayout, "dataDir">): string {
  return path.join(guest.dataDir, ACL_FILE);
}

/** An ACL user as ACL GETUSER describes it (Redis 7.0 shape). */
export interface AclUser {
  flags: string[];
  passwords: string[];
  commands: string;
  keys: string;
  channels: string;
  selectors: Array<Record<string, string>>;
}

export async function getUser(client: Redis, name: string): Promise<AclUser | undefined> {
  const reply = await client.call("ACL", "GETUSER", name);
  if (reply === null) return undefined;
  const fields = pairs(reply);
  const strings = (v: unknown) => (Array.isArray(v) ? v.map(String) : []);
  return {
    flags: strings(fields.flags),
    passwords: strings(fields.passwords),
    commands: String(fields.commands ?? ""),
    keys: String(fields.keys ?? ""),
    channels: String(fields.channels ?? ""),
    selectors: (Array.isArray(fields.selectors) ? fields.selectors : []).map((s) => pairs(s) as Record<string, string>),
  };
}

/** The ACL SETUSER rules that rebuild `user` (for a rename), with a new password if one is given. */
export function rulesOf(user: AclUser, password: string | undefined): string[] {
  const words = (s: string | undefined) => (s ?? "").split(" ").filter((w) => w !== "");
  const flags = password === undefined ? user.flags : user.flags.filter((f) => f !== "nopass");
  const passwords = password === undefined ? user.passwords.map((h) => `#${h}`) : [passwordRule(password)];
  const selectors = user.selectors.map((s) => `(${[...words(s.commands), ...words(s.keys), ...words(s.channels)].join(" ")})`);
  return [...flags, ...passwords, ...words(user.commands), ...words(user.keys), ...words(user.channels), ...selectors];
}

/**
 * A root enabled by an older Hoard had every command: at each start it loses ROOT_LIMITS (added to its rules,
 * so its password and state stay), and the ACL file is saved only when that changed something.
 */
export async function settleRoot(client: Redis): Promise<void> {
  const rules = async () => JSON.stringify(await client.call("ACL", "GETUSER", ROOT_USER));
  const before = await rules();
  // GETUSER answers nil for a user that does not exist: no root, nothing to settle.
  if (before === "null") return;
  await client.call("ACL", "SETUSER", ROOT_USER, ...ROOT_LIMITS);
  if ((await rules()) !== before) await saveAcl(client);
}

/** Writes ACL changes to the guest's ACL file, so they survive a restart. */
export async function saveAcl(client: Redis): Promise<void> {
  await client.call("ACL", "SAVE");
}

/**
 * Writes the guest's ACL file with `default` (passwordless, all commands) switched off and os_admin on a
 * one-time password (BOOTSTRAP_FILE), which secure() then replaces with the guest's admin secret; `tenant`:
 * the tenant's users' lines to keep.
 */
export async function lockAcl(guest: GuestLayout, tenant: string[]): Promise<void> {
  const bootstrap = randomBytes(32).toString("hex");
  await writeFile(path.join(guest.runDir, BOOTSTRAP_FILE), bootstrap, { mode: 0o600 });
  const acl = [`user default off resetpass resetkeys resetchannels -@all`, `user ${ADMIN_USER} on ${passwordRule(bootstrap)} ${SUPERUSER_PERMISSIONS.join(" ")}`, ...tenant];
  // The engine reads and rewrites it (ACL SAVE) as its guest's own user.
  await writeGuestFile(aclFile(guest), `${acl.join("\n")}\n`, guest.user);
}

/**
 * Makes an ACL file restored from a backup this guest's: os_admin there has the old guest's password, so
 * it gets a one-time one (as a fresh clone's). The tenant's users stay as they were; `default` stays off.
 */
export async function reopenRestoredAcl(guest: GuestLayout): Promise<void> {
  const lines = (await readFile(aclFile(guest), "utf8").catch(() => "")).split("\n").filter((l) => l.trim() !== "" && !/^user (os_admin|default) /.test(l));
  await lockAcl(guest, lines);
}
