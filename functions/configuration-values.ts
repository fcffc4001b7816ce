/**
 * Configuration group values: checked against an engine version's parameter rules, kept exact (integers
 * beyond 2^53 stay as their decimal text), and turned into the settings an engine starts with.
 */
import type { DatastoreDefinition, ParameterRule } from "../datastores/catalog.js";
import { fail } from "../errors/index.js";
import type { ConfigValue } from "../events/index.js";

/** Stored values: numbers as `{ number: "<decimal text>" }` so that nothing is rounded on the way. */
export type ConfigValues = Record<string, ConfigValue>;

const SIZE_SUFFIX: Record<string, bigint> = { K: 1024n, M: 1024n ** 2n, G: 1024n ** 3n, T: 1024n ** 4n };
const TRUE_WORDS = ["true", "on", "yes", "1"];
/**
 * More digits than any engine's bound has (2^64 has 20): refused before BigInt reads them, so a number of a
 * million digits costs nothing and says plainly that it is out of range.
 */
const MAX_DIGITS = 40;
const FALSE_WORDS = ["false", "off", "no", "0"];

function ruleFor(rules: ParameterRule[], name: string): ParameterRule | undefined {
  return rules.find((r) => r.name.toLowerCase() === name.toLowerCase());
}

function range(rule: ParameterRule): string {
  if (rule.min !== undefined && rule.max !== undefined) return `from ${rule.min} to ${rule.max}`;
  if (rule.min !== undefined) return `of at least ${rule.min}`;
  if (rule.max !== undefined) return `of at most ${rule.max}`;
  return "";
}

function integer(rule: ParameterRule, value: ConfigValue): string {
  const tooLong = () => fail("INVALID_PARAMETER", { name: rule.name, rule: `is out of range: it must be an integer ${range(rule)}`.trim() });
  let digits: string;
  if (typeof value === "object" && /^-?\d+$/.test(value.number)) digits = value.number;
  else if (typeof value === "string" && /^\d+[KMGT]?$/i.test(value) && value.length > MAX_DIGITS) throw tooLong();
  else if (typeof value === "string" && /^\d+[KMGT]?$/i.test(value)) {
    const suffix = value.slice(-1).toUpperCase();
    digits = SIZE_SUFFIX[suffix] ? String(BigInt(value.slice(0, -1)) * SIZE_SUFFIX[suffix]) : value;
  } else throw fail("INVALID_PARAMETER", { name: rule.name, rule: `must be an integer ${range(rule)}`.trim() });
  if (digits.replace(/^-/, "").length > MAX_DIGITS) throw tooLong();
  const n = BigInt(digits);
  if ((rule.min !== undefined && n < BigInt(rule.min)) || (rule.max !== undefined && n > BigInt(rule.max))) {
    throw fail("INVALID_PARAMETER", { name: rule.name, rule: `${digits} is out of range: it must be an integer ${range(rule)}` });
  }
  return n.toString();
}

function float(rule: ParameterRule, value: ConfigValue): string {
  const text = typeof value === "object" ? value.number : typeof value === "string" ? value : "";
  if (text.length > 64 || !/^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(text)) throw fail("INVALID_PARAMETER", { name: rule.name, rule: `must be a number ${range(rule)}`.trim() });
  const n = Number(text);
  if ((rule.min !== undefined && n < Number(rule.min)) || (rule.max !== undefined && n > Number(rule.max))) {
    throw fail("INVALID_PARAMETER", { name: rule.name, rule: `${text} is out of range: it must be a number ${range(rule)}` });
  }
  return text;
}

function boolean(rule: ParameterRule, value: ConfigValue): boolean {
  if (typeof value === "boolean") return value;
  const word = typeof value === "object" ? value.number : value.toLowerCase();
  if (TRUE_WORDS.includes(word)) return true;
  if (FALSE_WORDS.includes(word)) return false;
  throw fail("INVALID_PARAMETER", { name: rule.name, rule: "must be true or false" });
}

