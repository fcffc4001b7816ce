/**
 * The datastores as the tracker sees them: the engine strategy for a manager name, plus the pure catalog
 * (versions, capabilities, identifier rules) that the functions also use.
 */
import { datastoreDefinitions } from "./catalog.js";
import { MariadbDumpBackup, MariadbSnapshotBackup } from "./mariadb/backup.js";
import { MariadbStrategy } from "./mariadb/strategy.js";
import { PgDumpBackup, PostgresqlSnapshotBackup } from "./postgresql/backup.js";
import { RedisRdbBackup } from "./redis/backup.js";
import { PostgresqlStrategy } from "./postgresql/strategy.js";
import { RedisStrategy } from "./redis/strategy.js";
import type { BackupStrategy, DatastoreStrategy } from "./strategy.js";

export * from "./catalog.js";
export { ENGINE_LOG, engineDir, GuestActionError, guestSocketDir, refuse, SOCKET_FALLBACK_ROOT } from "./strategy.js";
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
} from "./strategy.js";

/** One instance per manager: strategies cache what they found out about the node (binaries, versions). */
const strategies = new Map<string, DatastoreStrategy>();

const factories: Record<string, () => DatastoreStrategy> = {
  mariadb: () => new MariadbStrategy(),
  postgresql: () => new PostgresqlStrategy(),
  redis: () => new RedisStrategy(),
};

/** The strategy of an engine manager (e.g. "mariadb"); throws if this tracker has no such engine. */
export function strategyFor(manager: string): DatastoreStrategy {
  const known = strategies.get(manager);
  if (known) return known;
  const make = Object.hasOwn(factories, manager) ? factories[manager] : undefined;
  if (!make) {
    throw new Error(`this node has no engine '${manager}' (it supports: ${Object.keys(factories).join(", ")})`);
  }
  const strategy = make();
  strategies.set(manager, strategy);
  return strategy;
}

const backupFactories: Record<string, () => BackupStrategy> = {
  "mariadb-snapshot": () => new MariadbSnapshotBackup(),
  "mariadb-dump": () => new MariadbDumpBackup(),
  "postgresql-snapshot": () => new PostgresqlSnapshotBackup(),
  pg_dump: () => new PgDumpBackup(),
  "redis-rdb": () => new RedisRdbBackup(),
};

/**
 * The backup strategy `name` of an engine manager, or its default (the first in the catalog) when no name is
 * given; throws naming the strategies it has otherwise.
 */
export function backupStrategyFor(manager: string, name?: string): BackupStrategy {
  const known = [...new Set(datastoreDefinitions.filter((d) => d.manager === manager).flatMap((d) => d.backupStrategies))];
  const chosen = name ?? known[0];
  const make = chosen !== undefined && known.includes(chosen) && Object.hasOwn(backupFactories, chosen) ? backupFactories[chosen] : undefined;
  if (!make) {
    const have = known.filter((k) => Object.hasOwn(backupFactories, k));
    throw new Error(`the ${manager} engine has no backup strategy '${chosen ?? "(none)"}'${have.length ? ` (it has: ${have.join(", ")})` : ""}`);
  }
  return make();
}
