/** Flavors, datastores, their versions and their configuration parameters: what the catalogue functions take and answer. */
import { z } from "zod";
import { Caller, Id } from "./request-parts.js";

// ---- gateway → functions (request/reply) ----

/** A request about the caller alone (lists of the catalogue, limits). */
export const CatalogListRequest = z.object({ caller: Caller });
export const FlavorShowRequest = z.object({ caller: Caller, flavorId: Id });
export const DatastoreShowRequest = z.object({ caller: Caller, datastore: Id });
export const DatastoreVersionShowRequest = z.object({ caller: Caller, datastore: Id.optional(), version: Id });
export const ParameterListRequest = z.object({ caller: Caller, datastore: z.string().optional(), version: Id });
export const ParameterShowRequest = ParameterListRequest.extend({ name: z.string() });

// ---- functions → gateway (records) ----

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

/** A configuration parameter of a datastore version as the API shows it (the engine's rule without its checks). */
export const ParameterInfo = z.object({
  name: z.string(),
  type: z.enum(["integer", "float", "string", "boolean"]),
  min: z.string().optional(),
  max: z.string().optional(),
  /** The allowed values of a string parameter; any string when absent. */
  values: z.array(z.string()).optional(),
  /** True when the engine reads it only at start (the instance then shows RESTART_REQUIRED). */
  restartRequired: z.boolean(),
  description: z.string(),
});
export type ParameterInfo = z.infer<typeof ParameterInfo>;

export const ParameterList = z.object({ versionId: z.string(), parameters: z.array(ParameterInfo) });
export const ParameterShown = z.object({ versionId: z.string(), parameter: ParameterInfo });
