import { fail } from "../../errors/index.js";
import { defineRequest } from "../../runtime/function.js";
import { softDeleteSubscription } from "../../store/index.js";

export default defineRequest("subscription-delete", {
  description: "Deletes one of the caller's webhook subscriptions; deliveries still pending are given up.",
  timeoutMs: 5_000,
  memoryMb: 128,
  async handle({ caller, subscriptionId }, { deps }) {
    const deleted = await deps.db.transaction((trx) => softDeleteSubscription(trx, caller.project, subscriptionId));
    if (!deleted) throw fail("NOT_FOUND", { what: "Subscription", id: subscriptionId });
    return { accepted: true } as const;
  },
});
