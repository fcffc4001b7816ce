import { createHmac } from "node:crypto";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { isIP, type LookupFunction } from "node:net";
import { z } from "zod";
import { defineFunction } from "../../runtime/function.js";
import { claimDueDeliveries, recordAttempt, type DeliveryClaim, type DeliveryOutcome } from "../../store/index.js";
import { vetWebhookUrl, webhookPolicy, type TargetAddress, type VettedTarget, type WebhookPolicy } from "../webhook-target.js";

/** How long one delivery may take, from resolving the receiver's name to its answer's headers. */
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
  const err = e as { name?: string; code?: string; message?: string; cause?: { code?: string; message?: string } };
  if (err.name === "TimeoutError" || err.name === "AbortError") return `no answer within ${REQUEST_TIMEOUT_MS / 1000} s`;
  const code = err.code ?? err.cause?.code;
  if (code) return `could not reach the receiver (${code})`;
  return `could not reach the receiver (${String(err.cause?.message ?? err.message ?? e).slice(0, 200)})`;
}

/**
 * A `lookup` that answers with the vetted addresses only: the socket connects to exactly what was checked,
 * while the request keeps the URL's host for its Host header and TLS (SNI and certificate name).
 */
function pinnedLookup(addresses: TargetAddress[]): LookupFunction {
  return (_host, options, callback) => {
    const fits = options.family === 4 || options.family === 6 ? addresses.filter((a) => a.family === options.family) : addresses;
    if (!fits.length) return callback(Object.assign(new Error("no vetted address of that family"), { code: "ENOTFOUND" }), "", 4);
    if (options.all) return (callback as unknown as (e: null, all: TargetAddress[]) => void)(null, fits);
    callback(null, fits[0]!.address, fits[0]!.family);
  };
}

/** POSTs `body` to a vetted target and answers with the status code; the receiver's body is never read. */
function post(target: VettedTarget, body: string, headers: Record<string, string>, signal: AbortSignal): Promise<number> {
  const tls = target.url.protocol === "https:";
  return new Promise((resolve, reject) => {
    const req = (tls ? httpsRequest : httpRequest)(
      {
        method: "POST",
        host: target.host,
        port: target.port,
        path: `${target.url.pathname}${target.url.search}`,
        headers: { ...headers, host: target.url.host, "content-length": String(Buffer.byteLength(body)) },
        // A fresh connection each time: a pooled one may lead to an address vetted for another delivery.
        agent: false,
        lookup: pinnedLookup(target.addresses),
        ...(tls && !isIP(target.host) ? { servername: target.host } : {}),
        // The answer's headers are all that is read, and they are kept small.
        maxHeaderSize: 16 * 1024,
        signal,
      },
      (res) => {
        // It is not ours to keep, and a receiver that streams forever must not hold the deliverer.
        res.destroy();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/** Sends one delivery: POST of the CloudEvent, signed, to the URL's addresses as checked just now. Any 2xx answer accepts it. */
async function attempt(claim: DeliveryClaim, policy: WebhookPolicy): Promise<DeliveryOutcome> {
  const body = JSON.stringify(claim.event);
  let statusCode: number | null = null;
  let error: string;
  const signal = AbortSignal.timeout(REQUEST_TIMEOUT_MS);
  // The name is resolved again for every attempt: what it resolved to at create proves nothing now.
  const verdict = await vetWebhookUrl(claim.url, policy, REQUEST_TIMEOUT_MS);
  if (!verdict.ok) error = `not sent: ${verdict.reason}`;
  else {
    try {
      statusCode = await post(verdict.target, body, {
        "content-type": "application/cloudevents+json",
        "user-agent": "hoard-webhooks/1",
        "x-hoard-event-id": claim.eventId,
        "x-hoard-subscription-id": claim.subscriptionId,
        "x-hoard-sequence": String(claim.seq),
        "x-hoard-attempt": String(claim.attempts),
        "x-hoard-timestamp": String(Math.floor(Date.now() / 1000)),
        "x-hoard-signature": signature(claim.secret, body),
      }, signal);
      if (statusCode >= 200 && statusCode < 300) return { delivered: true, statusCode };
      // A redirect could lead anywhere, the node's inside included: it is a failed delivery, never followed.
      error = statusCode >= 300 && statusCode < 400 ? `the receiver answered HTTP ${statusCode}; redirects are not followed` : `the receiver answered HTTP ${statusCode}`;
    } catch (e) {
      error = networkError(e);
    }
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
    const policy = webhookPolicy(deps.config);
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
          const outcome = await attempt(claim, policy);
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
