/** Instances through the API: the requests the gateway sends to the functions and the records they answer with. */
import { z } from "zod";
import { DatabaseSpec, UserSpec } from "./guest-shapes.js";
import { Caller, DatastoreChoice, Id, ListQuery, Page } from "./request-parts.js";

/** Trove's create-instance body (`{"instance": …}` unwrapped). Shapes only; meaning is checked by instance-create. */
export const InstanceCreateBody = z.object({
  name: z.string({ error: "instance.name is required" }).max(255, "instance.name is longer than 255 characters")
    .regex(/[A-Za-z0-9]/, "instance.name must contain at least one letter or digit"),
  flavorRef: z.union([z.string().min(1), z.number().int()], { error: "instance.flavorRef is required (a flavor id)" }),
  volume: z.object({
    size: z.union([z.number().int(), z.string().regex(/^[1-9][0-9]{0,39}$/, "must be a whole number")], { error: "instance.volume.size is required (GB)" }),
    type: z.string().nullish(),
  }, { error: "instance.volume is required: {\"size\": GB}" }),
  datastore: DatastoreChoice.optional(),
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

/** Trove's instance update body (`{"instance": …}` unwrapped): a new name, or a configuration group to attach (null: detach); Trove's other fields are refused (501). */
export const InstanceUpdateBody = z.object({
  name: z.string().optional(),
  configuration: z.string().nullable().optional(),
  replica_of: z.unknown().optional(),
  slave_of: z.unknown().optional(),
  datastore_version: z.unknown().optional(),
  access: z.unknown().optional(),
}).strict();

/** Trove's resize action: a new flavor or a larger volume. */
export const InstanceResizeBody = z.union([
  z.object({ flavorRef: z.union([z.string().min(1), z.number().int()]) }).strict(),
  z.object({ volume: z.object({ size: z.union([z.number().int(), z.string().regex(/^[1-9][0-9]{0,39}$/)]) }) }).strict(),
], { error: "takes {\"flavorRef\": <flavor id>} or {\"volume\": {\"size\": <GB>}}" });

/** Hoard's rollback: put the instance's data back to one of its backups, in place. */
export const InstanceRollbackBody = z.object({ backupRef: z.string({ error: "is required: the id of a COMPLETED backup of this instance" }).min(1, "must not be empty").max(64) }).strict();

// ---- gateway → functions (request/reply) ----

export const InstanceCreateRequest = z.object({ caller: Caller, body: InstanceCreateBody });
export const InstanceListRequest = z.object({ caller: Caller, query: ListQuery });
export const InstanceRefRequest = z.object({ caller: Caller, instanceId: Id });
export const InstanceUpdateRequest = InstanceRefRequest.extend({
  name: z.string().min(1).max(255).regex(/[A-Za-z0-9]/, "name must contain a letter or digit").optional(),
  /** A group id to attach, null to detach, absent to leave as is. */
  configuration: z.string().nullable().optional(),
});
/** A new flavor, or a larger volume (Trove's two resize actions). */
export const InstanceResizeRequest = InstanceRefRequest.extend({ flavorRef: z.string().optional(), volumeSizeGb: z.number().int().positive().optional() });

export const InstanceAction = z.enum(["restart", "stop", "start", "reset_status", "rollback"]);
export type InstanceAction = z.infer<typeof InstanceAction>;
/** `backupRef` names the backup a rollback puts the instance back to (Hoard's addition). */
export const InstanceActionRequest = InstanceRefRequest.extend({ action: InstanceAction, backupRef: z.string().optional() });

/** The reconciler's record, for admins (GET /mgmt/drift). */
export const DriftListRequest = z.object({ caller: Caller, limit: z.number().int().min(1).max(1000).default(100) });

// ---- functions → gateway (records) ----

export const InstanceRecord = z.object({
  id: z.string(),
  name: z.string(),
  project: z.string(),
  status: z.string(),
  operatingStatus: z.string(),
  flavorId: z.string(),
  datastore: z.object({ type: z.string(), version: z.string(), versionId: z.string(), versionNumber: z.string() }),
  volumeSizeGb: z.number(),
  networkId: z.string(),
  node: z.string(),
  availabilityZone: z.string().nullable(),
  access: z.object({ is_public: z.boolean(), allowed_cidrs: z.array(z.string()).optional() }),
  address: z.object({ address: z.string(), port: z.number() }).nullable(),
  /** A public instance's address on its node, when its network driver publishes it. */
  published: z.object({ address: z.string(), port: z.number() }).nullable(),
  created: z.string(),
  updated: z.string(),
  serviceUpdated: z.string().nullable(),
  fault: z.object({ message: z.string(), created: z.string() }).nullable(),
  configuration: z.object({ id: z.string(), name: z.string() }).nullable(),
  autoRestart: z.object({ enabled: z.boolean(), restarts: z.number() }),
  /** TLS to the guest: the mode in force (or asked for, while building) and when its certificate ends. */
  tls: z.object({ mode: z.string(), expires: z.string().nullable() }),
});
export type InstanceRecord = z.infer<typeof InstanceRecord>;

/** The CA certificate (PEM) that verifies an instance's guest, and the TLS mode the instance has. */
export const InstanceCaRecord = z.object({ certificate: z.string(), tlsMode: z.string() });
export type InstanceCaRecord = z.infer<typeof InstanceCaRecord>;

export const InstancePage = Page(InstanceRecord);
export type InstancePage = z.infer<typeof InstancePage>;

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
