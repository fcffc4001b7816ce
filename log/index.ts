/** Hoard's logs: the file log of a node's process, and the stdout log of the processes a platform runs. */
import { chmodSync, createWriteStream, mkdirSync } from "node:fs";
import path from "node:path";
import { pino, type Logger } from "pino";
import type { Config } from "../config/index.js";

/** Paths that may hold a secret anywhere in a log record; pino replaces them before anything is written. */
const REDACT = [
  "password", "*.password", "*.*.password", "users[*].password", "*.users[*].password", "*.*.users[*].password",
  "adminPassword", "*.adminPassword", "rootPassword", "*.rootPassword", "token", "*.token", "headers['x-auth-token']", "secret", "*.secret", "*.*.secret", "secretAccessKey", "*.secretAccessKey", "*.*.secretAccessKey", "*.*.*.secretAccessKey",
];

/** Hoard's own log files (hoard.log, nats.log): root and its group only. */
const LOG_MODE = 0o640;

/** What every Hoard log shares: the configured level, and secrets redacted. */
const options = (config: Config): pino.LoggerOptions => ({ level: config.logLevel, redact: { paths: REDACT, censor: "[secret]" } });

/** Hoard's log: everything at the configured level to `<home>/hoard.log`, warnings also to stderr. */
export function createLog(config: Config, opts: { console?: boolean } = {}): Logger {
  mkdirSync(config.home, { recursive: true });
  const logFile = path.join(config.home, "hoard.log");
  // Operators' eyes only: records name instances, projects and addresses. A log made before (0644) is fixed too.
  const file = createWriteStream(logFile, { flags: "a", mode: LOG_MODE });
  try {
    chmodSync(logFile, LOG_MODE);
  } catch {
    // not made yet: the stream creates it with LOG_MODE
  }
  const streams: pino.StreamEntry[] = [{ level: config.logLevel === "silent" ? "fatal" : config.logLevel, stream: file }];
  if (opts.console !== false) streams.push({ level: "warn", stream: process.stderr });
  return pino(options(config), pino.multistream(streams));
}

/**
 * The log of a process whose platform collects stdout (of-watchdog and `faas-cli logs`, `kubectl logs`):
 * records at the configured level on stdout, each carrying `base` (which part or function wrote it).
 */
export function createStdoutLog(config: Config, base: Record<string, string>): Logger {
  return pino({ ...options(config), base });
}
