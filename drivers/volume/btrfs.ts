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
 * Needs root (mount, losetup) and btrfs-progs.
 */
import { execFile } from "node:child_process";
import { constants } from "node:fs";
import { access, chmod, mkdir, readdir, readFile, realpath, rename, rm, rmdir, stat, statfs, writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import type { VolumeInfo } from "./directory.js";

const exec = promisify(execFile);

/** The metadata file inside each volume (the same as the directory driver's). */
const META = "volume.json";
const GiB = 1024 ** 3;

/** The tools the driver runs, and the package that brings each one. */
const TOOLS = {
  btrfs: "btrfs-progs",
  "mkfs.btrfs": "btrfs-progs",
  losetup: "util-linux",
  findmnt: "util-linux",
  mount: "mount",
  umount: "mount",
  truncate: "coreutils",
  cp: "coreutils",
} as const;
type Tool = keyof typeof TOOLS;

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
  private readonly initialPoolGb: number;
  private opening?: Promise<Pool>;
  private sizing: Promise<void> = Promise.resolve();

  constructor(opts: BtrfsVolumesOptions) {
    this.dir = path.resolve(opts.dir);
    this.image = path.join(this.dir, "pool.img");
    this.mountPoint = path.join(this.dir, "mnt");
    this.initialPoolGb = opts.initialPoolGb ?? 64;
    if (!Number.isInteger(this.initialPoolGb) || this.initialPoolGb < 1) throw new Error(`an initial pool size of ${opts.initialPoolGb} GB is not a whole number of GB`);
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
    const opening = this.opening;
    this.opening = undefined;
    await opening?.catch(() => undefined);
    const mounted = await findMount(this.mountPoint);
    if (mounted) {
      try {
        await run("umount", [this.mountPoint]);
      } catch (err) {
        if (/busy/i.test((err as Error).message)) {
          throw new Error(`the volume pool at ${this.mountPoint} is in use: stop the guests whose volumes are in it first (\`fuser -vm ${this.mountPoint}\` lists them)`);
        }
        throw new Error(`cannot unmount the volume pool at ${this.mountPoint}: ${(err as Error).message}`);
      }
    }
    // `mount -o loop` detaches on unmount (autoclear); a device attached some other way is detached here.
    for (const device of await loopDevicesOf(this.image)) await run("losetup", ["-d", device]).catch(() => undefined);
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

  private async pool(): Promise<Pool> {
    const opening = this.opening;
    if (opening) {
      const pool = await opening.catch(() => undefined);
      // Still mounted as we left it? (Another driver object, or an operator, may have unmounted it since.)
      if (pool && (await stat(this.mountPoint).then((s) => s.dev === pool.dev, () => false))) return pool;
      if (this.opening === opening) this.opening = undefined;
    }
    this.opening ??= this.mountPool();
    // A failed open is not kept: the operator may fix the cause (install tools, free the mount point) and retry.
    this.opening.catch(() => (this.opening = undefined));
    return this.opening;
  }

  private async mountPool(): Promise<Pool> {
    await checkTools();
    if (process.getuid?.() !== 0) throw new Error("the btrfs volume driver needs root: it attaches a loop device and mounts the pool");
    await mkdir(this.dir, { recursive: true, mode: 0o755 });
    await mkdir(this.mountPoint, { recursive: true, mode: 0o755 });
    // The engine's OS user must be able to walk down to its volume.
    await chmod(this.dir, 0o755);
    let mounted = await findMount(this.mountPoint);
    if (mounted) {
      const backing = await backingFile(mounted.source);
      if (mounted.fstype !== "btrfs" || backing !== this.image) {
        throw new Error(`${this.mountPoint} is already a mount of ${mounted.source} (${mounted.fstype}), not of the volume pool ${this.image}; unmount it or give the driver another folder`);
      }
    } else {
      if (!(await exists(this.image))) await this.makePool();
      try {
        await run("mount", ["-o", "loop", this.image, this.mountPoint]);
      } catch (err) {
        const message = (err as Error).message;
        if (/unknown filesystem type/i.test(message)) throw new Error("the kernel has no btrfs support: load it (`modprobe btrfs`) or use the directory volume driver");
        if (/loop device/i.test(message)) throw new Error(`cannot attach a loop device for the volume pool ${this.image} (all in use, or no loop support): ${message}`);
        throw new Error(`cannot mount the volume pool ${this.image} on ${this.mountPoint}: ${message}`);
      }
      mounted = await findMount(this.mountPoint);
      if (!mounted) throw new Error(`the volume pool ${this.image} was mounted but ${this.mountPoint} does not show it`);
    }
    // The image holds every guest's data: root's alone (pools made before this were 0644).
    await chmod(this.image, 0o600);
    const uuid = await filesystemUuid(mounted.source);
    const qgroups = path.join("/sys/fs/btrfs", uuid, "qgroups");
    if (!(await exists(qgroups))) await run("btrfs", ["quota", "enable", this.mountPoint]);
    if ((await readFile(path.join(qgroups, "inconsistent"), "utf8").catch(() => "0")).trim() === "1") {
      // After a crash or an older kernel's use the quota numbers may be off; until rescanned, limits misfire.
      await run("btrfs", ["quota", "rescan", "-w", this.mountPoint]);
    }
    await chmod(this.mountPoint, 0o755);
    for (const sub of ["volumes", "snapshots", "images"]) await mkdir(path.join(this.mountPoint, sub), { recursive: true, mode: 0o755 });
    await this.recover();
    return { device: mounted.source, uuid, dev: (await stat(this.mountPoint)).dev };
  }

  /** A fresh sparse image with an empty btrfs, made aside and renamed so a half-made one is never mounted. */
  private async makePool(): Promise<void> {
    const fresh = `${this.image}.new`;
    await rm(fresh, { force: true });
    try {
      await run("truncate", ["-s", `${this.initialPoolGb}G`, fresh]);
      await chmod(fresh, 0o600);
      await run("mkfs.btrfs", ["-q", "-f", "-L", "hoard-pool", fresh]);
      await rename(fresh, this.image);
    } catch (err) {
      await rm(fresh, { force: true });
      throw new Error(`cannot make the volume pool ${this.image}: ${(err as Error).message}`);
    }
  }

  /** Finishes (or undoes) a restore or clone that a crash interrupted between its two renames. */
  private async recover(): Promise<void> {
    const volumes = path.join(this.mountPoint, "volumes");
    for (const name of await readdir(volumes).catch(() => [] as string[])) {
      const m = /^\.(.+)\.(old|restore|clone)$/.exec(name);
      if (!m) continue;
      const live = path.join(volumes, m[1]!);
      const leftover = path.join(volumes, name);
      if (m[2] === "old" && !(await exists(live))) await rename(leftover, live);
      else await deleteSubvolume(leftover);
    }
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
    // One at a time: two sizings racing could otherwise each act on a size the other has already changed.
    const next = this.sizing.then(() => this.growPool(pool, extraBytes));
    this.sizing = next.catch(() => undefined);
    return next;
  }

  private async growPool(pool: Pool, extraBytes: number): Promise<void> {
    let promised = extraBytes;
    const volumes = path.join(this.mountPoint, "volumes");
    for (const id of await subvolumesIn(volumes)) {
      const text = await readFile(path.join(volumes, id, META), "utf8").catch(() => undefined);
      if (text) promised += (JSON.parse(text) as VolumeInfo).sizeGb * GiB;
    }
    const fs = await statfs(this.mountPoint);
    const used = (fs.blocks - fs.bfree) * fs.bsize;
    // Counting what is used on top of what is promised double-counts the volumes' own data: the image is
    // sparse, so erring large costs nothing until written. The margin covers metadata (kept twice).
    const needed = used + promised + 2 * GiB;
    const size = Number((await readFile(`/sys/block/${path.basename(pool.device)}/size`, "utf8")).trim()) * 512;
    if (size >= needed) return;
    const target = Math.ceil(Math.max(needed, size * 1.5) / GiB);
    // ">" never shrinks the image, which would cut the filesystem short.
    await run("truncate", ["-s", `>${target}G`, this.image]);
    await run("losetup", ["-c", pool.device]);
    await run("btrfs", ["filesystem", "resize", "max", this.mountPoint]);
  }
}

interface Pool {
  /** The loop device, e.g. /dev/loop0. */
  device: string;
  /** The filesystem's UUID: its quota groups are under /sys/fs/btrfs/<uuid>/qgroups. */
  uuid: string;
  /** The device number of the mounted pool's root, to notice that it was unmounted under us. */
  dev: number;
}

/** Where the tools are looked for, and the PATH they run with: system folders only, sbin included (a service's PATH often lacks it). */
const SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** Full paths of the tools, found once. */
let toolPaths: Promise<Record<Tool, string>> | undefined;

async function checkTools(): Promise<Record<Tool, string>> {
  toolPaths ??= (async () => {
    const found: Partial<Record<Tool, string>> = {};
    for (const tool of Object.keys(TOOLS) as Tool[]) {
      for (const dir of SYSTEM_PATH.split(":")) {
        const candidate = path.join(dir, tool);
        if (await access(candidate, constants.X_OK).then(() => true, () => false)) {
          found[tool] = candidate;
          break;
        }
      }
    }
    const missing = (Object.keys(TOOLS) as Tool[]).filter((t) => !found[t]);
    if (missing.length) {
      const packages = [...new Set(missing.map((t) => TOOLS[t]))];
      throw new Error(`the btrfs volume driver needs ${missing.join(", ")}, which ${missing.length === 1 ? "is" : "are"} not installed: install ${packages.join(" and ")} (e.g. \`apt-get install ${packages.join(" ")}\`)`);
    }
    return found as Record<Tool, string>;
  })();
  toolPaths.catch(() => (toolPaths = undefined));
  return toolPaths;
}

/** Runs a tool; rejects with its stderr, which says what went wrong. */
async function run(tool: Tool, args: string[]): Promise<string> {
  const paths = await checkTools();
  try {
    const { stdout } = await exec(paths[tool], args, { env: { PATH: SYSTEM_PATH, LC_ALL: "C" }, timeout: 120_000, maxBuffer: 16 * 1024 * 1024 });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${tool} ${args.join(" ")}: ${(e.stderr || e.message).trim()}`);
  }
}

async function findMount(mountPoint: string): Promise<{ source: string; fstype: string } | undefined> {
  let out: string;
  try {
    out = await run("findmnt", ["-J", "-o", "SOURCE,FSTYPE", "--mountpoint", mountPoint]);
  } catch {
    return undefined; // findmnt exits 1 when nothing is mounted there
  }
  const fs = (JSON.parse(out) as { filesystems?: { source: string; fstype: string }[] }).filesystems?.[0];
  return fs;
}

/** The file behind a loop device, or undefined when it is not a loop device. */
async function backingFile(device: string): Promise<string | undefined> {
  const text = await readFile(`/sys/block/${path.basename(device)}/loop/backing_file`, "utf8").catch(() => undefined);
  return text?.trim();
}

/** Loop devices attached to `file`. */
async function loopDevicesOf(file: string): Promise<string[]> {
  const out = await run("losetup", ["-j", file]).catch(() => "");
  return out.split("\n").map((l) => l.split(":")[0]!).filter((d) => d.startsWith("/dev/"));
}

/** The btrfs UUID of the filesystem on `device`, from sysfs (no udev or blkid cache needed). */
async function filesystemUuid(device: string): Promise<string> {
  const name = path.basename(device);
  for (const uuid of await readdir("/sys/fs/btrfs").catch(() => [] as string[])) {
    if (await exists(path.join("/sys/fs/btrfs", uuid, "devices", name))) return uuid;
  }
  throw new Error(`cannot find the btrfs filesystem of ${device} under /sys/fs/btrfs`);
}

/** A btrfs subvolume's root directory always has inode number 256. */
async function isSubvolume(dir: string): Promise<boolean> {
  return stat(dir).then((s) => s.isDirectory() && s.ino === 256, () => false);
}

async function subvolumeId(dir: string): Promise<number> {
  return Number((await run("btrfs", ["inspect-internal", "rootid", dir])).trim());
}

async function subvolumesIn(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const names: string[] = [];
  for (const e of entries) if (e.isDirectory() && isSafeName(e.name) && (await isSubvolume(path.join(dir, e.name)))) names.push(e.name);
  return names.sort();
}

async function deleteSubvolume(dir: string): Promise<void> {
  try {
    await run("btrfs", ["subvolume", "delete", dir]);
  } catch (err) {
    if (/not empty|busy/i.test((err as Error).message)) {
      throw new Error(`cannot delete ${dir}: it holds another subvolume or is in use; stop whatever uses it and remove nested subvolumes first (${(err as Error).message})`);
    }
    throw err;
  }
}

/** Sets a volume's size as the quota on what its subvolume references. */
async function setLimit(dir: string, sizeGb: number): Promise<void> {
  await run("btrfs", ["qgroup", "limit", `${sizeGb}G`, dir]);
}

/** Whether a volume holds nothing yet but its metadata. */
async function isFresh(volume: string): Promise<boolean> {
  const entries = await readdir(volume).catch(() => undefined);
  return entries !== undefined && entries.every((e) => e === META);
}

async function writeMeta(dir: string, info: VolumeInfo): Promise<void> {
  const tmp = path.join(dir, `${META}.tmp`);
  await writeFile(tmp, `${JSON.stringify(info)}\n`, { mode: 0o600 });
  await rename(tmp, path.join(dir, META));
}

async function rmdirIfEmpty(dir: string): Promise<void> {
  const entries = await readdir(dir).catch(() => undefined);
  if (entries && entries.length === 0) await rmdir(dir).catch(() => undefined);
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(() => true, () => false);
}

async function realpathOrUndefined(p: string): Promise<string | undefined> {
  return realpath(p).catch(() => undefined);
}

function checkSize(sizeGb: number): void {
  if (!Number.isInteger(sizeGb) || sizeGb < 1 || sizeGb > 16 * 1024) throw new Error(`a volume of ${sizeGb} GB cannot be made (a whole number of GB, 1 to 16384)`);
}

function isSafeName(name: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name) && name.length <= 200;
}

/** Refuses names that would leave the pool's folders (ids come from messages); names starting with "." are the driver's own. */
function safeName(name: string, what: string): string {
  if (typeof name !== "string" || !isSafeName(name)) throw new Error(`'${name}' cannot be used as a ${what} name`);
  return name;
}
