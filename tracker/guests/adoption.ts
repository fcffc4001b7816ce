/** Taking back the guests a previous tracker left, and moving old guests to OS users of their own. */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { chown, mkdir, readdir, rename, rm } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { engineDir, strategyFor } from "../../datastores/index.js";
import { isRunning, processesWith } from "../../drivers/index.js";
import type { GuestBackups } from "../backups.js";
import type { GuestsContext } from "./context.js";
import { prepareFolders } from "./folders.js";
import { exists, isSafeId } from "./layout.js";
import { placementOf, type GuestRecord } from "./records.js";

const run = promisify(execFile);

/** Adopts the guests found on a node at tracker start. */
export class Adoption {
  constructor(
    private readonly ctx: GuestsContext,
    private readonly backups: GuestBackups,
  ) {}

  /** Takes back the guests a previous tracker left (running or not); returns their ids. */
  async adopt(): Promise<string[]> {
    const { log, users, layout, records, marks, locks } = this.ctx;
    const entries = await readdir(layout.runRoot(), { withFileTypes: true }).catch(() => []);
    const adopted: string[] = [];
    for (const entry of entries) {
      if (!entry.isDirectory() || !isSafeId(entry.name)) continue;
      const record = await records.read(entry.name);
      if (record && users && record.uid === undefined) {
        await locks.exclusive(record.instanceId, () => this.moveToOwnUser(record)).catch((err: Error) => log.error({ instance: record.instanceId, err: err.message }, "could not move a guest to its own OS user; the next tracker start tries again"));
      } else if (record && users && record.uid !== undefined && record.gid !== undefined) {
        // An account lost meanwhile (a restored /etc/passwd) is made again with the uid that owns the guest's files.
        const owner = { uid: record.uid, gid: record.gid };
        await users.ensure(record.instanceId, owner).catch((err: Error) => log.error({ instance: record.instanceId, err: err.message }, "the guest's OS account is not as its record says"));
      }
      if (record) adopted.push(record.instanceId);
      // Its provision command comes again (and rebuilds it) or its deprovision removes it.
      else log.warn({ instance: entry.name }, "half-built guest left by an earlier tracker; not adopted");
    }
    await this.backups.sweep().catch((err: Error) => log.warn({ err: err.message }, "could not clean up after interrupted backups"));
    await marks.pruneAll();
    return adopted;
  }

  /**
   * Moves a guest made before guests had OS users of their own (its engine as root, or PostgreSQL's as
   * `postgres`) to its own: its account is made, its engine stopped, the engine's files of the old layout
   * moved into the engine's folder, its data handed over, the engine started again (if it ran) and the record
   * written with the uid last. A crash anywhere before that leaves a record without a uid, and the next start
   * does it all again (each step is idempotent): a guest is never left half-moved. An engine that does not come
   * back is reported; the guest keeps its new user and its data, and is started as any stopped guest is.
   */
  private async moveToOwnUser(record: GuestRecord): Promise<void> {
    const { home, log, records, engines } = this.ctx;
    const id = record.instanceId;
    const before = records.handle(record);
    const running = await isRunning(record.pid, before.dataDir);
    const account = await this.ctx.users!.ensure(id);
    const moved: GuestRecord = { ...record, uid: account.uid, gid: account.gid };
    const guest = records.handle(moved);
    await engines.stop(record.manager, before.runDir, before.dataDir, [record.pid, ...(await processesWith(before.dataDir))]);
    const engine = engineDir(guest);
    await mkdir(engine, { recursive: true, mode: 0o700 });
    // The old layout: sockets and pid files in the run folder itself (PostgreSQL's sockets in pg/), long paths'
    // sockets under /tmp, and MariaDB's secure-file-priv folder and init file.
    const hash = createHash("sha256").update(guest.runDir).digest("hex").slice(0, 20);
    for (const stale of ["mysqld.sock", "mysqld.sock.lock", "redis.sock", "mariadbd.pid", "pg", `/tmp/hoard-${hash}.sock`, `/tmp/hoard-pg-${hash}`]) {
      await rm(path.resolve(guest.runDir, stale), { recursive: true, force: true });
    }
    for (const kept of ["files", "init.sql"]) {
      if (await exists(path.join(guest.runDir, kept))) await rename(path.join(guest.runDir, kept), path.join(engine, kept));
    }
    await prepareFolders(home, guest, { data: "always" });
    if (await exists(path.join(engine, "files"))) await run("chown", ["-R", "-P", `${account.uid}:${account.gid}`, "--", path.join(engine, "files")]);
    if (await exists(path.join(engine, "init.sql"))) await chown(path.join(engine, "init.sql"), account.uid, account.gid);
    let next = moved;
    if (running && !record.stopped) {
      try {
        const strategy = strategyFor(record.manager);
        await strategy.checkInstalled(record.version);
        next = { ...moved, pid: (await engines.start(strategy, guest, placementOf(moved))).pid };
      } catch (err) {
        log.error({ instance: id, err: (err as Error).message }, "guest moved to its own OS user, but its engine did not start again");
      }
    }
    await records.save(next);
    log.info({ instance: id, uid: account.uid, restarted: next.pid !== record.pid }, "guest moved to its own OS user");
  }
}
