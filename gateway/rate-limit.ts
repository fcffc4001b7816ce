/**
 * Per-project request limits on one gateway, per HTTP verb (Trove's rate limits: N requests per minute).
 * A token bucket per project and verb: full at `perMinute`, refilled continuously. Each gateway process
 * limits on its own, as Trove's in-memory limiter did.
 */
export const LIMITED_VERBS = ["GET", "POST", "PUT", "DELETE", "PATCH"] as const;

interface Bucket {
  tokens: number;
  at: number;
}

export interface RateState {
  verb: string;
  value: number;
  remaining: number;
  /** When the next request of this verb can be made (now, if some remain). */
  nextAvailable: Date;
}

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly perMs: number;

  constructor(private readonly perMinute: number, private readonly now: () => number = Date.now) {
    this.perMs = perMinute / 60_000;
  }

  /** Takes one request; returns how many seconds to wait when none is left, else 0. */
  take(project: string, verb: string): number {
    const bucket = this.refill(project, verb);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - bucket.tokens) / this.perMs / 1000));
  }

  /** The state of every verb for a project, for GET /limits. */
  state(project: string): RateState[] {
    return LIMITED_VERBS.map((verb) => {
      const b = this.refill(project, verb);
      const wait = b.tokens >= 1 ? 0 : (1 - b.tokens) / this.perMs;
      return { verb, value: this.perMinute, remaining: Math.floor(b.tokens), nextAvailable: new Date(this.now() + wait) };
    });
  }

  limit(): number {
    return this.perMinute;
  }

  private refill(project: string, verb: string): Bucket {
    const key = `${project} ${verb}`;
    const t = this.now();
    const bucket = this.buckets.get(key) ?? { tokens: this.perMinute, at: t };
    bucket.tokens = Math.min(this.perMinute, bucket.tokens + (t - bucket.at) * this.perMs);
    bucket.at = t;
    this.buckets.set(key, bucket);
    // Full buckets hold no information: forget them so the map does not grow with every project ever seen.
    if (this.buckets.size > 10_000) for (const [k, b] of this.buckets) if (b.tokens >= this.perMinute) this.buckets.delete(k);
    return bucket;
  }
}
