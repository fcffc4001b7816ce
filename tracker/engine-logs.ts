/**
 * Keeps guests' engine logs from filling the node. An engine writes `run/<id>/engine.log` on the node's own
 * disk, outside its volume's quota, and any tenant can make it write fast (PostgreSQL's `RAISE LOG` in a
 * loop: 1.6 GB in 5 s). So the tracker watches every engine log (inotify, and a sweep every `checkMs` for
 * what inotify missed) and, once one passes `maxBytes`, keeps its last quarter in `engine.log.1` and
 * truncates it. The engine holds the file O_APPEND (drivers/compute/process.ts), so its next write lands at
 * the new end: no restart, no hole. Bytes written between the copy and the truncation are lost; a log this
 * busy has more where they came from.
 *
 * It also watches the node's free space under the home: below `floorBytes` it trims every engine log to
 * a minimum and says so (log, heartbeat), and `refusal()` names the reason new databases and backups are
 * refused until space is freed.
 */
import { constants, watch, type FSWatcher } from "node:fs";
import { open, readdir, rename, rm, statfs, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Logger } from "pino";

/** What the engines write to (datastores' ENGINE_LOG), and where its tail goes at rotation. */
const LOG_NAME = "engine.log";
const ROTATED = `${LOG_NAME}.1`;
/** What a log keeps when the node is below its floor. */
const MIN_KEEP_BYTES = 64 * 1024;

export interface EngineLogOptions {
  /** The node's state folder: its filesystem's free space is what the floor is about. */
  home: string;
  /** The folder of the guests' run folders (`<home>/run`). */
  runRoot: string;
  /** An engine log larger than this is rotated. */
  maxBytes: number;
  /** How often every log and the free space are looked at (inotify reacts sooner). */
  checkMs: number;
  /** Free space under which the node trims every log and refuses new databases and backups; 0: no floor. */
  floorBytes: number;
  node: string;
  log: Logger;
}

/** The node's free space as the heartbeat reports it. */
export interface DiskState {
  freeBytes: number;
  floorBytes: number;
  low: boolean;
}

export class EngineLogs {
  private readonly opts: EngineLogOptions;
  private readonly log: Logger;
  private readonly watchers = new Map<string, FSWatcher>();
  /** Logs being checked now, and those changed again meanwhile (checked once more after). */
  private readonly checking = new Set<string>();
  private readonly again = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private sweeping: Promise<void> = Promise.resolve();
  private disk: DiskState | undefined;
  /** When each log's rotations were last told, and how many since. */
  private readonly told = new Map<string, { at: number; rotations: number }>();
  /** Checks started by inotify, which stop() waits for. */
  private readonly inFlight = new Set<Promise<void>>();
  /** When each log's failure to rotate was last told. */
  private readonly warned = new Map<string, number>();

  constructor(opts: EngineLogOptions) {
    this.opts = opts;
    this.log = opts.log.child({ unit: "engine-logs" });
  }

