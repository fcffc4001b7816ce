import { z } from "zod";
import { GuestDatabase, GuestNewUser } from "./guest-shapes.js";

/** Identifier used for instances, networks, flavors in events. */
const id = z.string().min(1);

/** The caller as the gateway authenticated it. */
export const Caller = z.object({
  project: z.string().min(1),
  roles: z.array(z.string()).default([]),
  /** Host header of the request, for building links. */
  host: z.string().default("localhost"),
});
export type Caller = z.infer<typeof Caller>;

export const DatabaseSpec = z.object({
  name: z.string(),
  character_set: z.string().optional(),
  collate: z.string().optional(),
});
export type DatabaseSpec = z.infer<typeof DatabaseSpec>;

export const UserSpec = z.object({
  name: z.string(),
  password: z.string(),
  host: z.string().optional(),
  databases: z.array(z.object({ name: z.string() })).optional(),
});
export type UserSpec = z.infer<typeof UserSpec>;

/** Trove's create-instance body (`{"instance": …}` unwrapped). Shapes only; meaning is checked by instance-create. */
export const InstanceCreateBody = z.object({
  name: z.string({ error: "instance.name is required" }).max(255, "instance.name is longer than 255 characters")
    .regex(/[A-Za-z0-9]/, "instance.name must contain at least one letter or digit"),
  flavorRef: z.union([z.string().min(1), z.number().int()], { error: "instance.flavorRef is required (a flavor id)" }),
  volume: z.object({
    size: z.union([z.number().int(), z.string().regex(/^[1-9][0-9]{0,39}$/, "must be a whole number")], { error: "instance.volume.size is required (GB)" }),
    type: z.string().nullish(),
  }, { error: "instance.volume is required: {\"size\": GB}" }),
  datastore: z.object({
    type: z.string().optional(),
    version: z.string().optional(),
    version_number: z.string().optional(),
  }).optional(),
  databases: z.array(DatabaseSpec).optional(),
  users: z.array(UserSpec).optional(),
  nics: z.array(z.object({
    "net-id": z.string().optional(),
    network_id: z.string().optional(),
    subnet_id: z.string().optional(),
    ip_address: z.string().optional(),
  }).strict()).max(1, "instance.nics takes at most one network").optional(),
  availability_zone: z.string().max(255).nullish(),
  region_name: z.string().nullish(),
  locality: z.enum(["affinity", "soft-affinity", "anti-affinity", "soft-anti-affinity"]).nullish(),
  access: z.object({
    is_public: z.boolean().optional(),
    allowed_cidrs: z.array(z.string()).optional(),
  }).optional(),
  configuration: z.string().nullish(),
  restorePoint: z.object({ backupRef: z.string() }).optional(),
  /** Hoard's addition: start the engine again when it dies (counted in the view). */
  auto_restart: z.boolean().optional(),
  /** Hoard's addition: "enabled" (the default) offers TLS beside plaintext, "required" refuses plaintext. */
  tls: z.enum(["enabled", "required"], { error: 'instance.tls must be "enabled" or "required"' }).optional(),
  replica_of: z.string().nullish(),
  replica_count: z.number().int().nullish(),
  modules: z.array(z.unknown()).nullish(),
});
export type InstanceCreateBody = z.infer<typeof InstanceCreateBody>;

export const ListQuery = z.object({
  limit: z.coerce.number().int().min(1).optional(),
  marker: z.string().optional(),
});

// ---- gateway → functions (request/reply) ----

export const InstanceCreateRequest = z.object({ caller: Caller, body: InstanceCreateBody });
export const InstanceListRequest = z.object({ caller: Caller, query: ListQuery });
export const InstanceRefRequest = z.object({ caller: Caller, instanceId: id });
export const CatalogListRequest = z.object({ caller: Caller });
export const FlavorShowRequest = z.object({ caller: Caller, flavorId: id });
export const DatastoreShowRequest = z.object({ caller: Caller, datastore: id });
export const DatastoreVersionShowRequest = z.object({ caller: Caller, datastore: id.optional(), version: id });

/** A configuration value: numbers travel as their decimal text so that none is rounded. */
export const ConfigValue = z.union([z.string(), z.boolean(), z.object({ number: z.string().regex(/^-?\d+(\.\d+)?([eE][-+]?\d+)?$/) })]);
export type ConfigValue = z.infer<typeof ConfigValue>;
const ConfigValues = z.record(z.string(), ConfigValue);

