/** A guest's folders as its engine needs them: who owns each and who may pass through (see layout.ts). */
import { execFile } from "node:child_process";
import { chmod, lchown, lstat, mkdir, stat } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { engineDir, guestSocketDir, type GuestLayout } from "../../datastores/index.js";

const run = promisify(execFile);

/**
 * Makes the guest's folders as its engine needs them (see layout.ts): the run folder and the volume the
 * tracker's, which the guest's group may pass through; the engine folder, the socket folder and the data
 * the guest user's, 0700. The data is handed over (chown -R, no link followed) when its top is not the
 * guest user's already (a clone of a golden image, a backup unpacked) or when `data` is "always".
 * Without guest users, only the folders are made.
 */
export async function prepareFolders(home: string, guest: GuestLayout, opts: { data: "if-needed" | "always" | "never" } = { data: "if-needed" }): Promise<void> {
  const user = guest.user;
  const own = async (dir: string, owner: { uid: number; gid: number }, mode: number) => {
    await mkdir(dir, { recursive: true, mode });
    // lstat and lchown: a link planted in a folder the engine writes must not lead root anywhere else.
    const st = await lstat(dir);
    if (!st.isDirectory()) throw new Error(`${dir} is not a folder; remove it`);
    if (st.uid !== owner.uid || st.gid !== owner.gid) await lchown(dir, owner.uid, owner.gid);
    if ((st.mode & 0o7777) !== mode) await chmod(dir, mode);
  };
  const engine = engineDir(guest);
  const sockets = guestSocketDir(guest.runDir);
  if (!user) {
    await mkdir(engine, { recursive: true, mode: 0o700 });
    await mkdir(sockets, { recursive: true, mode: 0o700 });
    return;
  }
  // The folders that hold every guest's: passable by all, listable by none.
  for (const shared of [path.dirname(guest.runDir), path.dirname(guest.volume)]) await own(shared, { uid: 0, gid: 0 }, 0o711);
  await passable(home);
  await own(guest.runDir, { uid: 0, gid: user.gid }, 0o710);
  await own(guest.volume, { uid: 0, gid: user.gid }, 0o710);
  await own(engine, user, 0o700);
  if (sockets !== engine) {
    await own(path.dirname(sockets), { uid: 0, gid: 0 }, 0o711);
    await own(sockets, user, 0o700);
  }
  if (opts.data === "never") return;
  for (const shared of [path.dirname(guest.runDir), path.dirname(guest.volume)]) await checkPassable(shared);
  const data = await lstat(guest.dataDir);
  if (!data.isDirectory()) throw new Error(`${guest.dataDir} is not a folder`);
  if (opts.data === "always" || data.uid !== user.uid || data.gid !== user.gid) {
    await run("chown", ["-R", "-P", `${user.uid}:${user.gid}`, "--", guest.dataDir]);
  }
  await chmod(guest.dataDir, 0o700);
}

/** Lets everyone pass through (not list) a folder of the tracker's. */
async function passable(dir: string): Promise<void> {
  const st = await stat(dir);
  if ((st.mode & 0o001) === 0) await chmod(dir, (st.mode & 0o7777) | 0o001);
}

/** Throws a clear error unless every folder from / down to `dir` lets others pass, as a guest's engine must (run/, the volume pool). */
async function checkPassable(dir: string): Promise<void> {
  const parts = path.resolve(dir).split(path.sep).filter(Boolean);
  for (let i = 0; i <= parts.length; i++) {
    const folder = `/${parts.slice(0, i).join("/")}`;
    if (((await stat(folder)).mode & 0o001) === 0) {
      throw new Error(`guests' OS users cannot pass through ${folder}: Hoard's home must be reachable by others (chmod o+x the folders above it)`);
    }
  }
}
