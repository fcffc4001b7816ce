/**
 * The node's command table: which command (by its CloudEvent type) runs which supervisor method, and what
 * it reports. Each result is published once: its message id is derived from the command's, so a redelivered
 * command, being idempotent, is redone and reports nothing twice.
 */
import type { JetStreamClient, JetStreamManager, JsMsg } from "@nats-io/jetstream";
import type { Logger } from "pino";
import type { z } from "zod";
import type { GuestNetwork } from "../drivers/index.js";
import { ensureConsumer, makeEvent, nodeCommands, nodeConsumer, workEvents, type CloudEvent, type EventKind, type GuestActionFailed } from "../events/index.js";
import type { GuestSupervisor } from "./guests/index.js";
import type { GuestCertificates } from "./tls.js";

/** How many commands a node carries out at once. */
const IN_FLIGHT = 4;

/** Carries out one command and publishes its results. */
export type CommandHandler = (event: CloudEvent) => Promise<void>;

/** What the command handlers act on and report to. */
export interface CommandContext {
  js: JetStreamClient;
  node: string;
  /** The CloudEvent source of the tracker's reports. */
  source: string;
  supervisor: GuestSupervisor;
  network: GuestNetwork;
  tls: GuestCertificates;
  /** Throws the free-space floor's reason when the node is too low on disk for `what`. */
  roomFor(what: string): void;
  log: Logger;
}

/** The handler of each command a node takes, by CloudEvent type. */
export function commandHandlers(ctx: CommandContext): Record<string, CommandHandler> {
  const { js, node, source, supervisor, network, tls, roomFor, log } = ctx;

  /** Publishes a result once: the message id is derived from the command's, so a redo is deduplicated. */
  const report = async <S extends z.ZodTypeAny>(kind: EventKind<S>, data: z.infer<S>, id: string) => {
    await js.publish(kind.subject(), JSON.stringify(makeEvent(kind.type, source, kind.data.parse(data), { id, subject: (data as { instanceId?: string }).instanceId })), { msgID: id });
  };

  /**
   * Carries out one command and reports how it went: `success` on success, guest.action.failed with the
   * reason otherwise. Results take ids derived from the command's, so a redone command reports once.
   */
  const attempt = async <S extends z.ZodTypeAny>(
    event: CloudEvent,
    action: GuestActionFailed["action"],
    instanceId: string,
    success: EventKind<S>,
    work: () => Promise<z.infer<S>>,
    about: { backupId?: string; requestedAt?: string } = {},
  ) => {
    let data: z.infer<S>;
    try {
      data = await work();
    } catch (err) {
      log.warn({ instance: instanceId, action, ...about, err: String(err) }, `${action} failed`);
      await report(workEvents.guestActionFailed, { instanceId, node, action, message: (err as Error).message, ...about }, `${event.id}:failed`);
      return;
    }
    await report(success, data, `${event.id}:done`);
  };

  /** The handler of a restart, stop or start command: the same shape, a different supervisor call. */
  const engineHandler = (
    action: "restart" | "stop" | "start",
    command: (typeof nodeCommands)["restart"],
    result: (typeof workEvents)["guestRestarted"],
    run: (instanceId: string) => Promise<void>,
  ): Record<string, CommandHandler> => ({
    [command.type]: async (event) => {
      const cmd = command.data.parse(event.data);
      await attempt(event, action, cmd.instanceId, result, async () => {
        await run(cmd.instanceId);
        return { instanceId: cmd.instanceId, node };
      });
    },
  });

  return {
    [nodeCommands.provision.type]: async (event) => {
      const cmd = nodeCommands.provision.data.parse(event.data);
      const started = Date.now();
      await attempt(event, "provision", cmd.instanceId, workEvents.guestProvisioned, async () => {
        // A guest already here (a redelivered provision) is no new database.
        if (!supervisor.list().includes(cmd.instanceId)) roomFor("a new database");
        const endpoint = await supervisor.provision(cmd);
        const published = network.published?.(cmd.instanceId);
        // A removal queued behind the provision may have taken the guest already: its TLS is then not told.
        const state = await supervisor.act(cmd.instanceId, (_engine, guest) => tls.state(guest)).catch(() => undefined);
        return { instanceId: cmd.instanceId, node, address: { ...endpoint, network: cmd.networkId, ...(published ? { published } : {}) }, startedMs: Date.now() - started, ...(state ? { tls: { ...state, ca: tls.caPem } } : {}) };
      });
    },
    [nodeCommands.deprovision.type]: async (event) => {
      const cmd = nodeCommands.deprovision.data.parse(event.data);
      await attempt(event, "deprovision", cmd.instanceId, workEvents.guestDeprovisioned, async () => {
        await supervisor.deprovision(cmd.instanceId);
        return { instanceId: cmd.instanceId, node };
      });
    },
    [nodeCommands.configure.type]: async (event) => {
      const cmd = nodeCommands.configure.data.parse(event.data);
      const requestedAt = cmd.requestedAt ? { requestedAt: cmd.requestedAt } : {};
      await attempt(
        event,
        "configure",
        cmd.instanceId,
        workEvents.guestConfigured,
        async () => {
          await supervisor.configure(cmd.instanceId, cmd.settings, cmd.live, cmd.requestedAt);
          return { instanceId: cmd.instanceId, node, ...requestedAt };
        },
        requestedAt,
      );
    },
    [nodeCommands.resize.type]: async (event) => {
      const cmd = nodeCommands.resize.data.parse(event.data);
      await attempt(event, "resize", cmd.instanceId, workEvents.guestResized, async () => {
        await supervisor.resize(cmd.instanceId, cmd.flavor, cmd.settings);
        return { instanceId: cmd.instanceId, node, flavorId: cmd.flavor.id };
      });
    },
    [nodeCommands.growVolume.type]: async (event) => {
      const cmd = nodeCommands.growVolume.data.parse(event.data);
      await attempt(event, "resize", cmd.instanceId, workEvents.guestResized, async () => {
        await supervisor.growVolume(cmd.instanceId, cmd.sizeGb);
        return { instanceId: cmd.instanceId, node, volumeSizeGb: cmd.sizeGb };
      });
    },
    // A redelivered backup (its tracker died mid-way) is made again from the start; the supervisor cleans up
    // what the dead one left, and the ids derived from the command's make every report count once.
    [nodeCommands.backup.type]: async (event) => {
      const cmd = nodeCommands.backup.data.parse(event.data);
      const about = { backupId: cmd.backupId };
      await report(workEvents.guestBackupStarted, { instanceId: cmd.instanceId, node, backupId: cmd.backupId }, `${event.id}:started`);
      await attempt(event, "backup", cmd.instanceId, workEvents.guestBackedUp, async () => {
        roomFor("a backup");
        return { instanceId: cmd.instanceId, node, backupId: cmd.backupId, ...(await supervisor.backup(cmd)) };
      }, about);
    },
    [nodeCommands.rollback.type]: async (event) => {
      const cmd = nodeCommands.rollback.data.parse(event.data);
      await attempt(event, "rollback", cmd.instanceId, workEvents.guestRolledBack, async () => {
        await supervisor.rollback(cmd);
        return { instanceId: cmd.instanceId, node, backupId: cmd.backupId };
      }, { backupId: cmd.backupId });
    },
    [nodeCommands.deleteBackup.type]: async (event) => {
      const cmd = nodeCommands.deleteBackup.data.parse(event.data);
      await attempt(event, "delete-backup", cmd.instanceId ?? cmd.backupId, workEvents.backupFileDeleted, async () => {
        await supervisor.deleteBackup(cmd.artifact);
        return { node, backupId: cmd.backupId };
      }, { backupId: cmd.backupId });
    },
    ...engineHandler("restart", nodeCommands.restart, workEvents.guestRestarted, (id) => supervisor.restart(id)),
    ...engineHandler("stop", nodeCommands.stop, workEvents.guestStopped, (id) => supervisor.stop(id)),
    ...engineHandler("start", nodeCommands.start, workEvents.guestStarted, (id) => supervisor.start(id)),
  };
}

