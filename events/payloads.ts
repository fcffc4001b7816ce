/**
 * What functions and trackers say to each other: the commands for a network node's tracker, what the
 * tracker reports back (results and heartbeats), and the instance events published for subscribers.
 */
import { z } from "zod";
import { GuestDatabase, GuestNewUser } from "./guest-shapes.js";
import { Id } from "./request-parts.js";

// ---- backups: what the tracker makes, stores and takes back (contract of tracker and backup functions) ----

/**
 * A project's data key as Postgres keeps it and commands carry it: wrapped (AES-256-GCM) by the master key
 * `masterKeyId`, which only trackers hold. An unwrapped data key never leaves a tracker's memory.
 */
export const WrappedDataKey = z.object({
  keyId: z.string().uuid(),
  masterKeyId: z.string().min(1),
  /** base64 of nonce, ciphertext and tag. */
  wrapped: z.string().min(1),
});
export type WrappedDataKey = z.infer<typeof WrappedDataKey>;

/** A backup's bytes in the backup store and what they hold: reported by the tracker, given back for restore and rollback. */
export const BackupArtifact = z.object({
  /** The store's key for the backup file (relative to the store's root; no scheme, no "..") */
  location: z.string().min(1),
  /** Bytes stored (after compression). */
  sizeBytes: z.number().int().nonnegative(),
  /** sha256 of the stored bytes, hex. */
  checksum: z.string().regex(/^[0-9a-f]{64}$/),
  /** The data's size before compression: a restore needs a volume at least this big. */
  dataBytes: z.number().int().nonnegative(),
  /** The strategy that made it, e.g. "mariadb-snapshot", "mariadb-dump", "postgresql-snapshot", "pg_dump", "redis-rdb". */
  strategy: z.string(),
  /** Engine module and version it was taken from: a restore must use the same. */
  manager: z.string(),
  version: z.string(),
  /** How long writes were blocked, in ms (null when the strategy blocks none). */
  lockMs: z.number().nonnegative().nullable(),
  /** What a reader should know, e.g. "directory volume: copied while locked". */
  notes: z.string().optional(),
  /** How the file is encrypted (absent: a backup made before Hoard encrypted them, stored as it was). */
  encryption: z.object({ cipher: z.literal("aes-256-gcm"), keyId: z.string().uuid() }).optional(),
});
export type BackupArtifact = z.infer<typeof BackupArtifact>;

/** Back up a running guest to the backup store. */
export const BackupCommand = z.object({
  instanceId: Id,
  node: z.string(),
  backupId: Id,
  strategy: z.string().optional(),
  /** The project's data key to encrypt with; absent (a project's first backup), the tracker makes one and reports it. */
  dataKey: WrappedDataKey.optional(),
});
export type BackupCommand = z.infer<typeof BackupCommand>;

/** Put a guest's data back to a backup of it, in place. */
export const RollbackCommand = z.object({ instanceId: Id, node: z.string(), backupId: Id, artifact: BackupArtifact, /** The data key of an encrypted backup. */ dataKey: WrappedDataKey.optional() });
export type RollbackCommand = z.infer<typeof RollbackCommand>;

/** Remove a backup's file from the store of the node that made it. */
export const DeleteBackupCommand = z.object({ node: z.string(), backupId: Id, artifact: BackupArtifact, /** The instance it was taken of, for reports. */ instanceId: Id.optional() });
export type DeleteBackupCommand = z.infer<typeof DeleteBackupCommand>;

// ---- functions → tracker (commands for one network node) ----

/** What an instance asks of TLS. */
export const TlsModeRequested = z.enum(["enabled", "required"]);

export const ProvisionCommand = z.object({
  instanceId: Id,
  node: z.string(),
  /** Engine module that serves this datastore (e.g. "mariadb" serves both mariadb and mysql). */
  manager: z.string(),
  datastore: z.string(),
  version: z.string(),
  flavor: z.object({ id: z.string(), ramMb: z.number().int(), vcpus: z.number().int() }),
  volumeSizeGb: z.number().int().positive(),
  networkId: z.string(),
  /** Trove's `access`: a public instance is published on its node's address to `allowed_cidrs` (all when absent). */
  access: z.object({ is_public: z.boolean(), allowed_cidrs: z.array(z.string()).optional() }).optional(),
  databases: z.array(GuestDatabase),
  users: z.array(GuestNewUser),
  /** Engine parameters in force from the first start: the flavor's derived values and any configuration group's. */
  settings: z.record(z.string(), z.string()).default({}),
  /** Build the guest's data from this backup (checksum verified first) instead of an empty image. */
  restore: BackupArtifact.optional(),
  /** The instance's TLS mode (see InstanceCreateBody.tls); "enabled" when absent. */
  tls: TlsModeRequested.optional(),
  /** The data key of an encrypted `restore`. */
  restoreKey: WrappedDataKey.optional(),
});
export type ProvisionCommand = z.infer<typeof ProvisionCommand>;

export const DeprovisionCommand = z.object({ instanceId: Id, node: z.string() });

/** When a configuration change was asked for: a guest's answers to an older request than its latest are superseded. */
const requestedAt = z.string().datetime({ offset: true });
/** New settings for a running guest: kept for every later start, `live` ones applied now. */
export const ConfigureCommand = z.object({ instanceId: Id, node: z.string(), settings: z.record(z.string(), z.string()), live: z.record(z.string(), z.string()), requestedAt: requestedAt.optional() });
export type ConfigureCommand = z.infer<typeof ConfigureCommand>;

