/**
 * Server settings that bound what a tenant can make a PostgreSQL guest write to its engine log (on the node's
 * disk, see tracker/engine-logs.ts, which caps the file whatever the engine does). All are superuser-only
 * (PGC_SUSET or stricter), so no tenant session can `SET` them back, and no configuration group offers them.
 *
 * They cannot stop `RAISE LOG` itself: for the server log, LOG ranks above ERROR, so every
 * log_min_messages below FATAL keeps it, and FATAL would also drop the lines operators need (a crash, an
 * OOM kill, "ready to accept connections"). log_min_messages stays at warning (no NOTICE/INFO from tenants'
 * RAISE), pinned here so it is a known value.
 */
export const POSTGRESQL_LOG_LIMITS: Record<string, string> = {
  log_min_messages: "warning",
  // By default every ERROR (and every LOG, which ranks above it) is followed by its whole statement: a tenant's
  // flood doubled, and the tenant's SQL, passwords and all, in the node's log. Never the statement, then.
  log_min_error_statement: "panic",
  // Statements logged on purpose (a group's log_statement = all) carry their bound values cut short.
  log_parameter_max_length: "1024",
  log_parameter_max_length_on_error: "0",
};

/** POSTGRESQL_LOG_LIMITS as the server's `-c name=value` arguments. */
export const POSTGRESQL_LOG_LIMIT_ARGS: string[] = Object.entries(POSTGRESQL_LOG_LIMITS).flatMap(([name, value]) => ["-c", `${name}=${value}`]);
