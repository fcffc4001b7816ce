/**
 * Golden images: the data directory of each engine version, initialised once under images/<manager>-<version>/
 * (image.json marks it complete) and cloned for every new guest, so no tenant waits for an engine's slow
 * initialisation.
 */
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readdir, rename, rm } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import type { Logger } from "pino";
import { strategyFor } from "../../datastores/index.js";
import type { GuestUsers, Volumes } from "../../drivers/index.js";
import { DATA, exists, IMAGE_MARKER, isSafeId, writeJson } from "./layout.js";
import { stopwatch } from "./stopwatch.js";

const run = promisify(execFile);

/** The golden images of one node. */
export class GoldenImages {
  /** Golden images being built or built, by `<manager>-<version>`: concurrent callers share one build. */
  private readonly images = new Map<string, Promise<string>>();

  constructor(
    private readonly home: string,
    private readonly volumes: Volumes,
    private readonly users: GuestUsers | null,
    private readonly log: Logger,
  ) {}

  /** Builds the golden image of each engine version that is not built yet. Rejects if any could not be. */
  async warm(images: { manager: string; version: string }[]): Promise<void> {
    const results = await Promise.allSettled(images.map((i) => this.image(i.manager, i.version)));
    const failed = results.flatMap((r) => (r.status === "rejected" ? [(r.reason as Error).message] : []));
    if (failed.length) throw new Error(failed.join("; "));
  }

  /** The data directory of the golden image for an engine version, built on first use. */
  image(manager: string, version: string): Promise<string> {
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

  /** Forgets the image of an engine version, so the next caller builds it again (its folder went away). */
  forget(manager: string, version: string): void {
    this.images.delete(`${manager}-${version}`);
  }

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
}
