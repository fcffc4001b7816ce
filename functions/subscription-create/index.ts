import { randomBytes, randomUUID } from "node:crypto";
import { fail } from "../../errors/index.js";
import { defineRequest } from "../../runtime/function.js";
import { insertSubscription } from "../../store/index.js";
import { vetWebhookUrl, webhookPolicy } from "../webhook-target.js";

/** How long the URL's host may take to resolve, within the function's budget. */
const RESOLVE_TIMEOUT_MS = 3_000;

export default defineRequest("subscription-create", {
  description: "Registers a webhook for the caller's events; answers with the signing secret, the only time it is shown.",
  timeoutMs: 5_000,
  memoryMb: 128,
  async handle({ caller, body }, { deps }) {
    // Checked here so the tenant hears at once why; each delivery checks again, as a name may move.
    const verdict = await vetWebhookUrl(body.url, webhookPolicy(deps.config), RESOLVE_TIMEOUT_MS);
    if (!verdict.ok) throw fail("WEBHOOK_TARGET_REFUSED", { reason: verdict.reason });
    // 32 random bytes: as strong as the HMAC-SHA256 it keys.
    const secret = body.secret ?? randomBytes(32).toString("base64url");
    const created = await insertSubscription(deps.db, {
      id: randomUUID(),
      project_id: caller.project,
      url: body.url,
      event_types: [...new Set(body.event_types)],
      secret,
      description: body.description ?? null,
    });
    return { ...created, secret };
  },
});
