/**
 * MariaDB 10.11 server system variables a configuration group may set, with the types, ranges and
 * dynamic/static nature given by MariaDB's "Server System Variables" and "InnoDB System Variables"
 * documentation for 10.11 (64-bit builds). Pure data: the functions validate requests against it.
 */
import type { ParameterRule } from "../contract.js";
import { charsets } from "./rules.js";

/**
 * MariaDB 10.11's SQL modes, combination modes included (information_schema.SYSTEM_VARIABLES, ENUM_VALUE_LIST
 * of SQL_MODE). A value is a comma list of these and nothing else: it goes into `SET GLOBAL sql_mode = '…'`
 * and `--sql_mode=…`, and a quote, backslash or comment in it is an attack, never a mode.
 */
export const SQL_MODES = [
  "REAL_AS_FLOAT", "PIPES_AS_CONCAT", "ANSI_QUOTES", "IGNORE_SPACE", "IGNORE_BAD_TABLE_OPTIONS", "ONLY_FULL_GROUP_BY",
  "NO_UNSIGNED_SUBTRACTION", "NO_DIR_IN_CREATE", "POSTGRESQL", "ORACLE", "MSSQL", "DB2", "MAXDB", "NO_KEY_OPTIONS",
  "NO_TABLE_OPTIONS", "NO_FIELD_OPTIONS", "MYSQL323", "MYSQL40", "ANSI", "NO_AUTO_VALUE_ON_ZERO", "NO_BACKSLASH_ESCAPES",
  "STRICT_TRANS_TABLES", "STRICT_ALL_TABLES", "NO_ZERO_IN_DATE", "NO_ZERO_DATE", "ALLOW_INVALID_DATES",
  "ERROR_FOR_DIVISION_BY_ZERO", "TRADITIONAL", "NO_AUTO_CREATE_USER", "HIGH_NOT_PRECEDENCE", "NO_ENGINE_SUBSTITUTION",
  "PAD_CHAR_TO_FULL_LENGTH", "EMPTY_STRING_IS_NULL", "SIMULTANEOUS_ASSIGNMENT", "TIME_ROUND_FRACTIONAL",
];

function sqlModes(value: string): string | null {
  if (value === "") return null;
  const unknown = value.split(",").find((m) => !SQL_MODES.includes(m.toUpperCase()));
  if (unknown === undefined) return null;
  return `must be a comma-separated list (no spaces) of MariaDB 10.11 SQL modes (${SQL_MODES.join(", ")}), or empty; '${unknown}' is not one`;
}

function charset(value: string): string | null {
  return charsets.includes(value.toLowerCase()) ? null : `must be one of MariaDB's character sets (${charsets.join(", ")})`;
}

function collation(value: string): string | null {
  const lower = value.toLowerCase();
  if (!/^[a-z0-9_]{1,64}$/.test(lower)) return "must be a collation name: letters, digits and '_' only (e.g. utf8mb4_unicode_ci)";
  if (!charsets.some((cs) => lower.startsWith(`${cs}_`))) return `must be a collation of one of MariaDB's character sets (e.g. utf8mb4_unicode_ci); '${value}' is not`;
  return null;
}

const U64_MAX = "18446744073709551615";
const U32_MAX = "4294967295";

const int = (name: string, min: string, max: string, restartRequired: boolean, description: string): ParameterRule => ({ name, type: "integer", min, max, restartRequired, description });
const bool = (name: string, restartRequired: boolean, description: string): ParameterRule => ({ name, type: "boolean", restartRequired, description });
const str = (name: string, values: string[] | undefined, restartRequired: boolean, description: string, check?: ParameterRule["check"]): ParameterRule => ({ name, type: "string", ...(values ? { values } : {}), ...(check ? { check } : {}), restartRequired, description });

/*
 * Not here on purpose, and never to be added: variables that name a file or folder (general_log_file,
 * slow_query_log_file, log_error, secure_file_priv, plugin_dir, init_file, tmpdir, datadir …), that load
 * code (plugin_load, init_connect) or that open LOAD DATA LOCAL (local_infile): a configuration group is
 * the tenant's, and these are the node's. Every string parameter has a `values` list or a `check`.
 */

