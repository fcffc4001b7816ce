/**
 * How every engine is started, whatever the network driver: as its guest's own OS user (see guest-users.ts),
 * with no capabilities (none effective, permitted, inheritable or ambient, and an empty bounding set, so not
 * even a setuid program gives one back), `no_new_privs`, no supplementary groups, and a private /tmp (a
 * tmpfs of its own in a mount namespace of its own), so that world-writable folders are no channel between
 * guests. The environment is a minimal one unless the engine's strategy gives its own: nothing of the
 * tracker's (database URLs, tokens) reaches a tenant. Its tasks (processes and threads, counted for its uid,
 * which no other guest shares) are capped, so no engine feature a tenant can drive forks the node out of pids
 * (the kernel's pid_max is often 32768 for the whole machine), and it dumps no core.
 *
 * The chain keeps one pid from start to engine (unshare, sh and setpriv each exec the next), which is what the
 * tracker's pid file, its cgroup move and its signals rely on.
 */
import type { EngineCommand } from "../network/placement.js";

/** The engine's own /tmp: small, as the guest's memory limit counts its pages anyway. */
const PRIVATE_TMP_MB = 64;
const ENGINE_ENV = { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", LANG: "C.UTF-8" };
/** RLIMIT_NPROC of a guest's uid: room for thousands of connections, far from the node's pid_max. */
export const GUEST_MAX_TASKS = 4096;

/**
 * Run as root in the engine's new mount namespace, before it drops privileges: `$1` names how many /tmp
 * folders follow. /tmp as it was is held at a staging point while the tmpfs goes over it, each kept folder is
 * bound from there into the tmpfs, and the staging point is let go again.
 */
const KEEP_AND_MOUNT_TMP = [
  "set -e",
  'n=$1; shift; S=/run/hoard/.tmp-stage',
  'if [ "$n" -gt 0 ]; then mkdir -p "$S"; mount --rbind /tmp "$S"; fi',
  "mount -t tmpfs -o @OPTIONS@ hoard-tmp /tmp",
  'i=0; while [ "$i" -lt "$n" ]; do mkdir -p "/tmp/$1"; mount --rbind "$S/$1" "/tmp/$1"; shift; i=$((i+1)); done',
  'if [ "$n" -gt 0 ]; then umount -l "$S"; fi',
  'exec "$@"',
].join("\n");

/** The folders right under /tmp that the command's arguments name (its state folder's, when HOARD_HOME is there). */
function tmpFoldersOf(command: Omit<EngineCommand, "user">): string[] {
  const names = new Set<string>();
  for (const text of command.args) {
    for (const m of text.matchAll(/(?:^|[=\s:,])\/tmp\/([^/\s:,=]+)/g)) {
      // Only plain names reach the mount script (it passes them quoted, never as shell text, anyway).
      if (/^[A-Za-z0-9._+-]+$/.test(m[1]!) && m[1] !== "." && m[1] !== "..") names.add(m[1]!);
    }
  }
  return [...names].sort();
}

export interface ConfineOptions {
  /**
   * The command already runs in a mount namespace of its own (`ip netns exec` makes one); otherwise one is
   * made with `unshare --mount`.
   */
  inOwnMountNamespace: boolean;
}

/**
 * `command` as its `user`, without privileges, with a private /tmp. A tracker that is not root cannot switch
 * users or mount: the engine then runs as the tracker's user with `no_new_privs` only.
 */
export function confine(command: EngineCommand, opts: ConfineOptions): EngineCommand {
  const { user, ...rest } = command;
  const env = rest.env ?? ENGINE_ENV;
  if (process.getuid?.() !== 0 || !user) {
    return { ...rest, env, command: "setpriv", args: ["--no-new-privs", "--", rest.command, ...rest.args] };
  }
  if (!Number.isInteger(user.uid) || !Number.isInteger(user.gid) || user.uid <= 0 || user.gid <= 0) throw new Error(`an engine never runs as uid ${user.uid}, gid ${user.gid}`);
  const tmp = `size=${PRIVATE_TMP_MB}m,mode=0700,uid=${user.uid},gid=${user.gid},nosuid,nodev`;
  const drop = ["setpriv", `--reuid=${user.uid}`, `--regid=${user.gid}`, "--clear-groups", "--no-new-privs", "--inh-caps=-all", "--bounding-set=-all", "--"];
  // The mount needs root; the rest of the chain gets the arguments as "$@", never as shell text. A state
  // folder under /tmp (HOARD_HOME=/tmp/…) would vanish under the new tmpfs: each top folder of /tmp the
  // engine's paths name is bound back in (with its submounts: a btrfs pool mounted inside), and nothing else.
  const keep = tmpFoldersOf(rest);
  const mountTmp = ["sh", "-c", KEEP_AND_MOUNT_TMP.replace("@OPTIONS@", tmp), "hoard-engine", String(keep.length), ...keep];
  const namespace = opts.inOwnMountNamespace ? [] : ["unshare", "--mount", "--propagation", "private", "--"];
  // Set as root (soft and hard), before the uid drops: the engine cannot raise them again.
  const limits = ["prlimit", `--nproc=${GUEST_MAX_TASKS}:${GUEST_MAX_TASKS}`, "--core=0:0", "--"];
  const chain = [...namespace, ...mountTmp, ...limits, ...drop, rest.command, ...rest.args];
  return { ...rest, env, command: chain[0]!, args: chain.slice(1) };
}
