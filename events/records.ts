import { z } from "zod";
import type { ConfigValue } from "./payloads.js";

/** What the request/reply functions return to the gateway; the gateway renders them in Trove's shapes. */

export const FlavorRecord = z.object({
  id: z.string(),
  name: z.string(),
  ramMb: z.number(),
  vcpus: z.number(),
  diskGb: z.number(),
  ephemeralGb: z.number(),
});
export type FlavorRecord = z.infer<typeof FlavorRecord>;

export const DatastoreVersionRecord = z.object({
  id: z.string(),
  name: z.string(),
  number: z.string(),
  active: z.boolean(),
  datastoreId: z.string(),
  datastoreName: z.string(),
  capabilities: z.array(z.string()),
});
export type DatastoreVersionRecord = z.infer<typeof DatastoreVersionRecord>;

export const DatastoreRecord = z.object({
  id: z.string(),
  name: z.string(),
  defaultVersionId: z.string().nullable(),
  versions: z.array(DatastoreVersionRecord),
});
export type DatastoreRecord = z.infer<typeof DatastoreRecord>;

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

export const InstancePage = z.object({ items: z.array(InstanceRecord), nextMarker: z.string().nullable() });
export type InstancePage = z.infer<typeof InstancePage>;

/** A configuration group; numbers in `values` are decimal text (`{ number }`), so none is rounded. */
export interface ConfigurationRecord {
  id: string;
  name: string;
  description: string | null;
  project: string;
  datastoreVersionId: string;
  datastoreName: string;
  datastoreVersionName: string;
  datastoreVersionNumber: string;
  values: Record<string, ConfigValue>;
  instanceCount: number;
  created: string;
  updated: string;
}
