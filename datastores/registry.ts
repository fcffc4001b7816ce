/**
 * The engines this Hoard has, one line each: an engine's pure definition paired with a loader of its module
 * (strategy and backup strategies, which bring pg, mysql2 or ioredis). The catalogue, the Debian package
 * checks and the image read the definitions alone; the tracker's face (./index.ts) loads the modules. Adding
 * an engine is adding its folder and its line here.
 */
import { GROUP_CAPABILITIES, type EngineDefinition, type EngineModule, type GroupName, type LoadedEngine } from "./contract.js";
import { mariadbDefinition } from "./mariadb/definition.js";
import { postgresqlDefinition } from "./postgresql/definition.js";
import { redisDefinition } from "./redis/definition.js";

/** An engine of the registry: its definition now, its module when loaded. */
export interface RegisteredEngine {
  definition: EngineDefinition;
  /** Loads the engine's module, checked against its definition. */
  load(): Promise<LoadedEngine>;
}

/**
 * Pairs a definition with its module's loader. The module's type must have exactly the definition's groups
 * and backup strategies (checked by TypeScript here); `load` checks the same of the module it gets.
 */
function engine<G extends GroupName, B extends string>(definition: EngineDefinition<G, B>, load: () => Promise<{ engine: EngineModule<G, B> }>): RegisteredEngine {
  return { definition, load: async () => checked(definition, (await load()).engine) };
}

export const engines: readonly RegisteredEngine[] = [
  engine(mariadbDefinition, () => import("./mariadb/index.js")),
  engine(postgresqlDefinition, () => import("./postgresql/index.js")),
  engine(redisDefinition, () => import("./redis/index.js")),
];

/** The module, once it is known to be what its definition says (for a module the compiler did not see). */
function checked(definition: EngineDefinition, module: LoadedEngine): LoadedEngine {
  const wrong = (what: string) => new Error(`the ${definition.manager} engine's module ${what}`);
  if (module.definition !== definition) throw wrong("carries another definition than the registry's");
  if (module.strategy.manager !== definition.manager) throw wrong(`has the strategy of '${module.strategy.manager}'`);
  for (const group of Object.keys(GROUP_CAPABILITIES) as GroupName[]) {
    const declared = (definition.groups as readonly GroupName[]).includes(group);
    if (declared !== (module.strategy[group] !== undefined)) throw wrong(`${declared ? "lacks" : "has"} the '${group}' group its definition ${declared ? "names" : "does not name"}`);
  }
  const names = Object.keys(module.backups);
  if (names.length !== definition.backupStrategies.length || definition.backupStrategies.some((n) => module.backups[n]?.name !== n || module.backups[n]?.manager !== definition.manager)) {
    throw wrong(`has the backup strategies ${names.join(", ") || "(none)"}, not ${definition.backupStrategies.join(", ") || "(none)"}`);
  }
  return module;
}
