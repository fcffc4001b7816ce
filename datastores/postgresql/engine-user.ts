/**
 * The OS side of a PostgreSQL guest: PostgreSQL refuses to run as root, so each guest's server runs as the
 * guest's own OS user. The folders it must reach get search (not read) permission for it, files it reads are
 * written as its own, and PostgreSQL's programs run as it with an environment of their own.
 */
import { spawn } from "node:child_process";
import { chownSync, lstatSync, mkdirSync } from "node:fs";
import { chmod, chown, realpath, stat } from "node:fs/promises";
import path from "node:path";
import { writeGuestFile } from "../guest-files.js";

/** Debian keeps each major version's binaries in <dir>/<major>/bin. */
export const DEFAULT_LIB_DIR = "/usr/lib/postgresql";

/** The engine's environment: nothing of the tracker's (its database URL, tokens) reaches a tenant superuser. */
export const ENGINE_ENV = { PATH: "/usr/bin:/bin", LANG: "C.UTF-8" };

export type EngineUser = { uid: number; gid: number };

/**
 * The OS user PostgreSQL runs as: the guest's own. A tracker that is not root runs it as itself; as root it
 * must have one, as PostgreSQL refuses root.
 */
export function engineUser(user: EngineUser | undefined): EngineUser | undefined {
  if (!user && process.getuid?.() === 0) throw new Error("PostgreSQL refuses to run as root, and the guest has no OS user of its own");
  return user;
}

/** Makes the socket folder (owned by the engine's user, 0700); synchronous, as launch() calls it. */
export function ensureSocketDir(dir: string, user: EngineUser | undefined): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // lstat: a symlink planted there must not lead the chown below to some other folder.
  const st = lstatSync(dir);
  if (!st.isDirectory()) throw new Error(`${dir} is not a folder; remove it`);
  if (user && st.uid !== user.uid) {
    // A folder that someone else made first must not become the engine's.
    if (st.uid !== 0) throw new Error(`${dir} belongs to uid ${st.uid}; remove it`);
    chownSync(dir, user.uid, user.gid);
  }
}

/** Lets the engine's group search (not list) a folder of this guest or image. */
export async function letGroupThrough(dir: string, user: EngineUser): Promise<void> {
  const st = await stat(dir);
  if (st.gid !== user.gid && st.uid !== user.uid) await chown(dir, st.uid, user.gid);
  if ((st.mode & 0o010) === 0) await chmod(dir, (st.mode & 0o7777) | 0o010);
}

/** Lets anyone search (not list) a folder that several engines' guests share (`volumes/`, `run/`). */
export async function letOthersThrough(dir: string): Promise<void> {
  const st = await stat(dir);
  if ((st.mode & 0o001) === 0) await chmod(dir, (st.mode & 0o7777) | 0o001);
}

/** Throws a clear error unless `user` may search every folder from / down to `dir`. */
export async function checkReachable(dir: string, user: EngineUser): Promise<void> {
  const parts = (await realpath(dir)).split(path.sep).filter(Boolean);
  for (let i = 0; i <= parts.length; i++) {
    const folder = `/${parts.slice(0, i).join("/")}`;
    const st = await stat(folder);
    const searchable = st.uid === user.uid ? st.mode & 0o100 : st.gid === user.gid ? st.mode & 0o010 : st.mode & 0o001;
    if (!searchable) {
      throw new Error(`the guest's OS user cannot enter ${folder}: Hoard's home must be reachable by it (chmod o+x the folders above it)`);
    }
  }
}

/** Writes a file into the data directory as the engine's user will need it (0600, owned by it). */
export async function writeEngineFile(file: string, text: string, user: EngineUser | undefined): Promise<void> {
  await writeGuestFile(file, text, user);
}

/** Runs a PostgreSQL program as the engine's user with `stdin`; rejects with the end of its output. */
export function runTool(file: string, args: string[], user: EngineUser | undefined, stdin = ""): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { cwd: "/", env: ENGINE_ENV, stdio: ["pipe", "pipe", "pipe"], ...(user ? { uid: user.uid, gid: user.gid } : {}) });
    let output = "";
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-8000);
    };
    child.stdout.on("data", keep);
    child.stderr.on("data", keep);
    child.on("error", reject);
    child.on("close", (code) => {
      if (code === 0) return resolve();
      const tail = output.split("\n").filter((l) => l.trim() !== "").slice(-10).join("\n");
      reject(new Error(`${path.basename(file)} failed (exit ${code}): ${tail}`));
    });
    child.stdin.end(stdin);
  });
}

/** The folder of a PostgreSQL major version's programs (pg_dump, psql, …). */
export function binDirOf(version: string, libDir = DEFAULT_LIB_DIR): string {
  return path.join(libDir, version, "bin");
}
