/**
 * The built-in datastores as data: versions, capabilities and identifier rules, read from the engines'
 * definitions (./registry.ts). Pure (no I/O, no engine code), so the functions may use it to validate
 * requests; the engines' behaviour lives in ./<engine>/.
 */
import { GROUP_CAPABILITIES, type Capability, type DatastoreDefinition, type EngineDefinition, type EngineRules, type NameRule } from "./contract.js";
import { engines } from "./registry.js";

export type { Capability, DatastoreDefinition, DatastoreVersionDefinition, EngineRules, NameRule, ParameterRule } from "./contract.js";

/** What an engine lets users do: provisioning, each of its groups' capability, and backup and restore if it has backups. */
function capabilitiesOf(engine: EngineDefinition): Capability[] {
  const groups = (Object.keys(GROUP_CAPABILITIES) as (keyof typeof GROUP_CAPABILITIES)[]).filter((g) => (engine.groups as readonly string[]).includes(g));
  return ["provision", ...groups.map((g) => GROUP_CAPABILITIES[g]), ...(engine.backupStrategies.length > 0 ? (["backup", "restore"] as const) : [])];
}

/** Built-in datastores, in the registry's order. `mysql` is served by the MariaDB engine, as MySQL is not packaged for Debian. */
export const datastoreDefinitions: DatastoreDefinition[] = engines.flatMap(({ definition }) =>
  definition.datastores.map((served) => ({
    ...served,
    manager: definition.manager,
    capabilities: capabilitiesOf(definition),
    backupStrategies: [...definition.backupStrategies],
  })),
);

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
