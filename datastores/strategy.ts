/**
 * The contract every engine fills in. Only the tracker loads strategies; the functions see only the
 * pure data in ./catalog.ts (versions, capabilities, identifier rules).
 */

/** Where one guest lives on its node. All paths are absolute. */
export interface GuestLayout {
  instanceId: string;
  /** The guest's volume (its data directory lives inside it). */
  volume: string;
  /** The engine's data directory, inside the volume: the engine's user's, 0700. */
  dataDir: string;
  /**
   * The tracker's runtime files for the guest (pid file, engine log, admin secret: root's, 0600), which the
   * engine may pass through but not list; the engine's own runtime files go in engineDir(runDir).
   */
  runDir: string;
  /**
   * The OS user the engine runs as (its own, made for this guest): a file the engine reads or writes must be
   * this user's. The tracker's own user when absent (a tracker that is not root).
   */
  user?: { uid: number; gid: number };
}

import { createHash } from "node:crypto";
import { closeSync, fchownSync, openSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { open, rename, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { GuestDatabase, GuestNewUser, GuestUserChanges, GuestUserInfo, GuestUserRef } from "../events/guest-shapes.js";

/** sun_path holds 108 bytes, with the terminating NUL. */
const MAX_SOCKET_PATH = 107;
/** The longest socket file name an engine uses in its folder (PostgreSQL's `.s.PGSQL.<port>`). */
const LONGEST_SOCKET_NAME = ".s.PGSQL.65535";

/**
 * Where sockets go when the engine's folder is too deep for a socket address: a folder of the node's own
 * that the tracker sees (an engine's /tmp is private to it). /run needs root; a tracker that is not root
 * has no private /tmp either, so the system's temporary folder serves.
 */
export const SOCKET_FALLBACK_ROOT = process.getuid?.() === 0 ? "/run/hoard" : path.join(tmpdir(), `hoard-${process.getuid?.() ?? "user"}`);

/** The engine's own folder in its guest's run folder: its sockets, pid file, and files it writes (0700, its user's). */
export function engineDir(guest: Pick<GuestLayout, "runDir">): string {
  return path.join(guest.runDir, "engine");
}

/**
 * The folder of a guest's unix socket `socketName` (the longest any engine uses unless given): its engine
 * folder, or, when that path is too long for a socket address, a short folder under SOCKET_FALLBACK_ROOT named by a hash of the runDir (unique per node home and
 * instance). The tracker makes it (the engine's user's, 0700) before every start and removes it with the guest.
 */
export function guestSocketDir(runDir: string, socketName = LONGEST_SOCKET_NAME): string {
  const dir = engineDir({ runDir });
  if (Buffer.byteLength(path.join(dir, socketName)) <= MAX_SOCKET_PATH) return dir;
  return path.join(SOCKET_FALLBACK_ROOT, createHash("sha256").update(runDir).digest("hex").slice(0, 20));
}

/** A guest's unix socket named `file`: in the engine's folder when its path fits, else in the short folder. */
export function guestSocketPath(runDir: string, file: string): string {
  return path.join(guestSocketDir(runDir, file), file);
}

/**
 * Writes `text` as `file` (0600) for the engine's `user`, by the tracker (root), in a folder the engine may
 * write itself: made aside with O_EXCL (which follows no symlink the engine planted), owned through its own
 * descriptor, and renamed into place (a rename replaces a link, never its target). Synchronous, as launch()
 * must be; writeGuestFile is the same, awaited.
 */
export function writeGuestFileSync(file: string, text: string, user: { uid: number; gid: number } | undefined): void {
  const tmp = `${file}.hoard-tmp`;
  rmSync(tmp, { force: true });
  const fd = openSync(tmp, "wx", 0o600);
  try {
    if (user) fchownSync(fd, user.uid, user.gid);
    writeFileSync(fd, text);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}

/** writeGuestFileSync, awaited. */
export async function writeGuestFile(file: string, text: string, user: { uid: number; gid: number } | undefined): Promise<void> {
  const tmp = `${file}.hoard-tmp`;
  await rm(tmp, { force: true });
  const handle = await open(tmp, "wx", 0o600);
  try {
    if (user) await handle.chown(user.uid, user.gid);
    await handle.writeFile(text);
  } finally {
    await handle.close();
  }
  await rename(tmp, file);
}

/** The file in a guest's runDir that receives the engine's stdout and stderr: its log. */
export const ENGINE_LOG = "engine.log";

/** Where the guest listens. */
export interface GuestEndpoint {
  host: string;
  port: number;
}

/** Everything a strategy needs to act on one running guest. `adminPassword` never leaves the tracker. */
export interface GuestHandle extends GuestLayout, GuestEndpoint {
  adminPassword: string;
  /** Resource limits from the flavor, for engine settings (buffer pools and such). */
  ramMb: number;
}

export type DatabaseToCreate = GuestDatabase;

export type UserToCreate = GuestNewUser;

export interface LaunchSpec {
  command: string;
  args: string[];
  env?: Record<string, string>;
  /** Run the engine as this OS user (uid and gid); the tracker sets it from the guest's own (GuestLayout.user). */
  user?: { uid: number; gid: number };
}

/** A database as the engine lists it (system databases are never listed). */
export type DatabaseInfo = GuestDatabase;

/** Which user: engines without hosts (PostgreSQL, Redis) take `host` as '%' and ignore it. */
export type UserRef = GuestUserRef;

/** A user as the engine lists it, with the databases it may use. */
export type UserInfo = GuestUserInfo;

/** What an update changes; absent fields stay as they are. */
export type UserChanges = GuestUserChanges;

/** Engine parameters by name, as text (`"134217728"`, `"ON"`): what is set at start or changed live. */
export type Settings = Record<string, string>;

export { GuestActionError, refuse } from "../errors/index.js";

export type Health = "HEALTHY" | "RUNNING" | "SHUTDOWN";

/** One engine: how to build its golden image, start it, check it and change it. */
export interface DatastoreStrategy {
  /** The manager name, e.g. "mariadb". */
  readonly manager: string;
  /** Throws with a clear message if the engine's binaries are missing or not the expected version. */
  checkInstalled(version: string): Promise<void>;
  /**
   * Initialise a fresh data directory into `dataDir` (the slow step, done once per version). `user`: an OS
   * account of its own the tracker made for the build, for an engine that refuses to run as root (the image
   * is handed back to root afterwards, and each guest's clone to the guest's user).
   */
  initImage(dataDir: string, version: string, user?: { uid: number; gid: number }): Promise<void>;
  /**
   * Makes a freshly cloned volume and run folder ready for the engine (ownership, modes), before the first
   * launch; idempotent.
   */
  prepareGuest(guest: GuestLayout): Promise<void>;
  /**
   * The command that runs the engine in the foreground on a prepared data directory, with `settings` (the
   * values derived from the flavor and those of an attached configuration group) in force from the start.
   */
  launch(guest: Omit<GuestHandle, "adminPassword">, settings: Settings): LaunchSpec;
  /**
   * Resolves once the engine answers; rejects after `timeoutMs` with the tail of the engine's log, or as soon
   * as `signal` aborts (the caller saw the process exit and stops the polling).
   */
  waitReady(guest: GuestHandle, timeoutMs: number, signal?: AbortSignal): Promise<void>;
  /** Set the admin (root) password on a guest started from the golden image; idempotent. */
  secure(guest: GuestHandle): Promise<void>;
  // ---- schema (capability "databases"); names arrive checked against the catalog's rules ----
  /** Creates each database unless it exists (as Trove does, an existing one is not an error). */
  createDatabases(guest: GuestHandle, databases: DatabaseToCreate[]): Promise<void>;
  /** Every user database, sorted by name; system databases are hidden. */
  listDatabases(guest: GuestHandle): Promise<DatabaseInfo[]>;
  /** GuestActionError NOT_FOUND when it does not exist. */
  deleteDatabase(guest: GuestHandle, name: string): Promise<void>;

  // ---- users (capability "users") ----
  /** Creates users with their grants; GuestActionError CONFLICT when one exists already (nothing is created then). */
  createUsers(guest: GuestHandle, users: UserToCreate[]): Promise<void>;
  /** Every user the tenant made, sorted by name then host; the service's own accounts and root are hidden. */
  listUsers(guest: GuestHandle): Promise<UserInfo[]>;
  /** Renames, re-hosts or re-passwords a user (NOT_FOUND, or CONFLICT when the new name/host is taken). */
  updateUser(guest: GuestHandle, user: UserRef, changes: UserChanges): Promise<void>;
  deleteUser(guest: GuestHandle, user: UserRef): Promise<void>;
  /** Grants all privileges on each database (NOT_FOUND when the user or a database does not exist). */
  grantAccess(guest: GuestHandle, user: UserRef, databases: string[]): Promise<void>;
  revokeAccess(guest: GuestHandle, user: UserRef, database: string): Promise<void>;

  // ---- root (capability "root") ----
  /** Makes the engine's superuser reachable by the tenant with this password (creating it where needed). */
  enableRoot(guest: GuestHandle, password: string): Promise<void>;
  rootEnabled(guest: GuestHandle): Promise<boolean>;
  /** Takes the tenant's superuser access away again. */
  disableRoot(guest: GuestHandle): Promise<void>;

  // ---- configuration (capability "configuration") ----
  /** Applies dynamic parameters to the running engine (the caller passes only parameters that need no restart). */
  applySettings(guest: GuestHandle, settings: Settings): Promise<void>;
  /** The values the running engine has for these parameters (names as in the catalog's rules). */
  readSettings(guest: GuestHandle, names: string[]): Promise<Settings>;

  /** Is the engine answering right now? Never throws. */
  health(guest: GuestHandle): Promise<Health>;
  /** Ask the engine to shut down cleanly (the compute driver escalates to SIGKILL if it does not). */
  shutdownSignal(): NodeJS.Signals;
  /** TLS (see ./tls.ts): absent for an engine that has none. */
  readonly tls?: EngineTls;
}

/** What an engine does with the guest's TLS files (which launch() points it at when they exist). */
export interface EngineTls {
  /** Whether it serves TLS and plaintext on one port ("enabled"); if not, only a "required" guest gets TLS. */
  readonly alongsidePlaintext: boolean;
  /** Makes the running engine take renewed certificate files, without a restart. */
  reload(guest: GuestHandle): Promise<void>;
}

// ---- backups (capabilities "backup" and "restore"); strategies live in <engine>/backup.ts ----

/** Entries of one folder to put in a backup file, under the same names (e.g. `data` of a volume snapshot). */
export interface FolderPart {
  dir: string;
  names: string[];
  /** tar --exclude patterns of files not to carry (e.g. "data/postmaster.pid"). */
  exclude?: string[];
}

/** A picture of a guest's volume at one moment: `dir` holds the volume as it was (its `data` inside). */
export interface VolumeFreeze {
  dir: string;
  /** An O(1) copy-on-write snapshot; false when the volume driver had to copy (while the engine was held). */
  instant: boolean;
}

/** What the tracker lends a backup strategy for one backup. */
export interface BackupContext {
  /** Pictures the guest's volume now (at most once per backup); the tracker removes the picture afterwards. */
  freeze(): Promise<VolumeFreeze>;
  /** Writes the volume's dirty pages out, so that a snapshot taken next has little to flush while writes wait. */
  syncVolume(): Promise<void>;
  /** A private folder on the node for this backup (removed afterwards), e.g. for extra files to carry. */
  scratch: string;
  /** Told when writes stop and start again (the lock's edges), for those measuring what the lock covered. */
  onLock?(edge: "locked" | "unlocked"): void;
}

/** What a strategy took: folders to pack, or a stream it writes (a logical dump), and what it measured. */
export interface BackupTaken {
  payload: { kind: "folders"; parts: FolderPart[] } | { kind: "stream"; stream: import("node:stream").Readable };
  /** How long writes were blocked, in ms, from asking for the lock to its release (null: none were). */
  lockMs: number | null;
  /** Facts for the backup's record (e.g. how long acquiring the lock took, "copied while locked"). */
  notes: string[];
}

/**
 * One way to back up an engine and get the data back (Trove's backup strategies). A backup is "files"
 * (a tar of folders relative to the volume, holding `data/`) or "replay" (a stream the engine reads back).
 */
export interface BackupStrategy {
  /** The name recorded in the backup, e.g. "mariadb-snapshot". */
  readonly name: string;
  readonly manager: string;
  readonly restoreBy: "files" | "replay";
  /** Backs up a running guest; the engine keeps serving (at most a short lock). */
  take(guest: GuestHandle, ctx: BackupContext): Promise<BackupTaken>;
  /**
   * "files": makes a data folder unpacked from a backup usable for `guest` before its first start there: the
   * engine's admin account gets `guest.adminPassword` (the backup's own admin secret belongs to another guest).
   */
  adoptFiles?(guest: GuestHandle): Promise<void>;
  /** "replay": feeds a backup into the guest's running, secured engine, whose data is that of a fresh image. */
  replay?(guest: GuestHandle, backup: import("node:stream").Readable): Promise<void>;
}
