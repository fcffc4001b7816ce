/**
 * The function registry: every operation Hoard runs, in one list. The local runtime, the OpenFaaS entry
 * and the generated infra files are all derived from it.
 */
import type { HoardFunction } from "../runtime/function.js";
import instanceResize from "./instance-resize/index.js";
import instanceResized from "./instance-resized/index.js";
import limitsShow from "./limits-show/index.js";
import quotaShow from "./quota-show/index.js";
import quotaUpdate from "./quota-update/index.js";
import configurationCreate from "./configuration-create/index.js";
import configurationList from "./configuration-list/index.js";
import configurationShow from "./configuration-show/index.js";
import configurationUpdate from "./configuration-update/index.js";
import configurationDelete from "./configuration-delete/index.js";
import configurationInstances from "./configuration-instances/index.js";
import parameterList from "./parameter-list/index.js";
import parameterShow from "./parameter-show/index.js";
import instanceUpdate from "./instance-update/index.js";
import instanceConfiguration from "./instance-configuration/index.js";
import instanceAction from "./instance-action/index.js";
import instanceConfigured from "./instance-configured/index.js";
import instanceEngineChanged from "./instance-engine-changed/index.js";
import databaseCreate from "./database-create/index.js";
import databaseList from "./database-list/index.js";
import databaseDelete from "./database-delete/index.js";
import userCreate from "./user-create/index.js";
import userList from "./user-list/index.js";
import userShow from "./user-show/index.js";
import userUpdate from "./user-update/index.js";
import userPasswords from "./user-passwords/index.js";
import userDelete from "./user-delete/index.js";
import userGrant from "./user-grant/index.js";
import userRevoke from "./user-revoke/index.js";
import userAccessList from "./user-access-list/index.js";
import rootEnable from "./root-enable/index.js";
import rootShow from "./root-show/index.js";
import rootDisable from "./root-disable/index.js";
import datastoreList from "./datastore-list/index.js";
import datastoreShow from "./datastore-show/index.js";
import datastoreVersionList from "./datastore-version-list/index.js";
import datastoreVersionShow from "./datastore-version-show/index.js";
import flavorList from "./flavor-list/index.js";
import flavorShow from "./flavor-show/index.js";
import instanceBuildExpire from "./instance-build-expire/index.js";
import instanceReconcile from "./instance-reconcile/index.js";
import driftList from "./drift-list/index.js";
import instanceCreate from "./instance-create/index.js";
import instanceDelete from "./instance-delete/index.js";
import instanceDeprovisioned from "./instance-deprovisioned/index.js";
import instanceFailed from "./instance-failed/index.js";
import instanceHeartbeat from "./instance-heartbeat/index.js";
import instanceList from "./instance-list/index.js";
import instanceProvisioned from "./instance-provisioned/index.js";
import instanceShow from "./instance-show/index.js";
import instanceCa from "./instance-ca/index.js";
import subscriptionCreate from "./subscription-create/index.js";
import subscriptionList from "./subscription-list/index.js";
import subscriptionShow from "./subscription-show/index.js";
import subscriptionDelete from "./subscription-delete/index.js";
import subscriptionFanout from "./subscription-fanout/index.js";
import subscriptionDeliver from "./subscription-deliver/index.js";
import backupCreate from "./backup-create/index.js";
import backupList from "./backup-list/index.js";
import backupShow from "./backup-show/index.js";
import backupDelete from "./backup-delete/index.js";
import instanceBackups from "./instance-backups/index.js";
import backupStarted from "./backup-started/index.js";
import backupCompleted from "./backup-completed/index.js";
import backupFileDeleted from "./backup-file-deleted/index.js";
import backupExpire from "./backup-expire/index.js";
import instanceRolledBack from "./instance-rolled-back/index.js";
import backupScheduleCreate from "./backup-schedule-create/index.js";
import backupScheduleList from "./backup-schedule-list/index.js";
import backupScheduleShow from "./backup-schedule-show/index.js";
import backupScheduleDelete from "./backup-schedule-delete/index.js";
import backupScheduleRun from "./backup-schedule-run/index.js";

export const functions: HoardFunction[] = [
  instanceCreate,
  instanceList,
  instanceShow,
  instanceCa,
  instanceDelete,
  instanceProvisioned,
  instanceFailed,
  instanceDeprovisioned,
  instanceHeartbeat,
  instanceBuildExpire,
  instanceReconcile,
  driftList,
  flavorList,
  flavorShow,
  datastoreList,
  datastoreShow,
  datastoreVersionList,
  datastoreVersionShow,
  databaseCreate,
  databaseList,
  databaseDelete,
  userCreate,
  userList,
  userShow,
  userUpdate,
  userPasswords,
  userDelete,
  userGrant,
  userRevoke,
  userAccessList,
  rootEnable,
  rootShow,
  rootDisable,
  configurationCreate,
  configurationList,
  configurationShow,
  configurationUpdate,
  configurationDelete,
  configurationInstances,
  parameterList,
  parameterShow,
  instanceUpdate,
  instanceConfiguration,
  instanceAction,
  instanceConfigured,
  instanceEngineChanged,
  limitsShow,
  quotaShow,
  quotaUpdate,
  subscriptionCreate,
  subscriptionList,
  subscriptionShow,
  subscriptionDelete,
  subscriptionFanout,
  subscriptionDeliver,
  instanceResize,
  instanceResized,
  backupCreate,
  backupList,
  backupShow,
  backupDelete,
  instanceBackups,
  backupStarted,
  backupCompleted,
  backupFileDeleted,
  backupExpire,
  instanceRolledBack,
  backupScheduleCreate,
  backupScheduleList,
  backupScheduleShow,
  backupScheduleDelete,
  backupScheduleRun,
] as HoardFunction[];
