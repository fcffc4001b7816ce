/**
 * Redis backup strategy "redis-rdb": BGSAVE (a fork writes a point-in-time RDB while the engine serves),
 * wait for it, and carry the RDB with the ACL file (the tenant's users). No lock: writes never wait.
 *
 * Restore: guests run with appendonly yes, and Redis 7 then loads only its AOF folder (an RDB beside it is
 * ignored and the data would come up empty), so the RDB also becomes the base of a new AOF
 * (`appendonlydir/appendonly.aof.1.base.rdb` + manifest). dump.rdb stays too, for a guest configured
 * with appendonly no.
 */
import { copyFile, mkdir, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import type { BackupContext, BackupStrategy, BackupTaken, GuestHandle } from "../contract.js";
import { ACL_FILE, reopenRestoredAcl } from "./acl.js";
import { ADMIN_USER, openConnection, plainError, socketPath } from "./connection.js";

const RDB = "dump.rdb";
/** How long a BGSAVE may take before the backup gives up (the engine goes on saving). */
const SAVE_TIMEOUT_MS = 10 * 60_000;

/** BGSAVE, then the RDB and the ACL file. */
export class RedisRdbBackup implements BackupStrategy {
  readonly name = "redis-rdb";
  readonly manager = "redis";
  readonly restoreBy = "files" as const;

  async take(guest: GuestHandle, ctx: BackupContext): Promise<BackupTaken> {
    const client = await openConnection({ path: socketPath(guest) }, { user: ADMIN_USER, password: guest.adminPassword }, 10_000);
    const copy = path.join(ctx.scratch, "data");
    try {
      const before = Number(await client.call("LASTSAVE"));
      const started = performance.now();
      // A save already running (a save point) is waited for, then ours is asked again: its fork came earlier.
      for (;;) {
        const reply = await client.call("BGSAVE").catch((err: Error) => err);
        if (!(reply instanceof Error)) break;
        if (!/already in progress|rewriting in progress/i.test(reply.message)) throw plainError(reply, "BGSAVE was refused");
        await this.waitSaved(client, started);
      }
      await this.waitSaved(client, started);
      const info = String(await client.call("INFO", "persistence"));
      if (!/rdb_last_bgsave_status:ok/.test(info)) throw new Error("Redis could not write its RDB file (rdb_last_bgsave_status is not ok): is its volume full?");
      if (Number(await client.call("LASTSAVE")) < before) throw new Error("Redis reported no new save");
      // Copied at once: a later save point replaces dump.rdb (atomically, by rename) with a newer one.
      await mkdir(copy, { recursive: true, mode: 0o700 });
      await copyFile(path.join(guest.dataDir, RDB), path.join(copy, RDB));
      await copyFile(path.join(guest.dataDir, ACL_FILE), path.join(copy, ACL_FILE));
      return { payload: { kind: "folders", parts: [{ dir: ctx.scratch, names: ["data"] }] }, lockMs: null, notes: [`RDB written by BGSAVE in ${Math.round(performance.now() - started)} ms; writes were not blocked`] };
    } finally {
      client.disconnect();
    }
  }

  async adoptFiles(guest: GuestHandle): Promise<void> {
    const aof = path.join(guest.dataDir, "appendonlydir");
    await rm(aof, { recursive: true, force: true });
    await mkdir(aof, { mode: 0o700 });
    await copyFile(path.join(guest.dataDir, RDB), path.join(aof, "appendonly.aof.1.base.rdb"));
    await writeFile(path.join(aof, "appendonly.aof.manifest"), "file appendonly.aof.1.base.rdb seq 1 type b\n", { mode: 0o600 });
    await reopenRestoredAcl(guest);
  }

  private async waitSaved(client: Awaited<ReturnType<typeof openConnection>>, started: number): Promise<void> {
    for (;;) {
      const info = String(await client.call("INFO", "persistence"));
      if (/rdb_bgsave_in_progress:0/.test(info)) return;
      if (performance.now() - started > SAVE_TIMEOUT_MS) throw new Error(`BGSAVE did not finish within ${SAVE_TIMEOUT_MS / 60_000} minutes`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }
}
