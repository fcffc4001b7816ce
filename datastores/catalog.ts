/**
 * The built-in datastores as data: versions, capabilities and identifier rules. Pure (no I/O), so the
 * functions may use it to validate requests; the engines' behaviour lives in ./<engine>/strategy.ts.
 */
import { mariadbFlavorSettings, mariadbParameters } from "./mariadb/parameters.js";
import { mariadbRules } from "./mariadb/rules.js";
import { postgresqlFlavorSettings, postgresqlParameters } from "./postgresql/parameters.js";
import { postgresqlRules } from "./postgresql/rules.js";
import { redisFlavorSettings, redisParameters } from "./redis/parameters.js";
import { redisRules } from "./redis/rules.js";

export type Capability =
  | "provision"
  | "databases"
  | "users"
  | "root"
  | "configuration"
  | "backup"
  | "restore"
  | "resize";

export interface NameRule {
  maxLength: number;
  pattern: RegExp;
  /** What a valid name looks like, said to the user when theirs is refused. */
  help: string;
  reserved?: string[];
}

export interface EngineRules {
  database: NameRule;
  user: NameRule;
  host: NameRule;
  password: { maxLength: number };
  /** How the engine writes booleans in its settings; ON/OFF when absent. */
  booleanWords?: { on: string; off: string };
  /** Checks a character set and collation pair; returns what is wrong, or null. */
  charset(charset?: string, collate?: string): string | null;
}

/**
 * One configuration parameter of an engine version, written from the engine's own documentation.
 * Bounds are decimal strings so that values beyond 2^53 stay exact.
 */
export interface ParameterRule {
  name: string;
  type: "integer" | "float" | "string" | "boolean";
  min?: string;
  max?: string;
  /** The allowed values of a string parameter (compared case-insensitively); any string when absent. */
  values?: string[];
  /**
   * A stricter check of a string value than `values` can say (a list of known words, a plain name): what is
   * wrong with it, said to the user, or null. Applied by the API and again by the engine before it is used.
   */
  check?: (value: string) => string | null;
  /** True when the engine reads it only at start (the instance then shows RESTART_REQUIRED). */
  restartRequired: boolean;
  description: string;
}

export interface DatastoreVersionDefinition {
  name: string;
  number: string;
  active: boolean;
  /** The parameters a configuration group may set for this version. */
  parameters: ParameterRule[];
}

export interface DatastoreDefinition {
  /** The datastore's public name (`--datastore`). */
  name: string;
  /** The engine module that serves it (datastores/<manager>/). */
  manager: string;
  versions: DatastoreVersionDefinition[];
  defaultVersion: string;
  capabilities: Capability[];
  rules: EngineRules;
  /** The engine's standard port (3306, 5432, 6379). */
  port: number;
  /** The superuser a tenant gets from root enable; "root" when absent. */
  rootUser?: string;
  /** The backup strategies the engine has (datastores/<manager>/backup.ts), the default first. */
  backupStrategies: string[];
  /** Parameter values derived from the flavor (memory settings and such); a configuration group overrides them. */
  flavorSettings(flavor: { ramMb: number; vcpus: number }): Record<string, string>;
}

const mariadbCapabilities: Capability[] = ["provision", "databases", "users", "root", "configuration", "backup", "restore"];

/** A datastore the MariaDB engine serves: `mariadb` itself, and `mysql` (MySQL is not packaged for Debian). */
function servedByMariadb(name: string): DatastoreDefinition {
  return {
    name,
    manager: "mariadb",
    versions: [{ name: "10.11", number: "10.11", active: true, parameters: mariadbParameters }],
    defaultVersion: "10.11",
    capabilities: mariadbCapabilities,
    rules: mariadbRules,
    port: 3306,
    backupStrategies: ["mariadb-snapshot", "mariadb-dump"],
    flavorSettings: mariadbFlavorSettings,
  };
}

/** Built-in datastores. `mysql` is served by the MariaDB binaries, as MySQL is not packaged for Debian. */
export const datastoreDefinitions: DatastoreDefinition[] = [
  servedByMariadb("mariadb"),
  servedByMariadb("mysql"),
  {
    name: "postgresql",
    manager: "postgresql",
    versions: [{ name: "15", number: "15", active: true, parameters: postgresqlParameters }],
    defaultVersion: "15",
    capabilities: ["provision", "databases", "users", "root", "configuration", "backup", "restore"],
    rules: postgresqlRules,
    port: 5432,
    backupStrategies: ["postgresql-snapshot", "pg_dump"],
    rootUser: "root",
    flavorSettings: postgresqlFlavorSettings,
  },
  {
    name: "redis",
    manager: "redis",
    versions: [{ name: "7.0", number: "7.0", active: true, parameters: redisParameters }],
    defaultVersion: "7.0",
    // No "databases": Redis has numbered keyspaces, not named databases (the API answers 501, as Trove does).
    capabilities: ["provision", "users", "root", "configuration", "backup", "restore"],
    rules: redisRules,
    port: 6379,
    backupStrategies: ["redis-rdb"],
    flavorSettings: redisFlavorSettings,
  },
];

/** Engine rules by manager name. */
export function rulesFor(manager: string): EngineRules {
  const def = datastoreDefinitions.find((d) => d.manager === manager);
  if (!def) throw new Error(`no datastore is served by manager '${manager}'`);
  return def.rules;
}

/** Checks a name against a rule; returns what is wrong with it, or null. */
export function checkName(rule: NameRule, name: string): string | null {
  if (name.length === 0) return "the name is empty";
  if (name.length > rule.maxLength) return `it is longer than ${rule.maxLength} characters; ${rule.help}`;
  if (!rule.pattern.test(name)) return rule.help;
  if (rule.reserved?.includes(name.toLowerCase())) return `'${name}' is reserved for the service`;
  return null;
}
