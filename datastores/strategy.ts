/**
 * The contract every engine fills in. Only the tracker loads strategies; the functions see only the
 * pure data in ./catalog.ts (versions, capabilities, identifier rules).
 */

/** Where one guest lives on its node. All paths are absolute. */
export interface GuestLayout {
  instanceId: string;
  /** The guest's volume (its data directory lives inside it). */
  volume: string;
  /** The engine's data directory, inside the volume. */
  dataDir: string;
  /** Runtime files the tracker keeps for the guest: pid file, socket, engine log, admin secret. */
  runDir: string;
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

export interface DatabaseToCreate {
  name: string;
  characterSet?: string;
  collate?: string;
}

export interface UserToCreate {
  name: string;
  password: string;
  host: string;
  databases: string[];
}

export interface LaunchSpec {
  command: string;
  args: string[];
  env?: Record<string, string>;
}

export type Health = "HEALTHY" | "RUNNING" | "SHUTDOWN";

/** One engine: how to build its golden image, start it, check it and change it. */
export interface DatastoreStrategy {
  /** The manager name, e.g. "mariadb". */
  readonly manager: string;
  /** Throws with a clear message if the engine's binaries are missing or not the expected version. */
  checkInstalled(version: string): Promise<void>;
  /** Initialise a fresh data directory into `dataDir` (the slow step, done once per version). */
  initImage(dataDir: string, version: string): Promise<void>;
  /** The command that runs the engine in the foreground on a prepared data directory. */
  launch(guest: Omit<GuestHandle, "adminPassword">): LaunchSpec;
  /**
   * Resolves once the engine answers; rejects after `timeoutMs` with the tail of the engine's log, or as soon
   * as `signal` aborts (the caller saw the process exit and stops the polling).
   */
  waitReady(guest: GuestHandle, timeoutMs: number, signal?: AbortSignal): Promise<void>;
  /** Set the admin (root) password on a guest started from the golden image; idempotent. */
  secure(guest: GuestHandle): Promise<void>;
  createDatabases(guest: GuestHandle, databases: DatabaseToCreate[]): Promise<void>;
  createUsers(guest: GuestHandle, users: UserToCreate[]): Promise<void>;
  /** Is the engine answering right now? Never throws. */
  health(guest: GuestHandle): Promise<Health>;
  /** Ask the engine to shut down cleanly (the compute driver escalates to SIGKILL if it does not). */
  shutdownSignal(): NodeJS.Signals;
}
