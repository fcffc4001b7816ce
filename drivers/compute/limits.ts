/**
 * Compute driver "limits": a flavor's RAM and vCPUs become kernel-enforced limits on a guest's processes,
 * through cgroups. Each guest gets the cgroup `<parent>/<scope>-<instanceId>`: on cgroup v1 once in the
 * memory hierarchy and once in the cpu hierarchy, on cgroup v2 once in the unified hierarchy. The scope
 * (see `cgroupScope`) keeps the guests of two Hoards on one machine apart.
 *
 * Limits are applied to a running process, so memory it allocated before it was moved stays charged where
 * it was (v1 does not move charges); apply them right after the engine starts, before it loads data.
 * The cgroup filesystem itself (controllers, control files, moving and removing) is cgroup-fs.ts.
 */
import { createHash } from "node:crypto";
import { readdir, rmdir } from "node:fs/promises";
import path from "node:path";
import { detectLayout, enableControllers, exists, keyedValue, limitValue, makeCgroup, moveProcess, readControl, readPids, removeCgroup, writeControl, writeLimit, type Layout } from "./cgroup-fs.js";

/** What a flavor asks for. */
export interface GuestLimits {
  memoryMb: number;
  /** Whole or fractional CPUs: the guest may use `vcpus` × the CFS period of CPU time per period. */
  vcpus: number;
}

/** A guest's limits and usage as the kernel reports them. `null` means "no limit". */
export interface KernelLimits {
  cgroupVersion: 1 | 2;
  memoryBytes: number | null;
  /** Memory plus swap the guest may use (v1 `memory.memsw.limit_in_bytes`, v2 `memory.max` + `memory.swap.max`); undefined when the kernel has no swap accounting. */
  memoryAndSwapBytes: number | null | undefined;
  cpuQuotaUs: number | null;
  cpuPeriodUs: number;
  /** `cpuQuotaUs / cpuPeriodUs`, or null when the CPU is not limited. */
  vcpus: number | null;
  memoryUsageBytes: number;
  /** How many of the guest's processes the kernel has OOM-killed in this cgroup. */
  oomKills: number;
  /** How many CFS periods the guest was throttled in because it had used its CPU quota. */
  throttledPeriods: number;
  /** The processes in the cgroup (the memory one on v1). */
  pids: number[];
}

export interface CgroupLimitsOptions {
  /** Tells this Hoard's cgroups from another's on the same machine: letters, digits and `_`, at most 32. */
  scope: string;
  /** The cgroup (relative to each hierarchy's root) that holds every guest's cgroup; "hoard" unless given. */
  parent?: string;
}


/** A short, stable scope for the node whose state lives in `home`. */
export function cgroupScope(home: string): string {
  return createHash("sha256").update(path.resolve(home)).digest("hex").slice(0, 12);
}

/** Memory and CPU limits for guests, in the cgroup hierarchy the machine has (v1 or v2). */
export class CgroupLimits {
  readonly scope: string;
  readonly parent: string;
  private layout?: Promise<Layout>;

  constructor(opts: CgroupLimitsOptions) {
    if (!/^[A-Za-z0-9_]{1,32}$/.test(opts.scope)) throw new Error(`'${opts.scope}' cannot be used as a cgroup scope (letters, digits and _ only, at most 32)`);
    this.scope = opts.scope;
    const parent = opts.parent ?? "hoard";
    if (!parent.split("/").every((s) => /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(s) && s.length <= 100)) {
      throw new Error(`'${parent}' cannot be used as the parent cgroup (a relative path of plain names)`);
    }
    this.parent = parent;
  }

  /** Which cgroup version the limits go through; rejects, saying what to mount, when neither is usable. */
  async version(): Promise<1 | 2> {
    return (await this.detect()).version;
  }