/**
 * Takes the node's commands from its durable consumer, IN_FLIGHT at a time, and settles each: acked once its
 * result is published, redelivered when publishing failed, dropped when no handler knows its type.
 */
export async function consumeCommands(opts: { js: JetStreamClient; jsm: JetStreamManager; node: string; handlers: Record<string, CommandHandler>; log: Logger }): Promise<{ stop(): Promise<void> }> {
  const { js, jsm, node, handlers, log } = opts;
  const carryOut = async (m: JsMsg) => {
    const keepAlive = setInterval(() => m.working(), 10_000);
    try {
      const event = m.json<CloudEvent>();
      const handle = handlers[event.type];
      if (!handle) {
        log.error({ type: event.type }, "unknown command; dropped");
        m.term();
        return;
      }
      await handle(event);
      m.ack();
    } catch (err) {
      // Publishing the result failed (NATS away): the command comes again and, being idempotent, is redone.
      log.warn({ err: String(err) }, "command not settled; it will be redelivered");
      m.nak(2_000);
    } finally {
      clearInterval(keepAlive);
    }
  };

  const consumer = nodeConsumer(node);
  await ensureConsumer(jsm, "HOARD_NODES", consumer);
  const messages = await (await js.consumers.get("HOARD_NODES", consumer.durable_name!)).consume({ max_messages: IN_FLIGHT * 2 });
  const running = new Set<Promise<void>>();
  const loop = (async () => {
    for await (const m of messages) {
      const p = carryOut(m).finally(() => running.delete(p));
      running.add(p);
      if (running.size >= IN_FLIGHT) await Promise.race(running);
    }
    await Promise.all(running);
  })();
  return {
    async stop() {
      messages.stop();
      await loop.catch(() => {});
    },
  };
}
