import { randomUUID } from "node:crypto";
import { z } from "zod";

/** CloudEvents 1.0 envelope (structured JSON mode) carrying a typed `data`. */
export const envelope = <D extends z.ZodTypeAny>(data: D) =>
  z.object({
    specversion: z.literal("1.0"),
    id: z.string().min(1),
    source: z.string().min(1),
    type: z.string().min(1),
    time: z.string(),
    subject: z.string().optional(),
    datacontenttype: z.literal("application/json").optional(),
    data,
  });

export type CloudEvent<D = unknown> = {
  specversion: "1.0";
  id: string;
  source: string;
  type: string;
  time: string;
  subject?: string;
  datacontenttype?: "application/json";
  data: D;
};

/** Wraps `data` in a new envelope. `id` defaults to a fresh uuid; pass one to make a retry deduplicate. */
export function makeEvent<D>(type: string, source: string, data: D, opts: { id?: string; subject?: string } = {}): CloudEvent<D> {
  return {
    specversion: "1.0",
    id: opts.id ?? randomUUID(),
    source,
    type,
    time: new Date().toISOString(),
    ...(opts.subject ? { subject: opts.subject } : {}),
    datacontenttype: "application/json",
    data,
  };
}
