import type { z } from "zod";
import * as p from "./payloads.js";
import * as b from "./backups.js";

/** One kind of event: its CloudEvents `type`, the NATS subject it travels on, and its payload schema. */
export interface EventKind<S extends z.ZodTypeAny, A extends unknown[] = []> {
  type: string;
  subject: (...args: A) => string;
  data: S;
}

const kind = <S extends z.ZodTypeAny, A extends unknown[] = []>(k: EventKind<S, A>) => k;

/** Commands for the tracker of one network node (JetStream stream HOARD_NODES, work-queue retention). */
export const nodeCommands = {
  provision: kind({ type: "hoard.instance.provision.requested", subject: (node: string) => `hoard.node.${node}.provision`, data: p.ProvisionCommand }),
  deprovision: kind({ type: "hoard.instance.deprovision.requested", subject: (node: string) => `hoard.node.${node}.deprovision`, data: p.DeprovisionCommand }),
  configure: kind({ type: "hoard.instance.configure.requested", subject: (node: string) => `hoard.node.${node}.configure`, data: p.ConfigureCommand }),
  restart: kind({ type: "hoard.instance.restart.requested", subject: (node: string) => `hoard.node.${node}.restart`, data: p.EngineCommand }),
  resize: kind({ type: "hoard.instance.resize.requested", subject: (node: string) => `hoard.node.${node}.resize`, data: p.ResizeCommand }),
  growVolume: kind({ type: "hoard.instance.volume.grow.requested", subject: (node: string) => `hoard.node.${node}.grow-volume`, data: p.GrowVolumeCommand }),
  stop: kind({ type: "hoard.instance.stop.requested", subject: (node: string) => `hoard.node.${node}.stop`, data: p.EngineCommand }),
  start: kind({ type: "hoard.instance.start.requested", subject: (node: string) => `hoard.node.${node}.start`, data: p.EngineCommand }),
  backup: kind({ type: "hoard.instance.backup.requested", subject: (node: string) => `hoard.node.${node}.backup`, data: p.BackupCommand }),
  rollback: kind({ type: "hoard.instance.rollback.requested", subject: (node: string) => `hoard.node.${node}.rollback`, data: p.RollbackCommand }),
  deleteBackup: kind({ type: "hoard.backup.delete.requested", subject: (node: string) => `hoard.node.${node}.delete-backup`, data: p.DeleteBackupCommand }),
};

/** Results and reports from trackers, consumed by functions (JetStream stream HOARD_WORK). */
export const workEvents = {
  guestProvisioned: kind({ type: "hoard.guest.provisioned", subject: () => "hoard.work.guest.provisioned", data: p.GuestProvisioned }),
  guestActionFailed: kind({ type: "hoard.guest.action.failed", subject: () => "hoard.work.guest.failed", data: p.GuestActionFailed }),
  guestDeprovisioned: kind({ type: "hoard.guest.deprovisioned", subject: () => "hoard.work.guest.deprovisioned", data: p.GuestDeprovisioned }),
  guestConfigured: kind({ type: "hoard.guest.configured", subject: () => "hoard.work.guest.configured", data: p.GuestConfigured }),
  guestResized: kind({ type: "hoard.guest.resized", subject: () => "hoard.work.guest.resized", data: p.GuestResized }),
  /** Restarted, stopped, started: one subject family, so one function follows a guest's engine. */
  guestRestarted: kind({ type: "hoard.guest.restarted", subject: () => "hoard.work.guest.engine.restarted", data: p.GuestEngineChanged }),
  guestStopped: kind({ type: "hoard.guest.stopped", subject: () => "hoard.work.guest.engine.stopped", data: p.GuestEngineChanged }),
  guestStarted: kind({ type: "hoard.guest.started", subject: () => "hoard.work.guest.engine.started", data: p.GuestEngineChanged }),
  guestBackedUp: kind({ type: "hoard.guest.backed_up", subject: () => "hoard.work.guest.backed-up", data: p.GuestBackedUp }),
  /** The tracker began a backup (NEW → BUILDING). */
  guestBackupStarted: kind({ type: "hoard.guest.backup_started", subject: () => "hoard.work.guest.backup-started", data: b.GuestBackupStarted }),
  guestRolledBack: kind({ type: "hoard.guest.rolled_back", subject: () => "hoard.work.guest.rolled-back", data: p.GuestRolledBack }),
  backupFileDeleted: kind({ type: "hoard.backup.file_deleted", subject: () => "hoard.work.backup.file-deleted", data: p.BackupFileDeleted }),
  guestHeartbeat: kind({ type: "hoard.guest.heartbeat", subject: () => "hoard.work.guest.heartbeat", data: p.GuestHeartbeat }),
  /** Backup schedules may be due: emitted by the runtime's scheduler at each schedule's time (the cron connector ticks it on a cluster). */
  backupSchedulesDue: kind({ type: "hoard.backup_schedules.due", subject: () => "hoard.work.backup-schedules.due", data: b.BackupSchedulesDue }),
};

