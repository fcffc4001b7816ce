/**
 * Guest actions that answer at once (schema, users, root, reading settings): a function asks the tracker of
 * the instance's node over NATS request/reply and waits for the engine's answer. They change nothing in
 * Hoard's own state (the engine itself holds its databases and users), so nothing needs an outbox; the
 * request carries passwords, so it travels on core NATS and is never stored in a stream.
 */
import { z } from "zod";
import { GuestDatabase, GuestNewUser, GuestUserChanges, GuestUserInfo, GuestUserRef } from "./guest-shapes.js";
import { BackupArtifact, WrappedDataKey } from "./payloads.js";

/** The subject a node's tracker answers guest calls on (outside hoard.node.>, which a stream captures). */
export const guestCallSubject = (node: string) => `hoard.tracker.${node}.call`;

export const GuestCallAction = z.discriminatedUnion("action", [
  z.object({ action: z.literal("database.list") }),
  z.object({ action: z.literal("database.create"), databases: z.array(GuestDatabase).min(1) }),
  z.object({ action: z.literal("database.delete"), name: z.string() }),
  z.object({ action: z.literal("user.list") }),
  z.object({ action: z.literal("user.create"), users: z.array(GuestNewUser).min(1) }),
  z.object({ action: z.literal("user.update"), user: GuestUserRef, changes: GuestUserChanges }),
  z.object({ action: z.literal("user.delete"), user: GuestUserRef }),
  z.object({ action: z.literal("user.grant"), user: GuestUserRef, databases: z.array(z.string()).min(1) }),
  z.object({ action: z.literal("user.revoke"), user: GuestUserRef, database: z.string() }),
  z.object({ action: z.literal("root.enable"), password: z.string() }),
  z.object({ action: z.literal("root.show") }),
  z.object({ action: z.literal("root.disable") }),
  z.object({ action: z.literal("settings.read"), names: z.array(z.string()) }),
]);
export type GuestCallAction = z.infer<typeof GuestCallAction>;

/** An action that changes the guest answers null: the engine did it (or it refused, with an error instead). */
const Done = z.null();

/** What each action answers when the engine carried it out (the `result` of its GuestCallReply). */
export const guestCallResults = {
  "database.list": z.array(GuestDatabase),
  "database.create": Done,
  "database.delete": Done,
  "user.list": z.array(GuestUserInfo),
  "user.create": Done,
  "user.update": Done,
  "user.delete": Done,
  "user.grant": Done,
  "user.revoke": Done,
  "root.enable": Done,
  /** Whether the tenant's superuser is enabled. */
  "root.show": z.boolean(),
  "root.disable": Done,
  /** The values the engine runs the named settings with, as text. */
  "settings.read": z.record(z.string(), z.string()),
} satisfies Record<GuestCallAction["action"], z.ZodTypeAny>;
/** The result of guest-call action `A`. */
export type GuestCallResult<A extends GuestCallAction["action"]> = z.infer<(typeof guestCallResults)[A]>;

export const GuestCall = z.object({ instanceId: z.string(), call: GuestCallAction });
export type GuestCall = z.infer<typeof GuestCall>;

/**
 * A guest call's answer: its result, or the error the engine or tracker raised, from the catalogue (a
 * GuestActionError's code and message; GUEST_FAILED for a fault of the service). The result's schema depends
 * on the action (guestCallResults), so the caller, which knows the action, parses it.
 */
export const GuestCallReply = z.union([
  z.object({ ok: z.literal(true), result: z.unknown() }),
  z.object({ ok: z.literal(false), error: z.object({ code: z.string(), message: z.string() }) }),
]);
export type GuestCallReply = z.infer<typeof GuestCallReply>;

/**
 * Backup calls: node-level questions about backup files in a tracker's store, asked before one is used
 * (a restore or rollback is accepted only once its file is whole). Answered with a GuestCallReply:
 * `backup.verify` replies `{ok: true, result: null}` when the file matches its size and sha256, else
 * `{ok: false, error}` with the catalogue's BACKUP_FILE_MISSING, a BACKUP_FILE_* code when it is damaged,
 * or a BACKUP_KEY_*, BACKUP_KEYS_ABSENT or BACKUP_MASTER_KEY_MISSING code when its key cannot be opened here.
 */
export const backupCallSubject = (node: string) => `hoard.tracker.${node}.backup-call`;

export const BackupCallAction = z.discriminatedUnion("action", [z.object({ action: z.literal("backup.verify"), artifact: BackupArtifact, dataKey: WrappedDataKey.optional() })]);
export type BackupCallAction = z.infer<typeof BackupCallAction>;

export const BackupCall = z.object({ call: BackupCallAction });
export type BackupCall = z.infer<typeof BackupCall>;