/**
 * Parameters earlier Hoards let a group set and this one does not: a group stored then may still carry them,
 * so a guest drops them (the server's own hardening holds) instead of refusing to start.
 */
export const WITHDRAWN_PARAMETERS = ["local_infile"];

export const mariadbParameters: ParameterRule[] = [
  int("max_connections", "10", "100000", false, "Maximum number of simultaneous client connections."),
  int("innodb_buffer_pool_size", "2097152", U64_MAX, false, "Bytes of memory InnoDB uses to cache data and indexes (resized online)."),
  int("innodb_flush_log_at_trx_commit", "0", "3", false, "How often the redo log is written and flushed at commit (1 = every commit)."),
  int("innodb_io_capacity", "100", U64_MAX, false, "I/O operations per second InnoDB assumes for background work."),
  int("innodb_lock_wait_timeout", "0", "100000000", false, "Seconds a transaction waits for a row lock before giving up."),
  int("max_allowed_packet", "1024", "1073741824", false, "Largest packet or generated string, in bytes."),
  int("max_heap_table_size", "16384", U64_MAX, false, "Largest size of a user-created MEMORY table, in bytes."),
  int("tmp_table_size", "1024", U64_MAX, false, "Largest in-memory internal temporary table, in bytes."),
  int("join_buffer_size", "128", U64_MAX, false, "Buffer for joins that use no index, in bytes."),
  int("sort_buffer_size", "1024", U32_MAX, false, "Buffer each session allocates for sorts, in bytes."),
  int("key_buffer_size", "8", U64_MAX, false, "Buffer for MyISAM index blocks, in bytes."),
  int("table_open_cache", "1", "1048576", false, "Number of open tables cached for all threads."),
  int("thread_cache_size", "0", "16384", false, "Threads kept for reuse by new connections."),
  int("wait_timeout", "1", "31536000", false, "Seconds an idle non-interactive connection is kept open."),
  int("interactive_timeout", "1", "31536000", false, "Seconds an idle interactive connection is kept open."),
  int("connect_timeout", "2", "31536000", false, "Seconds the server waits for a connect packet."),
  { name: "long_query_time", type: "float", min: "0", max: "31536000", restartRequired: false, description: "Queries slower than this many seconds go to the slow query log." },
  bool("slow_query_log", false, "Whether slow queries are logged."),
  str("character_set_server", undefined, false, "Default character set of new databases.", charset),
  str("collation_server", undefined, false, "Default collation of new databases.", collation),
  str("sql_mode", undefined, false, "Comma-separated SQL modes (e.g. STRICT_TRANS_TABLES,NO_ENGINE_SUBSTITUTION).", sqlModes),
  str("event_scheduler", ["ON", "OFF"], false, "Whether scheduled events run."),
  str("transaction_isolation", ["READ-UNCOMMITTED", "READ-COMMITTED", "REPEATABLE-READ", "SERIALIZABLE"], false, "Default isolation level of new transactions."),
  bool("performance_schema", true, "Whether the Performance Schema is enabled (read at start only)."),
  int("back_log", "1", "65535", true, "Connection requests queued while the server is busy (read at start only)."),
  int("open_files_limit", "0", U32_MAX, true, "File descriptors the server asks the OS for (read at start only)."),
  int("lower_case_table_names", "0", "2", true, "How table names are stored and compared (read at start only)."),
  int("innodb_log_buffer_size", "262144", "2147479552", true, "Bytes of the buffer for redo log writes (read at start only)."),
];

/** Half the flavor's memory goes to InnoDB's buffer pool (never below 32 MB); connections scale with it. */
export function mariadbFlavorSettings(flavor: { ramMb: number; vcpus: number }): Record<string, string> {
  const poolMb = Math.max(32, Math.floor(flavor.ramMb / 2));
  return {
    innodb_buffer_pool_size: String(poolMb * 1024 * 1024),
    max_connections: String(Math.min(100_000, Math.max(50, Math.floor(flavor.ramMb / 4)))),
  };
}
