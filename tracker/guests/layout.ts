/**
 * Where a node keeps its guests, under `home` (the guest's OS user is its own, see drivers/compute/guest-users.ts):
 *   images/<manager>-<version>/data     golden data directory, built once (image.json marks it complete), root's
 *   volumes/<instanceId>/               root, group the guest's, 0710: the engine passes through, lists nothing
 *   volumes/<instanceId>/data           the guest's data (a clone of the golden image): the guest user's, 0700
 *   run/<instanceId>/                   root, group the guest's, 0710: the tracker's files, root's, 0600 —
 *                                       engine.log (+ engine.log.1, see engine-logs.ts), engine.pid, admin.secret, guest.json (no secrets; records
 *                                       the guest's uid and gid), settings.json
 *   run/<instanceId>/engine/            the guest user's, 0700: the engine's sockets, pid file, and the files
 *                                       it reads or writes itself (MariaDB's init.sql and secure-file-priv folder)
 * A socket path too long for an address goes to /run/hoard/<hash>/ instead (guestSocketDir). Each engine runs
 * confined (drivers/compute/confine.ts): its own uid, no capabilities, no_new_privs, a private /tmp.
 * guest.json is written last: a run folder without it is a half-built guest. A guest.json without a uid is
 * a guest made before guests had users of their own (running as root, PostgreSQL's as `postgres`): adopt()
 * moves it to its own user.
 */
import { rename, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Volumes } from "../../drivers/index.js";

/** The guests' run folders, under the home (engine-logs.ts watches them too). */
export const RUN_FOLDER = "run";
/** The guest's record (records.ts), in its run folder. */
export const GUEST_FILE = "guest.json";
/** The admin password the tracker logs into the engine with, in the run folder. */
export const SECRET_FILE = "admin.secret";
/** The engine's pid, in the run folder. */
export const PID_FILE = "engine.pid";
/** The engine parameters every start of the guest uses (flavor-derived and configuration group values). */
export const SETTINGS_FILE = "settings.json";
/** When the configure request whose settings the guest holds was asked for. */
export const CONFIGURED_AT_FILE = "configured-at.json";
/** Marks a golden image (or its copy in a volume pool) complete. */
export const IMAGE_MARKER = "image.json";
/** The engine's data directory inside a volume or an image folder. */
export const DATA = "data";

/** The folders of one node's guests. */
export class NodeLayout {
  constructor(
    readonly home: string,
    private readonly volumes: Volumes,
  ) {}

  /** The folder that holds every guest's run folder. */
  runRoot(): string {
    return path.join(this.home, RUN_FOLDER);
  }

  /** The tracker's files of one guest. */
  runDir(id: string): string {
    return path.join(this.runRoot(), id);
  }

  /** Also the marker that tells our engine process from an unrelated one with a recycled pid. */
  dataDir(id: string): string {
    return path.join(this.volumes.path(id), DATA);
  }
}

/** Instance ids become folder names: refuse anything that could leave the home folder. */
export function isSafeId(id: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$/.test(id);
}

/** The id, or an error when it is not one `isSafeId` accepts. */
export function checkId(id: string): string {
  if (!isSafeId(id)) throw new Error(`'${id}' is not a valid instance id`);
  return id;
}

/** Whether anything is at `file`. */
export async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

/** Written aside and renamed, so a reader never sees half a file. */
export async function writeJson(file: string, value: unknown): Promise<void> {
  const tmp = `${file}.tmp`;
  await writeFile(tmp, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 });
  await rename(tmp, file);
}
