/**
 * The built-in datastores as data: versions, capabilities and identifier rules. Pure (no I/O), so the
 * functions may use it to validate requests; the engines' behaviour lives in ./<engine>/strategy.ts.
 */
import { mariadbRules } from "./mariadb/rules.js";

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
  /** Checks a character set and collation pair; returns what is wrong, or null. */
  charset(charset?: string, collate?: string): string | null;
}

export interface DatastoreDefinition {
  /** The datastore's public name (`--datastore`). */
  name: string;
  /** The engine module that serves it (datastores/<manager>/). */
  manager: string;
  versions: { name: string; number: string; active: boolean }[];
  defaultVersion: string;
  capabilities: Capability[];
  rules: EngineRules;
}

const mariadbCapabilities: Capability[] = ["provision", "databases", "users"];

/** Built-in datastores. `mysql` is served by the MariaDB binaries, as MySQL is not packaged for Debian. */
export const datastoreDefinitions: DatastoreDefinition[] = [
  {
    name: "mariadb",
    manager: "mariadb",
    versions: [{ name: "10.11", number: "10.11", active: true }],
    defaultVersion: "10.11",
    capabilities: mariadbCapabilities,
    rules: mariadbRules,
  },
  {
    name: "mysql",
    manager: "mariadb",
    versions: [{ name: "10.11", number: "10.11", active: true }],
    defaultVersion: "10.11",
    capabilities: mariadbCapabilities,
    rules: mariadbRules,
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
