/**
 * Volume driver "btrfs": every guest volume is a btrfs subvolume with a quota, in one pool per node. The
 * pool is a sparse image file (`<dir>/pool.img`) that the driver loop-mounts on `<dir>/mnt` itself and grows
 * as volumes need. A volume's size is enforced (a write past it fails with EDQUOT), a snapshot is O(1)
 * (copy-on-write), and a clone from a golden image kept in the pool is a snapshot rather than a copy.
 *
 * Inside the pool:
 *   volumes/<instanceId>               a guest's volume (subvolume, quota = its size)
 *   snapshots/<instanceId>/<name>      read-only snapshots of it
 *   images/<name>                      golden images (subvolumes): clone sources that cost nothing to clone
 *
 * Needs root (mount, losetup) and btrfs-progs. The pool itself is btrfs-pool.ts; subvolumes and quotas
 * btrfs-subvolumes.ts; the tools it runs btrfs-tools.ts.
 */
import { chmod, mkdir, readdir, readFile, rename, rm } from "node:fs/promises";
import path from "node:path";
import { BtrfsPool, type Pool } from "./btrfs-pool.js";
import { checkSize, deleteSubvolume, exists, GiB, isFresh, isSubvolume, META, realpathOrUndefined, safeName, setLimit, subvolumeId, subvolumesIn, writeMeta, rmdirIfEmpty } from "./btrfs-subvolumes.js";
import { run } from "./btrfs-tools.js";
import type { VolumeInfo } from "./directory.js";

export interface BtrfsVolumesOptions {
  /** The folder that holds the pool image and its mount point, e.g. `<home>/btrfs`. */
  dir: string;
  /** The size of the sparse pool image when it is first made; it grows as volumes need. 64 GB unless given. */
  initialPoolGb?: number;
}

/** How much of its size a volume uses, as of the pool's last commit (at most ~30 s old unless `fresh`). */
export interface VolumeUsage {
  /** Bytes the volume references (what counts against its size), shared with images and snapshots or not. */
  usedBytes: number;
  /** Bytes only this volume holds: what deleting it would free. */
  exclusiveBytes: number;
  limitBytes: number | null;
}

/** Subvolume-per-instance volumes with quotas and snapshots, in a loop-mounted btrfs pool. */
export class BtrfsVolumes {
  /** Each volume's quota holds its guest to its size. */
  readonly enforcesSize = true;
  /** Snapshots are O(1) copy-on-write subvolumes. */
  readonly instantSnapshots = true;
  readonly dir: string;
  /** The sparse file that backs the pool. */
  readonly image: string;
  /** Where the pool is mounted. */
  readonly mountPoint: string;
  /** The pool's image, mount and growth (btrfs-pool.ts). */
  private readonly pools: BtrfsPool;

  constructor(opts: BtrfsVolumesOptions) {
    this.dir = path.resolve(opts.dir);
    const initialPoolGb = opts.initialPoolGb ?? 64;
    if (!Number.isInteger(initialPoolGb) || initialPoolGb < 1) throw new Error(`an initial pool size of ${opts.initialPoolGb} GB is not a whole number of GB`);
    this.pools = new BtrfsPool(this.dir, initialPoolGb);
    this.image = this.pools.image;
    this.mountPoint = this.pools.mountPoint;
  }

  // ---- the pool ----

  /**
   * Mounts the pool, making it first if there is none; a pool that is already mounted (a restarted
   * tracker) is reused. Every other method opens the pool on its own, so calling this is optional.
   */
  async openPool(): Promise<void> {
    await this.pool();
  }

  /** Unmounts the pool and detaches its loop device. Rejects while a guest still uses a volume. */
  async close(): Promise<void> {
    await this.pools.close();
  }

  /** Same as close(). */
  async unmountPool(): Promise<void> {
    await this.close();
  }

  // ---- volumes (the directory driver's shape) ----

  /** The folder of an instance's volume (whether or not it exists). */
  path(instanceId: string): string {
    return path.join(this.mountPoint, "volumes", safeName(instanceId, "volume"));
  }

