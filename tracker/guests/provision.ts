/** Making a guest exist (from a golden image or a backup) and removing it. */
import { randomBytes } from "node:crypto";
import { mkdir, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { backupStrategyFor, engineDir, groupOf, guestSocketDir, strategyFor, type DatastoreStrategy, type GuestHandle } from "../../datastores/index.js";
import { GuestActionError } from "../../errors/index.js";
import { isRunning, processesWith } from "../../drivers/index.js";
import type { ProvisionCommand } from "../../events/payloads.js";
import { openingKey } from "../backup-keys.js";
import type { GuestBackups } from "../backups.js";
import type { GuestsContext } from "./context.js";
import { EngineExited, standardPort, type EnginePlacement } from "./engine.js";
import { prepareFolders } from "./folders.js";
import { checkId, DATA, SECRET_FILE, SETTINGS_FILE, writeJson } from "./layout.js";
import { placementOf, type GuestRecord } from "./records.js";
import { stopwatch } from "./stopwatch.js";

/** How often a new guest's engine is started on another port when its port was taken meanwhile. */
const PORT_ATTEMPTS = 3;

/** Provisions and removes the guests of one node. */
export class Provisioning {
  /** Ports handed to guests still being built (not yet known records). */
  private readonly reservedPorts = new Set<number>();

  constructor(
    private readonly ctx: GuestsContext,
    private readonly backups: GuestBackups,
  ) {}

  /**
   * Makes the guest exist and run, and returns where it listens. A guest that was fully provisioned before is
   * left as it is (restarted if its engine is down); a half-built one is removed and built again. On failure
   * nothing of the attempt is left and the error says why.
   */
  async provision(cmd: ProvisionCommand): Promise<{ address: string; port: number }> {
    const { log, network, records, marks, locks } = this.ctx;
    const id = checkId(cmd.instanceId);
    return locks.exclusive(id, async () => {
      const removedAt = await marks.deprovisionedAt(id);
      if (removedAt) throw new Error(`The guest of instance ${id} was removed from this node at ${removedAt.toISOString()}; it is not built again`);
      const existing = records.known.get(id) ?? (await records.read(id));
      if (existing) return this.ensureRunning(existing);
      await this.removeGuest(id);
      try {
        return await this.build(cmd);
      } catch (err) {
        await this.removeGuest(id).catch((e: Error) => log.error({ instance: id, err: e.message }, "cleanup after a failed provision failed"));
        await network.release(cmd.networkId, id).catch((e: Error) => log.error({ instance: id, err: e.message }, "releasing the address of a failed provision failed"));
        throw new Error(`The database could not be created: ${(err as Error).message}`);
      }
    });
  }

  /**
   * Stops the guest's engine (cleanly, then SIGKILL), removes its volume and run folder, and forgets it. The
   * removal is remembered first: a provision of the same instance that comes later is refused.
   */
  async deprovision(instanceId: string): Promise<void> {
    const { log, records, marks, locks } = this.ctx;
    const id = checkId(instanceId);
    await locks.exclusive(id, async () => {
      const known = records.known.has(id);
      await marks.markDeprovisioned(id);
      await this.removeGuest(id);
      if (known) log.info({ instance: id }, "guest removed");
    });
  }

  /** A live view: concurrent provisions each see the ports the others reserved meanwhile. */
  private readonly portsInUse = {
    has: (port: number): boolean => this.reservedPorts.has(port) || [...this.ctx.records.known.values()].some((g) => g.port === port),
  };

  private async build(cmd: ProvisionCommand): Promise<{ address: string; port: number }> {
    const { home, log, volumes, network, tls, users, keys, layout, records, images } = this.ctx;
    const id = cmd.instanceId;
    const timer = stopwatch();
    const strategy = strategyFor(cmd.manager);
    await strategy.checkInstalled(cmd.version);
    const restore = cmd.restore;
    const restoring = restore && backupStrategyFor(cmd.manager, restore.strategy);
    if (restore) {
      if (restore.manager !== cmd.manager || restore.version !== cmd.version) throw new Error(`the backup is of ${restore.manager} ${restore.version}, not ${cmd.manager} ${cmd.version}`);
      // A damaged dump is refused before anything is made; files are checked as they are unpacked (one pass).
      if (restoring!.restoreBy === "replay") await this.backups.verifyBackup(restore, cmd.restoreKey);
    }
    const restoreKey = restore ? await openingKey(keys, restore, cmd.restoreKey) : undefined;
    const image = await images.image(cmd.manager, cmd.version);
    const image_ms = timer.lap();
    const { host, port: placedPort } = await network.place(cmd.networkId, id, standardPort(cmd.manager), this.portsInUse, cmd.access && { isPublic: cmd.access.is_public, allowedCidrs: cmd.access.allowed_cidrs });
    this.reservedPorts.add(placedPort);
    // The certificate is made while the volume is, and goes into the run folder once that is ready.
    const certificate = tls?.request(id, strategy, cmd.tls ?? "enabled", host, network.published?.(id)?.address);
    certificate?.catch(() => undefined);
    // So is the guest's OS account (useradd takes tens of milliseconds); a failure is met where it is awaited.
    const account = users?.ensure(id);
    account?.catch(() => undefined);
    let guest: GuestHandle | undefined;
    try {
      const volume = await volumes.create(id, cmd.volumeSizeGb);
      let dataDir: string;
      if (restoring?.restoreBy === "files") {
        // The backup's data folder instead of the image's.
        await this.backups.unpackBackup(restore!, volume, restoreKey).catch((err: Error) => {
          throw err instanceof GuestActionError ? err : new Error(`could not unpack the backup into the new volume: ${err.message}`);
        });
        dataDir = path.join(volume, DATA);
      } else {
        dataDir = await volumes.clone(id, image, DATA).catch((err: unknown) => {
          // Most likely the image folder was removed under us: build it again next time.
          images.forget(cmd.manager, cmd.version);
          throw err;
        });
      }
      const clone_ms = timer.lap();
      const runDir = layout.runDir(id);
      await mkdir(runDir, { recursive: true, mode: 0o700 });
      const user = await account;
      // Written before the engine learns it, so a crash in between leaves a guest we can still log into.
      const adminPassword = randomBytes(32).toString("hex");
      await writeFile(path.join(runDir, SECRET_FILE), adminPassword, { mode: 0o600 });
      await writeJson(path.join(runDir, SETTINGS_FILE), cmd.settings);
      guest = { instanceId: id, volume, dataDir, runDir, host, port: placedPort, adminPassword, ramMb: cmd.flavor.ramMb, ...(user ? { user: { uid: user.uid, gid: user.gid } } : {}) };
      await prepareFolders(home, guest);
      await strategy.prepareGuest(guest);
      await (await certificate)?.install(guest);
      if (restoring?.restoreBy === "files") {
        await restoring.adoptFiles?.(guest);
        // What the strategy wrote into the data as root becomes the guest user's too.
        await prepareFolders(home, guest, { data: "always" });
      }
      const { pid, start_ms, ready_ms } = await this.startOnFreePort(strategy, guest, { vcpus: cmd.flavor.vcpus, networkId: cmd.networkId });
      const port = guest.port;
      timer.lap();
      await strategy.secure(guest);
      const secure_ms = timer.lap();
      if (restoring?.restoreBy === "replay") {
        if (!restoring.replay) throw new Error(`the backup strategy ${restoring.name} cannot replay`);
        await restoring.replay(guest, await this.backups.plainDump(restore!, restoreKey));
      }
      const restore_ms = timer.lap();
      if (cmd.databases.length) await groupOf(strategy, "schema").createDatabases(guest, cmd.databases);
      const databases_ms = timer.lap();
      // A restored guest has the backup's users: only those it lacks are made.
      const missing = restore && cmd.users.length ? await missingUsers(strategy, guest, cmd.users) : cmd.users;
      if (missing.length) await groupOf(strategy, "users").createUsers(guest, missing);
      const users_ms = timer.lap();
      const record: GuestRecord = {
        instanceId: id,
        manager: cmd.manager,
        version: cmd.version,
        host,
        port,
        pid,
        ramMb: cmd.flavor.ramMb,
        vcpus: cmd.flavor.vcpus,
        flavorId: cmd.flavor.id,
        networkId: cmd.networkId,
        volume,
        createdAt: new Date().toISOString(),
        ...(user ? { uid: user.uid, gid: user.gid } : {}),
      };
      await records.save(record);
      records.secrets.set(id, adminPassword);
      const ms = { image_ms, clone_ms, start_ms, ready_ms, secure_ms, restore_ms, databases_ms, users_ms, total_ms: timer.total() };
      log.info({ instance: id, port, pid, ms, ...(restore ? { restoredFrom: restore.location } : {}) }, "guest provisioned");
      return { address: host, port };
    } finally {
      this.reservedPorts.delete(guest?.port ?? placedPort);
      await certificate?.then((c) => c?.discard(), () => undefined);
    }
  }

  /**
   * Starts a new guest's engine; if it could not bind because someone took its port between the check and the
   * bind (on a driver whose ports the node shares: another tracker on this machine, say), on another port.
   * The guest's handle then carries the port it got.
   */
  private async startOnFreePort(strategy: DatastoreStrategy, guest: GuestHandle, where: EnginePlacement): Promise<{ pid: number; start_ms: number; ready_ms: number }> {
    const { log, network, engines } = this.ctx;
    for (let attempt = 1; ; attempt++) {
      try {
        return await engines.start(strategy, guest, where);
      } catch (err) {
        // The engine has ended, so if its port is taken now, someone else holds it.
        const stolen = err instanceof EngineExited && (await network.portTaken?.(guest)) === true;
        if (!stolen || attempt >= PORT_ATTEMPTS) throw err;
        const taken = guest.port;
        this.reservedPorts.delete(taken);
        guest.port = (await network.place(where.networkId, guest.instanceId, standardPort(strategy.manager), this.portsInUse)).port;
        this.reservedPorts.add(guest.port);
        log.warn({ instance: guest.instanceId, taken, port: guest.port }, "the guest's port was taken before its engine could bind it: starting it on another");
      }
    }
  }

  /** A provisioned guest: left alone if its engine runs, restarted on its own data if not. */
  private async ensureRunning(record: GuestRecord): Promise<{ address: string; port: number }> {
    const { log, records, engines } = this.ctx;
    const id = record.instanceId;
    const endpoint = { address: record.host, port: record.port };
    const guest = records.handle(record);
    if (record.stopped || (await isRunning(record.pid, guest.dataDir))) return endpoint;
    const strategy = strategyFor(record.manager);
    try {
      await strategy.checkInstalled(record.version);
      const { pid } = await engines.start(strategy, guest, placementOf(record));
      const restarted = { ...record, pid };
      await records.save(restarted);
      log.info({ instance: id, pid }, "engine of a provisioned guest was down; restarted it");
      return endpoint;
    } catch (err) {
      // The guest holds a tenant's data: it is never removed here, only reported.
      await engines.stop(record.manager, guest.runDir, guest.dataDir, []);
      throw new Error(`The database exists but its engine could not be restarted: ${(err as Error).message}`);
    }
  }

  /** Stops whatever engine the guest has, removes its volume and run folder, and forgets it. Idempotent. */
  private async removeGuest(id: string): Promise<void> {
    const { volumes, network, limits, tls, users, layout, records, engines } = this.ctx;
    const record = records.known.get(id) ?? (await records.read(id, false));
    const runDir = layout.runDir(id);
    // Also any engine on this guest's data that no pid file names (its tracker died before writing it).
    const strays = await processesWith(layout.dataDir(id));
    await engines.stop(record?.manager, runDir, layout.dataDir(id), [...(record ? [record.pid] : []), ...strays]);
    await limits?.removeLimits(id);
    if (record) await network.release(record.networkId, id);
    await volumes.destroy(id);
    const sockets = guestSocketDir(runDir);
    if (sockets !== engineDir({ runDir })) await rm(sockets, { recursive: true, force: true });
    await rm(runDir, { recursive: true, force: true });
    // Last: the account owns nothing of the node any more, and no process of it runs.
    await users?.remove(id);
    records.known.delete(id);
    records.secrets.delete(id);
    tls?.forget(id);
  }
}

/** The users of `wanted` that the guest does not have yet (by name and host). */
async function missingUsers<U extends { name: string; host: string }>(strategy: DatastoreStrategy, guest: GuestHandle, wanted: U[]): Promise<U[]> {
  const have = new Set((await groupOf(strategy, "users").listUsers(guest)).map((u) => `${u.name}@${u.host}`));
  return wanted.filter((u) => !have.has(`${u.name}@${u.host}`));
}
