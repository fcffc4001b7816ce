/**
 * Backups and backup schedules through the API: the bodies the gateway accepts, the requests it sends to
 * the functions, and the records they answer with. What the tracker makes of a backup (BackupArtifact) and
 * the commands around it are in payloads.ts and catalogue.ts.
 */
import { Cron } from "croner";
import { z } from "zod";
import { InstanceRefRequest } from "./instances.js";
import { BackupArtifact } from "./payloads.js";
import { Caller, Id, ListQuery, Page } from "./request-parts.js";

/** Trove's backup statuses, and Hoard's DELETING while the file is being removed. */
export const BackupStatus = z.enum(["NEW", "BUILDING", "COMPLETED", "FAILED", "DELETING", "DELETE_FAILED"]);
export type BackupStatus = z.infer<typeof BackupStatus>;

/** Trove's create-backup body (`{"backup": …}` unwrapped). */
export const BackupCreateBody = z.object({
  name: z.string({ error: "is required: a name for the backup" }).min(1, "must not be empty").max(255, "is longer than 255 characters"),
  instance: z.string({ error: "is required: the id of the instance to back up" }).min(1, "must not be empty"),
  description: z.string().max(1024, "is longer than 1024 characters").nullish(),
  parent_id: z.string().nullish(),
  incremental: z.union([z.literal(0), z.literal(1), z.boolean()]).nullish(),
  swift_container: z.string().nullish(),
  storage_driver: z.string().nullish(),
  restore_from: z.unknown().optional(),
});
export type BackupCreateBody = z.infer<typeof BackupCreateBody>;

/** The filters of a backup list (Trove's `instance_id` and `datastore`, name or id) with its offset paging. */
export const BackupListQuery = ListQuery.extend({ instanceId: z.string().optional(), datastore: z.string().optional() });

// ---- gateway → functions (request/reply) ----

export const BackupCreateRequest = z.object({ caller: Caller, body: BackupCreateBody });
export const BackupListRequest = z.object({ caller: Caller, query: BackupListQuery });
export const BackupRefRequest = z.object({ caller: Caller, backupId: Id });
export const InstanceBackupsRequest = InstanceRefRequest.extend({ query: ListQuery });

// ---- functions → gateway (records) ----

export const BackupRecord = z.object({
  id: z.string(),
  name: z.string(),
  description: z.string().nullable(),
  project: z.string(),
  instanceId: z.string(),
  status: BackupStatus,
  /** Why a backup FAILED (or its file could not be deleted). */
  failReason: z.string().nullable(),
  datastore: z.object({ type: z.string(), version: z.string(), versionId: z.string() }).nullable(),
  artifact: BackupArtifact.nullable(),
  /**
   * How the stored file is encrypted (null: stored unencrypted, made before Hoard encrypted backups): its
   * data key, the master key wrapping it now (null when the data key is gone), and why it cannot be restored.
   */
  encryption: z.object({ cipher: z.string(), keyId: z.string(), masterKeyId: z.string().nullable(), problem: z.string().nullable() }).nullable(),
  parentId: z.string().nullable(),
  scheduleId: z.string().nullable(),
  created: z.string(),
  updated: z.string(),
});
export type BackupRecord = z.infer<typeof BackupRecord>;

export const BackupPage = Page(BackupRecord);
export type BackupPage = z.infer<typeof BackupPage>;

// ---- backup schedules (Hoard's addition; Trove sent these to Mistral) ----

const shown = (s: string) => (s.length > 64 ? `${s.slice(0, 64)}…` : s);

/** Whether `tz` is an IANA time zone this runtime knows. */
export function knownTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** The next time a cron expression fires after `after` in time zone `tz`, or null when it never does. */
export function nextCronRun(cron: string, tz: string, after: Date): Date | null {
  return new Cron(cron, { timezone: tz, paused: true }).nextRun(after);
}

/** The body of `POST /backup_schedules` (`{"backup_schedule": …}` unwrapped). */
export const BackupScheduleCreateBody = z
  .strictObject({
    instance_id: z.string({ error: "is required: the id of the instance to back up" }).min(1, "must not be empty"),
    cron: z.string({ error: "is required: a cron expression such as '0 3 * * *' (minute hour day month weekday), with an optional leading seconds field" }).min(1).max(255, "is longer than 255 characters"),
    timezone: z.string().max(64, "is longer than 64 characters").default("UTC")
      .refine(knownTimeZone, { error: (i) => `'${shown(String(i.input))}' is not an IANA time zone; use a name such as 'UTC' or 'Europe/Berlin'` }),
    name: z.string({ error: "is required: the prefix of the names of the backups it makes" }).min(1, "must not be empty").max(200, "is longer than 200 characters"),
    retention: z.number({ error: "is required: how many completed backups of this schedule to keep (a whole number of at least 1)" })
      .int("must be a whole number").min(1, "must be at least 1").max(1000, "must be at most 1000"),
    description: z.string().max(1024, "is longer than 1024 characters").nullish(),
  })
  .superRefine((b, ctx) => {
    let next: Date | null;
    try {
      next = nextCronRun(b.cron, b.timezone, new Date());
    } catch (e) {
      ctx.addIssue({ code: "custom", path: ["cron"], message: `'${shown(b.cron)}' is not a cron expression: ${(e as Error).message.replace(/^CronPattern: /, "")}` });
      return;
    }
    if (!next) ctx.addIssue({ code: "custom", path: ["cron"], message: `'${shown(b.cron)}' never fires; check the day and month fields` });
  });
export type BackupScheduleCreateBody = z.infer<typeof BackupScheduleCreateBody>;

export const BackupScheduleCreateRequest = z.object({ caller: Caller, body: BackupScheduleCreateBody });
export const BackupScheduleListRequest = z.object({ caller: Caller, query: ListQuery.extend({ instanceId: z.string().optional() }) });
export const BackupScheduleRefRequest = z.object({ caller: Caller, scheduleId: Id });

export const BackupScheduleRecord = z.object({
  id: z.string(),
  project: z.string(),
  instanceId: z.string(),
  name: z.string(),
  description: z.string().nullable(),
  cron: z.string(),
  timezone: z.string(),
  retention: z.number().int(),
  nextRun: z.string().nullable(),
  lastRun: z.string().nullable(),
  lastBackupId: z.string().nullable(),
  /** Why the last run made no backup (e.g. the instance was not ACTIVE). */
  lastError: z.string().nullable(),
  created: z.string(),
  updated: z.string(),
});
export type BackupScheduleRecord = z.infer<typeof BackupScheduleRecord>;

export const BackupSchedulePage = Page(BackupScheduleRecord);
export type BackupSchedulePage = z.infer<typeof BackupSchedulePage>;

/** The tracker has taken a backup command and begins (reported before the work, so the API shows BUILDING). */
export const GuestBackupStarted = z.object({ instanceId: z.string().min(1), node: z.string(), backupId: z.string().min(1) });

/** The trigger of the backup-schedule sweep: the scheduler's (or the cron connector's) tick. */
export const BackupSchedulesDue = z.object({ at: z.string().optional() });

// ---- public events for subscribers ----

export const BackupStateEvent = z.object({
  backupId: z.string(),
  project: z.string(),
  instanceId: z.string(),
  name: z.string(),
  status: z.string(),
  reason: z.string().optional(),
});
export type BackupStateEvent = z.infer<typeof BackupStateEvent>;
