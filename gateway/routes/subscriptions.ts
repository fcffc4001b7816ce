/**
 * Webhook subscriptions (Hoard's addition to Trove's API): a URL, the event types it wants, and the secret
 * its deliveries are signed with, shown once when created.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import { SubscriptionCreateBody, type DeliveryRecord, type SubscriptionRecord } from "../../events/index.js";
import type { LinkBase } from "../views.js";
import { callerOf, envelopeBody, pageBody, pageQuery, pathId, type RouteDeps } from "./context.js";

const idOf = (req: FastifyRequest) => pathId((req.params as { id: string }).id);

function deliveryView(d: DeliveryRecord) {
  return {
    event_id: d.eventId,
    type: d.eventType,
    sequence: d.sequence,
    status: d.status,
    attempts: d.attempts,
    last_status_code: d.lastStatusCode,
    last_error: d.lastError,
    next_attempt_at: d.nextAttemptAt,
    delivered_at: d.deliveredAt,
    created: d.created,
  };
}

/** A subscription as the API shows it: `secret` in full only in the answer to its creation, masked after. */
function subscriptionView(s: SubscriptionRecord, b: LinkBase) {
  return {
    id: s.id,
    url: s.url,
    event_types: s.eventTypes,
    description: s.description,
    secret: s.secret ?? s.secretHint,
    created: s.created,
    links: [{ href: `https://${b.host}/v1.0/${b.project}/subscriptions/${s.id}`, rel: "self" }],
    ...(s.deliveries ? { deliveries: s.deliveries } : {}),
    ...(s.recentDeliveries ? { recent_deliveries: s.recentDeliveries.map(deliveryView) } : {}),
  };
}

export function subscriptionRoutes(app: FastifyInstance, deps: RouteDeps): void {
  app.get("/v1.0/:project/subscriptions", async (req) => {
    const { caller, base } = callerOf(req, deps);
    const { raw, query } = pageQuery(req);
    const page = await deps.invoke("subscription-list", { caller, query });
    return pageBody("subscriptions", page.items.map((s) => subscriptionView(s, base)), page.nextMarker, base, "subscriptions", raw);
  });
  app.post("/v1.0/:project/subscriptions", async (req) => {
    const { caller, base } = callerOf(req, deps);
    const body = envelopeBody(req.body, "subscription", SubscriptionCreateBody);
    const created = await deps.invoke("subscription-create", { caller, body });
    return { subscription: subscriptionView(created, base) };
  });
  app.get("/v1.0/:project/subscriptions/:id", async (req) => {
    const { caller, base } = callerOf(req, deps);
    const found = await deps.invoke("subscription-show", { caller, subscriptionId: idOf(req) });
    return { subscription: subscriptionView(found, base) };
  });
  app.delete("/v1.0/:project/subscriptions/:id", async (req, reply) => {
    const { caller } = callerOf(req, deps);
    await deps.invoke("subscription-delete", { caller, subscriptionId: idOf(req) });
    return reply.code(202).send();
  });
}
