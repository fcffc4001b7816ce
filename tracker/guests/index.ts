/**
 * Everything that happens on a node to one guest: golden images, provisioning, adoption after a tracker
 * restart, health, lifecycle changes, backups, deprovisioning. The tracker calls only the GuestSupervisor,
 * which hands each job to its module (layout.ts says what lives where on disk); engines come from
 * datastores/, and processes, ports and folders from drivers/.
 */
import { readdir } from "node:fs/promises";
import path from "node:path";
import type { Logger } from "pino";
import { strategyFor, type DatastoreStrategy, type GuestHandle, type Health } from "../../datastores/index.js";
import { cgroupScope, DirectoryVolumes, FilesystemBackupStore, GuestUsers, HostNetwork, isRunning, type BackupStore, type CgroupLimits, type GuestNetwork, type MasterKeyFile, type Volumes } from "../../drivers/index.js";
import type { BackupArtifact, BackupCommand, ProvisionCommand, RollbackCommand, WrappedDataKey } from "../../events/payloads.js";
import { GuestBackups } from "../backups.js";
import type { GuestCertificates } from "../tls.js";
import { Adoption } from "./adoption.js";
import type { GuestsContext } from "./context.js";
import { EngineControl } from "./engine.js";
import { GoldenImages } from "./images.js";
import { checkId, isSafeId, NodeLayout } from "./layout.js";
import { Lifecycle } from "./lifecycle.js";
import { InstanceLocks } from "./locks.js";
import { RedeliveryMarks, type MadeBackup } from "./marks.js";
import { Provisioning } from "./provision.js";
import { GuestRecords, type GuestRecord } from "./records.js";

export { RUN_FOLDER } from "./layout.js";
export type { MadeBackup } from "./marks.js";

/** One guest in a health report. */
export interface GuestHealthReport {
  instanceId: string;
  health: Health;
}

/** How a node's GuestSupervisor is set up: its home, timeouts and drivers (defaults for tests and tools). */
export interface GuestSupervisorOptions {
  /** The node's state folder. */
  home: string;
  /** The address guests listen on (and that users connect to). */
  guestHost: string;
  /** How long an engine may take from start to its first answer. */
  startTimeoutMs: number;
  /** How long a clean shutdown may take before SIGKILL; 30 s unless given. */
  stopTimeoutMs?: number;
  /** Makes the flavor's RAM and vCPUs real limits on each engine; without it guests run unlimited. */
  limits?: CgroupLimits;
  /** Where volumes live: folders under `<home>/volumes` unless given. */
  volumes?: Volumes;
  /** Where guests listen: the host driver on `guestHost` unless given. */
  network?: GuestNetwork;
  /** Where backups go: the folder `<home>/backups` unless given. */
  backups?: BackupStore;
  /** Gives new guests their TLS certificates; without it guests are plaintext only. */
  tls?: GuestCertificates;
  /**
   * Makes each guest's OS user: accounts scoped by the home's hash when the tracker is root, unless given;
   * null (or a tracker that is not root): engines run as the tracker's own user.
   */
  users?: GuestUsers | null;
  /**
   * The operator's master keys: each backup is encrypted with its project's data key, wrapped by them. Without
   * them backups are stored unencrypted, as before Hoard encrypted them (the tracker always gives them).
   */
  keys?: MasterKeyFile;
  log: Logger;
}

/** Starts, adopts, checks and removes the guests of one node. */
export class GuestSupervisor {
  private readonly ctx: GuestsContext;
  private readonly backups: GuestBackups;
  private readonly provisioning: Provisioning;
  private readonly adoption: Adoption;
  private readonly lifecycle: Lifecycle;

  constructor(opts: GuestSupervisorOptions) {
    const home = path.resolve(opts.home);
    const log = opts.log.child({ unit: "guests" });
    const volumes = opts.volumes ?? new DirectoryVolumes(path.join(home, "volumes"));
    const network = opts.network ?? new HostNetwork(opts.guestHost);
    const users = opts.users !== undefined ? opts.users : process.getuid?.() === 0 ? new GuestUsers({ scope: cgroupScope(home) }) : null;
    const layout = new NodeLayout(home, volumes);
    this.ctx = {
      home,
      log,
      volumes,
      network,
      limits: opts.limits,
      store: opts.backups ?? new FilesystemBackupStore(path.join(home, "backups")),
      tls: opts.tls,
      users,
      keys: opts.keys,
      layout,
      records: new GuestRecords(layout, volumes, log),
      marks: new RedeliveryMarks(home, log),
      images: new GoldenImages(home, volumes, users, log),
      engines: new EngineControl({ home, startTimeoutMs: opts.startTimeoutMs, stopTimeoutMs: opts.stopTimeoutMs ?? 30_000, network, limits: opts.limits, users }),
      locks: new InstanceLocks(),
    };
    this.backups = new GuestBackups(this.ctx);
    this.provisioning = new Provisioning(this.ctx, this.backups);
    this.adoption = new Adoption(this.ctx, this.backups);
    this.lifecycle = new Lifecycle(this.ctx);
  }

  /** The guests' OS accounts (null when engines run as the tracker's user). */
  get guestUsers(): GuestUsers | null {
    return this.ctx.users;
  }

  /** Builds the golden image of each engine version that is not built yet. Rejects if any could not be. */
  warm(images: { manager: string; version: string }[]): Promise<void> {
    return this.ctx.images.warm(images);
  }

  /** See Provisioning.provision: makes the guest exist and run; returns where it listens. */
  provision(cmd: ProvisionCommand): Promise<{ address: string; port: number }> {
    return this.provisioning.provision(cmd);
  }

