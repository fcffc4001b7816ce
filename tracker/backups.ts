/**
 * A node's backups of its guests, rollbacks to them, and checks of their files. The volume's snapshot
 * `backup-<backupId>` and the scratch folder backup-work/<backupId>/ live only while a backup runs; the backup
 * store (default `<home>/backups`) holds `<instanceId>/<backupId>.<tar|dump>.<zst|gz>.enc` (encrypted, see
 * drivers/backup-store/encryption.ts; files without `.enc` are from before backups were encrypted, or from a
 * supervisor given no keys). A tracker that dies mid-backup leaves them; adopt() removes them (sweep()).
 */
import { execFile } from "node:child_process";
import { mkdir, readdir, rename, rm } from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import { promisify } from "node:util";
import { backupStrategyFor, strategyFor, type BackupContext, type BackupStrategy, type DatastoreStrategy, type GuestHandle } from "../datastores/index.js";
import { BackupSealBroken, compress, compressionOf, counter, decompress, digestOf, isRunning, packFolders, preferredCompression, sealer, SEALED, StoredFileMissing, unpackInto } from "../drivers/index.js";
import { refuse } from "../errors/index.js";
import type { BackupArtifact, BackupCommand, RollbackCommand, WrappedDataKey } from "../events/payloads.js";
import { opened, openingKey, sealingKey, through } from "./backup-keys.js";
import type { GuestsContext } from "./guests/context.js";
import { prepareFolders } from "./guests/folders.js";
import { checkId, DATA } from "./guests/layout.js";
import type { MadeBackup } from "./guests/marks.js";
import { placementOf, type GuestRecord } from "./guests/records.js";
import { stopwatch } from "./guests/stopwatch.js";

const run = promisify(execFile);
/** Volume snapshots taken for a backup are named `backup-<backupId>`. */
const BACKUP_SNAPSHOT = "backup-";
/** Scratch folders of running backups, under the home. */
const BACKUP_WORK = "backup-work";

