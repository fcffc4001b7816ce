/**
 * Compute driver "guest users": every guest's engine runs as an OS account of its own, made for it and
 * removed with it, so one guest's engine can read or write nothing of another guest's, of Hoard's state, or
 * of the node (a uid shared between guests, like `postgres` was, is no boundary at all).
 *
 * Accounts are real (useradd/userdel), not bare numbers, because engines look themselves up (PostgreSQL's
 * initdb and postgres call getpwuid). Each has its own group, no home, no login shell, no lastlog entry and
 * no subordinate ids, with a uid and gid from a range of the node's own (HOARD's default: 700000000 to
 * 700999999, above the ranges login.defs hands out). useradd locks /etc/passwd itself, so two Hoards on one
 * machine can make accounts at the same time; their names keep them apart:
 *   hoard-<scope[0..8]>-<sha256(key)[0..12]>   (27 characters; the comment names the key in full)
 * where the scope is the node's (see cgroupScope) and the key the instance id (or `image-…` for the
 * account a golden image is built as).
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { promisify } from "node:util";

const run = promisify(execFile);

/** An OS account as the kernel knows it. */
export interface OsUser {
  name: string;
  uid: number;
  gid: number;
}

export interface GuestUsersOptions {
  /** Tells this node's accounts from another Hoard's on the machine: 8 hex digits or more (see cgroupScope). */
  scope: string;
  /** The uids (and gids) accounts get, first and last; [700000000, 700999999] unless given. */
  range?: [number, number];
}

export const DEFAULT_GUEST_ID_RANGE: [number, number] = [700_000_000, 700_999_999];

/** useradd and userdel of one process run one at a time (across processes, their own lock on /etc/passwd holds). */
let queue: Promise<unknown> = Promise.resolve();

/** Makes, finds and removes the OS accounts of one node's guests. */
export class GuestUsers {
  readonly prefix: string;
  private readonly range: [number, number];

  constructor(opts: GuestUsersOptions) {
    if (!/^[0-9a-f]{8,}$/.test(opts.scope)) throw new Error(`'${opts.scope}' cannot be used as a guest user scope (at least 8 hex digits)`);
    this.prefix = `hoard-${opts.scope.slice(0, 8)}-`;
    this.range = opts.range ?? DEFAULT_GUEST_ID_RANGE;
    const [first, last] = this.range;
    if (!Number.isInteger(first) || !Number.isInteger(last) || first < 1000 || last < first || last >= 2 ** 31) {
      throw new Error(`[${first}, ${last}] is not a usable range of guest uids`);
    }
  }

  /** The account name for `key` (an instance id). */
  nameOf(key: string): string {
    return `${this.prefix}${createHash("sha256").update(key).digest("hex").slice(0, 12)}`;
  }

  /** The account of `key`, if it exists. */
  async find(key: string): Promise<OsUser | undefined> {
    const name = this.nameOf(key);
    return (await accounts()).find((a) => a.name === name);
  }

