/**
 * Redis 7.0 configuration directives a configuration group may set. Types, bounds and whether a restart is
 * needed follow redis.conf of 7.0 where it states them (hz 1–500, maxmemory-eviction-tenacity 0–100,
 * active-expire-effort 1–10) and otherwise the bounds 7.0's src/config.c enforces; "restart" marks the
 * directives config.c declares IMMUTABLE (CONFIG SET refuses them). Redis writes booleans as yes/no.
 * Pure data: the functions validate requests against it.
 */
import type { ParameterRule } from "../contract.js";

const U64_MAX = "18446744073709551615";
const U32_MAX = "4294967295";
const I64_MAX = "9223372036854775807";
const I32_MAX = "2147483647";

const int = (name: string, min: string, max: string, restartRequired: boolean, description: string): ParameterRule => ({ name, type: "integer", min, max, restartRequired, description });
const bool = (name: string, restartRequired: boolean, description: string): ParameterRule => ({ name, type: "boolean", restartRequired, description });
const str = (name: string, values: string[] | undefined, restartRequired: boolean, description: string): ParameterRule => ({ name, type: "string", ...(values ? { values } : {}), restartRequired, description });

/** The eviction policies of maxmemory-policy. */
export const MAXMEMORY_POLICIES = ["volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl", "allkeys-lru", "allkeys-lfu", "allkeys-random", "noeviction"];

export const redisParameters: ParameterRule[] = [
  // ---- memory ----
  int("maxmemory", "0", U64_MAX, false, "Memory limit in bytes for the data set (0 = no limit); beyond it the maxmemory-policy applies."),
  str("maxmemory-policy", MAXMEMORY_POLICIES, false, "What Redis evicts when maxmemory is reached (noeviction refuses writes instead)."),
  int("maxmemory-samples", "1", I32_MAX, false, "Keys sampled per eviction by the approximated LRU, LFU and TTL algorithms."),
  int("maxmemory-eviction-tenacity", "0", "100", false, "Effort spent evicting per command: 0 = lowest latency, 100 = evict regardless of latency."),
  bool("lazyfree-lazy-eviction", false, "Whether keys evicted for maxmemory are freed in a background thread."),
  bool("lazyfree-lazy-expire", false, "Whether expired keys are freed in a background thread."),
  bool("lazyfree-lazy-server-del", false, "Whether keys the server deletes implicitly (RENAME, SET over a key …) are freed in a background thread."),
  bool("lazyfree-lazy-user-del", false, "Whether DEL behaves like UNLINK (frees in a background thread)."),
  bool("lazyfree-lazy-user-flush", false, "Whether FLUSHDB and FLUSHALL without ASYNC/SYNC free in a background thread."),
  bool("activedefrag", false, "Whether active memory defragmentation runs."),
  // ---- clients and network ----
  int("maxclients", "1", U32_MAX, false, "Maximum number of connected clients (capped by the process's file descriptor limit)."),
  int("timeout", "0", I32_MAX, false, "Seconds after which an idle client connection is closed (0 = never)."),
  int("tcp-keepalive", "0", I32_MAX, false, "Seconds between TCP keepalive probes to clients (0 = off)."),
  int("tcp-backlog", "0", I32_MAX, true, "Length of the listen() backlog (read at start only; capped by net.core.somaxconn)."),
  int("client-query-buffer-limit", "1048576", I64_MAX, false, "Largest query buffer of one client, in bytes."),
  // ---- persistence ----
  bool("appendonly", false, "Whether every write is logged to the append-only file (AOF); Hoard starts guests with yes."),
  str("appendfsync", ["always", "everysec", "no"], false, "How often the AOF is fsynced to disk."),
  bool("no-appendfsync-on-rewrite", false, "Whether AOF fsync is skipped while a background save or rewrite runs."),
  int("auto-aof-rewrite-percentage", "0", I32_MAX, false, "Growth of the AOF, in percent of its size after the last rewrite, that triggers a rewrite (0 = never)."),
  int("auto-aof-rewrite-min-size", "0", I64_MAX, false, "Smallest AOF size in bytes that may trigger an automatic rewrite."),
  // ---- background work and diagnostics ----
  int("hz", "1", "500", false, "Frequency of background tasks (expiry, timeouts) per second."),
  bool("dynamic-hz", false, "Whether hz rises temporarily with the number of connected clients."),
  int("active-expire-effort", "1", "10", false, "Effort spent actively expiring keys: 1 = least CPU, 10 = fewest stale keys."),
  int("slowlog-log-slower-than", "-1", I64_MAX, false, "Commands slower than this many microseconds go to the slow log (-1 = off, 0 = every command)."),
  int("slowlog-max-len", "0", I64_MAX, false, "Entries kept in the slow log."),
  int("latency-monitor-threshold", "0", I64_MAX, false, "Events slower than this many milliseconds are recorded by the latency monitor (0 = off)."),
  str("notify-keyspace-events", undefined, false, "Keyspace notification classes, from K E g $ l s h z x e n t d m A (empty = off)."),
  int("busy-reply-threshold", "0", I64_MAX, false, "Milliseconds a script or function may run before Redis answers other clients with BUSY."),
  // ---- data layout ----
  int("databases", "1", I32_MAX, true, "Number of numbered keyspaces (SELECT 0 … n-1); read at start only."),
  int("hash-max-listpack-entries", "0", I64_MAX, false, "Hashes with at most this many fields use the compact listpack encoding."),
  int("hash-max-listpack-value", "0", I64_MAX, false, "Hashes whose values are at most this many bytes use the compact listpack encoding."),
  int("set-max-intset-entries", "0", I64_MAX, false, "Sets of integers with at most this many members use the compact intset encoding."),
  int("zset-max-listpack-entries", "0", I64_MAX, false, "Sorted sets with at most this many members use the compact listpack encoding."),
];

/**
 * Half the flavor's memory for the data set: an AOF rewrite forks, and copy-on-write can double the
 * footprint while it runs. A database must not drop keys on its own, so the policy refuses writes at the
 * limit; a tenant who wants a cache picks an allkeys-* policy in a configuration group.
 */
export function redisFlavorSettings(flavor: { ramMb: number; vcpus: number }): Record<string, string> {
  const maxmemoryMb = Math.max(16, Math.floor(flavor.ramMb / 2));
  return {
    maxmemory: String(maxmemoryMb * 1024 * 1024),
    "maxmemory-policy": "noeviction",
  };
}
