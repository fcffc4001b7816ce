/**
 * PostgreSQL 15 parameters a configuration group may set. Types, ranges and units are those of the server's
 * own pg_settings (vartype, min_val, max_val, unit); a parameter needs a restart exactly when its context is
 * `postmaster` in the PostgreSQL 15 documentation ("Server Configuration"). Values are given in the unit the
 * server uses for a bare number (8 kB blocks, kB, MB, ms, s), which is also what readSettings reports.
 * Where the server's own bound would stop it from starting, the bound here is the one that works, and says so.
 * Pure data: the functions validate requests against it.
 */
import type { ParameterRule } from "../contract.js";

const INT_MAX = "2147483647";
/**
 * The most server processes a count may ask for. Each connection and each worker is a process forked by the
 * guest's postmaster, on a node whose process table every tenant shares: the server's own bound (MAX_BACKENDS)
 * would let one configuration group fork a quarter of a million of them.
 */
const PROCESSES_MAX = "5000";
/** A time zone name (Europe/Berlin, Etc/GMT+5) or a POSIX rule (EST5EDT, <+03>-3): no quotes, spaces or escapes. */
const TIME_ZONE = (value: string): string | null =>
  /^[A-Za-z0-9_+\-/.:,<>]{1,64}$/.test(value) ? null : "must be a time zone name such as UTC or Europe/Berlin (letters, digits and _ + - / . : , < >, at most 64)";

const int = (name: string, min: string, max: string, restartRequired: boolean, description: string): ParameterRule => ({ name, type: "integer", min, max, restartRequired, description });
const real = (name: string, min: string, max: string, restartRequired: boolean, description: string): ParameterRule => ({ name, type: "float", min, max, restartRequired, description });
const bool = (name: string, restartRequired: boolean, description: string): ParameterRule => ({ name, type: "boolean", restartRequired, description });
const str = (name: string, values: string[] | undefined, restartRequired: boolean, description: string): ParameterRule => ({ name, type: "string", ...(values ? { values } : {}), restartRequired, description });