/** Move a guest to another flavor: its limits and engine settings, with one restart. */
export const ResizeCommand = z.object({
  instanceId: Id,
  node: z.string(),
  flavor: z.object({ id: z.string(), ramMb: z.number().int(), vcpus: z.number().int() }),
  settings: z.record(z.string(), z.string()),
});
export type ResizeCommand = z.infer<typeof ResizeCommand>;

/** Grow a guest's volume while it runs. */
export const GrowVolumeCommand = z.object({ instanceId: Id, node: z.string(), sizeGb: z.number().int().positive() });

/** Restart, stop or start a guest's engine (the command's type says which). */
export const EngineCommand = z.object({ instanceId: Id, node: z.string() });
export type EngineCommand = z.infer<typeof EngineCommand>;
export type DeprovisionCommand = z.infer<typeof DeprovisionCommand>;

// ---- tracker → functions (results and heartbeats) ----

export const GuestAddress = z.object({
  address: z.string(),
  port: z.number().int(),
  network: z.string(),
  /** Where a public instance is published on its node (netns network driver): the node's address and a port of its own. */
  published: z.object({ address: z.string(), port: z.number().int() }).optional(),
});

/**
 * A guest's TLS as its tracker set it up: the mode in force ("off": its engine cannot offer TLS beside
 * plaintext and TLS was not required), the end of its certificate, and the CA certificate (PEM) that verifies it.
 */
export const GuestTls = z.object({
  mode: z.enum(["enabled", "required", "off"]),
  expires: z.string().datetime({ offset: true }).nullable(),
  ca: z.string().startsWith("-----BEGIN CERTIFICATE-----"),
});
export type GuestTls = z.infer<typeof GuestTls>;

export const GuestProvisioned = z.object({
  instanceId: Id,
  node: z.string(),
  address: GuestAddress,
  startedMs: z.number().nonnegative(),
  /** Absent from trackers that predate TLS. */
  tls: GuestTls.optional(),
});
export type GuestProvisioned = z.infer<typeof GuestProvisioned>;

export const GuestActionFailed = z.object({
  instanceId: Id,
  node: z.string(),
  action: z.enum(["provision", "deprovision", "configure", "restart", "stop", "start", "resize", "backup", "rollback", "delete-backup"]),
  message: z.string(),
  /** The backup a backup, rollback or delete-backup action was about. */
  backupId: z.string().optional(),
  /** The configure request a failed configure answers (its command's requestedAt). */
  requestedAt: requestedAt.optional(),
});
export type GuestActionFailed = z.infer<typeof GuestActionFailed>;

export const GuestDeprovisioned = z.object({ instanceId: Id, node: z.string() });
/** A guest took new settings; requestedAt is the configure request's, so a result of a superseded one is told apart. */
export const GuestConfigured = z.object({ instanceId: Id, node: z.string(), requestedAt: requestedAt.optional() });
/** A guest moved to a new flavor, or its volume grew. */
export const GuestResized = z.object({ instanceId: Id, node: z.string(), flavorId: z.string().optional(), volumeSizeGb: z.number().int().optional() });

/** A guest was backed up: where the backup is and what it holds. */
export const GuestBackedUp = z.object({
  instanceId: Id,
  node: z.string(),
  backupId: Id,
  artifact: BackupArtifact,
  /** The data key the tracker made for this backup (the command carried none), wrapped: it joins the project's keys. */
  newDataKey: WrappedDataKey.optional(),
});
export type GuestBackedUp = z.infer<typeof GuestBackedUp>;
/** A guest's data was put back to a backup. */
export const GuestRolledBack = z.object({ instanceId: Id, node: z.string(), backupId: Id });
/** A backup's file is gone from the store. */
export const BackupFileDeleted = z.object({ node: z.string(), backupId: Id });

/** A guest's engine was restarted, stopped or started (the event's type says which). */
export const GuestEngineChanged = z.object({ instanceId: Id, node: z.string() });
export type GuestDeprovisioned = z.infer<typeof GuestDeprovisioned>;

/** What the tracker saw of one guest: is its engine answering? */
export const GuestHealth = z.enum(["HEALTHY", "RUNNING", "SHUTDOWN", "CRASHED"]);
export type GuestHealth = z.infer<typeof GuestHealth>;

/**
 * A tracker's periodic report, sent also when it has no guest: `guests` is every complete guest the node
 * has (known to the control plane or not), `leftovers` the ids with a volume or run folder but no complete
 * guest and no operation under way (a build cut short, a removal cut short). The reconciler compares both
 * with the instance rows.
 */
export const GuestHeartbeat = z.object({
  node: z.string(),
  at: z.string(),
  guests: z.array(z.object({ instanceId: Id, health: GuestHealth, flavorId: z.string().optional(), /** When its TLS certificate ends (renewals move it). */ tlsExpires: z.string().datetime({ offset: true }).optional() })),
  leftovers: z.array(Id).default([]),
  /** Free space under the node's state folder against its floor; `low`: new databases and backups are refused. */
  disk: z.object({ freeBytes: z.number().nonnegative(), floorBytes: z.number().nonnegative(), low: z.boolean() }).optional(),
  /** The CA certificate (PEM) that verifies this node's guests, so a changed CA reaches the API. */
  ca: z.string().startsWith("-----BEGIN CERTIFICATE-----").optional(),
});
export type GuestHeartbeat = z.infer<typeof GuestHeartbeat>;

// ---- public events for subscribers (hoard.events.<project>.<type>) ----

export const InstanceStateEvent = z.object({
  instanceId: Id,
  project: z.string(),
  name: z.string(),
  status: z.string(),
  fault: z.string().optional(),
});
export type InstanceStateEvent = z.infer<typeof InstanceStateEvent>;
