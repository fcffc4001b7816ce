/**
 * The cgroup filesystem as the limits driver uses it: where the controllers are mounted (v1 or v2), its
 * control files, moving a process tree into a cgroup and emptying and removing one.
 */
import { access, mkdir, readdir, readFile, rmdir, writeFile } from "node:fs/promises";
import path from "node:path";

/** Where the controllers Hoard needs are mounted. */
export type Layout = { version: 1; memory: string; cpu: string } | { version: 2; root: string };


/** Finds the memory and cpu controllers: v1 when memory is mounted as a v1 hierarchy, else the unified v2 one. */
export async function detectLayout(): Promise<Layout> {
  const mounts = (await readFile("/proc/self/mounts", "utf8")).split("\n").map((line) => {
    const [, mountPoint = "", type = "", options = ""] = line.split(" ");
    return { mountPoint: unescapeMount(mountPoint), type, options: options.split(",") };
  });
  const v1 = (controller: string) => mounts.find((m) => m.type === "cgroup" && m.options.includes(controller))?.mountPoint;
  const memory = v1("memory");
  if (memory) {
    const cpu = v1("cpu");
    if (!cpu) throw new Error("the cgroup v1 cpu controller is not mounted: mount it (e.g. `mount -t cgroup -o cpu,cpuacct cgroup /sys/fs/cgroup/cpu,cpuacct`) so vCPU limits can be applied");
    return { version: 1, memory, cpu };
  }
  for (const m of mounts.filter((m) => m.type === "cgroup2")) {
    const controllers = (await readFile(path.join(m.mountPoint, "cgroup.controllers"), "utf8").catch(() => "")).split(/\s+/);
    if (controllers.includes("memory") && controllers.includes("cpu")) return { version: 2, root: m.mountPoint };
  }
  throw new Error(
    "the cgroup memory controller is not mounted (neither a cgroup v1 'memory' hierarchy nor a cgroup v2 hierarchy offering memory and cpu): " +
      "mount cgroup2 on /sys/fs/cgroup (or the v1 memory and cpu controllers) so flavors can limit guests",
  );
}

/** /proc/mounts writes spaces, tabs, newlines and backslashes in paths as octal escapes. */
function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));
}

/** Makes a cgroup folder (and its parents when `recursive`). */
export async function makeCgroup(dir: string, recursive = false): Promise<void> {
  try {
    await mkdir(dir, { recursive });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return;
    throw explain(err, `create the cgroup ${dir}`);
  }
}

/** Offers the memory and cpu controllers to the children of a v2 cgroup. */
export async function enableControllers(dir: string): Promise<void> {
  const enabled = (await readControl(dir, "cgroup.subtree_control")).split(/\s+/);
  const missing = ["memory", "cpu"].filter((c) => !enabled.includes(c));
  if (missing.length === 0) return;
  try {
    await writeFile(path.join(dir, "cgroup.subtree_control"), missing.map((c) => `+${c}`).join(" "));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "EBUSY") {
      throw new Error(`cannot enable the ${missing.join(" and ")} controllers for the children of ${dir}: it holds processes itself (cgroup v2 forbids that); move them out or give Hoard another parent cgroup`);
    }
    if (code === "ENOENT" || code === "EINVAL") {
      throw new Error(`cannot enable the ${missing.join(" and ")} controllers below ${dir}: its parent does not offer them; enable them in the parent's cgroup.subtree_control`);
    }
    throw explain(err, `enable controllers in ${dir}`);
  }
}

/** A control file's content, trimmed. */
export async function readControl(dir: string, file: string): Promise<string> {
  try {
    return (await readFile(path.join(dir, file), "utf8")).trim();
  } catch (err) {
    throw explain(err, `read ${path.join(dir, file)}`);
  }
}

/** Writes a control file. */
export async function writeControl(dir: string, file: string, value: string): Promise<void> {
  try {
    await writeFile(path.join(dir, file), value);
  } catch (err) {
    throw explain(err, `write ${value} to ${path.join(dir, file)}`);
  }
}

