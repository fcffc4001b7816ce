import { fail } from "../../errors/index.js";
import { defineRequest } from "../../runtime/function.js";
import { deliveryState, findSubscription } from "../../store/index.js";

/** How many of the latest deliveries the view lists. */
const RECENT = 10;

export default defineRequest("subscription-show", {
  description: "Shows one of the caller's webhook subscriptions with its delivery counts and its latest deliveries' states.",
  timeoutMs: 5_000,
  memoryMb: 128,
  async handle({ caller, subscriptionId }, { deps }) {
    const found = await findSubscription(deps.db, caller.project, subscriptionId);
    if (!found) throw fail("NOT_FOUND", { what: "Subscription", id: subscriptionId });
    const state = await deliveryState(deps.db, found.id, RECENT);
    return { ...found, deliveries: state.counts, recentDeliveries: state.recent };
  },
});
