import { createHmac } from "node:crypto";
import { z } from "zod";
import { defineFunction } from "../../runtime/function.js";
import { claimDueDeliveries, recordAttempt, type DeliveryClaim, type DeliveryOutcome } from "../../store/index.js";

/** How long a receiver may take to answer one delivery. */
const REQUEST_TIMEOUT_MS = 5_000;
/** Retries wait 1 s, 2 s, 4 s, … up to a minute between attempts. */
const BACKOFF_FIRST_MS = 1_000;
const BACKOFF_MAX_MS = 60_000;
/** A delivery not accepted within a day of being recorded fails, and the subscription's next one goes out. */
const MAX_AGE_MS = 24 * 3600_000;
/** A claim outlives the request, so no other deliverer sends the same delivery while this one waits for an answer. */
const LEASE_MS = REQUEST_TIMEOUT_MS + 10_000;
/** Subscriptions served at once (one delivery each). */
const BATCH = 32;
/** One run keeps sending while there is due work, for up to this long. */
const RUN_BUDGET_MS = 10_000;

let lastClaimWarning = 0;

/** Wait before the attempt after `attempts` failed ones. */
const backoffMs = (attempts: number) => Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** Math.max(0, attempts - 1));

/** `sha256=<hex>`: the HMAC-SHA256 of the exact body with the subscription's secret. */
const signature = (secret: string, body: string) => `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;

/** Why a request got no answer, in words that hold no secret and no part of the receiver's reply. */
function networkError(e: unknown): string {
  const err = e as { name?: string; cause?: { code?: string; message?: string } };
  if (err.name === "TimeoutError" || err.name === "AbortError") return `no answer within ${REQUEST_TIMEOUT_MS / 1000} s`;
  if (err.cause?.code) return `could not reach the receiver (${err.cause.code})`;
  return `could not reach the receiver (${String(err.cause?.message ?? (e as Error)?.message ?? e).slice(0, 200)})`;
}

/** Sends one delivery: POST of the CloudEvent, signed. Any 2xx answer accepts it. */
async function attempt(claim: DeliveryClaim): Promise<DeliveryOutcome> {
  const body = JSON.stringify(claim.event);
  let statusCode: number | null = null;
  let error: string;
  try {
    const res = await fetch(claim.url, {
      method: "POST",
      body,
      redirect: "manual",
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      headers: {
        "content-type": "application/cloudevents+json",
        "user-agent": "hoard-webhooks/1",
        "x-hoard-event-id": claim.eventId,
        "x-hoard-subscription-id": claim.subscriptionId,
        "x-hoard-sequence": String(claim.seq),
        "x-hoard-attempt": String(claim.attempts),
        "x-hoard-timestamp": String(Math.floor(Date.now() / 1000)),
        "x-hoard-signature": signature(claim.secret, body),
      },
    });
    // The receiver's body is never read: it is not ours to keep.
    await res.body?.cancel().catch(() => {});
    statusCode = res.status;
    if (res.status >= 200 && res.status < 300) return { delivered: true, statusCode };
    error = res.status >= 300 && res.status < 400 ? `the receiver answered HTTP ${res.status}; redirects are not followed` : `the receiver answered HTTP ${res.status}`;
  } catch (e) {
    error = networkError(e);
  }
  const expired = Date.now() - claim.createdAt.getTime() >= MAX_AGE_MS;
  return { delivered: false, statusCode, error: expired ? `${error}; given up after ${MAX_AGE_MS / 3600_000} h` : error, retryInMs: expired ? null : backoffMs(claim.attempts) };
}

export default defineFunction({
  name: "subscription-deliver",
  description: "Sends each webhook subscription's oldest due delivery, signed, in order; retries with backoff and gives up after a day.",
  trigger: { kind: "schedule", everyMs: 500 },
  input: z.object({}),
  timeoutMs: 30_000,
  memoryMb: 128,
  async handle(_data, { deps, log }): Promise<{ delivered: number; retrying: number; failed: number }> {
    const deadline = Date.now() + RUN_BUDGET_MS;
    const counts = { delivered: 0, retrying: 0, failed: 0 };
    while (Date.now() < deadline) {
      // Only each subscription's head is claimed, so a batch never holds two deliveries of one subscription.
      let claims: DeliveryClaim[];
      try {
        claims = await claimDueDeliveries(deps.db, BATCH, LEASE_MS);
      } catch (err) {
        // While Postgres is down this fails twice a second: say so now and then, not every time.
        if (Date.now() - lastClaimWarning > 10_000) {
          lastClaimWarning = Date.now();
          log.warn({ err }, "webhook deliveries cannot be taken yet; they stay pending");
        }
        break;
      }
      if (!claims.length) break;
      await Promise.all(
        claims.map(async (claim) => {
          const outcome = await attempt(claim);
          if (!(await recordAttempt(deps.db, claim, outcome))) return;
          const ref = { subscription: claim.subscriptionId, eventId: claim.eventId, attempt: claim.attempts };
          if (outcome.delivered) counts.delivered++;
          else if (outcome.retryInMs === null) {
            counts.failed++;
            log.warn({ ...ref, reason: outcome.error }, "webhook delivery failed for good");
          } else {
            counts.retrying++;
            log.info({ ...ref, reason: outcome.error, retryInMs: outcome.retryInMs }, "webhook delivery will be retried");
          }
        }),
      );
    }
    return counts;
  },
});
