/**
 * Redelivery marks. deprovisioned/<instanceId> marks a guest removed on purpose, so a provision command
 * redelivered after the removal (NATS died before its ack was stored) does not build it again.
 * backed-up/<backupId>.json holds a finished backup's artifact, so a backup command redelivered after it
 * reports the backup made instead of making it again over the file whose checksum the backup's row already
 * records. Both kinds of mark are kept for a day, the longest a command waits in the node's stream (HOARD_NODES
 * max age); pruned by adopt(), each deprovision and each backup.
 */
import { mkdir, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Logger } from "pino";
import { z } from "zod";
import { BackupArtifact, WrappedDataKey } from "../../events/payloads.js";
import { writeJson } from "./layout.js";

/** Marks of removed guests, under the home. */
const DEPROVISIONED = "deprovisioned";
/** Artifacts of finished backups, under the home. */
const BACKED_UP = "backed-up";
/** How long a mark is kept: the max age of HOARD_NODES, after which its command cannot come again. */
const MARK_HORIZON_MS = 24 * 3600_000;
/** How often old marks are looked for (at start, then by deprovisions and backups at most this often). */
const PRUNE_EVERY_MS = 3600_000;

/** What a backup made: its artifact, and the data key made for it when its command carried none (wrapped). */
export interface MadeBackup {
  artifact: BackupArtifact;
  newDataKey?: WrappedDataKey;
}

/** A backed-up mark: what the backup made (marks written before encryption hold the bare artifact). */
const BackedUpMark = z.union([z.object({ artifact: BackupArtifact, newDataKey: WrappedDataKey.optional() }), BackupArtifact.transform((artifact) => ({ artifact }))]);

/** The marks that keep a redelivered provision or backup command from being carried out twice. */
export class RedeliveryMarks {
  /** When each mark folder was last pruned. */
  private readonly prunedAt = new Map<string, number>();

  constructor(
    private readonly home: string,
    private readonly log: Logger,
  ) {}

  /** When the guest of `id` was removed from this node on purpose, if within the horizon. */
  async deprovisionedAt(id: string): Promise<Date | undefined> {
    return this.markedAt(path.join(DEPROVISIONED, id));
  }

  /** Remembers that the guest of `id` is removed on purpose (the first removal's time is kept). */
  async markDeprovisioned(id: string): Promise<void> {
    await this.prune(DEPROVISIONED);
    await mkdir(path.join(this.home, DEPROVISIONED), { recursive: true });
    if (!(await this.deprovisionedAt(id))) await writeFile(path.join(this.home, DEPROVISIONED, id), `${new Date().toISOString()}\n`);
  }

  /** What a backup this node finished within the horizon made, if any. */
  async backedUp(backupId: string): Promise<MadeBackup | undefined> {
    const name = path.join(BACKED_UP, `${backupId}.json`);
    if (!(await this.markedAt(name))) return undefined;
    const made = BackedUpMark.parse(JSON.parse(await readFile(path.join(this.home, name), "utf8")));
    return "newDataKey" in made && made.newDataKey ? { artifact: made.artifact, newDataKey: made.newDataKey } : { artifact: made.artifact };
  }

  /** Remembers what a finished backup made. */
  async markBackedUp(backupId: string, made: MadeBackup): Promise<void> {
    await this.prune(BACKED_UP);
    await mkdir(path.join(this.home, BACKED_UP), { recursive: true });
    await writeJson(path.join(this.home, BACKED_UP, `${backupId}.json`), made);
  }

  /** Forgets the marks of both kinds older than the horizon. */
  async pruneAll(): Promise<void> {
    await this.prune(DEPROVISIONED);
    await this.prune(BACKED_UP);
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
  private async prune(folder: string): Promise<void> {
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
}
