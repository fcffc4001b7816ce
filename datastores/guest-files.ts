/**
 * Where a guest's files go on its node and how the tracker writes files for an engine: the engine's own
 * folder in the run folder, the folder of its unix socket (short enough for a socket address), and files
 * written for the engine's user without following anything the engine planted.
 */
import { createHash } from "node:crypto";
import { closeSync, fchownSync, openSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { open, rename, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { GuestLayout } from "./contract.js";

/** sun_path holds 108 bytes, with the terminating NUL. */
const MAX_SOCKET_PATH = 107;
/** The longest socket file name an engine uses in its folder (PostgreSQL's `.s.PGSQL.<port>`). */
const LONGEST_SOCKET_NAME = ".s.PGSQL.65535";

/**
 * Where sockets go when the engine's folder is too deep for a socket address: a folder of the node's own
 * that the tracker sees (an engine's /tmp is private to it). /run needs root; a tracker that is not root
 * has no private /tmp either, so the system's temporary folder serves.
 */
export const SOCKET_FALLBACK_ROOT = process.getuid?.() === 0 ? "/run/hoard" : path.join(tmpdir(), `hoard-${process.getuid?.() ?? "user"}`);

/** The engine's own folder in its guest's run folder: its sockets, pid file, and files it writes (0700, its user's). */
export function engineDir(guest: Pick<GuestLayout, "runDir">): string {
  return path.join(guest.runDir, "engine");
}

/**
 * The folder of a guest's unix socket `socketName` (the longest any engine uses unless given): its engine
 * folder, or, when that path is too long for a socket address, a short folder under SOCKET_FALLBACK_ROOT named by a hash of the runDir (unique per node home and
 * instance). The tracker makes it (the engine's user's, 0700) before every start and removes it with the guest.
 */
export function guestSocketDir(runDir: string, socketName = LONGEST_SOCKET_NAME): string {
  const dir = engineDir({ runDir });
  if (Buffer.byteLength(path.join(dir, socketName)) <= MAX_SOCKET_PATH) return dir;
  return path.join(SOCKET_FALLBACK_ROOT, createHash("sha256").update(runDir).digest("hex").slice(0, 20));
}

/** A guest's unix socket named `file`: in the engine's folder when its path fits, else in the short folder. */
export function guestSocketPath(runDir: string, file: string): string {
  return path.join(guestSocketDir(runDir, file), file);
}

/**
 * Writes `text` as `file` (0600) for the engine's `user`, by the tracker (root), in a folder the engine may
 * write itself: made aside with O_EXCL (which follows no symlink the engine planted), owned through its own
 * descriptor, and renamed into place (a rename replaces a link, never its target). Synchronous, as launch()
 * must be; writeGuestFile is the same, awaited.
 */
export function writeGuestFileSync(file: string, text: string, user: { uid: number; gid: number } | undefined): void {
  const tmp = `${file}.hoard-tmp`;
  rmSync(tmp, { force: true });
  const fd = openSync(tmp, "wx", 0o600);
  try {
    if (user) fchownSync(fd, user.uid, user.gid);
    writeFileSync(fd, text);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}

/** writeGuestFileSync, awaited. */
export async function writeGuestFile(file: string, text: string, user: { uid: number; gid: number } | undefined): Promise<void> {
  const tmp = `${file}.hoard-tmp`;
  await rm(tmp, { force: true });
  const handle = await open(tmp, "wx", 0o600);
  try {
    if (user) await handle.chown(user.uid, user.gid);
    await handle.writeFile(text);
  } finally {
    await handle.close();
  }
  await rename(tmp, file);
}

/** The file in a guest's runDir that receives the engine's stdout and stderr: its log. */
export const ENGINE_LOG = "engine.log";
