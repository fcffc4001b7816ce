/** Subvolumes, their quotas, and the volume metadata and names the btrfs volume driver keeps in them. */
import { readdir, realpath, rename, rmdir, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import type { VolumeInfo } from "./directory.js";
import { run } from "./btrfs-tools.js";

/** The metadata file inside each volume (the same as the directory driver's). */
export const META = "volume.json";
/** Volume sizes are whole GiB. */
export const GiB = 1024 ** 3;

/** A btrfs subvolume's root directory always has inode number 256. */
export async function isSubvolume(dir: string): Promise<boolean> {
  return stat(dir).then((s) => s.isDirectory() && s.ino === 256, () => false);
}

/** The subvolume's id, which names its quota group (`0_<id>`). */
export async function subvolumeId(dir: string): Promise<number> {
  return Number((await run("btrfs", ["inspect-internal", "rootid", dir])).trim());
}

/** The names of the subvolumes directly in `dir` (the driver's own, dot-named ones left out). */
export async function subvolumesIn(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const names: string[] = [];
  for (const e of entries) if (e.isDirectory() && isSafeName(e.name) && (await isSubvolume(path.join(dir, e.name)))) names.push(e.name);
  return names.sort();
}

/** Deletes a subvolume, saying what to do when it is nested or in use. */
export async function deleteSubvolume(dir: string): Promise<void> {
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
export async function setLimit(dir: string, sizeGb: number): Promise<void> {
  await run("btrfs", ["qgroup", "limit", `${sizeGb}G`, dir]);
}

/** Whether a volume holds nothing yet but its metadata. */
export async function isFresh(volume: string): Promise<boolean> {
  const entries = await readdir(volume).catch(() => undefined);
  return entries !== undefined && entries.every((e) => e === META);
}

/** Writes a volume's metadata aside and renames it into place. */
export async function writeMeta(dir: string, info: VolumeInfo): Promise<void> {
  const tmp = path.join(dir, `${META}.tmp`);
  await writeFile(tmp, `${JSON.stringify(info)}\n`, { mode: 0o600 });
  await rename(tmp, path.join(dir, META));
}

/** Removes `dir` if it is an empty folder. */
export async function rmdirIfEmpty(dir: string): Promise<void> {
  const entries = await readdir(dir).catch(() => undefined);
  if (entries && entries.length === 0) await rmdir(dir).catch(() => undefined);
}

/** Whether anything is at `p`. */
export async function exists(p: string): Promise<boolean> {
  return stat(p).then(() => true, () => false);
}

/** `p` with every link resolved, or undefined when it does not exist. */
export async function realpathOrUndefined(p: string): Promise<string | undefined> {
  return realpath(p).catch(() => undefined);
}

/** Refuses a volume size that is not a whole number of GB from 1 to 16384. */
export function checkSize(sizeGb: number): void {
  if (!Number.isInteger(sizeGb) || sizeGb < 1 || sizeGb > 16 * 1024) throw new Error(`a volume of ${sizeGb} GB cannot be made (a whole number of GB, 1 to 16384)`);
}

/** Whether a name is one the driver makes folders of. */
function isSafeName(name: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name) && name.length <= 200;
}

/** Refuses names that would leave the pool's folders (ids come from messages); names starting with "." are the driver's own. */
export function safeName(name: string, what: string): string {
  if (typeof name !== "string" || !isSafeName(name)) throw new Error(`'${name}' cannot be used as a ${what} name`);
  return name;
}