  /** Looks at every log and the free space now, then every `checkMs`. */
  async start(): Promise<void> {
    await this.sweep();
    this.timer = setInterval(() => {
      this.sweeping = this.sweeping.then(() => this.sweep()).catch((err: Error) => this.log.warn({ err: err.message }, "engine log sweep failed"));
    }, this.opts.checkMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
    await this.sweeping;
    await Promise.all(this.inFlight);
  }

  /** The free space as last seen, for heartbeats. */
  state(): DiskState | undefined {
    return this.disk;
  }

  /** Why `what` (a new database, a backup) is refused on this node now, or undefined when it is not. */
  refusal(what: string): string | undefined {
    const d = this.disk;
    if (!d?.low) return undefined;
    return `Node '${this.opts.node}' is low on disk space: ${mb(d.freeBytes)} free under its state folder, below its floor of ${mb(d.floorBytes)} (HOARD_DISK_FLOOR_MB); ${what} is refused until space is freed`;
  }

  /** Every engine log: watched, and rotated if too big; then the free space against the floor. */
  private async sweep(): Promise<void> {
    const low = await this.checkDisk();
    const seen = new Set<string>();
    for (const entry of await readdir(this.opts.runRoot, { withFileTypes: true }).catch(() => [])) {
      if (!entry.isDirectory()) continue;
      const file = path.join(this.opts.runRoot, entry.name, LOG_NAME);
      seen.add(file);
      this.watchFile(file);
      await this.check(file, low ? MIN_KEEP_BYTES : this.opts.maxBytes);
    }
    for (const [file, w] of this.watchers) {
      if (seen.has(file)) continue;
      w.close();
      this.watchers.delete(file);
      this.told.delete(file);
      this.warned.delete(file);
    }
  }

  /** Reads the free space; logs when the node goes below its floor or back above it. Returns whether it is low. */
  private async checkDisk(): Promise<boolean> {
    if (this.opts.floorBytes <= 0) return false;
    const s = await statfs(this.opts.home).catch(() => undefined);
    if (!s) return this.disk?.low ?? false;
    const freeBytes = s.bavail * s.bsize;
    const low = freeBytes < this.opts.floorBytes;
    if (low !== (this.disk?.low ?? false)) {
      const at = { freeBytes, floorBytes: this.opts.floorBytes };
      if (low) this.log.error(at, "the node is below its free-space floor: engine logs trimmed, new databases and backups refused");
      else this.log.info(at, "the node is above its free-space floor again: new databases and backups are accepted");
    }
    this.disk = { freeBytes, floorBytes: this.opts.floorBytes, low };
    return low;
  }

  /** inotify on one log: every write makes the log checked, not only the next sweep. */
  private watchFile(file: string): void {
    if (this.watchers.has(file)) return;
    try {
      const w = watch(file, { persistent: false }, () => {
        const p = this.check(file, this.disk?.low ? MIN_KEEP_BYTES : this.opts.maxBytes).finally(() => this.inFlight.delete(p));
        this.inFlight.add(p);
      });
      w.on("error", () => {
        w.close();
        this.watchers.delete(file);
      });
      this.watchers.set(file, w);
    } catch {
      // No such log yet (the engine has not started): the next sweep tries again.
    }
  }

  /** Rotates `file` when it is larger than `limit`; one check per file at a time, repeated if it changed meanwhile. */
  private async check(file: string, limit: number): Promise<void> {
    if (this.checking.has(file)) {
      this.again.add(file);
      return;
    }
    this.checking.add(file);
    try {
      do {
        this.again.delete(file);
        await this.rotateIfOver(file, limit);
      } while (this.again.has(file));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ELOOP") err = new Error("a symlink, not the engine's log; left alone");
      if (code !== "ENOENT" && Date.now() - (this.warned.get(file) ?? 0) >= SAY_EVERY_MS) {
        this.warned.set(file, Date.now());
        this.log.warn({ file, err: (err as Error).message }, "could not rotate an engine log");
      }
    } finally {
      this.checking.delete(file);
    }
  }

  /** Logs a rotation, at most once per SAY_EVERY_MS per file, with the count since the last line. */
  private said(file: string, about: Record<string, number>): void {
    const last = this.told.get(file) ?? { at: 0, rotations: 0 };
    last.rotations++;
    if (Date.now() - last.at >= SAY_EVERY_MS) {
      this.log.warn({ file, ...about, rotations: last.rotations }, "engine log passed its cap: its tail kept in engine.log.1, the log truncated");
      last.at = Date.now();
      last.rotations = 0;
    }
    this.told.set(file, last);
  }

  /**
   * The engine's user may own its run folder, so what lies there is the tenant's to arrange: the log is
   * opened without following a symlink and only as a plain file with one link, and the rotated copy is
   * made exclusively (never through a link planted in its name). Root's writes never leave the folder.
   */
  private async rotateIfOver(file: string, limit: number): Promise<void> {
    const handle = await open(file, constants.O_RDWR | constants.O_NOFOLLOW);
    try {
      const st = await handle.stat();
      if (!st.isFile() || st.nlink !== 1) throw new Error("not a plain file with a single link; left alone");
      const size = st.size;
      if (size <= limit) return;
      // The tail from a line's start, so the rotated file begins with a whole line.
      const keep = Math.min(size, Math.max(1, Math.floor(limit / 4)));
      const tail = Buffer.alloc(keep);
      const { bytesRead } = await handle.read(tail, 0, keep, size - keep);
      const newline = tail.subarray(0, bytesRead).indexOf(0x0a);
      const kept = newline >= 0 && newline < bytesRead - 1 ? tail.subarray(newline + 1, bytesRead) : tail.subarray(0, bytesRead);
      const rotated = path.join(path.dirname(file), ROTATED);
      await rm(`${rotated}.tmp`, { force: true });
      await writeFile(`${rotated}.tmp`, kept, { mode: 0o600, flag: "wx" });
      await rename(`${rotated}.tmp`, rotated);
      await handle.truncate(0);
      this.said(file, { sizeBytes: size, keptBytes: kept.length, limitBytes: limit });
    } finally {
      await handle.close();
    }
  }
}

/** How often one log's rotations are told in Hoard's own log (a flood rotates it many times a second). */
const SAY_EVERY_MS = 60_000;

function mb(bytes: number): string {
  return `${Math.floor(bytes / (1024 * 1024))} MB`;
}
