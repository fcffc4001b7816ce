/**
 * Everything that happens on a node to one guest: golden images, provisioning, adoption after a tracker
 * restart, health, deprovisioning. The tracker calls only this class; engines come from datastores/, and
 * processes, ports and folders from drivers/.
 *
 * On disk, under `home` (the guest's OS user is its own, see drivers/compute/guest-users.ts):
 *   images/<manager>-<version>/data     golden data directory, built once (image.json marks it complete), root's
 *   volumes/<instanceId>/               root, group the guest's, 0710: the engine passes through, lists nothing
 *   volumes/<instanceId>/data           the guest's data (a clone of the golden image): the guest user's, 0700
 *   run/<instanceId>/                   root, group the guest's, 0710: the tracker's files, root's, 0600 —
 *                                       engine.log (+ engine.log.1, see engine-logs.ts), engine.pid, admin.secret, guest.json (no secrets; records
 *                                       the guest's uid and gid), settings.json
 *   run/<instanceId>/engine/            the guest user's, 0700: the engine's sockets, pid file, and the files
 *                                       it reads or writes itself (MariaDB's init.sql and secure-file-priv folder)
 * A socket path too long for an address goes to /run/hoard/<hash>/ instead (guestSocketDir). Each engine runs
 * confined (drivers/compute/confine.ts): its own uid, no capabilities, no_new_privs, a private /tmp.
 * guest.json is written last: a run folder without it is a half-built guest. A guest.json without a uid is
 * a guest made before guests had users of their own (running as root, PostgreSQL's as `postgres`): adopt()
 * moves it to its own user.
 *
 * Backups (see backup()): the volume's snapshot `backup-<backupId>` and the scratch folder
 * backup-work/<backupId>/ live only while a backup runs; the backup store (default `<home>/backups`) holds
 * `<instanceId>/<backupId>.<tar|dump>.<zst|gz>.enc` (encrypted, see drivers/backup-store/encryption.ts; files
 * without `.enc` are from before backups were encrypted, or from a supervisor given no keys). A tracker that
 * dies mid-backup leaves them; adopt() removes them.
 *
 * deprovisioned/<instanceId> marks a guest removed on purpose, so a provision command redelivered after the
 * removal (NATS died before its ack was stored) does not build it again. backed-up/<backupId>.json holds a
 * finished backup's artifact, so a backup command redelivered after it reports the backup made instead of
 * making it again over the file whose checksum the backup's row already records. Both kinds of mark are kept
 * for a day, the longest a command waits in the node's stream (HOARD_NODES max age); pruned by adopt(), each
 * deprovision and each backup.
 */
