/**
 * The contract every engine fills in, and the shape of an engine module (datastores/<engine>/index.ts). Types
 * only, plus the table that turns capability groups into the API's capabilities: the pure catalogue
 * (./catalog.ts), the engines' pure rules and parameters, and the strategies all read it, and it imports
 * nothing of theirs (no cycle).
 */
import type { Readable } from "node:stream";
import type { GuestDatabase, GuestNewUser, GuestUserChanges, GuestUserInfo, GuestUserRef } from "../events/guest-shapes.js";

// ---- the catalogue's data: what the API knows of a datastore without loading its engine ----

export type Capability = "provision" | "databases" | "users" | "root" | "configuration" | "backup" | "restore" | "resize";

export interface NameRule {
  maxLength: number;
  pattern: RegExp;
  /** What a valid name looks like, said to the user when theirs is refused. */
  help: string;
  reserved?: string[];
}

export interface EngineRules {
  database: NameRule;
  user: NameRule;
  host: NameRule;
  password: { maxLength: number };
  /** How the engine writes booleans in its settings; ON/OFF when absent. */
  booleanWords?: { on: string; off: string };
  /** Checks a character set and collation pair; returns what is wrong, or null. */
  charset(charset?: string, collate?: string): string | null;
}

/**
 * One configuration parameter of an engine version, written from the engine's own documentation.
 * Bounds are decimal strings so that values beyond 2^53 stay exact.
 */
export interface ParameterRule {
  name: string;
  type: "integer" | "float" | "string" | "boolean";
  min?: string;
  max?: string;
  /** The allowed values of a string parameter (compared case-insensitively); any string when absent. */
  values?: string[];
  /**
   * A stricter check of a string value than `values` can say (a list of known words, a plain name): what is
   * wrong with it, said to the user, or null. Applied by the API and again by the engine before it is used.
   */
  check?: (value: string) => string | null;
  /** True when the engine reads it only at start (the instance then shows RESTART_REQUIRED). */
  restartRequired: boolean;
  description: string;
}

export interface DatastoreVersionDefinition {
  name: string;
  number: string;
  active: boolean;
  /** The parameters a configuration group may set for this version. */
  parameters: ParameterRule[];
}

/** A datastore as the catalogue lists it (built from the engine that serves it, see ./catalog.ts). */
export interface DatastoreDefinition extends ServedDatastore {
  /** The engine module that serves it (datastores/<manager>/). */
  manager: string;
  /** What the API lets users do with it: derived from the engine's capability groups and backups. */
  capabilities: Capability[];
  /** The backup strategies the engine has (datastores/<manager>/backup.ts), the default first. */
  backupStrategies: string[];
}

/** A datastore an engine serves, as its definition states it. */
export interface ServedDatastore {
  /** The datastore's public name (`--datastore`). */
  name: string;
  versions: DatastoreVersionDefinition[];
  defaultVersion: string;
  rules: EngineRules;
  /** The engine's standard port (3306, 5432, 6379). */
  port: number;
  /** The superuser a tenant gets from root enable; "root" when absent. */
  rootUser?: string;
  /** Parameter values derived from the flavor (memory settings and such); a configuration group overrides them. */
  flavorSettings(flavor: { ramMb: number; vcpus: number }): Record<string, string>;
}

// ---- where a guest lives and what a strategy is handed ----

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

export type Health = "HEALTHY" | "RUNNING" | "SHUTDOWN";

// ---- the strategy: a core every engine has, and optional capability groups ----

