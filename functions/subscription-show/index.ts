import { fail } from "../../errors/index.js";
import { SubscriptionRefRequest, type SubscriptionRecord } from "../../events/index.js";
import { defineFunction } from "../../runtime/function.js";
import { deliveryState, findSubscription } from "../../store/index.js";

/** How many of the latest deliveries the view lists. */
const RECENT = 10;

export default defineFunction({
  name: "subscription-show",
  description: "Shows one of the caller's webhook subscriptions with its delivery counts and its latest deliveries' states.",
  trigger: { kind: "request" },
  input: SubscriptionRefRequest,
  timeoutMs: 5_000,
  memoryMb: 128,
  async handle({ caller, subscriptionId }, { deps }): Promise<SubscriptionRecord> {
    const found = await findSubscription(deps.db, caller.project, subscriptionId);
    if (!found) throw fail("NOT_FOUND", { what: "Subscription", id: subscriptionId });
    const state = await deliveryState(deps.db, found.id, RECENT);
    return { ...found, deliveries: state.counts, recentDeliveries: state.recent };
  },
});
