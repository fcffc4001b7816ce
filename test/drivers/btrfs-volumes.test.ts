/**
 * The btrfs volume driver against a real loop-mounted pool in a temp folder: enforced sizes, online growth,
 * O(1) clones and snapshots, restore, and no loop device or mount left behind. Needs root and btrfs-progs.
 * Prints the measured clone and snapshot times.
 */
import { execFile } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { chmod, lstat, mkdir, mkdtemp, open, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BtrfsVolumes } from "../../drivers/volume/btrfs.js";

const run = promisify(execFile);
const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
/** An owner no real user has, to see that clones keep ownership. */
const OWNER = 4242;

let root: string;
let source: string;
let volumes: BtrfsVolumes;
const id = `i-${randomUUID()}`;
const figures: Record<string, string> = {};

/** Writes `bytes` (or until the filesystem refuses) into `file`; returns how much went in and the error code. */
async function write(file: string, bytes: number): Promise<{ written: number; code?: string }> {
  const chunk = Buffer.alloc(8 * MiB, 0x5a);
  const handle = await open(file, "a");
  let written = 0;
  try {
    while (written < bytes) {
      const { bytesWritten } = await handle.write(chunk, 0, Math.min(chunk.length, bytes - written));
      written += bytesWritten;
    }
    await handle.sync();
    return { written };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    // libuv has no name for EDQUOT (122): Node reports it as "Unknown system error -122".
    return { written, code: e.errno === -122 ? "EDQUOT" : e.code };
  } finally {
    await handle.close().catch(() => undefined);
  }
}

async function ms<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const start = performance.now();
  const result = await fn();
  return [result, Math.round((performance.now() - start) * 10) / 10];
}

/** Loop devices and mounts that mention our temp folder. */
async function leftovers(): Promise<{ loops: string[]; mounts: string[] }> {
  const loops = (await run("losetup", ["-a"])).stdout.split("\n").filter((l) => l.includes(root));
  const mounts = (await readFile("/proc/self/mounts", "utf8")).split("\n").filter((l) => l.includes(root));
  return { loops, mounts };
}

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), "hoard-btrfs-"));
  await chmod(root, 0o755);
  // A small source tree shaped like a database folder: 601 files, 38.6 MB, owned by the engine's user.
  source = path.join(root, "source", "data");
  for (let d = 0; d < 12; d++) {
    const sub = path.join(source, `base${d}`);
    await mkdir(sub, { recursive: true });
    for (let f = 0; f < 50; f++) await writeFile(path.join(sub, `${f}`), randomBytes(f % 10 === 0 ? 512 * 1024 : 16 * 1024));
  }
  await writeFile(path.join(source, "PG_VERSION"), "15\n");
  await run("chown", ["-R", `${OWNER}:${OWNER}`, source]);
  await chmod(source, 0o700);
  volumes = new BtrfsVolumes({ dir: path.join(root, "btrfs"), initialPoolGb: 3 });
});

afterAll(async () => {
  await volumes?.close().catch((e: Error) => console.error(`closing the pool: ${e.message}`));
  if (Object.keys(figures).length) console.log(`btrfs volume figures:\n${Object.entries(figures).map(([k, v]) => `  ${k}: ${v}`).join("\n")}`);
  const left = root ? await leftovers() : { loops: [], mounts: [] };
  if (root && left.mounts.length === 0) await rm(root, { recursive: true, force: true });
  expect(left).toEqual({ loops: [], mounts: [] });
});

