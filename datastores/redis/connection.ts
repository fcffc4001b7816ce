/**
 * How the tracker talks to a Redis guest: one ioredis connection at a time over the guest's unix socket, as
 * the ACL user os_admin. Errors never carry a command's arguments (AUTH's password among them) or a
 * password hash, so they may be logged.
 */
import { Redis } from "ioredis";
import { GuestActionError } from "../../errors/index.js";
import type { GuestHandle, GuestLayout } from "../contract.js";
import { guestSocketPath } from "../guest-files.js";

/** The ACL user the tracker acts as. */
export const ADMIN_USER = "os_admin";

/** How long one command of the tracker may take. */
export const ADMIN_TIMEOUT_MS = 10_000;

/** A password hash in an ACL rule; masked in error messages, which may quote a rule. */
const HASH_RULE = /#[0-9a-fA-F]{64}/g;

/** The guest's unix socket. */
export function socketPath(guest: Pick<GuestLayout, "runDir">): string {
  return guestSocketPath(guest.runDir, "redis.sock");
}

/** A Redis endpoint for ioredis: the guest's unix socket or a TCP address. */
type Endpoint = { path: string } | { host: string; port: number };

/**
 * One connection, authenticated as `user` (or not at all). Rejects with the server's own answer when it
 * refuses (WRONGPASS …), as a plain Error: ioredis' errors carry the command with its arguments (AUTH's
 * password among them), and they must never reach a log.
 */
export async function openConnection(endpoint: Endpoint, auth: { user: string; password: string } | undefined, timeoutMs: number): Promise<Redis> {
  let refusal: Error | undefined;
  const client = new Redis({
    ...endpoint,
    ...(auth ? { username: auth.user, password: auth.password } : {}),
    // RESP2: replies are flat arrays (what pairs() reads), whatever ioredis maps RESP3 replies to.
    protocol: 2,
    lazyConnect: true,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    // One attempt, no queueing: callers poll or report themselves.
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    enableReadyCheck: false,
  });
  // ioredis reports a refused AUTH only as an "error" event, then closes ("Connection is closed").
  client.on("error", (err: Error) => {
    refusal ??= err;
  });
  try {
    await client.connect();
    return client;
  } catch (err) {
    client.disconnect();
    throw plainError(refusal ?? err);
  }
}

/** Did the server answer, but refuse the credentials (or want some)? */
export function isAuthRefusal(err: unknown): boolean {
  return /^(WRONGPASS|NOAUTH)\b/.test((err as Error).message ?? "");
}

/** A fresh error with the message alone (no command arguments attached), with password hashes masked. */
export function plainError(err: unknown, context?: string): Error {
  const message = ((err as Error).message ?? String(err)).replace(HASH_RULE, "#***");
  return new Error(context ? `${context}: ${message}` : message);
}

/** A flat [key, value, key, value …] reply as an object. */
export function pairs(reply: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const list = Array.isArray(reply) ? reply : [];
  for (let i = 0; i + 1 < list.length; i += 2) out[String(list[i])] = list[i + 1];
  return out;
}

/**
 * Runs `work` on a connection as os_admin. Errors other than GuestActionError come out as plain errors:
 * without the commands' arguments and with password hashes masked.
 */
export async function asAdmin<T>(guest: GuestHandle, work: (client: Redis) => Promise<T>): Promise<T> {
  const client = await openConnection({ path: socketPath(guest) }, { user: ADMIN_USER, password: guest.adminPassword }, ADMIN_TIMEOUT_MS);
  try {
    return await work(client);
  } catch (err) {
    throw err instanceof GuestActionError ? err : plainError(err);
  } finally {
    client.disconnect();
  }
}