  /** Creates the volume with a quota of `sizeGb` and returns its folder; an existing one is kept as it is. */
  async create(instanceId: string, sizeGb: number): Promise<string> {
    const dir = this.path(instanceId);
    checkSize(sizeGb);
    const pool = await this.pool();
    if (await isSubvolume(dir)) return dir;
    await this.ensureCapacity(pool, sizeGb * GiB);
    await run("btrfs", ["subvolume", "create", dir]);
    try {
      await chmod(dir, 0o755);
      await writeMeta(dir, { instanceId, sizeGb, createdAt: new Date().toISOString() });
      await setLimit(dir, sizeGb);
    } catch (err) {
      await deleteSubvolume(dir).catch(() => undefined);
      throw err;
    }
    return dir;
  }

  /**
   * Puts `source` into the volume as `<volume>/<name>` and returns that folder. When `source` is
   * `<image>/<name>` for a golden image in this pool (see createImage) and the volume is still empty, the
   * volume becomes a snapshot of the image: O(1), whatever the image's size. Otherwise the tree is copied
   * (sharing blocks with `source` when it is in the pool).
   */
  async clone(instanceId: string, source: string, name: string): Promise<string> {
    const volume = this.path(instanceId);
    const target = path.join(volume, safeName(name, "folder"));
    await this.pool();
    const info = await this.info(instanceId);
    if (!info) throw new Error(`instance ${instanceId} has no volume to clone into (create it first)`);
    const imageRoot = path.dirname(path.resolve(source));
    if (path.basename(source) === name && (await this.inPool(imageRoot)) && (await isSubvolume(imageRoot)) && (await isFresh(volume))) {
      await this.replaceWithSnapshot(instanceId, imageRoot, name, info);
      return target;
    }
    await rm(target, { recursive: true, force: true });
    try {
      await run("cp", ["-a", "--reflink=auto", "--", source, target]);
    } catch (err) {
      await rm(target, { recursive: true, force: true }).catch(() => undefined);
      const message = (err as Error).message;
      if (/quota exceeded|no space/i.test(message)) throw new Error(`the database image ${source} does not fit in the ${info.sizeGb} GB volume of instance ${instanceId}`);
      throw new Error(`could not copy the database image into the volume: ${message}`);
    }
    return target;
  }

  /** What the volume recorded at creation (its size follows grow()), or undefined if there is no such volume. */
  async info(instanceId: string): Promise<VolumeInfo | undefined> {
    const dir = this.path(instanceId);
    await this.pool();
    const text = await readFile(path.join(dir, META), "utf8").catch(() => undefined);
    return text === undefined ? undefined : (JSON.parse(text) as VolumeInfo);
  }

  /** Whether the instance has a volume. */
  async exists(instanceId: string): Promise<boolean> {
    const dir = this.path(instanceId);
    await this.pool();
    return isSubvolume(dir);
  }

  /** Removes the volume and its snapshots; no error if there is none. The guest must be stopped. */
  async destroy(instanceId: string): Promise<void> {
    const dir = this.path(instanceId);
    await this.pool();
    for (const snapshot of await this.listSnapshots(instanceId)) await this.deleteSnapshot(instanceId, snapshot);
    if (await isSubvolume(dir)) await deleteSubvolume(dir);
    else await rm(dir, { recursive: true, force: true });
  }

  /** The instance ids that have a volume. */
  async list(): Promise<string[]> {
    await this.pool();
    return subvolumesIn(path.join(this.mountPoint, "volumes"));
  }

  // ---- size ----