import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { chmod, chown, lchown, lstat, mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import type { Logger } from "pino";
import { z } from "zod";
import { pipeline } from "node:stream/promises";
import type { Readable, Transform } from "node:stream";
import { backupStrategyFor, datastoreDefinitions, ENGINE_LOG, engineDir, groupOf, GuestActionError, guestSocketDir, refuse, strategyFor, type BackupContext, type BackupStrategy, type DatastoreStrategy, type GuestHandle, type GuestLayout, type Health } from "../datastores/index.js";
import {
  cgroupScope,
  BackupSealBroken,
  compress,
  compressionOf,
  counter,
  decompress,
  digestOf,
  DirectoryVolumes,
  FilesystemBackupStore,
  GuestUsers,
  HostNetwork,
  packFolders,
  preferredCompression,
  StoredFileMissing,
  unpackInto,
  type BackupStore,
  type CgroupLimits,
  type GuestNetwork,
  type Volumes,
  isRunning,
  logTail,
  MasterKeyMissing,
  newDataKey,
  opener,
  openDataKey,
  sealer,
  SEALED,
  type MasterKeyFile,
  processesWith,
  readPidFile,
  startProcess,
  stopProcess,
} from "../drivers/index.js";
import { BackupArtifact, WrappedDataKey, type BackupCommand, type ProvisionCommand, type RollbackCommand } from "../events/payloads.js";
import type { GuestCertificates } from "./tls.js";

const run = promisify(execFile);
/** How often a new guest's engine is started on another port when its port was taken meanwhile. */
const PORT_ATTEMPTS = 3;
/** The guests' run folders, under the home (engine-logs.ts watches them too). */
export const RUN_FOLDER = "run";
const GUEST_FILE = "guest.json";
const SECRET_FILE = "admin.secret";
const PID_FILE = "engine.pid";
/** The engine parameters every start of the guest uses (flavor-derived and configuration group values). */
const SETTINGS_FILE = "settings.json";
/** When the configure request whose settings the guest holds was asked for. */
const CONFIGURED_AT_FILE = "configured-at.json";
const IMAGE_MARKER = "image.json";
/** The engine's data directory inside a volume or an image folder. */
const DATA = "data";
/** Volume snapshots taken for a backup are named `backup-<backupId>`. */
const BACKUP_SNAPSHOT = "backup-";
/** Scratch folders of running backups, under the home. */
const BACKUP_WORK = "backup-work";
/** Marks of removed guests, under the home; see the header. */
const DEPROVISIONED = "deprovisioned";
/** Artifacts of finished backups, under the home; see the header. */
const BACKED_UP = "backed-up";
/** How long a mark is kept: the max age of HOARD_NODES, after which its command cannot come again. */
const MARK_HORIZON_MS = 24 * 3600_000;
/** How often old marks are looked for (at start, then by deprovisions and backups at most this often). */
const PRUNE_EVERY_MS = 3600_000;

/** What guest.json holds: enough to find, check and stop the guest after a tracker restart. */
const GuestRecord = z.object({
  instanceId: z.string(),
  manager: z.string(),
  version: z.string(),
  host: z.string(),
  port: z.number().int(),
  pid: z.number().int(),
  ramMb: z.number().int(),
  /** Absent in records written before limits existed: one. */
  vcpus: z.number().int().positive().optional(),
  flavorId: z.string().optional(),
  networkId: z.string(),
  volume: z.string(),
  createdAt: z.string(),
  /** Stopped on purpose: not started again by adoption or a repeated provision. */
  stopped: z.boolean().optional(),
  /** The guest's own OS user; absent in records of guests made before they had one (adopt() moves them). */
  uid: z.number().int().positive().optional(),
  gid: z.number().int().positive().optional(),
});
type GuestRecord = z.infer<typeof GuestRecord>;

/** What a backup made: its artifact, and the data key made for it when its command carried none (wrapped). */
export interface MadeBackup {
  artifact: BackupArtifact;
  newDataKey?: WrappedDataKey;
}

/** A backed-up mark: what the backup made (marks written before encryption hold the bare artifact). */
const BackedUpMark = z.union([z.object({ artifact: BackupArtifact, newDataKey: WrappedDataKey.optional() }), BackupArtifact.transform((artifact) => ({ artifact }))]);

/** One guest in a health report. */
export interface GuestHealthReport {
  instanceId: string;
  health: Health;
}

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
  private readonly home: string;
  private readonly startTimeoutMs: number;
  private readonly stopTimeoutMs: number;
  private readonly log: Logger;
  private readonly volumes: Volumes;
  private readonly limits: CgroupLimits | undefined;
  private readonly network: GuestNetwork;
  private readonly store: BackupStore;
  private readonly tls: GuestCertificates | undefined;
  private readonly users: GuestUsers | null;
  private readonly keys: MasterKeyFile | undefined;
  private readonly guests = new Map<string, GuestRecord>();
  /** Admin passwords of known guests; on disk only in each guest's admin.secret. */
  private readonly secrets = new Map<string, string>();
  /** Golden images being built or built, by `<manager>-<version>`: concurrent callers share one build. */
  private readonly images = new Map<string, Promise<string>>();
  /** The tail of the last operation per instance, so operations on one instance run one at a time. */
  private readonly locks = new Map<string, Promise<void>>();
  /** Ports handed to guests still being built (not yet in `guests`). */
  private readonly reservedPorts = new Set<number>();
  /** When each mark folder was last pruned. */
  private readonly prunedAt = new Map<string, number>();

  constructor(opts: GuestSupervisorOptions) {
    this.home = path.resolve(opts.home);
    this.startTimeoutMs = opts.startTimeoutMs;
    this.stopTimeoutMs = opts.stopTimeoutMs ?? 30_000;
    this.log = opts.log.child({ unit: "guests" });
    this.volumes = opts.volumes ?? new DirectoryVolumes(path.join(this.home, "volumes"));
    this.limits = opts.limits;
    this.network = opts.network ?? new HostNetwork(opts.guestHost);
    this.store = opts.backups ?? new FilesystemBackupStore(path.join(this.home, "backups"));
    this.tls = opts.tls;
    this.users = opts.users !== undefined ? opts.users : process.getuid?.() === 0 ? new GuestUsers({ scope: cgroupScope(this.home) }) : null;
    this.keys = opts.keys;
  }

  /** The guests' OS accounts (null when engines run as the tracker's user). */
  get guestUsers(): GuestUsers | null {
    return this.users;
  }

  /** Builds the golden image of each engine version that is not built yet. Rejects if any could not be. */
  async warm(images: { manager: string; version: string }[]): Promise<void> {
    const results = await Promise.allSettled(images.map((i) => this.image(i.manager, i.version)));
    const failed = results.flatMap((r) => (r.status === "rejected" ? [(r.reason as Error).message] : []));
    if (failed.length) throw new Error(failed.join("; "));
  }

  /**
   * Makes the guest exist and run, and returns where it listens. A guest that was fully provisioned before is
   * left as it is (restarted if its engine is down); a half-built one is removed and built again. On failure
   * nothing of the attempt is left and the error says why.
   */
  async provision(cmd: ProvisionCommand): Promise<{ address: string; port: number }> {
    const id = checkId(cmd.instanceId);
    return this.exclusive(id, async () => {
      const removedAt = await this.deprovisionedAt(id);
      if (removedAt) throw new Error(`The guest of instance ${id} was removed from this node at ${removedAt.toISOString()}; it is not built again`);
      const existing = this.guests.get(id) ?? (await this.readRecord(id));
      if (existing) return this.ensureRunning(existing);
      await this.removeGuest(id);
      try {
        return await this.build(cmd);
      } catch (err) {
        await this.removeGuest(id).catch((e: Error) => this.log.error({ instance: id, err: e.message }, "cleanup after a failed provision failed"));
        await this.network.release(cmd.networkId, id).catch((e: Error) => this.log.error({ instance: id, err: e.message }, "releasing the address of a failed provision failed"));
        throw new Error(`The database could not be created: ${(err as Error).message}`);
      }
    });
  }

  /**
   * Stops the guest's engine (cleanly, then SIGKILL), removes its volume and run folder, and forgets it. The
   * removal is remembered first: a provision of the same instance that comes later is refused.
   */
  async deprovision(instanceId: string): Promise<void> {
    const id = checkId(instanceId);
    await this.exclusive(id, async () => {
      const known = this.guests.has(id);
      await this.pruneMarks(DEPROVISIONED);
      await mkdir(path.join(this.home, DEPROVISIONED), { recursive: true });
      if (!(await this.deprovisionedAt(id))) await writeFile(path.join(this.home, DEPROVISIONED, id), `${new Date().toISOString()}\n`);
      await this.removeGuest(id);
      if (known) this.log.info({ instance: id }, "guest removed");
    });
  }

  /** Takes back the guests a previous tracker left (running or not); returns their ids. */
  async adopt(): Promise<string[]> {
    const entries = await readdir(this.runRoot(), { withFileTypes: true }).catch(() => []);
    const adopted: string[] = [];
    for (const entry of entries) {
      if (!entry.isDirectory() || !isSafeId(entry.name)) continue;
      const record = await this.readRecord(entry.name);
      if (record && this.users && record.uid === undefined) {
        await this.exclusive(record.instanceId, () => this.moveToOwnUser(record)).catch((err: Error) => this.log.error({ instance: record.instanceId, err: err.message }, "could not move a guest to its own OS user; the next tracker start tries again"));
      } else if (record && this.users && record.uid !== undefined && record.gid !== undefined) {
        // An account lost meanwhile (a restored /etc/passwd) is made again with the uid that owns the guest's files.
        const owner = { uid: record.uid, gid: record.gid };
        await this.users.ensure(record.instanceId, owner).catch((err: Error) => this.log.error({ instance: record.instanceId, err: err.message }, "the guest's OS account is not as its record says"));
      }
      if (record) adopted.push(record.instanceId);
      // Its provision command comes again (and rebuilds it) or its deprovision removes it.
      else this.log.warn({ instance: entry.name }, "half-built guest left by an earlier tracker; not adopted");
    }
    await this.sweepBackups().catch((err: Error) => this.log.warn({ err: err.message }, "could not clean up after interrupted backups"));
    await this.pruneMarks(DEPROVISIONED);
    await this.pruneMarks(BACKED_UP);
    return adopted;
  }

  /** When the guest of `id` was removed from this node on purpose, if within the horizon. */
  private async deprovisionedAt(id: string): Promise<Date | undefined> {
    return this.markedAt(path.join(DEPROVISIONED, id));
  }

  /** When the mark `name` (under the home) was made, if within the horizon. */
  private async markedAt(name: string): Promise<Date | undefined> {
    const info = await stat(path.join(this.home, name)).catch(() => undefined);
    return info && Date.now() - info.mtimeMs < MARK_HORIZON_MS ? info.mtime : undefined;
  }

  /**
   * Forgets the marks in `folder` older than the horizon: their commands have left the stream. It reads every
   * mark, so it runs at most once in PRUNE_EVERY_MS per folder (a mark may outlive the horizon by that much).
   */
  private async pruneMarks(folder: string): Promise<void> {
    if (Date.now() - (this.prunedAt.get(folder) ?? 0) < PRUNE_EVERY_MS) return;
    this.prunedAt.set(folder, Date.now());
    const dir = path.join(this.home, folder);
    try {
      for (const name of await readdir(dir).catch(() => [] as string[])) {
        const info = await stat(path.join(dir, name)).catch(() => undefined);
        if (info && Date.now() - info.mtimeMs >= MARK_HORIZON_MS) await rm(path.join(dir, name), { force: true });
      }
    } catch (err) {
      this.log.warn({ folder, err: (err as Error).message }, "could not prune old marks");
    }
  }

  /** What a backup this node finished within the horizon made, if any. */
  private async backedUp(backupId: string): Promise<MadeBackup | undefined> {
    const name = path.join(BACKED_UP, `${backupId}.json`);
    if (!(await this.markedAt(name))) return undefined;
    const made = BackedUpMark.parse(JSON.parse(await readFile(path.join(this.home, name), "utf8")));
    return "newDataKey" in made && made.newDataKey ? { artifact: made.artifact, newDataKey: made.newDataKey } : { artifact: made.artifact };
  }

  /** The health of every known guest: SHUTDOWN if its process is gone, else what its engine says. */
  async health(): Promise<GuestHealthReport[]> {
    return Promise.all([...this.guests.values()].map(async (r) => ({ instanceId: r.instanceId, health: await this.healthOf(r) })));
  }

  /** The flavor a known guest runs with, as its record says. */
  flavorOf(instanceId: string): string | undefined {
    return this.guests.get(instanceId)?.flavorId;
  }

  /**
   * Ids that have a volume or run folder on this node but no complete guest, and no operation under way:
   * what a build or a removal cut short by a crash left. Their provision or deprovision may still come
   * again; the reconciler decides from the instance rows.
   */
  async leftovers(): Promise<string[]> {
    const runs = await readdir(this.runRoot(), { withFileTypes: true }).catch(() => []);
    const ids = new Set([...runs.filter((e) => e.isDirectory()).map((e) => e.name), ...(await this.volumes.list())]);
    return [...ids].filter((id) => isSafeId(id) && !this.guests.has(id) && !this.locks.has(id)).sort();
  }

  /**
   * Runs an action on a running guest through its engine's strategy (schema, users, root, settings), after
   * any earlier operation on the same guest. GuestActionError NOT_FOUND when this node has no such guest.
   */
  async act<T>(instanceId: string, action: (strategy: DatastoreStrategy, guest: GuestHandle) => Promise<T>): Promise<T> {
    const id = checkId(instanceId);
    return this.exclusive(id, async () => {
      const record = this.guests.get(id);
      if (!record) throw refuse("GUEST_NOT_FOUND", { message: `instance ${id} has no guest on this node` });
      return action(strategyFor(record.manager), this.handle(record));
    });
  }

  /**
   * Replaces the settings the guest starts with and applies `live` (the dynamic ones) to the running engine,
   * so they hold now and after any restart. A request older than one already applied (`requestedAt`, a
   * redelivered command) is superseded: it changes nothing, so the guest keeps the newest settings.
   */
  async configure(instanceId: string, settings: Record<string, string>, live: Record<string, string>, requestedAt?: string): Promise<void> {
    const id = checkId(instanceId);
    await this.exclusive(id, async () => {
      const record = this.guests.get(id);
      if (!record) throw refuse("GUEST_NOT_FOUND", { message: `instance ${id} has no guest on this node` });
      const appliedFile = path.join(this.runDir(id), CONFIGURED_AT_FILE);
      const applied = await readFile(appliedFile, "utf8").then((text) => z.object({ requestedAt: z.string() }).parse(JSON.parse(text)).requestedAt, () => null);
      if (requestedAt && applied && Date.parse(requestedAt) < Date.parse(applied)) {
        this.log.info({ instance: id, requestedAt, applied }, "configure request superseded by a newer one; nothing changed");
        return;
      }
      // Live first: a value the engine refuses is then not kept for the next start either.
      if (Object.keys(live).length) await groupOf(strategyFor(record.manager), "configuration").applySettings(this.handle(record), live);
      await writeJson(path.join(this.runDir(id), SETTINGS_FILE), settings);
      if (requestedAt) await writeJson(appliedFile, { requestedAt });
    });
  }

  /**
   * Moves a guest to another flavor: new limits and engine settings, one restart. If the engine does not
   * come back, the old flavor and settings are put back (and started) and the error says why.
   */
  async resize(instanceId: string, flavor: { id: string; ramMb: number; vcpus: number }, settings: Record<string, string>): Promise<void> {
    const id = checkId(instanceId);
    await this.exclusive(id, async () => {
      const before = this.guests.get(id);
      if (!before) throw refuse("GUEST_NOT_FOUND", { message: `instance ${id} has no guest on this node` });
      const settingsFile = path.join(this.runDir(id), SETTINGS_FILE);
      const oldSettings = await this.settings(this.runDir(id));
      const strategy = strategyFor(before.manager);
      const switchTo = async (record: GuestRecord, values: Record<string, string>) => {
        await writeJson(settingsFile, values);
        const guest = this.handle(record);
        await this.stopEngine(record.manager, guest.runDir, guest.dataDir, [before.pid]);
        const { pid } = await this.startEngine(strategy, guest, placementOf(record));
        const next = { ...record, pid, stopped: false };
        await writeJson(path.join(guest.runDir, GUEST_FILE), next);
        this.guests.set(id, next);
      };
      try {
        await switchTo({ ...before, ramMb: flavor.ramMb, vcpus: flavor.vcpus, flavorId: flavor.id }, settings);
        this.log.info({ instance: id, flavor: flavor.id }, "guest resized");
      } catch (err) {
        this.log.warn({ instance: id, flavor: flavor.id, err: (err as Error).message }, "resize failed; going back to the old flavor");
        await switchTo(before, oldSettings).catch((e: Error) => {
          throw new Error(`Resize to flavor ${flavor.id} failed (${(err as Error).message}), and the engine did not come back on flavor ${before.flavorId ?? "(previous)"} either: ${e.message}`);
        });
        throw new Error(`Resize to flavor ${flavor.id} failed, so the instance is back on flavor ${before.flavorId ?? "(previous)"}: ${(err as Error).message}`);
      }
    });
  }

  /** Grows a guest's volume while its engine runs (enforced where the volume driver can). */
  async growVolume(instanceId: string, sizeGb: number): Promise<void> {
    const id = checkId(instanceId);
    await this.exclusive(id, async () => {
      if (!this.guests.has(id)) throw refuse("GUEST_NOT_FOUND", { message: `instance ${id} has no guest on this node` });
      await this.volumes.grow(id, sizeGb);
      this.log.info({ instance: id, sizeGb, enforced: this.volumes.enforcesSize }, "volume grown");
    });
  }

  /** Whether volume sizes are held by the driver (a quota), not only recorded. */
  get enforcesVolumeSize(): boolean {
    return this.volumes.enforcesSize;
  }

  /**
   * Releases what the volume driver holds on the node (the btrfs pool's mount). Only once no guest runs:
   * a tracker that merely stops leaves its guests and their volumes in place.
   */
  async closeVolumes(): Promise<void> {
    if ("close" in this.volumes) await this.volumes.close();
  }

  /** Stops the engine cleanly and starts it again on the same data with the current settings. */
  async restart(instanceId: string): Promise<void> {
    await this.relaunch(instanceId, { stop: true, start: true });
  }

  /** Stops the engine cleanly and keeps it stopped (also across tracker restarts) until start(). */
  async stop(instanceId: string): Promise<void> {
    await this.relaunch(instanceId, { stop: true, start: false });
  }

  /** Starts a stopped engine on its data with the current settings; a running one is left alone. */
  async start(instanceId: string): Promise<void> {
    await this.relaunch(instanceId, { stop: false, start: true });
  }

  private async relaunch(instanceId: string, how: { stop: boolean; start: boolean }): Promise<void> {
    const id = checkId(instanceId);
    await this.exclusive(id, async () => {
      const record = this.guests.get(id);
      if (!record) throw refuse("GUEST_NOT_FOUND", { message: `instance ${id} has no guest on this node` });
      const guest = this.handle(record);
      if (how.stop) await this.stopEngine(record.manager, guest.runDir, guest.dataDir, [record.pid]);
      else if (await isRunning(record.pid, guest.dataDir)) return;
      const next: GuestRecord = how.start ? { ...record, pid: (await this.startEngine(strategyFor(record.manager), guest, placementOf(record))).pid, stopped: false } : { ...record, stopped: true };
      await writeJson(path.join(guest.runDir, GUEST_FILE), next);
      this.guests.set(id, next);
      this.log.info({ instance: id, pid: next.pid, stopped: next.stopped }, how.start ? (how.stop ? "guest restarted" : "guest started") : "guest stopped");
    });
  }

  /** The ids of the known guests. */
  list(): string[] {
    return [...this.guests.keys()];
  }

  /** Where a known guest listens, or undefined. */
  endpoint(instanceId: string): { address: string; port: number } | undefined {
    const r = this.guests.get(instanceId);
    return r && { address: r.host, port: r.port };
  }

  // ---- backups ----

  /**
   * Backs up a running guest with its engine's strategy (the datastore's default unless `cmd.strategy`
   * names another) into the backup store, compressed, then encrypted with the project's data key (the
   * command's, or a new one when it has none or its master key is gone), with the sha256 of the stored bytes
   * counted on the way; returns what was stored, and the new data key (wrapped) if one was made. Runs after
   * any earlier operation on the guest; the guest keeps serving. On any failure nothing is left in the store,
   * no snapshot remains, the engine is unlocked, and the error says why. `observe` hears the lock's edges
   * (tests and benchmarks measure what the lock covered with it).
   */
  async backup(cmd: BackupCommand, observe?: { onLock?(edge: "locked" | "unlocked"): void }): Promise<MadeBackup> {
    const id = checkId(cmd.instanceId);
    const backupId = checkId(cmd.backupId);
    return this.exclusive(id, async () => {
      // A command that comes again after its backup was made (NATS lost the ack): the file in the store is the
      // one the first report named, so the backup is reported again, not made again over it.
      const made = await this.backedUp(backupId);
      if (made) {
        this.log.info({ instance: id, backup: backupId }, "backup already made on this node; its result is reported again");
        return made;
      }
      const record = this.guests.get(id);
      if (!record) throw refuse("GUEST_NOT_FOUND", { message: `instance ${id} has no guest on this node` });
      const guest = this.handle(record);
      if (record.stopped || !(await isRunning(record.pid, guest.dataDir))) throw refuse("GUEST_CONFLICT", { message: `the database of instance ${id} is not running: start it before backing it up` });
      const strategy = backupStrategyFor(record.manager, cmd.strategy);
      const compression = preferredCompression();
      const sealing = await this.sealingKey(cmd);
      const key = `${id}/${backupId}.${strategy.restoreBy === "files" ? "tar" : "dump"}.${compression}${sealing ? SEALED.suffix : ""}`;
      const scratch = path.join(this.home, BACKUP_WORK, backupId);
      const snapshot = `${BACKUP_SNAPSHOT}${backupId}`;
      // A redelivered command starts over: whatever an earlier attempt of the same backup left goes first.
      await this.volumes.deleteSnapshot(id, snapshot);
      await rm(scratch, { recursive: true, force: true });
      await mkdir(scratch, { recursive: true, mode: 0o700 });
      const timer = stopwatch();
      const ctx: BackupContext = {
        scratch,
        freeze: async () => ({ dir: await this.volumes.snapshot(id, snapshot), instant: this.volumes.instantSnapshots }),
        syncVolume: async () => {
          await run("sync", ["-f", guest.volume]);
        },
        ...(observe?.onLock ? { onLock: observe.onLock } : {}),
      };
      let stored = false;
      try {
        const taken = await strategy.take(guest, ctx);
        const take_ms = timer.lap();
        const raw = taken.payload.kind === "folders" ? packFolders(taken.payload.parts) : taken.payload.stream;
        const plain = through(raw, counter(false));
        const compressed = compress(plain, compression);
        // The checksum is of what is stored: the encrypted bytes, which are all the store ever sees.
        const packed = through(sealing ? through(compressed, sealer(sealing.dataKey, sealing.wrapped.keyId)) : compressed, counter(true));
        const sizeBytes = await this.store.put(key, packed);
        stored = true;
        const artifact: BackupArtifact = {
          location: key,
          sizeBytes,
          checksum: packed.result().sha256,
          dataBytes: plain.result().bytes,
          strategy: strategy.name,
          manager: record.manager,
          version: record.version,
          lockMs: taken.lockMs,
          ...(taken.notes.length ? { notes: taken.notes.join("; ") } : {}),
          ...(sealing ? { encryption: { cipher: SEALED.cipher, keyId: sealing.wrapped.keyId } } : {}),
        };
        const made: MadeBackup = sealing?.made ? { artifact, newDataKey: sealing.wrapped } : { artifact };
        const ms = { take_ms, stream_ms: timer.lap(), total_ms: timer.total() };
        await this.pruneMarks(BACKED_UP);
        await mkdir(path.join(this.home, BACKED_UP), { recursive: true });
        await writeJson(path.join(this.home, BACKED_UP, `${backupId}.json`), made);
        this.log.info({ instance: id, backup: backupId, strategy: strategy.name, lockMs: taken.lockMs, sizeBytes, dataBytes: artifact.dataBytes, encrypted: Boolean(sealing), ...(sealing ? { dataKey: sealing.wrapped.keyId, masterKey: sealing.wrapped.masterKeyId } : {}), ms }, "guest backed up");
        return made;
      } catch (err) {
        if (stored) await this.store.delete(key).catch(() => undefined);
        throw new Error(`The backup failed: ${(err as Error).message}`);
      } finally {
        await this.volumes.deleteSnapshot(id, snapshot).catch((e: Error) => this.log.error({ instance: id, backup: backupId, err: e.message }, "could not delete a backup's snapshot; the next start removes it"));
        await rm(scratch, { recursive: true, force: true });
      }
    });
  }

  /**
   * Puts a guest's data back to a backup of it, in place: checksum first, then the engine stops, its data
   * folder is swapped for the backup's, and the engine starts and answers. If that fails, the data from
   * before is put back and started, and the error says so. Needs room for both in the volume meanwhile.
   */
  async rollback(cmd: RollbackCommand): Promise<void> {
    const id = checkId(cmd.instanceId);
    const backupId = checkId(cmd.backupId);
    await this.exclusive(id, async () => {
      const record = this.guests.get(id);
      if (!record) throw refuse("GUEST_NOT_FOUND", { message: `instance ${id} has no guest on this node` });
      const artifact = cmd.artifact;
      if (artifact.manager !== record.manager || artifact.version !== record.version) {
        throw refuse("GUEST_REFUSED", { message: `backup ${backupId} is of ${artifact.manager} ${artifact.version}; instance ${id} runs ${record.manager} ${record.version}` });
      }
      const strategy = backupStrategyFor(record.manager, artifact.strategy);
      // Before anything: a backup whose key is gone is refused with the reason, and nothing changes.
      const dataKey = await this.openingKey(artifact, cmd.dataKey);
      // A "files" backup is checked while it is unpacked aside (one pass); a dump before it is replayed.
      if (strategy.restoreBy === "replay") await this.verifyBackup(artifact, cmd.dataKey);
      const guest = this.handle(record);
      const engine = strategyFor(record.manager);
      const staging = path.join(guest.volume, `.rollback-${backupId}`);
      const before = path.join(guest.volume, `.before-rollback-${backupId}`);
      await rm(staging, { recursive: true, force: true });
      await mkdir(staging, { mode: 0o700 });
      const timer = stopwatch();
      try {
        // Built beside the live data first, so the engine is down only for the swap and the start.
        if (strategy.restoreBy === "files") await this.unpackBackup(artifact, staging, dataKey);
        else await run("cp", ["-a", "--reflink=auto", "--", await this.image(record.manager, record.version), path.join(staging, DATA)]);
      } catch (err) {
        await rm(staging, { recursive: true, force: true });
        throw new Error(`The rollback failed before the database was touched: ${(err as Error).message}`);
      }
      const unpack_ms = timer.lap();
      await this.stopEngine(record.manager, guest.runDir, guest.dataDir, [record.pid]);
      await rm(before, { recursive: true, force: true });
      await rename(guest.dataDir, before);
      await rename(path.join(staging, DATA), guest.dataDir);
      await rm(staging, { recursive: true, force: true });
      try {
        const pid = await this.startRestored(engine, strategy, guest, record, artifact, dataKey);
        const next: GuestRecord = { ...record, pid, stopped: false };
        await writeJson(path.join(guest.runDir, GUEST_FILE), next);
        this.guests.set(id, next);
        await rm(before, { recursive: true, force: true });
        this.log.info({ instance: id, backup: backupId, ms: { unpack_ms, restart_ms: timer.lap() } }, "guest rolled back");
      } catch (err) {
        this.log.warn({ instance: id, backup: backupId, err: (err as Error).message }, "rollback failed; putting the data from before back");
        await this.stopEngine(record.manager, guest.runDir, guest.dataDir, []);
        await rm(guest.dataDir, { recursive: true, force: true });
        await rename(before, guest.dataDir);
        const { pid } = await this.startEngine(engine, guest, placementOf(record)).catch((e: Error) => {
          throw new Error(`The rollback to backup ${backupId} failed (${(err as Error).message}), and the database did not start on its data from before either: ${e.message}`);
        });
        const next: GuestRecord = { ...record, pid, stopped: false };
        await writeJson(path.join(guest.runDir, GUEST_FILE), next);
        this.guests.set(id, next);
        throw new Error(`The rollback to backup ${backupId} failed, so the instance is back on its data from before: ${(err as Error).message}`);
      }
    });
  }

  /** Removes a backup's file from the store; no error when it is gone already. */
  async deleteBackup(artifact: BackupArtifact): Promise<void> {
    await this.store.delete(artifact.location);
  }

  /**
   * Reads the backup's file whole and compares its size and sha256 with the record's; an encrypted one must
   * also have its data key, which must open with a master key this node has. GuestActionError NOT_FOUND when
   * the file is missing, CONFLICT when it does not match (damaged or replaced), KEY_MISSING when its master
   * key is gone (checked first: it needs no read of the file).
   */
  async verifyBackup(artifact: BackupArtifact, dataKey?: WrappedDataKey): Promise<void> {
    await this.openingKey(artifact, dataKey);
    await this.verifyFile(artifact);
  }

  /** verifyBackup's check of the stored bytes alone: their size and sha256 against the record's. */
  private async verifyFile(artifact: BackupArtifact): Promise<void> {
    const key = artifact.location;
    const size = await this.store.size(key);
    if (size === undefined) throw refuse("GUEST_NOT_FOUND", { message: `the backup file '${key}' is missing from the backup store (${this.store.describe})` });
    if (size !== artifact.sizeBytes) throw refuse("GUEST_CONFLICT", { message: `the backup file '${key}' has ${size} bytes where its record says ${artifact.sizeBytes}: it is damaged and cannot be used` });
    let digest;
    try {
      digest = await digestOf(await this.store.get(key));
    } catch (err) {
      if (err instanceof StoredFileMissing) throw refuse("GUEST_NOT_FOUND", { message: err.message });
      throw err;
    }
    if (digest.sha256 !== artifact.checksum) {
      throw refuse("GUEST_CONFLICT", { message: `the backup file '${key}' does not match its checksum (sha256 ${digest.sha256.slice(0, 16)}… where its record says ${artifact.checksum.slice(0, 16)}…): it is damaged and cannot be used` });
    }
  }

  /** Where backups are stored, for messages. */
  get backupStore(): BackupStore {
    return this.store;
  }

  /**
   * Unpacks a "files" backup into `dir` (which then holds `data/`), checking the file's size and sha256 in the
   * same pass: nothing is started on the data unless the whole file matched. On a mismatch, or a failure that
   * a damaged file would explain, the error is verifyBackup's (missing, or does not match its checksum).
   */
  private async unpackBackup(artifact: BackupArtifact, dir: string, dataKey: Buffer | undefined): Promise<void> {
    let read: ReturnType<typeof counter>;
    try {
      read = through(await this.store.get(artifact.location), counter(true));
      // Each frame is authenticated before tar sees it: nothing unauthenticated is ever written.
      await unpackInto(this.opened(artifact, read, dataKey), dir, compressionOf(artifact.location));
    } catch (err) {
      await this.verifyFile(artifact);
      if (err instanceof BackupSealBroken) throw refuse("GUEST_CONFLICT", { message: `the backup file '${artifact.location}' cannot be decrypted: ${err.message}` });
      throw err;
    }
    const { bytes, sha256 } = read.result();
    if (bytes !== artifact.sizeBytes || sha256 !== artifact.checksum) {
      await this.verifyFile(artifact);
      throw refuse("GUEST_CONFLICT", { message: `the backup file '${artifact.location}' does not match its checksum: it is damaged and cannot be used` });
    }
  }

  /**
   * Starts the engine on data put in place from a backup: "files" first get this guest's admin secret,
   * "replay" data (a fresh image) is secured and then fed the backup. Returns the engine's pid.
   */
  private async startRestored(engine: DatastoreStrategy, strategy: BackupStrategy, guest: GuestHandle, record: { vcpus?: number; networkId: string }, artifact: BackupArtifact, dataKey: Buffer | undefined): Promise<number> {
    await this.prepareFolders(guest);
    await engine.prepareGuest(guest);
    if (strategy.restoreBy === "files") {
      await strategy.adoptFiles?.(guest);
      // What the strategy wrote into the data as root becomes the guest user's too.
      await this.prepareFolders(guest, { data: "always" });
    }
    const { pid } = await this.startEngine(engine, guest, { vcpus: record.vcpus ?? 1, networkId: record.networkId });
    try {
      await engine.secure(guest);
      if (strategy.restoreBy === "replay") {
        if (!strategy.replay) throw new Error(`the backup strategy ${strategy.name} cannot replay`);
        await strategy.replay(guest, await this.plainDump(artifact, dataKey));
      }
    } catch (err) {
      await this.stopEngine(engine.manager, guest.runDir, guest.dataDir, [pid]);
      throw err;
    }
    return pid;
  }

  /**
   * The data key a backup is encrypted with: the command's, opened with its master key; or, when it has none
   * or that master key is gone (the operator removed it), a new one under the current master key, so backups
   * go on. Undefined when this supervisor has no keys (backups unencrypted).
   */
  private async sealingKey(cmd: BackupCommand): Promise<{ dataKey: Buffer; wrapped: WrappedDataKey; made: boolean } | undefined> {
    if (!this.keys) return undefined;
    if (cmd.dataKey) {
      try {
        return { dataKey: await openDataKey(this.keys, cmd.dataKey), wrapped: cmd.dataKey, made: false };
      } catch (err) {
        if (!(err instanceof MasterKeyMissing)) throw err;
        this.log.warn({ backup: cmd.backupId, dataKey: cmd.dataKey.keyId, err: err.message }, "the project's data key cannot be opened here; the backup gets a new data key");
      }
    }
    const made = newDataKey(await this.keys.current());
    return { ...made, made: true };
  }

  /**
   * The data key that opens an encrypted backup (undefined for one stored unencrypted). GuestActionError
   * KEY_MISSING when none was given, this node has no keys, or the master key that wrapped it is gone.
   */
  private async openingKey(artifact: BackupArtifact, wrapped: WrappedDataKey | undefined): Promise<Buffer | undefined> {
    const enc = artifact.encryption;
    if (!enc) return undefined;
    if (!wrapped) throw refuse("GUEST_KEY_MISSING", { message: `the backup file '${artifact.location}' is encrypted with data key ${enc.keyId}, which was not given to this node` });
    if (wrapped.keyId !== enc.keyId) throw refuse("GUEST_REFUSED", { message: `the backup file '${artifact.location}' is encrypted with data key ${enc.keyId}, not ${wrapped.keyId}` });
    if (!this.keys) throw refuse("GUEST_KEY_MISSING", { message: `the backup file '${artifact.location}' is encrypted, and this node has no backup keys` });
    try {
      return await openDataKey(this.keys, wrapped);
    } catch (err) {
      if (err instanceof MasterKeyMissing) throw refuse("GUEST_KEY_MISSING", { message: `the backup file '${artifact.location}' was encrypted with master key '${err.masterKeyId}', which this node no longer has: ${err.message}` });
      throw err;
    }
  }

  /** The compressed plaintext of a stored backup: `stored` itself, or decrypted frame by frame. */
  private opened(artifact: BackupArtifact, stored: Readable, dataKey: Buffer | undefined): Readable {
    if (!artifact.encryption) return stored;
    if (!dataKey) throw refuse("GUEST_KEY_MISSING", { message: `the backup file '${artifact.location}' is encrypted and no key opens it here` });
    return through(stored, opener(dataKey, artifact.encryption.keyId));
  }

  /** A dump backup's plaintext, to replay. */
  private async plainDump(artifact: BackupArtifact, dataKey: Buffer | undefined): Promise<Readable> {
    return decompress(this.opened(artifact, await this.store.get(artifact.location), dataKey), compressionOf(artifact.location));
  }

  /** Removes what interrupted backups left: snapshots, scratch folders, partial files in the store. */
  private async sweepBackups(): Promise<void> {
    let snapshots = 0;
    for (const id of await this.volumes.list()) {
      for (const name of await this.volumes.listSnapshots(id)) {
        if (!name.startsWith(BACKUP_SNAPSHOT)) continue;
        await this.volumes.deleteSnapshot(id, name);
        snapshots++;
      }
    }
    let rollbacks = 0;
    for (const id of await this.volumes.list()) rollbacks += await this.undoInterruptedRollback(id);
    const work = path.join(this.home, BACKUP_WORK);
    const scratch = (await readdir(work).catch(() => [])).length;
    await rm(work, { recursive: true, force: true });
    const partial = await this.store.sweep();
    if (snapshots + scratch + partial + rollbacks) this.log.warn({ snapshots, scratch, partial, rollbacks }, "removed what interrupted backups and rollbacks left behind");
  }

  /**
   * A rollback cut short by a crash leaves its staging folder and the data from before beside the data
   * folder (the latter is removed only once the rolled-back engine answered): the data from before is put
   * back, unless an engine runs on the data folder now. Returns how many leftovers it handled.
   */
  private async undoInterruptedRollback(id: string): Promise<number> {
    const volume = this.volumes.path(id);
    const entries = await readdir(volume).catch(() => [] as string[]);
    let handled = 0;
    for (const name of entries.filter((e) => e.startsWith(".rollback-"))) {
      await rm(path.join(volume, name), { recursive: true, force: true });
      handled++;
    }
    const before = entries.filter((e) => e.startsWith(".before-rollback-")).sort();
    if (before.length === 0) return handled;
    const record = this.guests.get(id);
    const data = path.join(volume, DATA);
    if (record && (await isRunning(record.pid, data))) {
      this.log.warn({ instance: id, left: before }, "a rollback was interrupted but the engine runs: its data from before is left in place");
      return handled;
    }
    await rm(data, { recursive: true, force: true });
    await rename(path.join(volume, before[0]!), data);
    for (const extra of before.slice(1)) await rm(path.join(volume, extra), { recursive: true, force: true });
    this.log.warn({ instance: id }, "a rollback was interrupted: the guest's data from before it is back");
    return handled + before.length;
  }

  // ---- provisioning ----

  private async build(cmd: ProvisionCommand): Promise<{ address: string; port: number }> {
    const id = cmd.instanceId;
    const timer = stopwatch();
    const strategy = strategyFor(cmd.manager);
    await strategy.checkInstalled(cmd.version);
    const restore = cmd.restore;
    const restoring = restore && backupStrategyFor(cmd.manager, restore.strategy);
    if (restore) {
      if (restore.manager !== cmd.manager || restore.version !== cmd.version) throw new Error(`the backup is of ${restore.manager} ${restore.version}, not ${cmd.manager} ${cmd.version}`);
      // A damaged dump is refused before anything is made; files are checked as they are unpacked (one pass).
      if (restoring!.restoreBy === "replay") await this.verifyBackup(restore, cmd.restoreKey);
    }
    const restoreKey = restore ? await this.openingKey(restore, cmd.restoreKey) : undefined;
    const image = await this.image(cmd.manager, cmd.version);
    const image_ms = timer.lap();
    const { host, port: placedPort } = await this.network.place(cmd.networkId, id, standardPort(cmd.manager), this.portsInUse, cmd.access && { isPublic: cmd.access.is_public, allowedCidrs: cmd.access.allowed_cidrs });
    this.reservedPorts.add(placedPort);
    // The certificate is made while the volume is, and goes into the run folder once that is ready.
    const certificate = this.tls?.request(id, strategy, cmd.tls ?? "enabled", host, this.network.published?.(id)?.address);
    certificate?.catch(() => undefined);
    // So is the guest's OS account (useradd takes tens of milliseconds); a failure is met where it is awaited.
    const account = this.users?.ensure(id);
    account?.catch(() => undefined);
    let guest: GuestHandle | undefined;
    try {
      const volume = await this.volumes.create(id, cmd.volumeSizeGb);
      let dataDir: string;
      if (restoring?.restoreBy === "files") {
        // The backup's data folder instead of the image's.
        await this.unpackBackup(restore!, volume, restoreKey).catch((err: Error) => {
          throw err instanceof GuestActionError ? err : new Error(`could not unpack the backup into the new volume: ${err.message}`);
        });
        dataDir = path.join(volume, DATA);
      } else {
        dataDir = await this.volumes.clone(id, image, DATA).catch((err: unknown) => {
          // Most likely the image folder was removed under us: build it again next time.
          this.images.delete(`${cmd.manager}-${cmd.version}`);
          throw err;
        });
      }
      const clone_ms = timer.lap();
      const runDir = this.runDir(id);
      await mkdir(runDir, { recursive: true, mode: 0o700 });
      const user = await account;
      // Written before the engine learns it, so a crash in between leaves a guest we can still log into.
      const adminPassword = randomBytes(32).toString("hex");
      await writeFile(path.join(runDir, SECRET_FILE), adminPassword, { mode: 0o600 });
      await writeJson(path.join(runDir, SETTINGS_FILE), cmd.settings);
      guest = { instanceId: id, volume, dataDir, runDir, host, port: placedPort, adminPassword, ramMb: cmd.flavor.ramMb, ...(user ? { user: { uid: user.uid, gid: user.gid } } : {}) };
      await this.prepareFolders(guest);
      await strategy.prepareGuest(guest);
      await (await certificate)?.install(guest);
      if (restoring?.restoreBy === "files") {
        await restoring.adoptFiles?.(guest);
        // What the strategy wrote into the data as root becomes the guest user's too.
        await this.prepareFolders(guest, { data: "always" });
      }
      const { pid, start_ms, ready_ms } = await this.startOnFreePort(strategy, guest, { vcpus: cmd.flavor.vcpus, networkId: cmd.networkId });
      const port = guest.port;
      timer.lap();
      await strategy.secure(guest);
      const secure_ms = timer.lap();
      if (restoring?.restoreBy === "replay") {
        if (!restoring.replay) throw new Error(`the backup strategy ${restoring.name} cannot replay`);
        await restoring.replay(guest, await this.plainDump(restore!, restoreKey));
      }
      const restore_ms = timer.lap();
      if (cmd.databases.length) await groupOf(strategy, "schema").createDatabases(guest, cmd.databases);
      const databases_ms = timer.lap();
      // A restored guest has the backup's users: only those it lacks are made.
      const users = restore && cmd.users.length ? await this.missingUsers(strategy, guest, cmd.users) : cmd.users;
      if (users.length) await groupOf(strategy, "users").createUsers(guest, users);
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
      await writeJson(path.join(runDir, GUEST_FILE), record);
      this.guests.set(id, record);
      this.secrets.set(id, adminPassword);
      const ms = { image_ms, clone_ms, start_ms, ready_ms, secure_ms, restore_ms, databases_ms, users_ms, total_ms: timer.total() };
      this.log.info({ instance: id, port, pid, ms, ...(restore ? { restoredFrom: restore.location } : {}) }, "guest provisioned");
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
  private async startOnFreePort(strategy: DatastoreStrategy, guest: GuestHandle, where: { vcpus: number; networkId: string }): Promise<{ pid: number; start_ms: number; ready_ms: number }> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.startEngine(strategy, guest, where);
      } catch (err) {
        // The engine has ended, so if its port is taken now, someone else holds it.
        const stolen = err instanceof EngineExited && (await this.network.portTaken?.(guest)) === true;
        if (!stolen || attempt >= PORT_ATTEMPTS) throw err;
        const taken = guest.port;
        this.reservedPorts.delete(taken);
        guest.port = (await this.network.place(where.networkId, guest.instanceId, standardPort(strategy.manager), this.portsInUse)).port;
        this.reservedPorts.add(guest.port);
        this.log.warn({ instance: guest.instanceId, taken, port: guest.port }, "the guest's port was taken before its engine could bind it: starting it on another");
      }
    }
  }

  /** The users of `wanted` that the guest does not have yet (by name and host). */
  private async missingUsers<U extends { name: string; host: string }>(strategy: DatastoreStrategy, guest: GuestHandle, wanted: U[]): Promise<U[]> {
    const have = new Set((await groupOf(strategy, "users").listUsers(guest)).map((u) => `${u.name}@${u.host}`));
    return wanted.filter((u) => !have.has(`${u.name}@${u.host}`));
  }

  /** A provisioned guest: left alone if its engine runs, restarted on its own data if not. */
  private async ensureRunning(record: GuestRecord): Promise<{ address: string; port: number }> {
    const id = record.instanceId;
    const endpoint = { address: record.host, port: record.port };
    const guest = this.handle(record);
    if (record.stopped || (await isRunning(record.pid, guest.dataDir))) return endpoint;
    const strategy = strategyFor(record.manager);
    try {
      await strategy.checkInstalled(record.version);
      const { pid } = await this.startEngine(strategy, guest, placementOf(record));
      const restarted = { ...record, pid };
      await writeJson(path.join(guest.runDir, GUEST_FILE), restarted);
      this.guests.set(id, restarted);
      this.log.info({ instance: id, pid }, "engine of a provisioned guest was down; restarted it");
      return endpoint;
    } catch (err) {
      // The guest holds a tenant's data: it is never removed here, only reported.
      await this.stopEngine(record.manager, guest.runDir, guest.dataDir, []);
      throw new Error(`The database exists but its engine could not be restarted: ${(err as Error).message}`);
    }
  }

  /** Starts the engine and waits until it answers, or fails at once (with its log) if it exits meanwhile. */
  private async startEngine(strategy: DatastoreStrategy, guest: GuestHandle, where: { vcpus: number; networkId: string }): Promise<{ pid: number; start_ms: number; ready_ms: number }> {
    const { vcpus } = where;
    // Never as root: a guest not yet moved to its own user is moved by adopt() before anything starts it.
    if (this.users && !guest.user) throw new Error(`the guest of instance ${guest.instanceId} has no OS user of its own yet`);
    const timer = stopwatch();
    // The socket folder may be under /run, which a reboot empties.
    await this.prepareFolders(guest, { data: "never" });
    const launched = strategy.launch(guest, await this.settings(guest.runDir));
    const spec = this.network.wrap(where.networkId, { ...launched, ...(guest.user ? { user: guest.user } : {}) });
    const logFile = path.join(guest.runDir, ENGINE_LOG);
    const proc = await startProcess({
      command: spec.command,
      args: spec.args,
      ...(spec.env ? { env: spec.env } : {}),
      ...(spec.user ? { user: spec.user } : {}),
      cwd: engineDir(guest),
      logFile,
      pidFile: path.join(guest.runDir, PID_FILE),
    });
    // Limits right away: on cgroup v1 memory the engine takes before the move stays charged elsewhere.
    if (this.limits) {
      await this.limits.applyLimits(guest.instanceId, proc.pid, { memoryMb: guest.ramMb, vcpus }).catch(async (err: Error) => {
        // An engine that died at once (its port taken, say) cannot be limited: its log says why, not the kill.
        if (!(await isRunning(proc.pid, guest.dataDir))) throw new EngineExited(`the ${strategy.manager} engine stopped while starting.${await describeLog(logFile)}`);
        try {
          process.kill(proc.pid, "SIGKILL");
        } catch {
          // ended meanwhile
        }
        throw new Error(`could not limit the engine to its flavor: ${err.message}`);
      });
    }
    const start_ms = timer.lap();
    const died = proc.exited.then(async (exit): Promise<never> => {
      const how = exit.signal ? `killed by ${exit.signal}` : `exit code ${exit.code}`;
      throw new EngineExited(`the ${strategy.manager} engine stopped while starting (${how}).${await describeLog(logFile)}`);
    });
    died.catch(() => {}); // it rejects whenever the engine ends, long after this start is over
    const stopWaiting = new AbortController();
    try {
      await Promise.race([strategy.waitReady(guest, this.startTimeoutMs, stopWaiting.signal), died]);
    } finally {
      stopWaiting.abort();
    }
    return { pid: proc.pid, start_ms, ready_ms: timer.lap() };
  }

  /** The settings a guest starts with ({} for guests made before settings existed). */
  private async settings(runDir: string): Promise<Record<string, string>> {
    const text = await readFile(path.join(runDir, SETTINGS_FILE), "utf8").catch(() => "{}");
    return z.record(z.string(), z.string()).parse(JSON.parse(text));
  }

  // ---- removal ----

  /** Stops whatever engine the guest has, removes its volume and run folder, and forgets it. Idempotent. */
  private async removeGuest(id: string): Promise<void> {
    const record = this.guests.get(id) ?? (await this.readRecord(id, false));
    const runDir = this.runDir(id);
    // Also any engine on this guest's data that no pid file names (its tracker died before writing it).
    const strays = await processesWith(this.dataDir(id));
    await this.stopEngine(record?.manager, runDir, this.dataDir(id), [...(record ? [record.pid] : []), ...strays]);
    await this.limits?.removeLimits(id);
    if (record) await this.network.release(record.networkId, id);
    await this.volumes.destroy(id);
    const sockets = guestSocketDir(runDir);
    if (sockets !== engineDir({ runDir })) await rm(sockets, { recursive: true, force: true });
    await rm(runDir, { recursive: true, force: true });
    // Last: the account owns nothing of the node any more, and no process of it runs.
    await this.users?.remove(id);
    this.guests.delete(id);
    this.secrets.delete(id);
    this.tls?.forget(id);
  }

  /**
   * Makes the guest's folders as its engine needs them (see the header): the run folder and the volume the
   * tracker's, which the guest's group may pass through; the engine folder, the socket folder and the data
   * the guest user's, 0700. The data is handed over (chown -R, no link followed) when its top is not the
   * guest user's already (a clone of a golden image, a backup unpacked) or when `data` is "always".
   * Without guest users, only the folders are made.
   */
  private async prepareFolders(guest: GuestLayout, opts: { data: "if-needed" | "always" | "never" } = { data: "if-needed" }): Promise<void> {
    const user = guest.user;
    const own = async (dir: string, owner: { uid: number; gid: number }, mode: number) => {
      await mkdir(dir, { recursive: true, mode });
      // lstat and lchown: a link planted in a folder the engine writes must not lead root anywhere else.
      const st = await lstat(dir);
      if (!st.isDirectory()) throw new Error(`${dir} is not a folder; remove it`);
      if (st.uid !== owner.uid || st.gid !== owner.gid) await lchown(dir, owner.uid, owner.gid);
      if ((st.mode & 0o7777) !== mode) await chmod(dir, mode);
    };
    const engine = engineDir(guest);
    const sockets = guestSocketDir(guest.runDir);
    if (!user) {
      await mkdir(engine, { recursive: true, mode: 0o700 });
      await mkdir(sockets, { recursive: true, mode: 0o700 });
      return;
    }
    // The folders that hold every guest's: passable by all, listable by none.
    for (const shared of [path.dirname(guest.runDir), path.dirname(guest.volume)]) await own(shared, { uid: 0, gid: 0 }, 0o711);
    await passable(this.home);
    await own(guest.runDir, { uid: 0, gid: user.gid }, 0o710);
    await own(guest.volume, { uid: 0, gid: user.gid }, 0o710);
    await own(engine, user, 0o700);
    if (sockets !== engine) {
      await own(path.dirname(sockets), { uid: 0, gid: 0 }, 0o711);
      await own(sockets, user, 0o700);
    }
    if (opts.data === "never") return;
    for (const shared of [path.dirname(guest.runDir), path.dirname(guest.volume)]) await checkPassable(shared);
    const data = await lstat(guest.dataDir);
    if (!data.isDirectory()) throw new Error(`${guest.dataDir} is not a folder`);
    if (opts.data === "always" || data.uid !== user.uid || data.gid !== user.gid) {
      await run("chown", ["-R", "-P", `${user.uid}:${user.gid}`, "--", guest.dataDir]);
    }
    await chmod(guest.dataDir, 0o700);
  }

  /**
   * Moves a guest made before guests had OS users of their own (its engine as root, or PostgreSQL's as
   * `postgres`) to its own: its account is made, its engine stopped, the engine's files of the old layout
   * moved into the engine's folder, its data handed over, the engine started again (if it ran) and the record
   * written with the uid last. A crash anywhere before that leaves a record without a uid, and the next start
   * does it all again (each step is idempotent): a guest is never left half-moved. An engine that does not come
   * back is reported; the guest keeps its new user and its data, and is started as any stopped guest is.
   */
  private async moveToOwnUser(record: GuestRecord): Promise<void> {
    const id = record.instanceId;
    const before = this.handle(record);
    const running = await isRunning(record.pid, before.dataDir);
    const account = await this.users!.ensure(id);
    const moved: GuestRecord = { ...record, uid: account.uid, gid: account.gid };
    const guest = this.handle(moved);
    await this.stopEngine(record.manager, before.runDir, before.dataDir, [record.pid, ...(await processesWith(before.dataDir))]);
    const engine = engineDir(guest);
    await mkdir(engine, { recursive: true, mode: 0o700 });
    // The old layout: sockets and pid files in the run folder itself (PostgreSQL's sockets in pg/), long paths'
    // sockets under /tmp, and MariaDB's secure-file-priv folder and init file.
    const hash = createHash("sha256").update(guest.runDir).digest("hex").slice(0, 20);
    for (const stale of ["mysqld.sock", "mysqld.sock.lock", "redis.sock", "mariadbd.pid", "pg", `/tmp/hoard-${hash}.sock`, `/tmp/hoard-pg-${hash}`]) {
      await rm(path.resolve(guest.runDir, stale), { recursive: true, force: true });
    }
    for (const kept of ["files", "init.sql"]) {
      if (await exists(path.join(guest.runDir, kept))) await rename(path.join(guest.runDir, kept), path.join(engine, kept));
    }
    await this.prepareFolders(guest, { data: "always" });
    if (await exists(path.join(engine, "files"))) await run("chown", ["-R", "-P", `${account.uid}:${account.gid}`, "--", path.join(engine, "files")]);
    if (await exists(path.join(engine, "init.sql"))) await chown(path.join(engine, "init.sql"), account.uid, account.gid);
    let next = moved;
    if (running && !record.stopped) {
      try {
        const strategy = strategyFor(record.manager);
        await strategy.checkInstalled(record.version);
        next = { ...moved, pid: (await this.startEngine(strategy, guest, placementOf(moved))).pid };
      } catch (err) {
        this.log.error({ instance: id, err: (err as Error).message }, "guest moved to its own OS user, but its engine did not start again");
      }
    }
    await writeJson(path.join(guest.runDir, GUEST_FILE), next);
    this.guests.set(id, next);
    this.log.info({ instance: id, uid: account.uid, restarted: next.pid !== record.pid }, "guest moved to its own OS user");
  }

  /** Stops the engine found in the pid file (and any other pid given) if it is still the guest's. */
  private async stopEngine(manager: string | undefined, runDir: string, dataDir: string, pids: number[]): Promise<void> {
    const fromFile = await readPidFile(path.join(runDir, PID_FILE));
    const signal = manager ? safeSignal(manager) : "SIGTERM";
    for (const pid of new Set([...pids, ...(fromFile ? [fromFile] : [])])) {
      await stopProcess(pid, signal, this.stopTimeoutMs, dataDir);
    }
  }

  // ---- golden images ----

  /**
   * Where a volume driver can keep images itself (btrfs), the golden image is copied in once, so that each
   * clone is an O(1) snapshot instead of a copy. Returns the data folder to clone from.
   */
  private async inVolumePool(key: string, data: string): Promise<string> {
    if (!("createImage" in this.volumes)) return data;
    const pool = this.volumes;
    const dir = pool.imagePath(key);
    if (await exists(path.join(dir, IMAGE_MARKER))) return path.join(dir, DATA);
    // A copy cut short by a crash has no marker: start it again.
    if (await exists(dir)) await pool.destroyImage(key);
    await pool.createImage(key);
    await run("cp", ["-a", "--", data, path.join(dir, DATA)]);
    await writeJson(path.join(dir, IMAGE_MARKER), { copiedFrom: data, at: new Date().toISOString() });
    return path.join(dir, DATA);
  }

  /** The data directory of the golden image for an engine version, built on first use. */
  private image(manager: string, version: string): Promise<string> {
    const key = `${manager}-${version}`;
    let building = this.images.get(key);
    if (!building) {
      building = this.buildImage(manager, version, key);
      this.images.set(key, building);
      // A failed build is tried again by the next caller.
      building.catch(() => this.images.delete(key));
    }
    return building;
  }

  private async buildImage(manager: string, version: string, key: string): Promise<string> {
    if (!isSafeId(key)) throw new Error(`'${version}' is not a usable version name`);
    const root = path.join(this.home, "images");
    const dir = path.join(root, key);
    if (await exists(path.join(dir, IMAGE_MARKER))) return this.inVolumePool(key, path.join(dir, DATA));
    const strategy = strategyFor(manager);
    await mkdir(root, { recursive: true });
    const prefix = `.build-${key}-`;
    for (const stale of await readdir(root)) {
      // Left by a tracker that died while building; one tracker per home, so nobody else is building it.
      if (stale.startsWith(prefix)) await rm(path.join(root, stale), { recursive: true, force: true });
    }
    // Built aside and renamed into place, so a half-built image is never mistaken for a complete one.
    const tmp = await mkdtemp(path.join(root, prefix));
    // Built as an account of its own (an engine may refuse root) and handed back to root: no guest's user, and
    // no account that outlives the build, owns an image.
    const builder = `image-${key}`;
    try {
      const timer = stopwatch();
      const user = await this.users?.ensure(builder);
      await strategy.initImage(path.join(tmp, DATA), version, user && { uid: user.uid, gid: user.gid });
      if (user) await run("chown", ["-R", "-P", "0:0", "--", tmp]);
      await this.users?.remove(builder);
      const build_ms = timer.total();
      await writeJson(path.join(tmp, IMAGE_MARKER), { manager, version, builtAt: new Date().toISOString(), build_ms });
      await rm(dir, { recursive: true, force: true });
      await rename(tmp, dir);
      this.log.info({ image: key, build_ms }, "golden image built");
      return await this.inVolumePool(key, path.join(dir, DATA));
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      await this.users?.remove(builder).catch(() => undefined);
      throw new Error(`could not prepare ${manager} ${version}: ${(err as Error).message}`);
    }
  }

  // ---- state ----

  /** Reads run/<id>/guest.json and the admin secret into memory; undefined if the guest was never completed. */
  private async readRecord(id: string, remember = true): Promise<GuestRecord | undefined> {
    const runDir = this.runDir(id);
    const text = await readFile(path.join(runDir, GUEST_FILE), "utf8").catch(() => undefined);
    if (text === undefined) return undefined;
    let record: GuestRecord;
    try {
      record = GuestRecord.parse(JSON.parse(text));
    } catch (err) {
      this.log.warn({ instance: id, err: (err as Error).message }, "unreadable guest.json; guest not adopted");
      return undefined;
    }
    if (record.instanceId !== id) return undefined;
    if (remember) {
      const secret = await readFile(path.join(runDir, SECRET_FILE), "utf8").catch(() => undefined);
      if (secret === undefined) this.log.warn({ instance: id }, "guest has no admin secret; it will report RUNNING at best");
      else this.secrets.set(id, secret.trim());
      this.guests.set(id, record);
    }
    return record;
  }

  private async healthOf(record: GuestRecord): Promise<Health> {
    try {
      const guest = this.handle(record);
      if (!(await isRunning(record.pid, guest.dataDir))) return "SHUTDOWN";
      if (!guest.adminPassword) return "RUNNING";
      return await strategyFor(record.manager).health(guest);
    } catch {
      return "RUNNING";
    }
  }

  private handle(record: GuestRecord): GuestHandle {
    const id = record.instanceId;
    return {
      instanceId: id,
      volume: this.volumes.path(id),
      dataDir: this.dataDir(id),
      runDir: this.runDir(id),
      host: record.host,
      port: record.port,
      ramMb: record.ramMb,
      adminPassword: this.secrets.get(id) ?? "",
      ...(record.uid !== undefined && record.gid !== undefined ? { user: { uid: record.uid, gid: record.gid } } : {}),
    };
  }

  /** A live view: concurrent provisions each see the ports the others reserved meanwhile. */
  private readonly portsInUse = {
    has: (port: number): boolean => this.reservedPorts.has(port) || [...this.guests.values()].some((g) => g.port === port),
  };

  private runRoot(): string {
    return path.join(this.home, RUN_FOLDER);
  }

  private runDir(id: string): string {
    return path.join(this.runRoot(), id);
  }

  /** Also the marker that tells our engine process from an unrelated one with a recycled pid. */
  private dataDir(id: string): string {
    return path.join(this.volumes.path(id), DATA);
  }

  /** Runs `work` after every earlier operation on the same instance has finished. */
  private async exclusive<T>(id: string, work: () => Promise<T>): Promise<T> {
    const before = this.locks.get(id) ?? Promise.resolve();
    const result = before.then(work);
    const tail = result.then(
      () => {},
      () => {},
    );
    this.locks.set(id, tail);
    try {
      return await result;
    } finally {
      if (this.locks.get(id) === tail) this.locks.delete(id);
    }
  }
}