  /**
   * The account of `key`, made now unless it exists; idempotent. `want` is the uid a guest's record names:
   * an account with another one is refused (the guest's files would be another's), a missing one is made
   * with it again (the same uid keeps owning the guest's files).
   */
  async ensure(key: string, want?: { uid: number; gid: number }): Promise<OsUser> {
    return serial(async () => {
      const name = this.nameOf(key);
      const found = (await accounts()).find((a) => a.name === name);
      if (found) {
        if (want && (found.uid !== want.uid || found.gid !== want.gid)) throw new Error(`the OS account ${name} has uid ${found.uid}, not the ${want.uid} its guest was made with`);
        return found;
      }
      const [first, last] = this.range;
      const ids = want ? ["-u", String(want.uid)] : [];
      // A group left by an earlier attempt is taken as it is when it has the wanted gid.
      if (want && !(await groups()).some((g) => g.name === name && g.gid === want.gid)) await run("groupadd", ["-g", String(want.gid), name]).catch(failed("groupadd"));
      await run("useradd", [
        ...ids,
        ...(want ? ["-g", String(want.gid), "-N"] : ["-U"]),
        "-K", `UID_MIN=${first}`, "-K", `UID_MAX=${last}`, "-K", `GID_MIN=${first}`, "-K", `GID_MAX=${last}`,
        // No subordinate ids (they are for users who run containers), no lastlog entry (a sparse file sized by uid).
        "-K", "SUB_UID_COUNT=0", "-K", "SUB_GID_COUNT=0", "-l",
        "-M", "-d", "/nonexistent", "-s", "/usr/sbin/nologin",
        "-c", `Hoard guest ${key.replace(/[^A-Za-z0-9_.-]/g, "_").slice(0, 200)}`,
        name,
      ]).catch(failed("useradd"));
      const made = (await accounts()).find((a) => a.name === name);
      if (!made) throw new Error(`useradd made no account ${name}`);
      if (made.uid === 0 || made.gid === 0) throw new Error(`the OS account ${name} came out as root`);
      return made;
    });
  }

  /**
   * Removes the account of `key` and its group; nothing when it is gone. Called once its guest's engine has
   * stopped: any process still running as the account (a child the engine left) is killed first, as userdel
   * refuses to remove a user with processes and a uid given to a later guest must not find them.
   */
  async remove(key: string): Promise<void> {
    await serial(async () => {
      const name = this.nameOf(key);
      const account = (await accounts()).find((a) => a.name === name);
      if (account) {
        await killProcessesOf(account.uid);
        await run("userdel", [name]).catch(failed("userdel"));
      }
      if ((await groups()).some((g) => g.name === name)) await run("groupdel", [name]).catch(failed("groupdel"));
    });
  }

  /** The names of this node's accounts (and groups) that exist now. */
  async list(): Promise<string[]> {
    const names = new Set([...(await accounts()), ...(await groups())].map((a) => a.name));
    return [...names].filter((n) => n.startsWith(this.prefix)).sort();
  }
}

async function accounts(): Promise<OsUser[]> {
  const text = await readFile("/etc/passwd", "utf8");
  return text.split("\n").flatMap((line) => {
    const [name, , uid, gid] = line.split(":");
    return name && uid !== undefined && gid !== undefined ? [{ name, uid: Number(uid), gid: Number(gid) }] : [];
  });
}

async function groups(): Promise<{ name: string; gid: number }[]> {
  const text = await readFile("/etc/group", "utf8");
  return text.split("\n").flatMap((line) => {
    const [name, , gid] = line.split(":");
    return name && gid !== undefined ? [{ name, gid: Number(gid) }] : [];
  });
}

/** The live pids whose real, effective or saved uid is `uid`. */
export async function processesOf(uid: number): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir("/proc").catch(() => [] as string[])) {
    if (!/^\d+$/.test(entry)) continue;
    const status = await readFile(`/proc/${entry}/status`, "utf8").catch(() => "");
    const uids = /^Uid:\s+(\d+)\s+(\d+)\s+(\d+)/m.exec(status);
    // A zombie has ended already; only its parent's wait removes it.
    if (/^State:\s+Z/m.test(status)) continue;
    if (uids && uids.slice(1, 4).some((u) => Number(u) === uid)) found.push(Number(entry));
  }
  return found;
}

async function killProcessesOf(uid: number): Promise<void> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const pids = await processesOf(uid);
    if (pids.length === 0) return;
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // gone meanwhile
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`processes of uid ${uid} did not end`);
}

function serial<T>(work: () => Promise<T>): Promise<T> {
  const result = queue.then(work);
  queue = result.catch(() => {});
  return result;
}

function failed(tool: string): (e: Error & { stderr?: string }) => never {
  return (e) => {
    throw new Error(`${tool} failed: ${(e.stderr || e.message).trim()}`);
  };
}
