/**
 * Backup store "filesystem": backup files in a folder of the node (default `<home>/backups`), each written
 * to `.partial-<random>-<name>` beside its place, fsynced, then renamed. A full disk fails the write and
 * removes the partial file.
 */
import { randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, open, readdir, rename, rm, stat } from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { type BackupStore, checkKey, StoredFileMissing } from "./store.js";

const PARTIAL = ".partial-";

/** Backup files in a folder. */
export class FilesystemBackupStore implements BackupStore {
  readonly kind = "filesystem";
  readonly root: string;

  constructor(root: string) {
    this.root = path.resolve(root);
  }

  get describe(): string {
    return this.root;
  }

  async put(key: string, data: Readable): Promise<number> {
    const file = this.file(key);
    await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    const partial = path.join(path.dirname(file), `${PARTIAL}${randomBytes(6).toString("hex")}-${path.basename(file)}`);
    try {
      const out = createWriteStream(partial, { mode: 0o600, flags: "wx" });
      await pipeline(data, out);
      // Durable before it is visible: a crash after the rename never leaves a name on missing bytes.
      const handle = await open(partial, "r");
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(partial, file);
      return (await stat(file)).size;
    } catch (err) {
      await rm(partial, { force: true }).catch(() => undefined);
      data.destroy();
      throw storeError(err, this.root);
    }
  }

  async get(key: string): Promise<Readable> {
    const file = this.file(key);
    const st = await stat(file).catch(() => undefined);
    if (!st?.isFile()) throw new StoredFileMissing(key, this.root);
    return createReadStream(file, { highWaterMark: 1 << 20 });
  }

  async size(key: string): Promise<number | undefined> {
    const st = await stat(this.file(key)).catch(() => undefined);
    return st?.isFile() ? st.size : undefined;
  }

  async delete(key: string): Promise<void> {
    const file = this.file(key);
    await rm(file, { force: true });
    // The instance's folder goes with its last backup.
    const dir = path.dirname(file);
    if (dir !== this.root && (await readdir(dir).catch(() => ["?"])).length === 0) await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  }

  async sweep(): Promise<number> {
    let removed = 0;
    const walk = async (dir: string): Promise<void> => {
      for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
        const full = path.join(dir, entry.name);
        if (entry.isDirectory()) await walk(full);
        else if (entry.name.startsWith(PARTIAL)) {
          await rm(full, { force: true });
          removed++;
        }
      }
    };
    await walk(this.root);
    return removed;
  }

  private file(key: string): string {
    return path.join(this.root, checkKey(key));
  }
}

/** A write error in terms an operator acts on: a full store says so. */
function storeError(err: unknown, root: string): Error {
  const e = err as NodeJS.ErrnoException;
  if (e.code === "ENOSPC" || e.code === "EDQUOT") return new Error(`the backup store ${root} is full (${e.code}): free space there or use a larger store`);
  // An error without an errno is the source's (the engine's dump, the archiver), which says why itself.
  return e.code ? new Error(`could not write to the backup store ${root}: ${e.message}`) : e;
}