  /**
   * Creates (or reuses) the guest's cgroup, sets its limits and moves `pid` into it, together with every
   * descendant it has already forked (later children inherit the cgroup). Returns what the kernel applied.
   */
  async applyLimits(instanceId: string, pid: number, limits: GuestLimits): Promise<KernelLimits> {
    const name = this.cgroupName(instanceId);
    checkMemory(limits.memoryMb);
    checkVcpus(limits.vcpus);
    if (!Number.isInteger(pid) || pid <= 0) throw new Error(`'${pid}' is not a process id`);
    const layout = await this.detect();
    const dirs = await this.createCgroup(layout, name);
    try {
      await this.setMemory(layout, dirs, instanceId, limits.memoryMb);
      await this.setCpu(layout, dirs, limits.vcpus);
      await moveProcess(dirs, pid, instanceId);
    } catch (err) {
      // Leave no empty cgroup behind for a guest that could not be limited (one with processes stays).
      for (const dir of new Set([dirs.memory, dirs.cpu])) await rmdir(dir).catch(() => undefined);
      throw err;
    }
    return (await this.readLimits(instanceId))!;
  }

  /** The guest's limits and usage as the kernel reports them, or undefined if it has no cgroup. */
  async readLimits(instanceId: string): Promise<KernelLimits | undefined> {
    const name = this.cgroupName(instanceId);
    const layout = await this.detect();
    const dirs = this.dirsOf(layout, name);
    if (!(await exists(dirs.memory))) return undefined;
    if (layout.version === 1) {
      const memoryBytes = limitValue(await readControl(dirs.memory, "memory.limit_in_bytes"));
      const memsw = await readControl(dirs.memory, "memory.memsw.limit_in_bytes").catch(() => undefined);
      const cpuQuotaUs = limitValue(await readControl(dirs.cpu, "cpu.cfs_quota_us"));
      const cpuPeriodUs = Number(await readControl(dirs.cpu, "cpu.cfs_period_us"));
      return {
        cgroupVersion: 1,
        memoryBytes,
        memoryAndSwapBytes: memsw === undefined ? undefined : limitValue(memsw),
        cpuQuotaUs,
        cpuPeriodUs,
        vcpus: cpuQuotaUs === null ? null : cpuQuotaUs / cpuPeriodUs,
        memoryUsageBytes: Number(await readControl(dirs.memory, "memory.usage_in_bytes")),
        oomKills: keyedValue(await readControl(dirs.memory, "memory.oom_control"), "oom_kill"),
        throttledPeriods: keyedValue(await readControl(dirs.cpu, "cpu.stat"), "nr_throttled"),
        pids: await readPids(dirs.memory),
      };
    }
    const memoryBytes = limitValue(await readControl(dirs.memory, "memory.max"));
    const swap = await readControl(dirs.memory, "memory.swap.max").catch(() => undefined);
    const [quota = "max", period = "100000"] = (await readControl(dirs.cpu, "cpu.max")).split(/\s+/);
    const cpuQuotaUs = limitValue(quota);
    const cpuPeriodUs = Number(period);
    const swapBytes = swap === undefined ? undefined : limitValue(swap);
    return {
      cgroupVersion: 2,
      memoryBytes,
      memoryAndSwapBytes: swapBytes === undefined ? undefined : memoryBytes === null || swapBytes === null ? null : memoryBytes + swapBytes,
      cpuQuotaUs,
      cpuPeriodUs,
      vcpus: cpuQuotaUs === null ? null : cpuQuotaUs / cpuPeriodUs,
      memoryUsageBytes: Number(await readControl(dirs.memory, "memory.current")),
      oomKills: keyedValue(await readControl(dirs.memory, "memory.events"), "oom_kill"),
      throttledPeriods: keyedValue(await readControl(dirs.cpu, "cpu.stat"), "nr_throttled"),
      pids: await readPids(dirs.memory),
    };
  }

