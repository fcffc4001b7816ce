/**
 * The cgroup limits driver against the real kernel: limits are read back from the cgroup files, a process
 * that allocates past its memory limit is OOM-killed, a CPU-bound one is throttled, and nothing is left
 * under the parent cgroup afterwards. Needs root and the memory and cpu controllers (v1 or v2).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { once } from "node:events";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CgroupLimits, cgroupScope } from "../../drivers/compute/limits.js";
import { startProcess, type StartedProcess } from "../../drivers/compute/process.js";

const PYTHON = existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
const MB = 1024 * 1024;

let dir: string;
let limits: CgroupLimits;
const children: ChildProcess[] = [];
const started: StartedProcess[] = [];

/** A python process that prints "ready" and then runs `body` once it reads a line from stdin. */
function python(body: string): ChildProcess {
  const script = `import sys\nprint("ready", flush=True)\nsys.stdin.readline()\n${body}`;
  const child = spawn(PYTHON, ["-c", script], { stdio: ["pipe", "pipe", "inherit"] });
  children.push(child);
  return child;
}

async function ready(child: ChildProcess): Promise<void> {
  const [chunk] = (await once(child.stdout!, "data")) as [Buffer];
  expect(chunk.toString()).toContain("ready");
}

/** The cgroup a process is in, per hierarchy, from /proc (the kernel's view, not the driver's). */
async function cgroupsOf(pid: number): Promise<string> {
  return readFile(`/proc/${pid}/cgroup`, "utf8");
}

/** Every control file of the guest's cgroup(s) that the driver writes, as the kernel shows it. */
async function kernelFiles(instanceId: string): Promise<Record<string, string>> {
  const names = ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes", "cpu.cfs_quota_us", "cpu.cfs_period_us", "memory.max", "memory.swap.max", "cpu.max"];
  const files: Record<string, string> = {};
  for (const dir of await limits.cgroupDirs(instanceId)) {
    for (const name of names) {
      const text = await readFile(path.join(dir, name), "utf8").catch(() => undefined);
      if (text !== undefined) files[name] = text.trim();
    }
  }
  return files;
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "hoard-limits-"));
  // As a node would: the scope comes from its state folder, so parallel test runs do not collide.
  limits = new CgroupLimits({ scope: cgroupScope(dir) });
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  for (const p of started) {
    try {
      process.kill(p.pid, "SIGKILL");
    } catch {
      // already gone
    }
    await p.exited;
  }
  await Promise.all(children.map((c) => (c.exitCode === null && c.signalCode === null ? once(c, "exit") : undefined)));
  for (const id of await limits.listLimited()) await limits.removeLimits(id).catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
});

