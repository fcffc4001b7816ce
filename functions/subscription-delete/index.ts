import { fail } from "../../errors/index.js";
import { SubscriptionRefRequest } from "../../events/index.js";
import { defineFunction } from "../../runtime/function.js";
import { softDeleteSubscription } from "../../store/index.js";

export default defineFunction({
  name: "subscription-delete",
  description: "Deletes one of the caller's webhook subscriptions; deliveries still pending are given up.",
  trigger: { kind: "request" },
  input: SubscriptionRefRequest,
  timeoutMs: 5_000,
  memoryMb: 128,
  async handle({ caller, subscriptionId }, { deps }): Promise<{ accepted: true }> {
    const deleted = await deps.db.transaction((trx) => softDeleteSubscription(trx, caller.project, subscriptionId));
    if (!deleted) throw fail("NOT_FOUND", { what: "Subscription", id: subscriptionId });
    return { accepted: true } as const;
  },
});
