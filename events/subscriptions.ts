/**
 * Event subscriptions: webhooks a tenant registers through the API, and the event-type patterns they (and
 * the server-sent-events stream) are filtered by.
 */
import { z } from "zod";
import { publicEvents } from "./catalogue.js";
import { Caller, Id, ListQuery, Page } from "./request-parts.js";

/** Every event type a tenant can subscribe to, as in the CloudEvents `type` of its events. */
export const publicEventTypes: readonly string[] = Object.values(publicEvents).map((k) => k.type);

/** Every public event of one project (the subjects are `hoard.events.<project>.<type>`). */
export const projectEventsSubject = (project: string) => `hoard.events.${project}.>`;

/** Whether a pattern covers an event type: `*` covers all, `instance.*` every type under `instance.`, else exact. */
export function eventTypeMatches(pattern: string, type: string): boolean {
  if (pattern === "*") return true;
  if (pattern.endsWith(".*")) return type.startsWith(pattern.slice(0, -1));
  return pattern === type;
}

/** Whether any of `patterns` covers `type`. */
export const eventTypeSelected = (patterns: readonly string[], type: string) => patterns.some((p) => eventTypeMatches(p, type));

const shown = (s: string) => (s.length > 64 ? `${s.slice(0, 64)}…` : s);

/** One entry of `event_types`: a known type, a prefix pattern that covers at least one, or `*`. */
export const EventTypePattern = z.string().superRefine((p, ctx) => {
  if (publicEventTypes.some((t) => eventTypeMatches(p, t))) return;
  ctx.addIssue({
    code: "custom",
    message: `unknown event type '${shown(p)}'; use one of ${publicEventTypes.join(", ")}, a pattern such as 'instance.*', or '*' for all`,
  });
});

/** The body of `POST /subscriptions` (`{"subscription": …}` unwrapped). */
export const SubscriptionCreateBody = z.strictObject({
  url: z
    .string({ error: "is required: the http:// or https:// address that receives the events" })
    .max(2048, "is longer than 2048 characters")
    .superRefine((raw, ctx) => {
      let url: URL;
      try {
        url = new URL(raw);
      } catch {
        ctx.addIssue({ code: "custom", message: "is not a URL; give an absolute http:// or https:// address" });
        return;
      }
      if (url.protocol !== "http:" && url.protocol !== "https:") {
        ctx.addIssue({ code: "custom", message: `must be an http:// or https:// address, not ${shown(url.protocol)}//` });
      } else if (url.username || url.password) {
        // Credentials in a URL end up in views and logs; deliveries are authenticated by their signature.
        ctx.addIssue({ code: "custom", message: "must not carry credentials (user:password@); verify deliveries by their x-hoard-signature instead" });
      }
    }),
  event_types: z
    .array(EventTypePattern, { error: `is required: a list of event types (${publicEventTypes.join(", ")}), patterns such as 'instance.*', or ['*']` })
    .min(1, "is empty: name at least one event type, a pattern such as 'instance.*', or '*' for all")
    .max(50, "takes at most 50 entries"),
  secret: z
    .string({ error: "must be a string of 16 to 256 characters" })
    .min(16, "is shorter than 16 characters; use 16 to 256 characters, or leave it out and Hoard generates one")
    .max(256, "is longer than 256 characters")
    .regex(/^[\x21-\x7e]+$/, "may hold only printable ASCII characters without spaces")
    .optional(),
  description: z.string().max(255, "is longer than 255 characters").nullish(),
});
export type SubscriptionCreateBody = z.infer<typeof SubscriptionCreateBody>;

// ---- gateway → functions (request/reply) ----

export const SubscriptionCreateRequest = z.object({ caller: Caller, body: SubscriptionCreateBody });
export const SubscriptionListRequest = z.object({ caller: Caller, query: ListQuery });
export const SubscriptionRefRequest = z.object({ caller: Caller, subscriptionId: Id });

// ---- functions → gateway (records) ----

export const DeliveryStatus = z.enum(["pending", "delivered", "failed"]);
export type DeliveryStatus = z.infer<typeof DeliveryStatus>;

/** One event's delivery to one subscription. `lastError` never holds a secret or the receiver's body. */
export const DeliveryRecord = z.object({
  eventId: z.string(),
  eventType: z.string(),
  sequence: z.number().int(),
  status: DeliveryStatus,
  attempts: z.number().int(),
  lastStatusCode: z.number().int().nullable(),
  lastError: z.string().nullable(),
  nextAttemptAt: z.string().nullable(),
  deliveredAt: z.string().nullable(),
  created: z.string(),
});
export type DeliveryRecord = z.infer<typeof DeliveryRecord>;

/** A webhook subscription. `secret` is present only in the answer to its creation; `secretHint` always. */
export const SubscriptionRecord = z.object({
  id: z.string(),
  project: z.string(),
  url: z.string(),
  eventTypes: z.array(z.string()),
  description: z.string().nullable(),
  secretHint: z.string(),
  secret: z.string().optional(),
  created: z.string(),
  /** In show: how many deliveries are in each state, and the latest few. */
  deliveries: z.record(DeliveryStatus, z.number().int()).optional(),
  recentDeliveries: z.array(DeliveryRecord).optional(),
});
export type SubscriptionRecord = z.infer<typeof SubscriptionRecord>;

export const SubscriptionPage = Page(SubscriptionRecord);
export type SubscriptionPage = z.infer<typeof SubscriptionPage>;

/** What the fan-out needs of any public event's data: the project it belongs to. */
export const ProjectEventData = z.looseObject({ project: z.string().min(1) });