/** State changes published for subscribers under hoard.events.<project>.<type> (stream HOARD_EVENTS). */
export const publicEvents = {
  instanceCreated: kind({ type: "instance.created", subject: (project: string) => `hoard.events.${project}.instance.created`, data: p.InstanceStateEvent }),
  instanceActive: kind({ type: "instance.active", subject: (project: string) => `hoard.events.${project}.instance.active`, data: p.InstanceStateEvent }),
  instanceError: kind({ type: "instance.error", subject: (project: string) => `hoard.events.${project}.instance.error`, data: p.InstanceStateEvent }),
  instanceDeleting: kind({ type: "instance.deleting", subject: (project: string) => `hoard.events.${project}.instance.deleting`, data: p.InstanceStateEvent }),
  instanceStatusChanged: kind({ type: "instance.status_changed", subject: (project: string) => `hoard.events.${project}.instance.status_changed`, data: p.InstanceStateEvent }),
  instanceResized: kind({ type: "instance.resized", subject: (project: string) => `hoard.events.${project}.instance.resized`, data: p.InstanceStateEvent }),
  instanceDeleted: kind({ type: "instance.deleted", subject: (project: string) => `hoard.events.${project}.instance.deleted`, data: p.InstanceStateEvent }),
  backupCreated: kind({ type: "backup.created", subject: (project: string) => `hoard.events.${project}.backup.created`, data: b.BackupStateEvent }),
  backupCompleted: kind({ type: "backup.completed", subject: (project: string) => `hoard.events.${project}.backup.completed`, data: b.BackupStateEvent }),
  backupFailed: kind({ type: "backup.failed", subject: (project: string) => `hoard.events.${project}.backup.failed`, data: b.BackupStateEvent }),
  backupDeleted: kind({ type: "backup.deleted", subject: (project: string) => `hoard.events.${project}.backup.deleted`, data: b.BackupStateEvent }),
  /** The reconciler found a guest still on its node after its instance was deleted, and removed it. */
  instanceOrphanRemoved: kind({ type: "instance.orphan_removed", subject: (project: string) => `hoard.events.${project}.instance.orphan_removed`, data: p.InstanceStateEvent }),
};

/**
 * Work subjects that a cluster's cron connector also triggers, with its period: there the connector's empty
 * call stands for the event the local scheduler (runtime/scheduler.ts) publishes.
 */
export const cronTicks: Record<string, { everyMs: number; type: string }> = {
  [workEvents.backupSchedulesDue.subject()]: { everyMs: 1_000, type: workEvents.backupSchedulesDue.type },
};

/** Subject of a request/reply function (what the gateway calls). */
export const functionSubject = (name: string) => `hoard.fn.${name}`;

/** The JetStream streams Hoard declares. */
export const streams = [
  { name: "HOARD_NODES", subjects: ["hoard.node.>"], retention: "workqueue", maxAgeMs: 24 * 3600_000 },
  { name: "HOARD_WORK", subjects: ["hoard.work.>"], retention: "workqueue", maxAgeMs: 24 * 3600_000 },
  { name: "HOARD_EVENTS", subjects: ["hoard.events.>"], retention: "limits", maxAgeMs: 7 * 24 * 3600_000 },
] as const;

/** Event source URIs, one per part. */
export const sources = {
  functions: "/hoard/functions",
  tracker: (node: string) => `/hoard/tracker/${node}`,
  gateway: "/hoard/gateway",
};