  /** Raises the volume's size while the guest runs. Volumes only grow: a smaller size needs a new volume. */
  async grow(instanceId: string, newSizeGb: number): Promise<void> {
    const dir = this.path(instanceId);
    checkSize(newSizeGb);
    const pool = await this.pool();
    const info = await this.info(instanceId);
    if (!info) throw new Error(`instance ${instanceId} has no volume to grow`);
    if (newSizeGb < info.sizeGb) throw new Error(`the volume of instance ${instanceId} is ${info.sizeGb} GB and cannot shrink to ${newSizeGb} GB; volumes only grow`);
    if (newSizeGb === info.sizeGb) return;
    await this.ensureCapacity(pool, (newSizeGb - info.sizeGb) * GiB);
    await setLimit(dir, newSizeGb);
    await writeMeta(dir, { ...info, sizeGb: newSizeGb });
  }

  /**
   * How much of its size the volume uses. btrfs accounts at each commit; `fresh` commits first, which
   * writes out every guest's pending data, so keep it for when the exact figure matters.
   */
  async usage(instanceId: string, opts: { fresh?: boolean } = {}): Promise<VolumeUsage> {
    const dir = this.path(instanceId);
    const pool = await this.pool();
    if (!(await isSubvolume(dir))) throw new Error(`instance ${instanceId} has no volume`);
    if (opts.fresh) await run("btrfs", ["filesystem", "sync", this.mountPoint]);
    const group = path.join("/sys/fs/btrfs", pool.uuid, "qgroups", `0_${await subvolumeId(dir)}`);
    const read = async (file: string) => (await readFile(path.join(group, file), "utf8")).trim();
    const limit = Number(await read("max_referenced"));
    return {
      usedBytes: Number(await read("referenced")),
      exclusiveBytes: Number(await read("exclusive")),
      // The kernel shows "no limit" as 0 here.
      limitBytes: limit > 0 ? limit : null,
    };
  }

  // ---- snapshots ----

  /** Takes a read-only snapshot of the volume in O(1) and returns its folder. Quiesce the engine first for a consistent one. */
  async snapshot(instanceId: string, snapshotName: string): Promise<string> {
    const volume = this.path(instanceId);
    const target = this.snapshotPath(instanceId, snapshotName);
    await this.pool();
    if (!(await isSubvolume(volume))) throw new Error(`instance ${instanceId} has no volume to snapshot`);
    if (await exists(target)) throw new Error(`instance ${instanceId} already has a snapshot named '${snapshotName}'`);
    await mkdir(path.dirname(target), { recursive: true, mode: 0o755 });
    await run("btrfs", ["subvolume", "snapshot", "-r", volume, target]);
    return target;
  }

  /** Deletes a snapshot; no error if there is none. */
  async deleteSnapshot(instanceId: string, snapshotName: string): Promise<void> {
    const target = this.snapshotPath(instanceId, snapshotName);
    await this.pool();
    if (await isSubvolume(target)) await deleteSubvolume(target);
    // The instance's snapshot folder goes with its last snapshot.
    await rmdirIfEmpty(path.dirname(target));
  }

  /** The names of the volume's snapshots. */
  async listSnapshots(instanceId: string): Promise<string[]> {
    await this.pool();
    return subvolumesIn(path.join(this.mountPoint, "snapshots", safeName(instanceId, "volume")));
  }

  /**
   * Rolls the volume back to a snapshot: the volume's folder then holds what the snapshot holds (its size
   * stays the current one). The guest must be stopped: files it holds open would still be the old ones.
   */
  async restoreSnapshot(instanceId: string, snapshotName: string): Promise<void> {
    const volume = this.path(instanceId);
    const source = this.snapshotPath(instanceId, snapshotName);
    await this.pool();
    const info = await this.info(instanceId);
    if (!info) throw new Error(`instance ${instanceId} has no volume to restore into`);
    if (!(await isSubvolume(source))) throw new Error(`instance ${instanceId} has no snapshot named '${snapshotName}'`);
    const restored = path.join(path.dirname(volume), `.${path.basename(volume)}.restore`);
    if (await isSubvolume(restored)) await deleteSubvolume(restored);
    await run("btrfs", ["subvolume", "snapshot", source, restored]);
    await writeMeta(restored, info);
    await this.swapIn(volume, restored, info.sizeGb);
  }

  // ---- golden images ----