/** `source` piped into the counting stream `t`, whose failure follows the source's. */
function through<T extends Transform>(source: Readable, t: T): T {
  pipeline(source, t).catch(() => undefined);
  return t;
}

/** The engine process ended while starting (as opposed to not answering in time). */
class EngineExited extends Error {}

/** What a recorded guest needs to start again: its flavor's vCPUs and its network. */
function placementOf(record: GuestRecord): { vcpus: number; networkId: string } {
  return { vcpus: record.vcpus ?? 1, networkId: record.networkId };
}

/** The engine's standard port, from the catalog (3306, 5432, 6379). */
function standardPort(manager: string): number {
  const def = datastoreDefinitions.find((d) => d.manager === manager);
  if (!def) throw new Error(`no datastore is served by engine '${manager}'`);
  return def.port;
}

/** Instance ids become folder names: refuse anything that could leave the home folder. */
function isSafeId(id: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$/.test(id);
}

function checkId(id: string): string {
  if (!isSafeId(id)) throw new Error(`'${id}' is not a valid instance id`);
  return id;
}

/** The engine's own stop signal, or SIGTERM for a manager this node no longer knows. */
function safeSignal(manager: string): NodeJS.Signals {
  try {
    return strategyFor(manager).shutdownSignal();
  } catch {
    return "SIGTERM";
  }
}