export const ConfigurationCreateRequest = z.object({
  caller: Caller,
  body: z.object({
    name: z.string().min(1).max(255),
    description: z.string().max(1024).nullish(),
    values: ConfigValues,
    datastore: z.object({ type: z.string().optional(), version: z.string().optional(), version_number: z.string().optional() }).optional(),
  }),
});
export const ConfigurationRefRequest = z.object({ caller: Caller, configurationId: id });
export const ConfigurationListRequest = z.object({ caller: Caller, query: ListQuery });
export const ConfigurationInstancesRequest = z.object({ caller: Caller, configurationId: id, query: ListQuery });
export const ConfigurationUpdateRequest = z.object({
  caller: Caller,
  configurationId: id,
  /** replace: PUT (all values), merge: PATCH (the given values over the stored ones). */
  mode: z.enum(["replace", "merge"]),
  values: ConfigValues,
  name: z.string().min(1).max(255).optional(),
  description: z.string().max(1024).nullish(),
});
export const ParameterListRequest = z.object({ caller: Caller, datastore: z.string().optional(), version: id });
export const ParameterShowRequest = z.object({ caller: Caller, datastore: z.string().optional(), version: id, name: z.string() });
export const InstanceUpdateRequest = z.object({
  caller: Caller,
  instanceId: id,
  name: z.string().min(1).max(255).regex(/[A-Za-z0-9]/, "name must contain a letter or digit").optional(),
  /** A group id to attach, null to detach, absent to leave as is. */
  configuration: z.string().nullable().optional(),
});
/** A new flavor, or a larger volume (Trove's two resize actions). */
export const InstanceResizeRequest = z.object({ caller: Caller, instanceId: id, flavorRef: z.string().optional(), volumeSizeGb: z.number().int().positive().optional() });

export const InstanceAction = z.enum(["restart", "stop", "start", "reset_status", "rollback"]);
export type InstanceAction = z.infer<typeof InstanceAction>;
/** `backupRef` names the backup a rollback puts the instance back to (Hoard's addition). */
export const InstanceActionRequest = z.object({ caller: Caller, instanceId: id, action: InstanceAction, backupRef: z.string().optional() });

/** The reconciler's record, for admins (GET /mgmt/drift). */
export const DriftListRequest = z.object({ caller: Caller, limit: z.number().int().min(1).max(1000).default(100) });
export const DriftRecordView = z.object({
  id: z.number(),
  kind: z.string(),
  instance_id: z.string(),
  node: z.string(),
  project_id: z.string().nullable(),
  detail: z.string(),
  attempts: z.number(),
  found_at: z.string(),
  acted_at: z.string(),
  resolved_at: z.string().nullable(),
});
export type DriftRecordView = z.infer<typeof DriftRecordView>;

export const QuotaShowRequest = z.object({ caller: Caller, project: z.string() });
export const QuotaUpdateRequest = z.object({ caller: Caller, project: z.string(), quotas: z.record(z.string(), z.unknown()) });

/** `name@host` as in Trove's user paths (no `@` means host '%'). */
export const UserPathRef = z.object({ name: z.string(), host: z.string() });
export const DatabaseCreateRequest = z.object({ caller: Caller, instanceId: id, databases: z.array(DatabaseSpec) });
export const GuestListRequest = z.object({ caller: Caller, instanceId: id, query: ListQuery });
export const DatabaseDeleteRequest = z.object({ caller: Caller, instanceId: id, name: z.string() });
export const UserCreateRequest = z.object({ caller: Caller, instanceId: id, users: z.array(UserSpec) });
export const UserRefRequest = z.object({ caller: Caller, instanceId: id, user: UserPathRef });
export const UserUpdateRequest = z.object({
  caller: Caller,
  instanceId: id,
  user: UserPathRef,
  changes: z.object({ name: z.string().optional(), password: z.string().optional(), host: z.string().optional() }),
});
export const UserPasswordsRequest = z.object({ caller: Caller, instanceId: id, users: z.array(z.object({ name: z.string(), password: z.string(), host: z.string().optional() })) });
export const UserGrantRequest = z.object({ caller: Caller, instanceId: id, user: UserPathRef, databases: z.array(z.string()) });
export const UserRevokeRequest = z.object({ caller: Caller, instanceId: id, user: UserPathRef, database: z.string() });
export const RootEnableRequest = z.object({ caller: Caller, instanceId: id, password: z.string().optional() });

/** A page of names from a guest (databases or users), in name order. */
export const NamedPage = <T extends z.ZodTypeAny>(item: T) => z.object({ items: z.array(item), nextMarker: z.string().nullable() });

// ---- functions → tracker (commands for one network node) ----

export const GuestUser = GuestNewUser;
export type GuestUser = GuestNewUser;

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
  instanceId: id,
  node: z.string(),
  backupId: id,
  strategy: z.string().optional(),
  /** The project's data key to encrypt with; absent (a project's first backup), the tracker makes one and reports it. */
  dataKey: WrappedDataKey.optional(),
});
export type BackupCommand = z.infer<typeof BackupCommand>;

/** Put a guest's data back to a backup of it, in place. */
export const RollbackCommand = z.object({ instanceId: id, node: z.string(), backupId: id, artifact: BackupArtifact, /** The data key of an encrypted backup. */ dataKey: WrappedDataKey.optional() });
export type RollbackCommand = z.infer<typeof RollbackCommand>;