  /**
   * Creates an empty golden image in the pool and returns its folder: build the engine's data folder inside
   * it (as `<image>/<name>`), and clone(instanceId, `<image>/<name>`, name) becomes a snapshot.
   */
  async createImage(imageName: string): Promise<string> {
    const dir = this.imagePath(imageName);
    await this.pool();
    if (await exists(dir)) throw new Error(`the image '${imageName}' already exists`);
    await run("btrfs", ["subvolume", "create", dir]);
    await chmod(dir, 0o755);
    return dir;
  }

  /** The folder of a golden image in the pool (whether or not it exists). */
  imagePath(imageName: string): string {
    return path.join(this.mountPoint, "images", safeName(imageName, "image"));
  }

  /** Removes a golden image; volumes cloned from it keep their data. No error if it does not exist. */
  async destroyImage(imageName: string): Promise<void> {
    const dir = this.imagePath(imageName);
    await this.pool();
    if (await isSubvolume(dir)) await deleteSubvolume(dir);
  }

  /** The names of the golden images in the pool. */
  async listImages(): Promise<string[]> {
    await this.pool();
    return subvolumesIn(path.join(this.mountPoint, "images"));
  }

  // ---- internals ----

  private snapshotPath(instanceId: string, snapshotName: string): string {
    return path.join(this.mountPoint, "snapshots", safeName(instanceId, "volume"), safeName(snapshotName, "snapshot"));
  }

  private pool(): Promise<Pool> {
    return this.pools.get();
  }

  /** Whether `dir` is inside this pool (not merely under its mount point's name through a symlink). */
  private async inPool(dir: string): Promise<boolean> {
    const real = await realpathOrUndefined(dir);
    return real !== undefined && real.startsWith(`${this.mountPoint}/`);
  }

  /** Makes the volume a writable snapshot of a golden image, keeping its metadata and size. */
  private async replaceWithSnapshot(instanceId: string, imageRoot: string, name: string, info: VolumeInfo): Promise<void> {
    const volume = this.path(instanceId);
    const fresh = path.join(path.dirname(volume), `.${path.basename(volume)}.clone`);
    if (await isSubvolume(fresh)) await deleteSubvolume(fresh);
    await run("btrfs", ["subvolume", "snapshot", imageRoot, fresh]);
    try {
      // The image may carry its own bookkeeping (a completion marker): the volume gets only the data folder.
      for (const entry of await readdir(fresh)) if (entry !== name) await rm(path.join(fresh, entry), { recursive: true, force: true });
      await chmod(fresh, 0o755);
      await writeMeta(fresh, info);
      const group = `0_${await subvolumeId(fresh)}`;
      const referenced = Number(await readFile(path.join("/sys/fs/btrfs", (await this.pool()).uuid, "qgroups", group, "referenced"), "utf8").catch(() => "0"));
      if (referenced > info.sizeGb * GiB) throw new Error(`the database image ${imageRoot}/${name} (${(referenced / GiB).toFixed(1)} GB) does not fit in the ${info.sizeGb} GB volume of instance ${instanceId}`);
    } catch (err) {
      await deleteSubvolume(fresh).catch(() => undefined);
      throw err;
    }
    await this.swapIn(volume, fresh, info.sizeGb);
  }

  /** Puts subvolume `fresh` in the place of `volume` with the volume's size as its quota, and deletes the old one. */
  private async swapIn(volume: string, fresh: string, sizeGb: number): Promise<void> {
    // The limit goes on before the swap, so the volume is never without one.
    await setLimit(fresh, sizeGb);
    const old = path.join(path.dirname(volume), `.${path.basename(volume)}.old`);
    if (await isSubvolume(old)) await deleteSubvolume(old);
    await rename(volume, old);
    await rename(fresh, volume);
    await deleteSubvolume(old);
  }

  /** Grows the pool image when the volumes' sizes, with what images and snapshots use, could outgrow it. */
  private ensureCapacity(pool: Pool, extraBytes: number): Promise<void> {
    return this.pools.ensureCapacity(pool, extraBytes);
  }
}