describe("cgroup limits", () => {
  it("applies a flavor's memory and vCPUs to a running guest, updates them and removes them", async () => {
    const id = `i-${randomUUID()}`;
    const guest = await startProcess({ command: "sleep", args: ["60"], logFile: path.join(dir, "sleep.log"), pidFile: path.join(dir, "sleep.pid") });
    started.push(guest);

    const applied = await limits.applyLimits(id, guest.pid, { memoryMb: 64, vcpus: 1 });
    expect(applied.memoryBytes).toBe(64 * MB);
    expect(applied.cpuQuotaUs).toBe(applied.cpuPeriodUs);
    expect(applied.vcpus).toBe(1);
    expect(applied.pids).toEqual([guest.pid]);
    if (applied.memoryAndSwapBytes !== undefined) expect(applied.memoryAndSwapBytes).toBe(64 * MB);
    expect(await limits.listLimited()).toEqual([id]);
    // The kernel's own account: where the process is, and the control files themselves.
    expect(await cgroupsOf(guest.pid)).toContain(`/hoard/${limits.scope}-${id}`);
    const files = await kernelFiles(id);
    if (applied.cgroupVersion === 1) {
      expect(files["memory.limit_in_bytes"]).toBe(String(64 * MB));
      expect(files["cpu.cfs_quota_us"]).toBe(files["cpu.cfs_period_us"]);
    } else {
      expect(files["memory.max"]).toBe(String(64 * MB));
      expect(files["cpu.max"]).toBe("100000 100000");
    }

    // Applying again (a tracker that restarted and adopts its guest) reuses the cgroup.
    await limits.applyLimits(id, guest.pid, { memoryMb: 64, vcpus: 1 });

    const resized = await limits.updateLimits(id, { memoryMb: 128, vcpus: 2 });
    expect(resized.memoryBytes).toBe(128 * MB);
    expect(resized.vcpus).toBe(2);
    const shrunk = await limits.updateLimits(id, { memoryMb: 32 });
    expect(shrunk.memoryBytes).toBe(32 * MB);
    expect(shrunk.vcpus).toBe(2);
    expect((await limits.readLimits(id))!.memoryBytes).toBe(32 * MB);

    await expect(limits.removeLimits(id)).rejects.toThrow(`processes ${guest.pid} still run in its cgroup`);
    process.kill(guest.pid, "SIGTERM");
    await guest.exited;
    await limits.removeLimits(id);
    expect(await limits.readLimits(id)).toBeUndefined();
    // Removing twice is harmless.
    await limits.removeLimits(id);
  });

  it("OOM-kills a guest that allocates past its memory limit", async () => {
    const id = `i-${randomUUID()}`;
    // 1 MiB blocks filled with a non-zero byte, so every page is really touched.
    const hog = python(`blocks = []\nfor i in range(256):\n    blocks.append(b"\\1" * (1 << 20))\nprint("survived", flush=True)`);
    await ready(hog);
    await limits.applyLimits(id, hog.pid!, { memoryMb: 64, vcpus: 1 });
    const exited = once(hog, "exit") as Promise<[number | null, NodeJS.Signals | null]>;
    hog.stdin!.write("go\n");
    const [code, signal] = await exited;
    expect({ code, signal }).toEqual({ code: null, signal: "SIGKILL" });
    const after = (await limits.readLimits(id))!;
    expect(after.oomKills).toBeGreaterThanOrEqual(1);
    expect(after.pids).toEqual([]);
    await limits.removeLimits(id);
  });

  it("refuses to lower memory below what the guest holds, keeping the old limit", async () => {
    const id = `i-${randomUUID()}`;
    const holder = python(`held = b"\\1" * (40 << 20)\nprint("holding", flush=True)\nsys.stdin.readline()`);
    await ready(holder);
    await limits.applyLimits(id, holder.pid!, { memoryMb: 64, vcpus: 1 });
    holder.stdin!.write("go\n");
    const [chunk] = (await once(holder.stdout!, "data")) as [Buffer];
    expect(chunk.toString()).toContain("holding");
    expect((await limits.readLimits(id))!.memoryUsageBytes).toBeGreaterThan(40 * MB);

    await expect(limits.updateLimits(id, { memoryMb: 16 })).rejects.toThrow(/cannot set the memory limit of instance .* to 16 MB: its processes use \d+ MB that the kernel could not reclaim/);
    const kept = (await limits.readLimits(id))!;
    expect(kept.memoryBytes).toBe(64 * MB);
    if (kept.memoryAndSwapBytes !== undefined) expect(kept.memoryAndSwapBytes).toBe(64 * MB);
    expect(kept.pids).toEqual([holder.pid]);

    holder.stdin!.write("done\n");
    await once(holder, "exit");
    await limits.removeLimits(id);
  });

  it("throttles a CPU-bound guest to its vCPU share", async () => {
    const id = `i-${randomUUID()}`;
    const spinner = python(`import time\nend = time.time() + 0.6\nwhile time.time() < end:\n    pass`);
    await ready(spinner);
    await limits.applyLimits(id, spinner.pid!, { memoryMb: 64, vcpus: 0.1 });
    const exited = once(spinner, "exit");
    spinner.stdin!.write("go\n");
    await exited;
    const after = (await limits.readLimits(id))!;
    expect(after.vcpus).toBeCloseTo(0.1);
    expect(after.throttledPeriods).toBeGreaterThan(0);
    await limits.removeLimits(id);
  });

  it("moves the children a guest already forked along with it", async () => {
    const id = `i-${randomUUID()}`;
    const parent = spawn("sh", ["-c", "sleep 60 & sleep 60 & wait"], { stdio: "ignore" });
    children.push(parent);
    // Wait until both children exist.
    let kids: number[] = [];
    for (let i = 0; i < 100 && kids.length < 2; i++) {
      await new Promise((r) => setTimeout(r, 20));
      kids = await childrenOf(parent.pid!);
    }
    expect(kids).toHaveLength(2);
    const applied = await limits.applyLimits(id, parent.pid!, { memoryMb: 64, vcpus: 1 });
    expect(applied.pids.sort()).toEqual([parent.pid!, ...kids].sort());
    for (const kid of kids) process.kill(kid, "SIGKILL");
    await once(parent, "exit");
    await limits.removeLimits(id);
  });

  it("refuses ids and scopes that could leave the parent cgroup", async () => {
    await expect(limits.applyLimits("../escape", process.pid, { memoryMb: 64, vcpus: 1 })).rejects.toThrow("cannot be used as an instance id");
    await expect(limits.readLimits("a/b")).rejects.toThrow("cannot be used as an instance id");
    await expect(limits.applyLimits("ok", 12, { memoryMb: 0, vcpus: 1 })).rejects.toThrow("memory limit of 0 MB cannot be applied");
    expect(() => new CgroupLimits({ scope: "../x" })).toThrow("cannot be used as a cgroup scope");
    expect(() => new CgroupLimits({ scope: "s", parent: "/abs" })).toThrow("cannot be used as the parent cgroup");
  });

  it("leaves nothing of this scope under the parent cgroup", async () => {
    expect(await limits.listLimited()).toEqual([]);
    for (const cgroup of await limits.cgroupDirs("probe")) {
      const parent = path.dirname(cgroup);
      const left = (await readdir(parent)).filter((n) => n.startsWith(`${limits.scope}-`));
      expect(left).toEqual([]);
    }
  });
});

/** Children of `pid`, by scanning /proc. */
async function childrenOf(pid: number): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, "utf8").catch(() => "");
    if (Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === pid) found.push(Number(entry));
  }
  return found;
}
