/**
 * The contract of every request function (what the gateway calls over NATS request/reply), keyed by the
 * function's name: the schema of the data it takes and of the answer it gives. A function is defined from
 * its entry and the gateway's `invoke` is typed by it, so neither side can drift from the name.
 */
import { z } from "zod";
import * as b from "./backups.js";
import * as cat from "./datastores.js";
import * as conf from "./configurations.js";
import * as g from "./guests.js";
import { GuestUserInfo } from "./guest-shapes.js";
import * as i from "./instances.js";
import * as q from "./quotas.js";
import { Accepted } from "./request-parts.js";
import * as s from "./subscriptions.js";

/** One request function's contract. */
export interface RequestContract<I extends z.ZodTypeAny = z.ZodTypeAny, O extends z.ZodTypeAny = z.ZodTypeAny> {
  input: I;
  output: O;
}

const contract = <I extends z.ZodTypeAny, O extends z.ZodTypeAny>(input: I, output: O): RequestContract<I, O> => ({ input, output });

export const requests = {
  // ---- instances ----
  "instance-create": contract(i.InstanceCreateRequest, i.InstanceRecord),
  "instance-list": contract(i.InstanceListRequest, i.InstancePage),
  "instance-show": contract(i.InstanceRefRequest, i.InstanceRecord),
  "instance-ca": contract(i.InstanceRefRequest, i.InstanceCaRecord),
  "instance-delete": contract(i.InstanceRefRequest, Accepted),
  "instance-update": contract(i.InstanceUpdateRequest, Accepted),
  "instance-resize": contract(i.InstanceResizeRequest, Accepted),
  "instance-action": contract(i.InstanceActionRequest, Accepted),
  "instance-configuration": contract(i.InstanceRefRequest, conf.InstanceSettings),
  "drift-list": contract(i.DriftListRequest, z.array(i.DriftRecordView)),
  // ---- flavors, datastores, parameters ----
  "flavor-list": contract(cat.CatalogListRequest, z.array(cat.FlavorRecord)),
  "flavor-show": contract(cat.FlavorShowRequest, cat.FlavorRecord),
  "datastore-list": contract(cat.CatalogListRequest, z.array(cat.DatastoreRecord)),
  "datastore-show": contract(cat.DatastoreShowRequest, cat.DatastoreRecord),
  "datastore-version-list": contract(cat.DatastoreShowRequest, z.array(cat.DatastoreVersionRecord)),
  "datastore-version-show": contract(cat.DatastoreVersionShowRequest, cat.DatastoreVersionRecord),
  "parameter-list": contract(cat.ParameterListRequest, cat.ParameterList),
  "parameter-show": contract(cat.ParameterShowRequest, cat.ParameterShown),
  // ---- limits and quotas ----
  "limits-show": contract(cat.CatalogListRequest, q.QuotaLimits),
  "quota-show": contract(q.QuotaShowRequest, q.QuotaUsageView),
  "quota-update": contract(q.QuotaUpdateRequest, q.QuotaUpdated),
  // ---- configuration groups ----
  "configuration-create": contract(conf.ConfigurationCreateRequest, conf.ConfigurationRecord),
  "configuration-list": contract(conf.ConfigurationListRequest, conf.ConfigurationPage),
  "configuration-show": contract(conf.ConfigurationRefRequest, conf.ConfigurationRecord),
  "configuration-update": contract(conf.ConfigurationUpdateRequest, conf.ConfigurationRecord),
  "configuration-delete": contract(conf.ConfigurationRefRequest, Accepted),
  "configuration-instances": contract(conf.ConfigurationInstancesRequest, conf.ConfigurationInstancePage),
  // ---- a guest's databases, users and root ----
  "database-create": contract(g.DatabaseCreateRequest, Accepted),
  "database-list": contract(g.GuestListRequest, g.DatabasePage),
  "database-delete": contract(g.DatabaseDeleteRequest, Accepted),
  "user-create": contract(g.UserCreateRequest, Accepted),
  "user-list": contract(g.GuestListRequest, g.UserPage),
  "user-show": contract(g.UserRefRequest, GuestUserInfo),
  "user-update": contract(g.UserUpdateRequest, Accepted),
  "user-passwords": contract(g.UserPasswordsRequest, Accepted),
  "user-delete": contract(g.UserRefRequest, Accepted),
  "user-grant": contract(g.UserGrantRequest, Accepted),
  "user-revoke": contract(g.UserRevokeRequest, Accepted),
  "user-access-list": contract(g.UserRefRequest, g.UserAccess),
  "root-enable": contract(g.RootEnableRequest, g.RootCredentials),
  "root-show": contract(i.InstanceRefRequest, g.RootState),
  "root-disable": contract(i.InstanceRefRequest, g.RootDisabled),
  // ---- subscriptions ----
  "subscription-create": contract(s.SubscriptionCreateRequest, s.SubscriptionRecord),
  "subscription-list": contract(s.SubscriptionListRequest, s.SubscriptionPage),
  "subscription-show": contract(s.SubscriptionRefRequest, s.SubscriptionRecord),
  "subscription-delete": contract(s.SubscriptionRefRequest, Accepted),
  // ---- backups and backup schedules ----
  "backup-create": contract(b.BackupCreateRequest, b.BackupRecord),
  "backup-list": contract(b.BackupListRequest, b.BackupPage),
  "backup-show": contract(b.BackupRefRequest, b.BackupRecord),
  "backup-delete": contract(b.BackupRefRequest, Accepted),
  "instance-backups": contract(b.InstanceBackupsRequest, b.BackupPage),
  "backup-schedule-create": contract(b.BackupScheduleCreateRequest, b.BackupScheduleRecord),
  "backup-schedule-list": contract(b.BackupScheduleListRequest, b.BackupSchedulePage),
  "backup-schedule-show": contract(b.BackupScheduleRefRequest, b.BackupScheduleRecord),
  "backup-schedule-delete": contract(b.BackupScheduleRefRequest, Accepted),
};

/** The name of a request function. */
export type RequestName = keyof typeof requests;
/** What request function `N` takes, as its caller writes it (before defaults). */
export type RequestInput<N extends RequestName> = z.input<(typeof requests)[N]["input"]>;
/** What request function `N` answers. */
export type RequestOutput<N extends RequestName> = z.infer<(typeof requests)[N]["output"]>;