  /** See Provisioning.deprovision: removes the guest, remembering the removal first. */
  deprovision(instanceId: string): Promise<void> {
    return this.provisioning.deprovision(instanceId);
  }

  /** Takes back the guests a previous tracker left (running or not); returns their ids. */
  adopt(): Promise<string[]> {
    return this.adoption.adopt();
  }

  /** The health of every known guest: SHUTDOWN if its process is gone, else what its engine says. */
  async health(): Promise<GuestHealthReport[]> {
    return Promise.all([...this.ctx.records.known.values()].map(async (r) => ({ instanceId: r.instanceId, health: await this.healthOf(r) })));
  }

  /** The flavor a known guest runs with, as its record says. */
  flavorOf(instanceId: string): string | undefined {
    return this.ctx.records.known.get(instanceId)?.flavorId;
  }

  /**
   * Ids that have a volume or run folder on this node but no complete guest, and no operation under way:
   * what a build or a removal cut short by a crash left. Their provision or deprovision may still come
   * again; the reconciler decides from the instance rows.
   */
  async leftovers(): Promise<string[]> {
    const { volumes, layout, records, locks } = this.ctx;
    const runs = await readdir(layout.runRoot(), { withFileTypes: true }).catch(() => []);
    const ids = new Set([...runs.filter((e) => e.isDirectory()).map((e) => e.name), ...(await volumes.list())]);
    return [...ids].filter((id) => isSafeId(id) && !records.known.has(id) && !locks.busy(id)).sort();
  }

  /**
   * Runs an action on a running guest through its engine's strategy (schema, users, root, settings), after
   * any earlier operation on the same guest. Refused (GUEST_ABSENT, 404) when this node has no such guest.
   */
  async act<T>(instanceId: string, action: (strategy: DatastoreStrategy, guest: GuestHandle) => Promise<T>): Promise<T> {
    const { records, locks } = this.ctx;
    const id = checkId(instanceId);
    return locks.exclusive(id, async () => {
      const record = records.require(id);
      return action(strategyFor(record.manager), records.handle(record));
    });
  }

  /** See Lifecycle.configure: new start settings, the dynamic ones applied live. */
  configure(instanceId: string, settings: Record<string, string>, live: Record<string, string>, requestedAt?: string): Promise<void> {
    return this.lifecycle.configure(instanceId, settings, live, requestedAt);
  }

  /** See Lifecycle.resize: another flavor, one restart, the old one back on failure. */
  resize(instanceId: string, flavor: { id: string; ramMb: number; vcpus: number }, settings: Record<string, string>): Promise<void> {
    return this.lifecycle.resize(instanceId, flavor, settings);
  }

  /** Grows a guest's volume while its engine runs (enforced where the volume driver can). */
  growVolume(instanceId: string, sizeGb: number): Promise<void> {
    return this.lifecycle.growVolume(instanceId, sizeGb);
  }

  /** Whether volume sizes are held by the driver (a quota), not only recorded. */
  get enforcesVolumeSize(): boolean {
    return this.ctx.volumes.enforcesSize;
  }

  /**
   * Releases what the volume driver holds on the node (the btrfs pool's mount). Only once no guest runs:
   * a tracker that merely stops leaves its guests and their volumes in place.
   */
  async closeVolumes(): Promise<void> {
    const { volumes } = this.ctx;
    if ("close" in volumes) await volumes.close();
  }

  /** Stops the engine cleanly and starts it again on the same data with the current settings. */
  async restart(instanceId: string): Promise<void> {
    await this.lifecycle.relaunch(instanceId, { stop: true, start: true });
  }

  /** Stops the engine cleanly and keeps it stopped (also across tracker restarts) until start(). */
  async stop(instanceId: string): Promise<void> {
    await this.lifecycle.relaunch(instanceId, { stop: true, start: false });
  }

  /** Starts a stopped engine on its data with the current settings; a running one is left alone. */
  async start(instanceId: string): Promise<void> {
    await this.lifecycle.relaunch(instanceId, { stop: false, start: true });
  }

  /** The ids of the known guests. */
  list(): string[] {
    return [...this.ctx.records.known.keys()];
  }

  /** Where a known guest listens, or undefined. */
  endpoint(instanceId: string): { address: string; port: number } | undefined {
    const r = this.ctx.records.known.get(instanceId);
    return r && { address: r.host, port: r.port };
  }

  /** See GuestBackups.backup: backs a running guest up into the backup store. */
  backup(cmd: BackupCommand, observe?: { onLock?(edge: "locked" | "unlocked"): void }): Promise<MadeBackup> {
    return this.backups.backup(cmd, observe);
  }

  /** See GuestBackups.rollback: puts a guest's data back to a backup of it, in place. */
  rollback(cmd: RollbackCommand): Promise<void> {
    return this.backups.rollback(cmd);
  }

  /** Removes a backup's file from the store; no error when it is gone already. */
  deleteBackup(artifact: BackupArtifact): Promise<void> {
    return this.backups.deleteBackup(artifact);
  }

  /** See GuestBackups.verifyBackup: the backup's file is whole and its key opens here. */
  verifyBackup(artifact: BackupArtifact, dataKey?: WrappedDataKey): Promise<void> {
    return this.backups.verifyBackup(artifact, dataKey);
  }

  /** Where backups are stored, for messages. */
  get backupStore(): BackupStore {
    return this.ctx.store;
  }

  private async healthOf(record: GuestRecord): Promise<Health> {
    try {
      const guest = this.ctx.records.handle(record);
      if (!(await isRunning(record.pid, guest.dataDir))) return "SHUTDOWN";
      if (!guest.adminPassword) return "RUNNING";
      return await strategyFor(record.manager).health(guest);
    } catch {
      return "RUNNING";
    }
  }
}
