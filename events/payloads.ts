import { z } from "zod";

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

// ---- functions → tracker (commands for one network node) ----

export const GuestDatabase = z.object({ name: z.string(), characterSet: z.string().optional(), collate: z.string().optional() });
export const GuestUser = z.object({ name: z.string(), password: z.string(), host: z.string(), databases: z.array(z.string()) });
export type GuestDatabase = z.infer<typeof GuestDatabase>;
export type GuestUser = z.infer<typeof GuestUser>;

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
  databases: z.array(GuestDatabase),
  users: z.array(GuestUser),
});
export type ProvisionCommand = z.infer<typeof ProvisionCommand>;

export const DeprovisionCommand = z.object({ instanceId: id, node: z.string() });
export type DeprovisionCommand = z.infer<typeof DeprovisionCommand>;

// ---- tracker → functions (results and heartbeats) ----

export const GuestAddress = z.object({ address: z.string(), port: z.number().int(), network: z.string() });

export const GuestProvisioned = z.object({
  instanceId: id,
  node: z.string(),
  address: GuestAddress,
  startedMs: z.number().nonnegative(),
});
export type GuestProvisioned = z.infer<typeof GuestProvisioned>;

export const GuestActionFailed = z.object({
  instanceId: id,
  node: z.string(),
  action: z.enum(["provision", "deprovision"]),
  message: z.string(),
});
export type GuestActionFailed = z.infer<typeof GuestActionFailed>;

export const GuestDeprovisioned = z.object({ instanceId: id, node: z.string() });
export type GuestDeprovisioned = z.infer<typeof GuestDeprovisioned>;

/** What the tracker saw of one guest: is its engine answering? */
export const GuestHealth = z.enum(["HEALTHY", "RUNNING", "SHUTDOWN", "CRASHED"]);
export type GuestHealth = z.infer<typeof GuestHealth>;

export const GuestHeartbeat = z.object({
  node: z.string(),
  at: z.string(),
  guests: z.array(z.object({ instanceId: id, health: GuestHealth })),
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