  /**
   * Changes a guest's limits (a resize). Lowering memory below what the guest uses and the kernel cannot
   * reclaim is refused, and the old limit is kept.
   */
  async updateLimits(instanceId: string, limits: Partial<GuestLimits>): Promise<KernelLimits> {
    const name = this.cgroupName(instanceId);
    if (limits.memoryMb !== undefined) checkMemory(limits.memoryMb);
    if (limits.vcpus !== undefined) checkVcpus(limits.vcpus);
    const layout = await this.detect();
    const dirs = this.dirsOf(layout, name);
    if (!(await exists(dirs.memory))) throw new Error(`instance ${instanceId} has no resource limits to update (apply them first)`);
    if (limits.memoryMb !== undefined) await this.setMemory(layout, dirs, instanceId, limits.memoryMb);
    if (limits.vcpus !== undefined) await this.setCpu(layout, dirs, limits.vcpus);
    return (await this.readLimits(instanceId))!;
  }

  /**
   * Removes the guest's cgroup once its processes have exited (moves nothing); does nothing if there is
   * none. Rejects, naming them, while processes are still in it.
   */
  async removeLimits(instanceId: string): Promise<void> {
    const name = this.cgroupName(instanceId);
    const layout = await this.detect();
    const dirs = this.dirsOf(layout, name);
    for (const dir of new Set([dirs.memory, dirs.cpu])) await removeCgroup(dir, instanceId);
  }

  /** The cgroup folder(s) of a guest, whether or not they exist: one per hierarchy (two on v1, one on v2). */
  async cgroupDirs(instanceId: string): Promise<string[]> {
    const dirs = this.dirsOf(await this.detect(), this.cgroupName(instanceId));
    return [...new Set([dirs.memory, dirs.cpu])];
  }

  /** The instance ids of this scope that have a cgroup (for leak checks). */
  async listLimited(): Promise<string[]> {
    const layout = await this.detect();
    const roots = layout.version === 1 ? [layout.memory, layout.cpu] : [layout.root];
    const prefix = `${this.scope}-`;
    const ids = new Set<string>();
    for (const root of roots) {
      const entries = await readdir(path.join(root, this.parent), { withFileTypes: true }).catch(() => []);
      for (const e of entries) if (e.isDirectory() && e.name.startsWith(prefix)) ids.add(e.name.slice(prefix.length));
    }
    return [...ids].sort();
  }

  // ---- internals ----

  private cgroupName(instanceId: string): string {
    if (typeof instanceId !== "string" || !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(instanceId) || instanceId.length > 200) {
      throw new Error(`'${instanceId}' cannot be used as an instance id for resource limits`);
    }
    return `${this.scope}-${instanceId}`;
  }

  private detect(): Promise<Layout> {
    this.layout ??= detectLayout();
    // A failed detection is not cached: the operator may mount the controller and retry.
    this.layout.catch(() => (this.layout = undefined));
    return this.layout;
  }

  private dirsOf(layout: Layout, name: string): { memory: string; cpu: string } {
    if (layout.version === 1) {
      return { memory: path.join(layout.memory, this.parent, name), cpu: path.join(layout.cpu, this.parent, name) };
    }
    const dir = path.join(layout.root, this.parent, name);
    return { memory: dir, cpu: dir };
  }

  private async createCgroup(layout: Layout, name: string): Promise<{ memory: string; cpu: string }> {
    if (layout.version === 2) {
      // On v2 a cgroup only gets a controller that its parent enables for its children, all the way down.
      let dir = layout.root;
      await enableControllers(dir);
      for (const segment of this.parent.split("/")) {
        dir = path.join(dir, segment);
        await makeCgroup(dir);
        await enableControllers(dir);
      }
    } else {
      await makeCgroup(path.join(layout.memory, this.parent), true);
      await makeCgroup(path.join(layout.cpu, this.parent), true);
    }
    const dirs = this.dirsOf(layout, name);
    for (const dir of new Set([dirs.memory, dirs.cpu])) await makeCgroup(dir);
    return dirs;
  }

