/** Configuration groups through the API: the requests the gateway sends to the functions and the records they answer with. */
import { z } from "zod";
import { Caller, DatastoreChoice, Id, ListQuery, Page } from "./request-parts.js";

/** A configuration value: numbers travel as their decimal text so that none is rounded. */
export const ConfigValue = z.union([z.string(), z.boolean(), z.object({ number: z.string().regex(/^-?\d+(\.\d+)?([eE][-+]?\d+)?$/) })]);
export type ConfigValue = z.infer<typeof ConfigValue>;
const ConfigValues = z.record(z.string(), ConfigValue);

// ---- Trove's bodies (`{"configuration": …}` unwrapped; the gateway reads `values` again, exactly, from the raw body) ----

export const ConfigurationCreateBody = z.object({
  name: z.string({ error: "configuration.name is required" }).min(1, "configuration.name is empty").max(255),
  description: z.string().max(1024).nullish(),
  values: z.record(z.string(), z.unknown(), { error: "configuration.values is required: an object of parameter names and values" }),
  datastore: DatastoreChoice.optional(),
});

export const ConfigurationUpdateBody = z.object({
  name: z.string().min(1).max(255).optional(),
  description: z.string().max(1024).nullish(),
  values: z.record(z.string(), z.unknown()).optional(),
});

// ---- gateway → functions (request/reply) ----

export const ConfigurationCreateRequest = z.object({
  caller: Caller,
  body: z.object({
    name: z.string().min(1).max(255),
    description: z.string().max(1024).nullish(),
    values: ConfigValues,
    datastore: DatastoreChoice.optional(),
  }),
});
export const ConfigurationRefRequest = z.object({ caller: Caller, configurationId: Id });
export const ConfigurationListRequest = z.object({ caller: Caller, query: ListQuery });
export const ConfigurationInstancesRequest = ConfigurationRefRequest.extend({ query: ListQuery });
export const ConfigurationUpdateRequest = ConfigurationRefRequest.extend({
  /** replace: PUT (all values), merge: PATCH (the given values over the stored ones). */
  mode: z.enum(["replace", "merge"]),
  values: ConfigValues,
  name: z.string().min(1).max(255).optional(),
  description: z.string().max(1024).nullish(),
});

// ---- functions → gateway (records) ----

/** A configuration group; numbers in `values` are decimal text (`{ number }`), so none is rounded. */
export const ConfigurationRecord = z.object({
  id: z.string(),
  name: z.string(),
  description: z.string().nullable(),
  project: z.string(),
  datastoreVersionId: z.string(),
  datastoreName: z.string(),
  datastoreVersionName: z.string(),
  datastoreVersionNumber: z.string(),
  values: ConfigValues,
  instanceCount: z.number(),
  created: z.string(),
  updated: z.string(),
});
export type ConfigurationRecord = z.infer<typeof ConfigurationRecord>;

export const ConfigurationPage = Page(ConfigurationRecord);
/** The instances a group is attached to. */
export const ConfigurationInstancePage = Page(z.object({ id: z.string(), name: z.string() }));
/** The parameter values an instance runs with, as the engine takes them. */
export const InstanceSettings = z.record(z.string(), z.string());