describe("btrfs volumes", () => {
  it("makes a pool and a 1 GB volume that the engine's user can reach", async () => {
    const dir = await volumes.create(id, 1);
    expect(dir).toBe(path.join(root, "btrfs", "mnt", "volumes", id));
    expect(await volumes.exists(id)).toBe(true);
    expect(await volumes.list()).toEqual([id]);
    expect((await volumes.info(id))!.sizeGb).toBe(1);
    for (let p = dir; p !== root; p = path.dirname(p)) expect(((await stat(p)).mode & 0o777).toString(8)).toBe("755");
    expect((await volumes.usage(id, { fresh: true })).limitBytes).toBe(GiB);
    // Creating again keeps what is there.
    expect(await volumes.create(id, 1)).toBe(dir);
  });

  it("keeps the pool image, which holds every guest's data, to root alone (0600), also one made 0644 before", async () => {
    const mode = async () => ((await stat(volumes.image)).mode & 0o777).toString(8);
    expect(await mode()).toBe("600");
    // A pool made by an older Hoard was 0644 (readable by `nobody`): the next open fixes it.
    await volumes.close();
    await chmod(volumes.image, 0o644);
    await volumes.openPool();
    expect(await mode()).toBe("600");
    expect(await volumes.exists(id)).toBe(true);
  });

  it("clones a golden image in the pool as a snapshot, keeping owners and modes", async () => {
    const image = await volumes.createImage("pg-15");
    await run("cp", ["-a", source, path.join(image, "data")]);
    await writeFile(path.join(image, "image.json"), "{}\n");
    expect(await volumes.listImages()).toEqual(["pg-15"]);

    const [data, cloneMs] = await ms(() => volumes.clone(id, path.join(image, "data"), "data"));
    expect(data).toBe(path.join(volumes.path(id), "data"));
    expect((await readdir(volumes.path(id))).sort()).toEqual(["data", "volume.json"]);
    expect((await readdir(data)).length).toBe(13);
    expect(await readFile(path.join(data, "base3", "7"))).toEqual(await readFile(path.join(source, "base3", "7")));
    const s = await stat(data);
    expect([s.uid, s.gid, (s.mode & 0o777).toString(8)]).toEqual([OWNER, OWNER, "700"]);
    expect((await volumes.info(id))!.sizeGb).toBe(1);
    expect((await volumes.usage(id, { fresh: true })).limitBytes).toBe(GiB);

    // For comparison: a plain copy of the same tree on the host disk, and the copying clone (source outside the pool).
    const [, cpMs] = await ms(() => run("cp", ["-a", source, path.join(root, "copy")]));
    const other = `i-${randomUUID()}`;
    await volumes.create(other, 1);
    const [, copyCloneMs] = await ms(() => volumes.clone(other, source, "data"));
    expect((await stat(path.join(volumes.path(other), "data"))).uid).toBe(OWNER);
    await volumes.destroy(other);
    figures["clone of a 38.6 MB / 601-file tree"] = `${cloneMs} ms as a snapshot of an image in the pool; cp -a on the host disk ${cpMs} ms; copying clone into the pool ${copyCloneMs} ms`;
  });

  it("refuses writes beyond the volume's size", async () => {
    const data = path.join(volumes.path(id), "data");
    const first = await write(path.join(data, "fill-1"), 900 * MiB);
    expect(first).toEqual({ written: 900 * MiB });
    const beyond = await write(path.join(data, "fill-2"), 300 * MiB);
    expect(beyond.code).toMatch(/^(EDQUOT|ENOSPC)$/);
    expect(beyond.written).toBeLessThan(150 * MiB);
    const usage = await volumes.usage(id, { fresh: true });
    expect(usage.usedBytes).toBeLessThanOrEqual(GiB);
    expect(usage.usedBytes).toBeGreaterThan(GiB - 64 * MiB);
    figures["1 GB volume filled"] = `${first.written / MiB} MiB + ${Math.round(beyond.written / MiB)} MiB, then ${beyond.code}; used ${(usage.usedBytes / MiB).toFixed(1)} MiB`;
  });

  it("grows online, growing the pool image with it", async () => {
    const before = (await stat(volumes.image)).size;
    await volumes.grow(id, 2);
    expect((await volumes.info(id))!.sizeGb).toBe(2);
    expect((await volumes.usage(id)).limitBytes).toBe(2 * GiB);
    expect((await stat(volumes.image)).size).toBeGreaterThan(before);
    const more = await write(path.join(volumes.path(id), "data", "fill-3"), 600 * MiB);
    expect(more).toEqual({ written: 600 * MiB });
    await expect(volumes.grow(id, 1)).rejects.toThrow("cannot shrink to 1 GB; volumes only grow");
    figures["pool image"] = `${before / GiB} GB → ${(await stat(volumes.image)).size / GiB} GB (sparse; ${Math.round(((await stat(volumes.image)).blocks * 512) / MiB)} MiB on disk)`;
  });

  it("snapshots in O(1) and restores the old content", async () => {
    const dir = volumes.path(id);
    for (const f of ["fill-1", "fill-2", "fill-3"]) await rm(path.join(dir, "data", f));
    await writeFile(path.join(dir, "data", "marker"), "before\n");
    const payload = await write(path.join(dir, "data", "payload"), 200 * MiB);
    expect(payload.code).toBeUndefined();

    // The first snapshot commits the data still in memory; the second one finds nothing to write.
    const [snap, dirtyMs] = await ms(() => volumes.snapshot(id, "before-change"));
    expect(snap).toBe(path.join(root, "btrfs", "mnt", "snapshots", id, "before-change"));
    const [, cleanMs] = await ms(() => volumes.snapshot(id, "second"));
    figures["snapshot of a volume holding 200 MB"] = `${dirtyMs} ms (right after writing it), ${cleanMs} ms (nothing pending)`;
    expect(await volumes.listSnapshots(id)).toEqual(["before-change", "second"]);
    await expect(writeFile(path.join(snap, "data", "x"), "x")).rejects.toMatchObject({ code: "EROFS" });
    await expect(volumes.snapshot(id, "second")).rejects.toThrow("already has a snapshot named 'second'");

    await writeFile(path.join(dir, "data", "marker"), "after\n");
    await rm(path.join(dir, "data", "payload"));
    await writeFile(path.join(dir, "data", "new-file"), "new\n");

    const [, restoreMs] = await ms(() => volumes.restoreSnapshot(id, "before-change"));
    figures["restore"] = `${restoreMs} ms`;
    expect(await readFile(path.join(dir, "data", "marker"), "utf8")).toBe("before\n");
    expect((await stat(path.join(dir, "data", "payload"))).size).toBe(200 * MiB);
    await expect(lstat(path.join(dir, "data", "new-file"))).rejects.toMatchObject({ code: "ENOENT" });
    // The restored volume keeps today's size, not the snapshot's, and stays writable and reachable.
    expect((await volumes.info(id))!.sizeGb).toBe(2);
    expect((await volumes.usage(id, { fresh: true })).limitBytes).toBe(2 * GiB);
    expect(((await stat(dir)).mode & 0o777).toString(8)).toBe("755");
    await writeFile(path.join(dir, "data", "after-restore"), "ok\n");
    expect((await readdir(path.dirname(dir))).sort()).toEqual([id]);

    await volumes.deleteSnapshot(id, "second");
    expect(await volumes.listSnapshots(id)).toEqual(["before-change"]);
  });

  it("reuses a mounted pool and mounts an existing one again after a close", async () => {
    const again = new BtrfsVolumes({ dir: path.join(root, "btrfs") });
    expect(await again.list()).toEqual([id]);
    await volumes.close();
    expect(await leftovers()).toEqual({ loops: [], mounts: [] });
    expect(await again.list()).toEqual([id]);
    expect((await again.info(id))!.sizeGb).toBe(2);
    expect((await again.usage(id, { fresh: true })).limitBytes).toBe(2 * GiB);
    expect(await again.listSnapshots(id)).toEqual(["before-change"]);
    await again.close();
  });

  it("refuses names that would leave the pool", async () => {
    expect(() => volumes.path("../escape")).toThrow("cannot be used as a volume name");
    await expect(volumes.create(".hidden", 1)).rejects.toThrow("cannot be used as a volume name");
    await expect(volumes.snapshot(id, "a/b")).rejects.toThrow("cannot be used as a snapshot name");
    await expect(volumes.clone(id, "/etc", "../x")).rejects.toThrow("cannot be used as a folder name");
    await expect(volumes.create(`i-${randomUUID()}`, 0)).rejects.toThrow("a volume of 0 GB cannot be made");
  });

  it("deletes snapshots, volumes and images, and leaves no loop device or mount", async () => {
    await volumes.destroy(id);
    expect(await volumes.exists(id)).toBe(false);
    expect(await volumes.list()).toEqual([]);
    expect(await volumes.listSnapshots(id)).toEqual([]);
    await volumes.destroy(id);
    await volumes.destroyImage("pg-15");
    expect(await volumes.listImages()).toEqual([]);
    await volumes.close();
    expect(await leftovers()).toEqual({ loops: [], mounts: [] });
  });
});
