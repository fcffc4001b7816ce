/** What every request to a function and every answer shares: the caller, ids, a datastore choice, paging and a plain acceptance. */
import { z } from "zod";

/** Identifier used for instances, networks, flavors, backups in requests and events. */
export const Id = z.string().min(1);

/** The caller as the gateway authenticated it. */
export const Caller = z.object({
  project: z.string().min(1),
  roles: z.array(z.string()).default([]),
  /** Host header of the request, for building links. */
  host: z.string().default("localhost"),
});
export type Caller = z.infer<typeof Caller>;

/** The datastore and version a request asks for, as Trove's bodies name them (instance create, configuration create). */
export const DatastoreChoice = z.object({ type: z.string().optional(), version: z.string().optional(), version_number: z.string().optional() });

/** Trove's limit and marker of a list, as numbers and text. */
export const ListQuery = z.object({
  limit: z.coerce.number().int().min(1).optional(),
  marker: z.string().optional(),
});

/** One page of a list: its items and the marker of the next page (null on the last). */
export const Page = <T extends z.ZodTypeAny>(item: T) => z.object({ items: z.array(item), nextMarker: z.string().nullable() });

/** The answer of an operation that was taken on (its result shows later, or there is none to show). */
export const Accepted = z.object({ accepted: z.literal(true) });
export type Accepted = z.infer<typeof Accepted>;
