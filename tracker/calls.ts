/**
 * Answers guest calls for one node: each request names an instance and an action, which runs on the guest
 * through its engine's strategy; the reply carries the result or why the engine refused.
 */
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { groupOf, type DatastoreStrategy, type GuestHandle } from "../datastores/index.js";
import { BackupCall, backupCallSubject, GuestCall, guestCallSubject, type GuestCallAction, type GuestCallReply } from "../events/index.js";
import { fail, GuestActionError, type SerializedError } from "../errors/index.js";
import type { GuestSupervisor } from "./guests/index.js";

/**
 * Carries out one action on a guest, through the capability group it belongs to; an engine without that
 * group refuses as the API would (501: Redis has no named databases).
 */
export function performGuestCall(call: GuestCallAction, strategy: DatastoreStrategy, guest: GuestHandle): Promise<unknown> {
  switch (call.action) {
    case "database.list":
      return groupOf(strategy, "schema").listDatabases(guest);
    case "database.create":
      return groupOf(strategy, "schema").createDatabases(guest, call.databases);
    case "database.delete":
      return groupOf(strategy, "schema").deleteDatabase(guest, call.name);
    case "user.list":
      return groupOf(strategy, "users").listUsers(guest);
    case "user.create":
      return groupOf(strategy, "users").createUsers(guest, call.users);
    case "user.update":
      return groupOf(strategy, "users").updateUser(guest, call.user, call.changes);
    case "user.delete":
      return groupOf(strategy, "users").deleteUser(guest, call.user);
    case "user.grant":
      return groupOf(strategy, "schema").grantAccess(guest, call.user, call.databases);
    case "user.revoke":
      return groupOf(strategy, "schema").revokeAccess(guest, call.user, call.database);
    case "root.enable":
      return groupOf(strategy, "root").enableRoot(guest, call.password);
    case "root.show":
      return groupOf(strategy, "root").rootEnabled(guest);
    case "root.disable":
      return groupOf(strategy, "root").disableRoot(guest);
    case "settings.read":
      return groupOf(strategy, "configuration").readSettings(guest, call.names);
  }
}

/**
 * Subscribes to the node's guest calls and backup calls (`backup.verify`: is a backup file whole?);
 * returns one subscription-like handle (unsubscribe or drain to stop both).
 */
export function serveGuestCalls(nc: NatsConnection, node: string, supervisor: GuestSupervisor, log: Logger): Subscription {
  const backups = serveBackupCalls(nc, node, supervisor, log);
  const guests = nc.subscribe(guestCallSubject(node), {
    callback: (err, msg) => {
      if (err) return;
      void (async () => {
        let reply: GuestCallReply;
        let action = "unknown";
        try {
          const { instanceId, call } = GuestCall.parse(msg.json());
          action = call.action;
          const result = await supervisor.act(instanceId, (strategy, guest) => performGuestCall(call, strategy, guest));
          reply = { ok: true, result: result ?? null };
        } catch (e) {
          if (e instanceof GuestActionError) {
            reply = { ok: false, error: e.toJSON() };
          } else {
            // Strategies keep passwords out of their errors, so the message may be logged and shown.
            log.error({ err: (e as Error).message, action }, "guest call failed");
            reply = { ok: false, error: engineFailure(e) };
          }
        }
        msg.respond(JSON.stringify(reply));
      })();
    },
  });
  // The tracker stops both at once: whatever it does to the guest calls' subscription happens to the other's.
  const drain = guests.drain.bind(guests);
  const unsubscribe = guests.unsubscribe.bind(guests);
  guests.drain = async () => {
    await Promise.all([drain(), backups.drain().catch(() => backups.unsubscribe())]);
  };
  guests.unsubscribe = (max?: number) => {
    backups.unsubscribe();
    unsubscribe(max);
  };
  return guests;
}

/** Answers backup calls (see events/guest-calls.ts): node-level, about files in this tracker's backup store. */
function serveBackupCalls(nc: NatsConnection, node: string, supervisor: GuestSupervisor, log: Logger): Subscription {
  return nc.subscribe(backupCallSubject(node), {
    callback: (err, msg) => {
      if (err) return;
      void (async () => {
        let reply: GuestCallReply;
        try {
          const { call } = BackupCall.parse(msg.json());
          await supervisor.verifyBackup(call.artifact, call.dataKey);
          reply = { ok: true, result: null };
        } catch (e) {
          if (e instanceof GuestActionError) reply = { ok: false, error: e.toJSON() };
          else {
            log.error({ err: (e as Error).message }, "backup call failed");
            reply = { ok: false, error: engineFailure(e) };
          }
        }
        msg.respond(JSON.stringify(reply));
      })();
    },
  });
}

/** A fault of the service while acting on a guest, as the caller's 500 says it. */
function engineFailure(e: unknown): SerializedError {
  return fail("GUEST_FAILED", { detail: `The database engine could not do it: ${(e as Error).message}` }).toJSON();
}
