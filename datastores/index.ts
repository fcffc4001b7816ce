/**
 * The datastores as the tracker sees them: the engine strategy for a manager name and its backup strategies,
 * plus the pure catalogue (versions, capabilities, identifier rules) that the functions also use.
 */
import { refuse, type GuestActionError } from "../errors/index.js";
import { GROUP_CAPABILITIES, type BackupStrategy, type CapabilityGroups, type DatastoreStrategy, type GroupName, type LoadedEngine } from "./contract.js";
import { engines } from "./registry.js";

export * from "./catalog.js";
export { ENGINE_LOG, engineDir, guestSocketDir, SOCKET_FALLBACK_ROOT } from "./guest-files.js";
export { GuestActionError } from "../errors/index.js";
export { guestTls, tlsDir, TLS_MODE_FILE, type GuestTlsFiles, type TlsMode } from "./tls.js";
export type {
  BackupContext,
  BackupStrategy,
  BackupTaken,
  FolderPart,
  VolumeFreeze,
  DatabaseInfo,
  Settings,
  UserChanges,
  UserInfo,
  UserRef,
  DatabaseToCreate,
  DatastoreStrategy,
  EngineTls,
  GuestEndpoint,
  GuestHandle,
  GuestLayout,
  Health,
  LaunchSpec,
  UserToCreate,
} from "./contract.js";

/**
 * Every engine's module, loaded once, when the tracker first imports this face: strategies are then at hand
 * synchronously, and they cache what they find out about the node (binaries, versions).
 */
const modules = new Map<string, LoadedEngine>((await Promise.all(engines.map((e) => e.load()))).map((m) => [m.definition.manager, m]));

/** The strategy of an engine manager (e.g. "mariadb"); throws if this tracker has no such engine. */
export function strategyFor(manager: string): DatastoreStrategy {
  const known = modules.get(manager);
  if (!known) throw new Error(`this node has no engine '${manager}' (it supports: ${[...modules.keys()].join(", ")})`);
  return known.strategy;
}

/**
 * The backup strategy `name` of an engine manager, or its default (the first its definition names) when no
 * name is given; throws naming the strategies it has otherwise.
 */
export function backupStrategyFor(manager: string, name?: string): BackupStrategy {
  const known = modules.get(manager);
  const have = known?.definition.backupStrategies ?? [];
  const chosen = name ?? have[0];
  const strategy = known && chosen !== undefined && Object.hasOwn(known.backups, chosen) ? known.backups[chosen] : undefined;
  if (!strategy) throw new Error(`the ${manager} engine has no backup strategy '${chosen ?? "(none)"}'${have.length ? ` (it has: ${have.join(", ")})` : ""}`);
  return strategy;
}

/**
 * The capability group `group` of a strategy, or the refusal (501) a guest call gets from an engine without
 * it: for named databases the engine's own reason (Redis: its keyspaces are numbered).
 */
export function groupOf<K extends GroupName>(strategy: DatastoreStrategy, group: K): CapabilityGroups[K] {
  const found = strategy[group] as CapabilityGroups[K] | undefined;
  if (found) return found;
  throw missingGroup(strategy.manager, group);
}

function missingGroup(manager: string, group: GroupName): GuestActionError {
  const definition = modules.get(manager)?.definition;
  const engine = definition?.title ?? manager;
  // Every engine without named databases says why (EngineDefinition requires it).
  const noDatabases = (definition as { noDatabases?: string } | undefined)?.noDatabases;
  if (group === "schema" && noDatabases !== undefined) return refuse("DATABASES_NOT_SUPPORTED", { engine, detail: noDatabases });
  return refuse("CAPABILITY_NOT_SUPPORTED", { engine, capability: GROUP_CAPABILITIES[group] });
}
