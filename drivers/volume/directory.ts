/**
 * Volume driver "directory": a guest's volume is a folder, `<root>/<instanceId>`. Cloning uses
 * `cp -a --reflink=auto`, which shares blocks where the filesystem can (btrfs, XFS) and copies elsewhere.
 * It has no real snapshots: a "snapshot" is such a copy, in `<root>/.snapshots/<instanceId>/<name>`, taking
 * time that grows with the data (`instantSnapshots` says so).
 */
import { execFile } from "node:child_process";
import { mkdir, readdir, readFile, rm, rmdir, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** The metadata file inside each volume. */
const META = "volume.json";

/** What a volume records about itself. */
export interface VolumeInfo {
  instanceId: string;
  sizeGb: number;
  createdAt: string;
}

/** Folder-per-instance volumes under one root directory. */
export class DirectoryVolumes {
  /** A folder is as large as its filesystem lets it grow. */
  readonly enforcesSize = false;
  /** Snapshots are copies (reflinks where the filesystem has them). */
  readonly instantSnapshots = false;
  /** `root` is the folder that holds every volume of this node (e.g. `<home>/volumes`). */
  constructor(readonly root: string) {}

  /** The folder of an instance's volume (whether or not it exists). */
  path(instanceId: string): string {
    return path.join(this.root, safeName(instanceId));
  }

  /** Creates the volume (empty, apart from its metadata) and returns its folder; an existing one is kept. */
  async create(instanceId: string, sizeGb: number): Promise<string> {
    const dir = this.path(instanceId);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    // Only recorded for now: the size is enforced by the quota that a later driver (a filesystem per volume) brings.
    const info: VolumeInfo = { instanceId, sizeGb, createdAt: new Date().toISOString() };
    await writeFile(path.join(dir, META), `${JSON.stringify(info)}\n`, { mode: 0o600 });
    return dir;
  }

  /** Copies `source` (a folder) into the volume as `<volume>/<name>`; returns the new folder. */
  async clone(instanceId: string, source: string, name: string): Promise<string> {
    const target = path.join(this.path(instanceId), safeName(name));
    await rm(target, { recursive: true, force: true });
    try {
      await run("cp", ["-a", "--reflink=auto", "--", source, target]);
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`could not copy the database image into the volume: ${(e.stderr || e.message).trim()}`);
    }
    return target;
  }

  /** What the volume recorded at creation, or undefined if there is no such volume. */
  /**
   * Records a larger size. A folder cannot hold its guest to a size, so nothing is enforced (`enforcesSize`
   * says so); the btrfs driver enforces it.
   */
  async grow(instanceId: string, newSizeGb: number): Promise<void> {
    const info = await this.info(instanceId);
    if (!info) throw new Error(`instance ${instanceId} has no volume to grow`);
    if (newSizeGb < info.sizeGb) throw new Error(`the volume of instance ${instanceId} is ${info.sizeGb} GB and cannot shrink to ${newSizeGb} GB; volumes only grow`);
    await writeFile(path.join(this.path(instanceId), META), JSON.stringify({ ...info, sizeGb: newSizeGb }));
  }

  async info(instanceId: string): Promise<VolumeInfo | undefined> {
    const text = await readFile(path.join(this.path(instanceId), META), "utf8").catch(() => undefined);
    return text === undefined ? undefined : (JSON.parse(text) as VolumeInfo);
  }

  /** Whether the instance has a volume folder. */
  async exists(instanceId: string): Promise<boolean> {
    return stat(this.path(instanceId)).then((s) => s.isDirectory(), () => false);
  }

  /** Removes the volume, its snapshots and everything in them; no error if it does not exist. */
  async destroy(instanceId: string): Promise<void> {
    await rm(this.path(instanceId), { recursive: true, force: true });
    await rm(this.snapshotsOf(instanceId), { recursive: true, force: true });
  }

  /** The instance ids that have a volume. */
  async list(): Promise<string[]> {
    const entries = await readdir(this.root, { withFileTypes: true }).catch(() => []);
    return entries.filter((e) => e.isDirectory() && !e.name.startsWith(".")).map((e) => e.name).sort();
  }

  // ---- snapshots: copies ----

  /** Copies the volume as it is now and returns the copy's folder; quiesce the engine first for a consistent one. */
  async snapshot(instanceId: string, snapshotName: string): Promise<string> {
    const target = path.join(this.snapshotsOf(instanceId), safeName(snapshotName));
    if (!(await this.exists(instanceId))) throw new Error(`instance ${instanceId} has no volume to snapshot`);
    if (await stat(target).then(() => true, () => false)) throw new Error(`instance ${instanceId} already has a snapshot named '${snapshotName}'`);
    await mkdir(path.dirname(target), { recursive: true, mode: 0o700 });
    try {
      await run("cp", ["-a", "--reflink=auto", "--", this.path(instanceId), target]);
    } catch (err) {
      await rm(target, { recursive: true, force: true });
      const e = err as { stderr?: string; message: string };
      throw new Error(`could not copy the volume of instance ${instanceId}: ${(e.stderr || e.message).trim()}`);
    }
    return target;
  }

  /** Deletes a snapshot; no error if there is none. */
  async deleteSnapshot(instanceId: string, snapshotName: string): Promise<void> {
    await rm(path.join(this.snapshotsOf(instanceId), safeName(snapshotName)), { recursive: true, force: true });
    // The instance's snapshot folder goes with its last snapshot.
    await rmdir(this.snapshotsOf(instanceId)).catch(() => undefined);
  }

  /** The names of the volume's snapshots. */
  async listSnapshots(instanceId: string): Promise<string[]> {
    const entries = await readdir(this.snapshotsOf(instanceId), { withFileTypes: true }).catch(() => []);
    return entries.filter((e) => e.isDirectory()).map((e) => e.name).sort();
  }

  private snapshotsOf(instanceId: string): string {
    return path.join(this.root, ".snapshots", safeName(instanceId));
  }
}

/** Refuses names that would leave the root folder (ids come from messages). */
function safeName(name: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name) || name.length > 200) {
    throw new Error(`'${name}' cannot be used as a volume name`);
  }
  return name;
}