  private async setMemory(layout: Layout, dirs: { memory: string }, instanceId: string, memoryMb: number): Promise<void> {
    const bytes = memoryMb * 1024 * 1024;
    const refused = (usage: number) =>
      new Error(
        `cannot set the memory limit of instance ${instanceId} to ${memoryMb} MB: its processes use ${Math.ceil(usage / 1048576)} MB ` +
          "that the kernel could not reclaim. Resize it while the guest is stopped, or pick a larger flavor.",
      );
    if (layout.version === 1) {
      const usage = async () => Number(await readControl(dirs.memory, "memory.usage_in_bytes").catch(() => "0"));
      const memsw = await readControl(dirs.memory, "memory.memsw.limit_in_bytes").catch(() => undefined);
      // The kernel keeps memory+swap >= memory at every step: raise memsw first, lower memory first. Setting
      // memsw to the same value as memory keeps the guest from swapping its way past its flavor.
      if (memsw === undefined) {
        await writeLimit(dirs.memory, "memory.limit_in_bytes", String(bytes), refused, usage);
      } else if (bytes >= (limitValue(memsw) ?? Number.MAX_SAFE_INTEGER)) {
        await writeLimit(dirs.memory, "memory.memsw.limit_in_bytes", String(bytes), refused, usage);
        await writeLimit(dirs.memory, "memory.limit_in_bytes", String(bytes), refused, usage);
      } else {
        const previous = await readControl(dirs.memory, "memory.limit_in_bytes");
        await writeLimit(dirs.memory, "memory.limit_in_bytes", String(bytes), refused, usage);
        try {
          await writeLimit(dirs.memory, "memory.memsw.limit_in_bytes", String(bytes), refused, usage);
        } catch (err) {
          // Lowering memory worked but memory+swap could not follow (the guest has swapped): undo, so the
          // guest keeps one consistent pair of limits.
          await writeControl(dirs.memory, "memory.limit_in_bytes", previous).catch(() => undefined);
          throw err;
        }
      }
      return;
    }
    // On v2, a memory.max below the usage makes the kernel OOM-kill the guest rather than refuse. So lower
    // memory.high first, which only reclaims, and set memory.max only once the usage fits under it.
    const current = limitValue(await readControl(dirs.memory, "memory.max"));
    if (current === null || bytes < current) {
      await writeControl(dirs.memory, "memory.high", String(bytes));
      const usage = Number(await readControl(dirs.memory, "memory.current"));
      if (usage > bytes) {
        await writeControl(dirs.memory, "memory.high", "max");
        throw refused(usage);
      }
    }
    await writeControl(dirs.memory, "memory.max", String(bytes));
    await writeControl(dirs.memory, "memory.high", "max");
    // Like memsw on v1: the flavor's RAM is all the guest gets, not RAM plus swap.
    if (await exists(path.join(dirs.memory, "memory.swap.max"))) await writeControl(dirs.memory, "memory.swap.max", "0");
  }

  private async setCpu(layout: Layout, dirs: { cpu: string }, vcpus: number): Promise<void> {
    if (layout.version === 1) {
      const period = Number(await readControl(dirs.cpu, "cpu.cfs_period_us"));
      await writeControl(dirs.cpu, "cpu.cfs_quota_us", String(Math.round(vcpus * period)));
      return;
    }
    const period = 100_000;
    await writeControl(dirs.cpu, "cpu.max", `${Math.round(vcpus * period)} ${period}`);
  }
}

function checkMemory(memoryMb: number): void {
  if (!Number.isInteger(memoryMb) || memoryMb < 8 || memoryMb > 16 * 1024 * 1024) {
    throw new Error(`a memory limit of ${memoryMb} MB cannot be applied (a whole number of MB, at least 8)`);
  }
}

function checkVcpus(vcpus: number): void {
  // The kernel's smallest CFS quota is 1 ms per 100 ms period.
  if (!Number.isFinite(vcpus) || vcpus < 0.01 || vcpus > 4096) {
    throw new Error(`a CPU limit of ${vcpus} vCPUs cannot be applied (at least 0.01)`);
  }
}