/** Writes a memory limit; the kernel answers EBUSY when it cannot reclaim enough to get under it. */
export async function writeLimit(dir: string, file: string, value: string, refused: (usage: number) => Error, usage: () => Promise<number>): Promise<void> {
  try {
    await writeFile(path.join(dir, file), value);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EBUSY") throw refused(await usage());
    throw explain(err, `write ${value} to ${path.join(dir, file)}`);
  }
}

/** Turns a failed cgroup file operation into what the operator should do about it. */
function explain(err: unknown, doing: string): Error {
  const e = err as NodeJS.ErrnoException;
  switch (e.code) {
    case "EACCES":
    case "EPERM":
    case "EROFS":
      return new Error(`cannot ${doing} (${e.code}): applying resource limits needs root, or a cgroup subtree delegated to Hoard's user`);
    case "ENOENT":
      return new Error(`cannot ${doing}: no such file; is the controller enabled for this cgroup?`);
    default:
      return new Error(`cannot ${doing}: ${e.message}`);
  }
}

/** Moves `pid` and the descendants it already has into the cgroup(s); children forked later follow on their own. */
export async function moveProcess(dirs: { memory: string; cpu: string }, pid: number, instanceId: string): Promise<void> {
  const move = async (p: number) => {
    for (const dir of new Set([dirs.memory, dirs.cpu])) await writeFile(path.join(dir, "cgroup.procs"), String(p));
  };
  try {
    await move(pid);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ESRCH") throw new Error(`process ${pid} of instance ${instanceId} has exited: its limits could not be applied`);
    throw explain(err, `move process ${pid} into the cgroup of instance ${instanceId}`);
  }
  // Once `pid` is inside, whatever it forks lands inside too. What it forked before is found here; a pass
  // repeats until it finds nothing new, for children those children forked meanwhile.
  const moved = new Set([pid]);
  for (;;) {
    const fresh = (await descendants(pid)).filter((p) => !moved.has(p));
    if (fresh.length === 0) return;
    for (const p of fresh) {
      moved.add(p);
      await move(p).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== "ESRCH") throw explain(err, `move process ${p} into the cgroup of instance ${instanceId}`);
      });
    }
  }
}

/** Every process below `pid` in the process tree. */
async function descendants(pid: number): Promise<number[]> {
  const children = new Map<number, number[]>();
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, "utf8").catch(() => undefined);
    if (stat === undefined) continue;
    // The parent pid is the second field after the command name, which is in parentheses and may contain ") ".
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
  }
  const found: number[] = [];
  const queue = [pid];
  while (queue.length) for (const c of children.get(queue.shift()!) ?? []) (found.push(c), queue.push(c));
  return found;
}

/** Empties a cgroup of its processes and removes it. */
export async function removeCgroup(dir: string, instanceId: string): Promise<void> {
  // A process that has just exited may take a moment to leave its cgroup.
  const deadline = Date.now() + 1_000;
  for (;;) {
    try {
      await rmdir(dir);
      return;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOENT") return;
      if (code !== "EBUSY") throw explain(err, `remove the cgroup ${dir}`);
      if (Date.now() >= deadline) {
        const pids = await readPids(dir).catch(() => []);
        throw new Error(
          pids.length
            ? `cannot remove the resource limits of instance ${instanceId}: processes ${pids.join(", ")} still run in its cgroup ${dir}; stop the guest first`
            : `cannot remove the resource limits of instance ${instanceId}: the kernel reports its cgroup ${dir} busy; retry later`,
        );
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** The pids in a cgroup. */
export async function readPids(dir: string): Promise<number[]> {
  const text = await readControl(dir, "cgroup.procs");
  return text.split("\n").filter((l) => l !== "").map(Number);
}

/** A limit as a number, or null for the kernel's "no limit" (v2 "max", v1 -1 or a value near 2^63). */
export function limitValue(text: string): number | null {
  if (text === "max" || text === "-1") return null;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : null;
}

/** The value of `key` in a "key value" per line file (memory.oom_control, memory.events, cpu.stat); 0 if absent. */
export function keyedValue(text: string, key: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${key} `));
  return line ? Number(line.slice(key.length + 1)) : 0;
}

/** Whether anything is at `p`. */
export async function exists(p: string): Promise<boolean> {
  return access(p).then(() => true, () => false);
}
