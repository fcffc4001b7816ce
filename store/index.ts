/**
 * Hoard's state in Postgres: the connection, the schema and seed data, and every query the rest of Hoard
 * runs, one module per table or concern. Nothing outside store/ writes SQL; this is all it may use.
 */

// The connection, the schema, the seed.
export { connect, type Db, type Queryable, type Transaction } from "./db.js";
export { migrate } from "./migrations.js";
export { seed } from "./seed.js";

// Events: the outbox the relay publishes, and the ledger of events each work function applied.
export { drain, enqueue, OUTBOX_CHANNEL, type OutboxRow } from "./outbox.js";
export { claimEvent } from "./processed.js";

// Instances, their volumes, and Trove's status fields derived from them.
export {
  expiredBuilds,
  findInstance,
  insertInstance,
  instanceRow,
  listInstances,
  lockFailedBuild,
  markAutoRestart,
  recordHeartbeat,
  renameInstance,
  requestConfigure,
  runsOnNode,
  setVolumeSize,
  setVolumeStatus,
  settleConfigure,
  softDeleteInstance,
  transitionInstance,
  updateInstanceIfUnchanged,
  type InstanceRow,
  type NewInstance,
} from "./instances.js";
export { instanceStatus, operatingStatus, type ServerStatus, type ServiceStatus, type StatusInputs, type Task } from "./instance-status.js";
export { leastLoadedNode, resolveNetwork, type NetworkRow } from "./networks.js";
export { guestCaOf, recordGuestCa } from "./guest-cas.js";

// What the reconciler reads and records.
export {
  freshNodeReports,
  guestsWithoutRow,
  listDrift,
  nodesWithOpenDrift,
  noteDrift,
  recordNodeReport,
  recordRepair,
  resolveDrift,
  rowsMissingFromReport,
  settledRowsInReport,
  stalledTasks,
  type DriftKind,
  type DriftRecord,
  type NodeReport,
} from "./drift.js";

// The catalogue (flavors, datastores and versions), configuration groups and quotas.
export { findDatastore, findFlavor, findVersion, listDatastores, listFlavors } from "./catalog.js";
export {
  configurationInstances,
  findConfiguration,
  insertConfiguration,
  listConfigurations,
  softDeleteConfiguration,
  updateConfiguration,
} from "./configurations.js";
export { lockProjectQuota, overQuota, QUOTA_RESOURCES, quotaLimits, quotaUsage, setQuotas, type QuotaResource, type QuotaValues } from "./quotas.js";

// Backups, their schedules, and the projects' data keys.
export {
  backupRow,
  backupsBeyondRetention,
  deleteBackupRow,
  expiredBackups,
  findBackup,
  insertBackup,
  isRunningBackupConflict,
  listBackups,
  RUNNING_BACKUP,
  runningBackup,
  staleRollbacks,
  transitionBackup,
  type BackupRow,
  type NewBackup,
} from "./backups.js";
export {
  claimSlot,
  deleteSchedule,
  deleteSchedulesOf,
  dueSchedules,
  earliestSlot,
  insertSchedule,
  listSchedules,
  recordRun,
  scheduleRecord,
  scheduleRow,
  type BackupScheduleRow,
  type NewBackupSchedule,
} from "./backup-schedules.js";
export {
  allDataKeys,
  currentDataKey,
  dataKeyOf,
  dataKeysPerMasterKey,
  insertDataKey,
  markDataKey,
  rewrapDataKey,
  wrappedOf,
  type BackupKeyRow,
} from "./backup-keys.js";

// Webhook subscriptions and their deliveries.
export {
  claimDueDeliveries,
  deliveryState,
  findSubscription,
  insertSubscription,
  listSubscriptions,
  recordAttempt,
  recordDelivery,
  softDeleteSubscription,
  subscriptionsAt,
  type DeliveryClaim,
  type DeliveryOutcome,
} from "./subscriptions.js";
