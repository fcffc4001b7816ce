/** A project's quotas and absolute limits: what the quota and limit functions take and answer. */
import { z } from "zod";
import { Caller } from "./request-parts.js";

/** What a quota limits: instances, RAM (MB), volume space (GB) and backups. */
export const QuotaResource = z.enum(["instances", "ram", "volumes", "backups"]);
export type QuotaResource = z.infer<typeof QuotaResource>;

// ---- gateway → functions (request/reply) ----

export const QuotaShowRequest = z.object({ caller: Caller, project: z.string() });
export const QuotaUpdateRequest = z.object({ caller: Caller, project: z.string(), quotas: z.record(z.string(), z.unknown()) });

// ---- functions → gateway (answers) ----

/** Each resource's limit; -1 means unlimited. */
export const QuotaLimits = z.record(QuotaResource, z.number());
/** Each resource's limit with what the project uses, in Trove's quota view. */
export const QuotaUsageView = z.array(z.object({ resource: QuotaResource, in_use: z.number(), reserved: z.number(), limit: z.number() }));
/** The limits a quota update set (only those it named). */
export const QuotaUpdated = z.partialRecord(QuotaResource, z.number());