/** Remove a backup's file from the store of the node that made it. */
export const DeleteBackupCommand = z.object({ node: z.string(), backupId: id, artifact: BackupArtifact, /** The instance it was taken of, for reports. */ instanceId: id.optional() });
export type DeleteBackupCommand = z.infer<typeof DeleteBackupCommand>;

/** What an instance asks of TLS. */
export const TlsModeRequested = z.enum(["enabled", "required"]);

export const ProvisionCommand = z.object({
  instanceId: id,
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
  users: z.array(GuestUser),
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

export const DeprovisionCommand = z.object({ instanceId: id, node: z.string() });

/** When a configuration change was asked for: a guest's answers to an older request than its latest are superseded. */
const requestedAt = z.string().datetime({ offset: true });
/** New settings for a running guest: kept for every later start, `live` ones applied now. */
export const ConfigureCommand = z.object({ instanceId: id, node: z.string(), settings: z.record(z.string(), z.string()), live: z.record(z.string(), z.string()), requestedAt: requestedAt.optional() });
export type ConfigureCommand = z.infer<typeof ConfigureCommand>;

/** Move a guest to another flavor: its limits and engine settings, with one restart. */
export const ResizeCommand = z.object({
  instanceId: id,
  node: z.string(),
  flavor: z.object({ id: z.string(), ramMb: z.number().int(), vcpus: z.number().int() }),
  settings: z.record(z.string(), z.string()),
});
export type ResizeCommand = z.infer<typeof ResizeCommand>;

/** Grow a guest's volume while it runs. */
export const GrowVolumeCommand = z.object({ instanceId: id, node: z.string(), sizeGb: z.number().int().positive() });

/** Restart, stop or start a guest's engine (the command's type says which). */
export const EngineCommand = z.object({ instanceId: id, node: z.string() });
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
  instanceId: id,
  node: z.string(),
  address: GuestAddress,
  startedMs: z.number().nonnegative(),
  /** Absent from trackers that predate TLS. */
  tls: GuestTls.optional(),
});
export type GuestProvisioned = z.infer<typeof GuestProvisioned>;

export const GuestActionFailed = z.object({
  instanceId: id,
  node: z.string(),
  action: z.enum(["provision", "deprovision", "configure", "restart", "stop", "start", "resize", "backup", "rollback", "delete-backup"]),
  message: z.string(),
  /** The backup a backup, rollback or delete-backup action was about. */
  backupId: z.string().optional(),
  /** The configure request a failed configure answers (its command's requestedAt). */
  requestedAt: requestedAt.optional(),
});
export type GuestActionFailed = z.infer<typeof GuestActionFailed>;

export const GuestDeprovisioned = z.object({ instanceId: id, node: z.string() });
/** A guest took new settings; requestedAt is the configure request's, so a result of a superseded one is told apart. */
export const GuestConfigured = z.object({ instanceId: id, node: z.string(), requestedAt: requestedAt.optional() });
/** A guest moved to a new flavor, or its volume grew. */
export const GuestResized = z.object({ instanceId: id, node: z.string(), flavorId: z.string().optional(), volumeSizeGb: z.number().int().optional() });

/** A guest was backed up: where the backup is and what it holds. */
export const GuestBackedUp = z.object({
  instanceId: id,
  node: z.string(),
  backupId: id,
  artifact: BackupArtifact,
  /** The data key the tracker made for this backup (the command carried none), wrapped: it joins the project's keys. */
  newDataKey: WrappedDataKey.optional(),
});
export type GuestBackedUp = z.infer<typeof GuestBackedUp>;
/** A guest's data was put back to a backup. */
export const GuestRolledBack = z.object({ instanceId: id, node: z.string(), backupId: id });
/** A backup's file is gone from the store. */
export const BackupFileDeleted = z.object({ node: z.string(), backupId: id });

/** A guest's engine was restarted, stopped or started (the event's type says which). */
export const GuestEngineChanged = z.object({ instanceId: id, node: z.string() });
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
  guests: z.array(z.object({ instanceId: id, health: GuestHealth, flavorId: z.string().optional(), /** When its TLS certificate ends (renewals move it). */ tlsExpires: z.string().datetime({ offset: true }).optional() })),
  leftovers: z.array(id).default([]),
  /** Free space under the node's state folder against its floor; `low`: new databases and backups are refused. */
  disk: z.object({ freeBytes: z.number().nonnegative(), floorBytes: z.number().nonnegative(), low: z.boolean() }).optional(),
  /** The CA certificate (PEM) that verifies this node's guests, so a changed CA reaches the API. */
  ca: z.string().startsWith("-----BEGIN CERTIFICATE-----").optional(),
});
export type GuestHeartbeat = z.infer<typeof GuestHeartbeat>;

// ---- public events for subscribers (hoard.events.<project>.<type>) ----

export const InstanceStateEvent = z.object({
  instanceId: id,
  project: z.string(),
  name: z.string(),
  status: z.string(),
  fault: z.string().optional(),
});
export type InstanceStateEvent = z.infer<typeof InstanceStateEvent>;
