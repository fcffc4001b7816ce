import { jetstream, jetstreamManager, type JsMsg } from "@nats-io/jetstream";
import { type NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import type { Config } from "../config/index.js";
import { datastoreDefinitions } from "../datastores/catalog.js";
import { ensureConsumer, ensureStreams, makeEvent, nodeConsumer, nodeCommands, sources, workEvents, type CloudEvent, type EventKind, type GuestActionFailed } from "../events/index.js";
import { serveGuestCalls } from "./calls.js";
import { backupStoreFrom, masterKeysFor, BtrfsVolumes, CgroupLimits, cgroupScope, DirectoryVolumes, HostNetwork, NetnsNetwork, netnsUnavailable, type GuestNetwork, type Volumes } from "../drivers/index.js";
import { findBinary } from "../bootstrap/packages.js";
import path from "node:path";
import { EngineLogs } from "./engine-logs.js";
import { GuestSupervisor, RUN_FOLDER } from "./guests/index.js";
import { GuestCertificates } from "./tls.js";
import type { z } from "zod";

const IN_FLIGHT = 4;

/**
 * The tracker of one network node: takes the node's commands from JetStream, carries them out on the
 * guests through the GuestSupervisor, publishes the results, and sends heartbeats. Guests outlive it; a
 * restarted tracker adopts them.
 */
export async function startTracker(opts: { config: Config; nc: NatsConnection; log: Logger }): Promise<{ supervisor: GuestSupervisor; network: GuestNetwork; stop(): Promise<void> }> {
  const { config, nc } = opts;
  const node = config.node;
  const log = opts.log.child({ part: "tracker", node });
  const jsm = await jetstreamManager(nc);
  await ensureStreams(jsm, config.streamReplicas, { only: ["HOARD_NODES", "HOARD_WORK"], update: false });
  const js = jetstream(nc);
  const source = sources.tracker(node);

  const limits = await guestLimits(config.home, log);
  const volumes = await volumeDriver(config, log);
  const network = await networkDriver(config, log);
  const backups = await backupStoreFrom({ home: config.home, url: config.backupStore.url, s3: config.backupStore.s3 });
  const tls = new GuestCertificates({ home: config.home, node, log, validityDays: config.guestTls.certDays, renewBeforeDays: config.guestTls.renewBeforeDays, ...(config.guestTls.caCertFile ? { caCertFile: config.guestTls.caCertFile } : {}), ...(config.guestTls.caKeyFile ? { caKeyFile: config.guestTls.caKeyFile } : {}) });
  await tls.open();
  const keys = await backupKeys(config, log);
  const supervisor = new GuestSupervisor({ home: config.home, guestHost: config.guestHost, startTimeoutMs: config.guestStartTimeoutMs, log, volumes, network, backups, tls, keys, ...(limits ? { limits } : {}) });
  const adopted = await supervisor.adopt();
  if (adopted.length) log.info({ guests: adopted.length }, "adopted running guests");
  const MB = 1024 * 1024;
  const engineLogs = new EngineLogs({ home: config.home, runRoot: path.join(config.home, RUN_FOLDER), maxBytes: config.engineLogs.maxMb * MB, checkMs: config.engineLogs.checkMs, floorBytes: config.diskFloorMb * MB, node, log });
  await engineLogs.start();
  /** Throws the free-space floor's reason when the node is too low on disk for `what`. */
  const roomFor = (what: string) => {
    const refused = engineLogs.refusal(what);
    if (refused) throw new Error(refused);
  };

  // Build golden images ahead of the first create, so no tenant waits for the slow initialisation.
  const images = [...new Map(datastoreDefinitions.flatMap((d) => d.versions.map((v) => [`${d.manager}-${v.name}`, { manager: d.manager, version: v.name }]))).values()];
  const warming = supervisor.warm(images).catch((err) => log.warn({ err: String(err) }, "a golden image could not be built yet; it will be retried at the first create"));

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
  ): Record<string, (event: CloudEvent) => Promise<void>> => ({
    [command.type]: async (event) => {
      const cmd = command.data.parse(event.data);
      await attempt(event, action, cmd.instanceId, result, async () => {
        await run(cmd.instanceId);
        return { instanceId: cmd.instanceId, node };
      });
    },
  });

  const commandHandlers: Record<string, (event: CloudEvent) => Promise<void>> = {
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

  const carryOut = async (m: JsMsg) => {
    const keepAlive = setInterval(() => m.working(), 10_000);
    try {
      const event = m.json<CloudEvent>();
      const handle = commandHandlers[event.type];
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

  const calls = serveGuestCalls(nc, node, supervisor, log);

  let beating = false;
  const beat = setInterval(() => {
    if (beating) return;
    beating = true;
    void (async () => {
      // Sent also with no guest: the reconciler learns from it that the node has none.
      const at = new Date().toISOString();
      const [health, leftovers] = await Promise.all([supervisor.health(), supervisor.leftovers()]);
      const guests = health.map((g) => ({ ...g, flavorId: supervisor.flavorOf(g.instanceId), tlsExpires: tls.expiresOf(g.instanceId) }));
      const kind = workEvents.guestHeartbeat;
      const disk = engineLogs.state();
      const data = kind.data.parse({ node, at, guests, leftovers, ca: tls.caPem, ...(disk ? { disk } : {}) });
      await js.publish(kind.subject(), JSON.stringify(makeEvent(kind.type, source, data)));
    })()
      .catch((err) => log.debug({ err: String(err) }, "heartbeat not sent"))
      .finally(() => {
        beating = false;
      });
  }, config.heartbeatIntervalMs);

  // Certificates that end within the renewal window are renewed and taken live; the first pass, right away,
  // also learns the ends of adopted guests' certificates for the heartbeats.
  let renewing: Promise<void> | undefined;
  const renew = () => {
    renewing ??= renewCertificates(supervisor, tls, network, log).finally(() => {
      renewing = undefined;
    });
  };
  renew();
  const renewal = setInterval(renew, config.guestTls.checkIntervalMs);

  return {
    supervisor,
    network,
    async stop() {
      clearInterval(renewal);
      await renewing;
      clearInterval(beat);
      await engineLogs.stop();
      await calls.drain().catch(() => calls.unsubscribe());
      messages.stop();
      await loop.catch(() => {});
      await warming;
    },
  };
}

/** One renewal pass over the node's guests: a guest whose renewal fails is told in the log and tried again next pass. */
async function renewCertificates(supervisor: GuestSupervisor, tls: GuestCertificates, network: GuestNetwork, log: Logger): Promise<void> {
  for (const id of supervisor.list()) {
    await supervisor
      .act(id, async (engine, guest) => {
        if (await tls.renewIfDue(guest, engine, network.published?.(id)?.address)) log.info({ instance: id }, "guest certificate renewed and taken live");
        await tls.state(guest);
      })
      .catch((err: Error) => log.warn({ instance: id, err: err.message }, "could not renew the guest's certificate"));
  }
}

/**
 * The master keys backups are encrypted under: the operator's file (HOARD_BACKUP_KEYS_FILE), or one made in
 * the state folder on first start, which the log tells the operator to keep a copy of.
 */
async function backupKeys(config: Config, log: Logger) {
  const { keys, generated } = await masterKeysFor({ file: config.backupKeysFile, home: config.home });
  const current = await keys.current();
  if (generated) log.warn({ file: keys.describe, masterKey: current.id }, "no backup keys file is configured (HOARD_BACKUP_KEYS_FILE): generated a master key in the state folder (mode 0600); keep a copy of it elsewhere, as no backup can be restored without it");
  else log.info({ file: keys.describe, masterKey: current.id }, "backups are encrypted with data keys wrapped by the current master key");
  return keys;
}

/**
 * The flavor's RAM and vCPUs become cgroup limits when this node can set them (root, memory and cpu
 * controllers); otherwise guests run unlimited and the log says why.
 */
async function guestLimits(home: string, log: Logger): Promise<CgroupLimits | undefined> {
  if (process.getuid?.() !== 0) {
    log.warn("not running as root: guests run without memory and CPU limits");
    return undefined;
  }
  const limits = new CgroupLimits({ scope: cgroupScope(home) });
  try {
    log.info({ cgroup: await limits.version() }, "guests get memory and CPU limits from their flavor");
    return limits;
  } catch (err) {
    log.warn({ err: (err as Error).message }, "no usable cgroup controllers: guests run without memory and CPU limits");
    return undefined;
  }
}

/** The configured volume driver; "auto" takes btrfs where it can run (root, btrfs-progs), else folders. */
async function volumeDriver(config: Config, log: Logger): Promise<Volumes> {
  const folders = () => new DirectoryVolumes(path.join(config.home, "volumes"));
  let choice = config.volumeDriver;
  if (choice === "auto") {
    const why = process.getuid?.() !== 0 ? "not running as root" : !findBinary("mkfs.btrfs") ? "btrfs-progs is not installed" : null;
    if (why) log.warn({ why }, "volumes are plain folders: their sizes are recorded, not enforced, and snapshots copy");
    choice = why ? "directory" : "btrfs";
  }
  if (choice === "directory") return folders();
  const pool = new BtrfsVolumes({ dir: path.join(config.home, "btrfs") });
  await pool.openPool();
  log.info({ pool: pool.mountPoint }, "volumes are btrfs subvolumes with enforced sizes");
  return pool;
}

/**
 * The configured network driver. "netns" never falls back to "host": guests would then be reachable from
 * where the operator asked them not to be, so a node that cannot run it does not start, saying why.
 */
async function networkDriver(config: Config, log: Logger): Promise<GuestNetwork> {
  if (config.networkDriver === "host") return new HostNetwork(config.guestHost);
  const why = await netnsUnavailable();
  if (why) throw new Error(`HOARD_NETWORK_DRIVER=netns: ${why}`);
  const network = new NetnsNetwork({ home: config.home, scope: cgroupScope(config.home), pool: config.netns.pool, ...(config.netns.publicAddress ? { publicAddress: config.netns.publicAddress } : {}) });
  await network.open();
  log.info({ pool: config.netns.pool, networks: network.networks().length }, "tenant networks are network namespaces");
  return network;
}