export const postgresqlParameters: ParameterRule[] = [
  // ---- read at server start only (context postmaster) ----
  int("max_connections", "4", PROCESSES_MAX, true, "Maximum number of concurrent connections. At least 4: three are reserved for superusers."),
  int("shared_buffers", "16", "1073741823", true, "Memory for the shared buffer cache, in 8 kB blocks (16384 = 128 MB)."),
  int("wal_buffers", "-1", "262143", true, "Shared memory for WAL not yet written, in 8 kB blocks; -1 sizes it from shared_buffers."),
  int("max_worker_processes", "0", "1024", true, "Maximum number of background worker processes."),
  int("autovacuum_max_workers", "1", "256", true, "Maximum number of autovacuum worker processes running at once."),
  int("max_locks_per_transaction", "10", INT_MAX, true, "Average number of object locks allocated per transaction (sizes the shared lock table)."),
  int("max_prepared_transactions", "0", PROCESSES_MAX, true, "Maximum number of transactions in the prepared (two-phase) state at once; 0 disables PREPARE TRANSACTION."),
  int("track_activity_query_size", "100", "1048576", true, "Bytes of each session's current query text kept for pg_stat_activity."),
  // 'minimal' is left out: with the default max_wal_senders (10) the server refuses to start on it.
  str("wal_level", ["replica", "logical"], true, "How much information is written to the WAL: replica (archiving and replication) or logical (also logical decoding)."),

  // ---- memory and planner (changed with a reload) ----
  int("work_mem", "64", INT_MAX, false, "Memory a sort or hash operation may use before spilling to disk, in kB."),
  int("maintenance_work_mem", "1024", INT_MAX, false, "Memory for maintenance operations (VACUUM, CREATE INDEX), in kB."),
  int("effective_cache_size", "1", INT_MAX, false, "The planner's assumption of the disk cache available to one query, in 8 kB blocks."),
  int("temp_buffers", "100", "1073741823", false, "Memory per session for temporary tables, in 8 kB blocks."),
  real("hash_mem_multiplier", "1", "1000", false, "Multiple of work_mem that hash-based operations may use."),
  // PostgreSQL accepts costs up to the largest double; no sensible plan needs more than this.
  real("random_page_cost", "0", "1000000", false, "The planner's estimate of the cost of a non-sequentially fetched disk page (seq_page_cost is 1 by default)."),
  real("seq_page_cost", "0", "1000000", false, "The planner's estimate of the cost of a sequentially fetched disk page."),
  int("default_statistics_target", "1", "10000", false, "Default statistics target for table columns without a column-specific target."),
  int("effective_io_concurrency", "0", "1000", false, "Number of concurrent disk I/O operations the server may expect to run at once."),
  int("max_parallel_workers", "0", "1024", false, "Maximum number of parallel workers active at once."),
  int("max_parallel_workers_per_gather", "0", "1024", false, "Maximum number of parallel workers per Gather node."),
  bool("jit", false, "Whether JIT compilation may be used."),

  // ---- sessions ----
  int("statement_timeout", "0", INT_MAX, false, "Aborts any statement that runs longer than this, in milliseconds; 0 disables."),
  int("lock_timeout", "0", INT_MAX, false, "Aborts any statement that waits longer than this for a lock, in milliseconds; 0 disables."),
  int("idle_in_transaction_session_timeout", "0", INT_MAX, false, "Ends a session idle inside a transaction for longer than this, in milliseconds; 0 disables."),
  int("idle_session_timeout", "0", INT_MAX, false, "Ends a session idle (outside a transaction) for longer than this, in milliseconds; 0 disables."),
  int("deadlock_timeout", "1", INT_MAX, false, "Time to wait on a lock before checking for a deadlock, in milliseconds."),
  int("temp_file_limit", "-1", INT_MAX, false, "Maximum disk space a session may use for temporary files, in kB; -1 means no limit."),
  str("default_transaction_isolation", ["read uncommitted", "read committed", "repeatable read", "serializable"], false, "Isolation level of each new transaction."),
  str("synchronous_commit", ["on", "off", "local", "remote_write", "remote_apply"], false, "Whether a commit waits for its WAL to be flushed before it reports success."),
  { ...str("timezone", undefined, false, "Time zone for displaying and interpreting timestamps (e.g. UTC, Europe/Berlin)."), check: TIME_ZONE },

  // ---- write-ahead log and checkpoints ----
  int("checkpoint_timeout", "30", "86400", false, "Maximum time between automatic WAL checkpoints, in seconds."),
  real("checkpoint_completion_target", "0", "1", false, "Fraction of the checkpoint interval over which a checkpoint's writes are spread."),
  // The server's own minimum is 2, but it refuses to start below two 16 MB WAL segments.
  int("max_wal_size", "32", INT_MAX, false, "WAL size that triggers a checkpoint, in MB (at least 32: two WAL segments)."),
  int("min_wal_size", "32", INT_MAX, false, "WAL kept for reuse instead of removed, in MB (at least 32: two WAL segments)."),
  str("wal_compression", ["off", "on", "pglz", "lz4", "zstd"], false, "Whether and how full-page images in the WAL are compressed."),

  // ---- autovacuum ----
  bool("autovacuum", false, "Whether the autovacuum launcher runs."),
  int("autovacuum_naptime", "1", "2147483", false, "Delay between autovacuum runs on a database, in seconds."),
  real("autovacuum_vacuum_scale_factor", "0", "100", false, "Fraction of a table's rows updated or deleted that triggers a VACUUM."),
  real("autovacuum_analyze_scale_factor", "0", "100", false, "Fraction of a table's rows changed that triggers an ANALYZE."),

  // ---- logging ----
  int("log_min_duration_statement", "-1", INT_MAX, false, "Logs each statement that runs at least this long, in milliseconds; -1 disables, 0 logs all."),
  int("log_autovacuum_min_duration", "-1", INT_MAX, false, "Logs each autovacuum action that runs at least this long, in milliseconds; -1 disables."),
  str("log_statement", ["none", "ddl", "mod", "all"], false, "Which statements are logged."),
  bool("log_connections", false, "Whether each connection attempt is logged (applies to new sessions)."),
  bool("log_disconnections", false, "Whether each session end is logged (applies to new sessions)."),
  bool("log_lock_waits", false, "Whether a lock wait longer than deadlock_timeout is logged."),
  bool("log_checkpoints", false, "Whether checkpoints and restartpoints are logged."),
  bool("track_io_timing", false, "Whether the time spent on I/O is measured (for EXPLAIN (BUFFERS) and pg_stat_database)."),
];

/**
 * A quarter of the flavor's memory for shared buffers and three quarters as the planner's cache estimate (the
 * usual advice), in 8 kB blocks; one connection per 8 MB, between 20 and 500.
 */
export function postgresqlFlavorSettings(flavor: { ramMb: number; vcpus: number }): Record<string, string> {
  const blocksPerMb = 1024 / 8;
  return {
    shared_buffers: String(Math.max(16, Math.floor((flavor.ramMb * blocksPerMb) / 4))),
    effective_cache_size: String(Math.max(1, Math.floor((flavor.ramMb * blocksPerMb * 3) / 4))),
    max_connections: String(Math.min(500, Math.max(20, Math.floor(flavor.ramMb / 8)))),
  };
}