/** Backs up, rolls back and verifies the guests of one node. */
export class GuestBackups {
  constructor(private readonly ctx: GuestsContext) {}

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
    const { home, log, volumes, store, records, marks, locks } = this.ctx;
    const id = checkId(cmd.instanceId);
    const backupId = checkId(cmd.backupId);
    return locks.exclusive(id, async () => {
      // A command that comes again after its backup was made (NATS lost the ack): the file in the store is the
      // one the first report named, so the backup is reported again, not made again over it.
      const made = await marks.backedUp(backupId);
      if (made) {
        log.info({ instance: id, backup: backupId }, "backup already made on this node; its result is reported again");
        return made;
      }
      const record = records.require(id);
      const guest = records.handle(record);
      if (record.stopped || !(await isRunning(record.pid, guest.dataDir))) throw refuse("ENGINE_NOT_RUNNING", { id });
      const strategy = backupStrategyFor(record.manager, cmd.strategy);
      const compression = preferredCompression();
      const sealing = await sealingKey(this.ctx.keys, cmd, log);
      const key = `${id}/${backupId}.${strategy.restoreBy === "files" ? "tar" : "dump"}.${compression}${sealing ? SEALED.suffix : ""}`;
      const scratch = path.join(home, BACKUP_WORK, backupId);
      const snapshot = `${BACKUP_SNAPSHOT}${backupId}`;
      // A redelivered command starts over: whatever an earlier attempt of the same backup left goes first.
      await volumes.deleteSnapshot(id, snapshot);
      await rm(scratch, { recursive: true, force: true });
      await mkdir(scratch, { recursive: true, mode: 0o700 });
      const timer = stopwatch();
      const ctx: BackupContext = {
        scratch,
        freeze: async () => ({ dir: await volumes.snapshot(id, snapshot), instant: volumes.instantSnapshots }),
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
        const sizeBytes = await store.put(key, packed);
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
        await marks.markBackedUp(backupId, made);
        log.info({ instance: id, backup: backupId, strategy: strategy.name, lockMs: taken.lockMs, sizeBytes, dataBytes: artifact.dataBytes, encrypted: Boolean(sealing), ...(sealing ? { dataKey: sealing.wrapped.keyId, masterKey: sealing.wrapped.masterKeyId } : {}), ms }, "guest backed up");
        return made;
      } catch (err) {
        if (stored) await store.delete(key).catch(() => undefined);
        throw new Error(`The backup failed: ${(err as Error).message}`);
      } finally {
        await volumes.deleteSnapshot(id, snapshot).catch((e: Error) => log.error({ instance: id, backup: backupId, err: e.message }, "could not delete a backup's snapshot; the next start removes it"));
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
    const { log, records, engines, images, locks } = this.ctx;
    const id = checkId(cmd.instanceId);
    const backupId = checkId(cmd.backupId);
    await locks.exclusive(id, async () => {
      const record = records.require(id);
      const artifact = cmd.artifact;
      if (artifact.manager !== record.manager || artifact.version !== record.version) {
        throw refuse("BACKUP_WRONG_DATASTORE", { backupId, backup: `${artifact.manager} ${artifact.version}`, id, instance: `${record.manager} ${record.version}` });
      }
      const strategy = backupStrategyFor(record.manager, artifact.strategy);
      // Before anything: a backup whose key is gone is refused with the reason, and nothing changes.
      const dataKey = await openingKey(this.ctx.keys, artifact, cmd.dataKey);
      // A "files" backup is checked while it is unpacked aside (one pass); a dump before it is replayed.
      if (strategy.restoreBy === "replay") await this.verifyBackup(artifact, cmd.dataKey);
      const guest = records.handle(record);
      const engine = strategyFor(record.manager);
      const staging = path.join(guest.volume, `.rollback-${backupId}`);
      const before = path.join(guest.volume, `.before-rollback-${backupId}`);
      await rm(staging, { recursive: true, force: true });
      await mkdir(staging, { mode: 0o700 });
      const timer = stopwatch();
      try {
        // Built beside the live data first, so the engine is down only for the swap and the start.
        if (strategy.restoreBy === "files") await this.unpackBackup(artifact, staging, dataKey);
        else await run("cp", ["-a", "--reflink=auto", "--", await images.image(record.manager, record.version), path.join(staging, DATA)]);
      } catch (err) {
        await rm(staging, { recursive: true, force: true });
        throw new Error(`The rollback failed before the database was touched: ${(err as Error).message}`);
      }
      const unpack_ms = timer.lap();
      await engines.stop(record.manager, guest.runDir, guest.dataDir, [record.pid]);
      await rm(before, { recursive: true, force: true });
      await rename(guest.dataDir, before);
      await rename(path.join(staging, DATA), guest.dataDir);
      await rm(staging, { recursive: true, force: true });
      try {
        const pid = await this.startRestored(engine, strategy, guest, record, artifact, dataKey);
        const next: GuestRecord = { ...record, pid, stopped: false };
        await records.save(next);
        await rm(before, { recursive: true, force: true });
        log.info({ instance: id, backup: backupId, ms: { unpack_ms, restart_ms: timer.lap() } }, "guest rolled back");
      } catch (err) {
        log.warn({ instance: id, backup: backupId, err: (err as Error).message }, "rollback failed; putting the data from before back");
        await engines.stop(record.manager, guest.runDir, guest.dataDir, []);
        await rm(guest.dataDir, { recursive: true, force: true });
        await rename(before, guest.dataDir);
        const { pid } = await engines.start(engine, guest, placementOf(record)).catch((e: Error) => {
          throw new Error(`The rollback to backup ${backupId} failed (${(err as Error).message}), and the database did not start on its data from before either: ${e.message}`);
        });
        const next: GuestRecord = { ...record, pid, stopped: false };
        await records.save(next);
        throw new Error(`The rollback to backup ${backupId} failed, so the instance is back on its data from before: ${(err as Error).message}`);
      }
    });
  }

  /** Removes a backup's file from the store; no error when it is gone already. */
  async deleteBackup(artifact: BackupArtifact): Promise<void> {
    await this.ctx.store.delete(artifact.location);
  }

  /**
   * Reads the backup's file whole and compares its size and sha256 with the record's; an encrypted one must
   * also have its data key, which must open with a master key this node has. Refused (404) when the file is
   * missing, (400) when it does not match (damaged or replaced), (409) when its key cannot be opened here
   * (checked first: it needs no read of the file).
   */
  async verifyBackup(artifact: BackupArtifact, dataKey?: WrappedDataKey): Promise<void> {
    await openingKey(this.ctx.keys, artifact, dataKey);
    await this.verifyFile(artifact);
  }

  /**
   * Unpacks a "files" backup into `dir` (which then holds `data/`), checking the file's size and sha256 in the
   * same pass: nothing is started on the data unless the whole file matched. On a mismatch, or a failure that
   * a damaged file would explain, the error is verifyBackup's (missing, or does not match its checksum).
   */
  async unpackBackup(artifact: BackupArtifact, dir: string, dataKey: Buffer | undefined): Promise<void> {
    let read: ReturnType<typeof counter>;
    try {
      read = through(await this.ctx.store.get(artifact.location), counter(true));
      // Each frame is authenticated before tar sees it: nothing unauthenticated is ever written.
      await unpackInto(opened(artifact, read, dataKey), dir, compressionOf(artifact.location));
    } catch (err) {
      await this.verifyFile(artifact);
      if (err instanceof BackupSealBroken) throw refuse("BACKUP_FILE_UNDECRYPTABLE", { key: artifact.location, reason: err.message });
      throw err;
    }
    const { bytes, sha256 } = read.result();
    if (bytes !== artifact.sizeBytes || sha256 !== artifact.checksum) {
      await this.verifyFile(artifact);
      throw refuse("BACKUP_FILE_MISMATCH", { key: artifact.location });
    }
  }

  /** A dump backup's plaintext, to replay. */
  async plainDump(artifact: BackupArtifact, dataKey: Buffer | undefined): Promise<Readable> {
    return decompress(opened(artifact, await this.ctx.store.get(artifact.location), dataKey), compressionOf(artifact.location));
  }

  /** Removes what interrupted backups left: snapshots, scratch folders, partial files in the store. */
  async sweep(): Promise<void> {
    const { home, log, volumes, store } = this.ctx;
    const ids = await volumes.list();
    let snapshots = 0;
    for (const id of ids) {
      for (const name of await volumes.listSnapshots(id)) {
        if (!name.startsWith(BACKUP_SNAPSHOT)) continue;
        await volumes.deleteSnapshot(id, name);
        snapshots++;
      }
    }
    let rollbacks = 0;
    for (const id of ids) rollbacks += await this.undoInterruptedRollback(id);
    const work = path.join(home, BACKUP_WORK);
    const scratch = (await readdir(work).catch(() => [])).length;
    await rm(work, { recursive: true, force: true });
    const partial = await store.sweep();
    if (snapshots + scratch + partial + rollbacks) log.warn({ snapshots, scratch, partial, rollbacks }, "removed what interrupted backups and rollbacks left behind");
  }

  /** verifyBackup's check of the stored bytes alone: their size and sha256 against the record's. */
  private async verifyFile(artifact: BackupArtifact): Promise<void> {
    const { store } = this.ctx;
    const key = artifact.location;
    const size = await store.size(key);
    if (size === undefined) throw refuse("BACKUP_FILE_MISSING", { key, store: store.describe });
    if (size !== artifact.sizeBytes) throw refuse("BACKUP_FILE_WRONG_SIZE", { key, size, recorded: artifact.sizeBytes });
    let digest;
    try {
      digest = await digestOf(await store.get(key));
    } catch (err) {
      if (err instanceof StoredFileMissing) throw refuse("BACKUP_FILE_MISSING", { key: err.key, store: err.where });
      throw err;
    }
    if (digest.sha256 !== artifact.checksum) throw refuse("BACKUP_FILE_DAMAGED", { key, sha256: digest.sha256, recorded: artifact.checksum });
  }

  /**
   * Starts the engine on data put in place from a backup: "files" first get this guest's admin secret,
   * "replay" data (a fresh image) is secured and then fed the backup. Returns the engine's pid.
   */
  private async startRestored(engine: DatastoreStrategy, strategy: BackupStrategy, guest: GuestHandle, record: GuestRecord, artifact: BackupArtifact, dataKey: Buffer | undefined): Promise<number> {
    const { home, engines } = this.ctx;
    await prepareFolders(home, guest);
    await engine.prepareGuest(guest);
    if (strategy.restoreBy === "files") {
      await strategy.adoptFiles?.(guest);
      // What the strategy wrote into the data as root becomes the guest user's too.
      await prepareFolders(home, guest, { data: "always" });
    }
    const { pid } = await engines.start(engine, guest, placementOf(record));
    try {
      await engine.secure(guest);
      if (strategy.restoreBy === "replay") {
        if (!strategy.replay) throw new Error(`the backup strategy ${strategy.name} cannot replay`);
        await strategy.replay(guest, await this.plainDump(artifact, dataKey));
      }
    } catch (err) {
      await engines.stop(engine.manager, guest.runDir, guest.dataDir, [pid]);
      throw err;
    }
    return pid;
  }

  /**
   * A rollback cut short by a crash leaves its staging folder and the data from before beside the data
   * folder (the latter is removed only once the rolled-back engine answered): the data from before is put
   * back, unless an engine runs on the data folder now. Returns how many leftovers it handled.
   */
  private async undoInterruptedRollback(id: string): Promise<number> {
    const { log, volumes, records } = this.ctx;
    const volume = volumes.path(id);
    const entries = await readdir(volume).catch(() => [] as string[]);
    let handled = 0;
    for (const name of entries.filter((e) => e.startsWith(".rollback-"))) {
      await rm(path.join(volume, name), { recursive: true, force: true });
      handled++;
    }
    const before = entries.filter((e) => e.startsWith(".before-rollback-")).sort();
    if (before.length === 0) return handled;
    const record = records.known.get(id);
    const data = path.join(volume, DATA);
    if (record && (await isRunning(record.pid, data))) {
      log.warn({ instance: id, left: before }, "a rollback was interrupted but the engine runs: its data from before is left in place");
      return handled;
    }
    await rm(data, { recursive: true, force: true });
    await rename(path.join(volume, before[0]!), data);
    for (const extra of before.slice(1)) await rm(path.join(volume, extra), { recursive: true, force: true });
    log.warn({ instance: id }, "a rollback was interrupted: the guest's data from before it is back");
    return handled + before.length;
  }
}