/** What every engine does: build its golden image, start it, check it, stop it. */
export interface EngineCore {
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

/** Named databases, and which users may use them. Names arrive checked against the catalogue's rules. */
export interface SchemaGroup {
  /** Creates each database unless it exists (as Trove does, an existing one is not an error). */
  createDatabases(guest: GuestHandle, databases: DatabaseToCreate[]): Promise<void>;
  /** Every user database, sorted by name; system databases are hidden. */
  listDatabases(guest: GuestHandle): Promise<DatabaseInfo[]>;
  /** DATABASE_NOT_FOUND when it does not exist. */
  deleteDatabase(guest: GuestHandle, name: string): Promise<void>;
  /** Grants all privileges on each database (USER_NOT_FOUND, DATABASE_NOT_FOUND). */
  grantAccess(guest: GuestHandle, user: UserRef, databases: string[]): Promise<void>;
  /** Takes a user's access to a database away (USER_NO_ACCESS when it had none). */
  revokeAccess(guest: GuestHandle, user: UserRef, database: string): Promise<void>;
}

/** The tenant's users. */
export interface UsersGroup {
  /** Creates users with their grants; USER_EXISTS when one exists already (nothing is created then). */
  createUsers(guest: GuestHandle, users: UserToCreate[]): Promise<void>;
  /** Every user the tenant made, sorted by name then host; the service's own accounts and root are hidden. */
  listUsers(guest: GuestHandle): Promise<UserInfo[]>;
  /** Renames, re-hosts or re-passwords a user (USER_NOT_FOUND, or USER_EXISTS when the new name/host is taken). */
  updateUser(guest: GuestHandle, user: UserRef, changes: UserChanges): Promise<void>;
  deleteUser(guest: GuestHandle, user: UserRef): Promise<void>;
}

/** The tenant's superuser. */
export interface RootGroup {
  /** Makes the engine's superuser reachable by the tenant with this password (creating it where needed). */
  enableRoot(guest: GuestHandle, password: string): Promise<void>;
  rootEnabled(guest: GuestHandle): Promise<boolean>;
  /** Takes the tenant's superuser access away again. */
  disableRoot(guest: GuestHandle): Promise<void>;
}

/** Live parameters (configuration groups). */
export interface ConfigurationGroup {
  /** Applies dynamic parameters to the running engine (the caller passes only parameters that need no restart). */
  applySettings(guest: GuestHandle, settings: Settings): Promise<void>;
  /** The values the running engine has for these parameters (names as in the catalogue's rules). */
  readSettings(guest: GuestHandle, names: string[]): Promise<Settings>;
}

/**
 * The optional groups a strategy may have, by name. A new kind of operation (replication, cluster) is a new
 * group here and a line in GROUP_CAPABILITIES; engines without it need not change.
 */
export interface CapabilityGroups {
  schema: SchemaGroup;
  users: UsersGroup;
  root: RootGroup;
  configuration: ConfigurationGroup;
}

export type GroupName = keyof CapabilityGroups;

/** The API capability each group gives; an engine's backups give "backup" and "restore", its core "provision". */
export const GROUP_CAPABILITIES: Readonly<Record<GroupName, Capability>> = {
  schema: "databases",
  users: "users",
  root: "root",
  configuration: "configuration",
};

/** A strategy with exactly the groups G: each present, every other one absent. */
export type EngineStrategy<G extends GroupName> = EngineCore & { readonly [K in G]: CapabilityGroups[K] } & { readonly [K in Exclude<GroupName, G>]?: never };

/** A strategy as its callers see it: the core, and whichever groups the engine has. */
export type DatastoreStrategy = EngineCore & { readonly [K in GroupName]?: CapabilityGroups[K] };

// ---- backups; strategies live in <engine>/backup.ts ----

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
  payload: { kind: "folders"; parts: FolderPart[] } | { kind: "stream"; stream: Readable };
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
  replay?(guest: GuestHandle, backup: Readable): Promise<void>;
}

// ---- an engine module ----

/** A Debian package an engine runs on, and the programs that show it is installed. */
export interface DebianPackage {
  name: string;
  programs: string[];
  /** Where the programs are kept per major version (`<dir>/<version>/bin`, Debian's PostgreSQL) instead of on PATH. */
  versionedUnder?: string;
}

/**
 * An engine as pure data: what the catalogue, the package checks and the image read without loading its
 * strategy. `groups` is the one statement of what the engine can do: its strategy must have exactly these
 * groups (EngineModule's type, and the registry at load), and the capabilities are derived from them.
 */
export type EngineDefinition<G extends GroupName = GroupName, B extends string = string> = {
  manager: string;
  /** The engine's name in messages ("PostgreSQL"). */
  title: string;
  groups: readonly G[];
  /** The names of its backup strategies, the default first; none: no "backup" or "restore". */
  backupStrategies: readonly B[];
  /** The datastores it serves (MariaDB serves `mariadb` and `mysql`). */
  datastores: ServedDatastore[];
  packages: readonly DebianPackage[];
} & ("schema" extends G ? unknown : { /** Why it has no named databases, said when a call needs them. */ noDatabases: string });

/** An engine module (datastores/<engine>/index.ts): its definition, its strategy and its backup strategies. */
export interface EngineModule<G extends GroupName = GroupName, B extends string = string> {
  definition: EngineDefinition<G, B>;
  strategy: EngineStrategy<G>;
  backups: { readonly [K in B]: BackupStrategy & { readonly name: K } };
}

/**
 * An engine's definition, as given (the identity: it only makes TypeScript keep `groups` and
 * `backupStrategies` as the literal names they are, which the module's type then requires).
 */
export function defineEngine<const G extends GroupName, const B extends string>(definition: EngineDefinition<G, B>): EngineDefinition<G, B> {
  return definition;
}

/** An engine module as the registry hands it out, whatever its groups. */
export interface LoadedEngine {
  definition: EngineDefinition;
  strategy: DatastoreStrategy;
  backups: Readonly<Record<string, BackupStrategy>>;
}

/** The groups an engine definition names (what its strategy class implements: `EngineStrategy<GroupsOf<typeof def>>`). */
export type GroupsOf<D> = D extends EngineDefinition<infer G, string> ? G : never;

/** The module type an engine definition asks for. */
export type ModuleOf<D> = D extends EngineDefinition<infer G, infer B> ? EngineModule<G, B> : never;
