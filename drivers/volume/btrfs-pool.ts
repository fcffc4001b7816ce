/**
 * The btrfs volume driver's pool: a sparse image file (`<dir>/pool.img`) loop-mounted on `<dir>/mnt`, made on
 * first use, grown as volumes need, its quotas on and consistent. Needs root (mount, losetup).
 */
import { chmod, mkdir, readdir, readFile, rename, rm, stat, statfs } from "node:fs/promises";
import path from "node:path";
import type { VolumeInfo } from "./directory.js";
import { deleteSubvolume, exists, GiB, META, subvolumesIn } from "./btrfs-subvolumes.js";
import { checkTools, run } from "./btrfs-tools.js";

export interface Pool {
  /** The loop device, e.g. /dev/loop0. */
  device: string;
  /** The filesystem's UUID: its quota groups are under /sys/fs/btrfs/<uuid>/qgroups. */
  uuid: string;
  /** The device number of the mounted pool's root, to notice that it was unmounted under us. */
  dev: number;
}

/** One node's pool of volumes. */
export class BtrfsPool {
  /** The sparse file that backs the pool. */
  readonly image: string;
  /** Where the pool is mounted. */
  readonly mountPoint: string;
  private opening?: Promise<Pool>;
  private sizing: Promise<void> = Promise.resolve();

  constructor(
    readonly dir: string,
    private readonly initialPoolGb: number,
  ) {
    this.image = path.join(this.dir, "pool.img");
    this.mountPoint = path.join(this.dir, "mnt");
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

  /** The mounted pool, mounted (and made) first when it is not. */
  async get(): Promise<Pool> {
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

  /** Grows the pool image when the volumes' sizes, with what images and snapshots use, could outgrow it. */
  ensureCapacity(pool: Pool, extraBytes: number): Promise<void> {
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

/** What is mounted on `mountPoint`, if anything. */
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