function string(rule: ParameterRule, value: ConfigValue): string {
  if (typeof value !== "string") throw fail("INVALID_PARAMETER", { name: rule.name, rule: `must be a string${rule.values ? ` (one of ${rule.values.join(", ")})` : ""}` });
  // eslint-disable-next-line no-control-regex
  if (value.length > 1024 || /[\x00-\x1f\x7f]/.test(value)) throw fail("INVALID_PARAMETER", { name: rule.name, rule: "must be at most 1024 printable characters" });
  if (rule.check) {
    const wrong = rule.check(value);
    if (wrong !== null) throw fail("INVALID_PARAMETER", { name: rule.name, rule: wrong });
  }
  if (!rule.values) return value;
  const match = rule.values.find((v) => v.toLowerCase() === value.toLowerCase());
  if (match === undefined) throw fail("INVALID_PARAMETER", { name: rule.name, rule: `must be one of ${rule.values.join(", ")}` });
  return match;
}

/** The parameter rules of a datastore version, or 422 when it has none. */
export function parameterRules(def: DatastoreDefinition, version: string): ParameterRule[] {
  const rules = def.versions.find((v) => v.name === version)?.parameters ?? [];
  if (!def.capabilities.includes("configuration") || rules.length === 0) throw fail("CONFIGURATION_NOT_SUPPORTED", { datastore: def.name, version });
  return rules;
}

/** Checks every value against its rule and returns them in canonical form under the rules' names. */
export function checkValues(def: DatastoreDefinition, version: string, values: ConfigValues): ConfigValues {
  const rules = parameterRules(def, version);
  const out: ConfigValues = {};
  for (const [name, value] of Object.entries(values)) {
    const rule = ruleFor(rules, name);
    if (!rule) throw fail("UNKNOWN_PARAMETER", { name, datastore: def.name, version });
    if (rule.type === "integer") out[rule.name] = { number: integer(rule, value) };
    else if (rule.type === "float") out[rule.name] = { number: float(rule, value) };
    else if (rule.type === "boolean") out[rule.name] = boolean(rule, value);
    else out[rule.name] = string(rule, value);
  }
  return out;
}

/** A value as the engine reads it (booleans in the engine's own words). */
export function engineText(def: DatastoreDefinition, value: ConfigValue): string {
  if (typeof value === "boolean") {
    const words = def.rules.booleanWords ?? { on: "ON", off: "OFF" };
    return value ? words.on : words.off;
  }
  return typeof value === "object" ? value.number : value;
}

/** The settings an instance runs with: the flavor's derived values, overridden by the group's. */
export function instanceSettings(def: DatastoreDefinition, flavor: { ramMb: number; vcpus: number }, values: ConfigValues | null): Record<string, string> {
  const settings = { ...def.flavorSettings(flavor) };
  for (const [name, value] of Object.entries(values ?? {})) settings[name] = engineText(def, value);
  return settings;
}

/**
 * What moving an instance from settings `before` to `after` takes: the dynamic values to apply live, and
 * whether a restart is needed (a static parameter changed, or a dynamic one went back to an unknown default).
 */
export function settingsChange(def: DatastoreDefinition, version: string, before: Record<string, string>, after: Record<string, string>): { live: Record<string, string>; restartRequired: boolean } {
  const rules = def.versions.find((v) => v.name === version)?.parameters ?? [];
  const live: Record<string, string> = {};
  let restartRequired = false;
  for (const name of new Set([...Object.keys(before), ...Object.keys(after)])) {
    if (before[name] === after[name]) continue;
    const rule = ruleFor(rules, name);
    if (!rule || rule.restartRequired || after[name] === undefined) restartRequired = true;
    else live[name] = after[name]!;
  }
  return { live, restartRequired };
}

/** Stored values as exact JSON text (numbers unquoted, as given). */
export function valuesToJson(values: ConfigValues): string {
  const parts = Object.entries(values).map(([k, v]) => `${JSON.stringify(k)}:${typeof v === "object" ? v.number : JSON.stringify(v)}`);
  return `{${parts.join(",")}}`;
}