/** The end of an engine log for an error message: its error lines if it has any, else its last lines. */
async function describeLog(file: string): Promise<string> {
  const tail = (await logTail(file, 40)).split("\n").filter((l) => l !== "");
  const errors = tail.filter((l) => /\b(ERROR|FATAL|PANIC)\b/.test(l));
  const shown = (errors.length ? errors : tail).slice(-8);
  return shown.length ? ` Its log ends with:\n${shown.join("\n")}` : "";
}

/** Lets everyone pass through (not list) a folder of the tracker's. */
async function passable(dir: string): Promise<void> {
  const st = await stat(dir);
  if ((st.mode & 0o001) === 0) await chmod(dir, (st.mode & 0o7777) | 0o001);
}

/** Throws a clear error unless every folder from / down to `dir` lets others pass, as a guest's engine must (run/, the volume pool). */
async function checkPassable(dir: string): Promise<void> {
  const parts = path.resolve(dir).split(path.sep).filter(Boolean);
  for (let i = 0; i <= parts.length; i++) {
    const folder = `/${parts.slice(0, i).join("/")}`;
    if (((await stat(folder)).mode & 0o001) === 0) {
      throw new Error(`guests' OS users cannot pass through ${folder}: Hoard's home must be reachable by others (chmod o+x the folders above it)`);
    }
  }
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

/** Written aside and renamed, so a reader never sees half a file. */
async function writeJson(file: string, value: unknown): Promise<void> {
  const tmp = `${file}.tmp`;
  await writeFile(tmp, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 });
  await rename(tmp, file);
}

/** Milliseconds since the last lap, and in all. */
function stopwatch(): { lap(): number; total(): number } {
  const start = performance.now();
  let last = start;
  return {
    lap() {
      const now = performance.now();
      const ms = Math.round(now - last);
      last = now;
      return ms;
    },
    total: () => Math.round(performance.now() - start),
  };
}
