/**
 * Hoard as separate processes that the crash harness can kill: a private NATS and Postgres (restarted on
 * their own data folders and ports), and a runtime, a tracker and a gateway, each `bin/hoard.ts start
 * --parts <part>`. Guests outlive their tracker, as they do in production.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { freePort, startNats, startPostgres } from "../../../bootstrap/index.js";
import { BtrfsVolumes, CgroupLimits, cgroupScope } from "../../../drivers/index.js";
import { processesIn } from "../../kit/processes.js";
import type { VolumeDriver } from "./invariants.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");

/** What the harness kills. The gateway is stateless and not killed: it stands for the client's way in. */
export const FAULT_KINDS = ["runtime", "tracker", "nats", "postgres"] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];
type Part = "runtime" | "tracker" | "gateway";

interface HoardProcess {
  part: Part;
  home: string;
  child: ChildProcess | null;
  output: string;
  /** Exits the harness did not cause. */
  unexpectedExits: string[];
  killing: boolean;
}

export interface ClusterSettings {
  heartbeatMs: number;
  guestStartTimeoutMs: number;
  /** The tracker's volume driver: folders, or subvolumes in a loop-mounted btrfs pool (root only). */
  volumeDriver: VolumeDriver;
}

export class ChaosCluster {
  readonly gatewayUrl: string;
  private natsPort = 0;
  private pgPort = 0;
  private natsPid = 0;
  private pgPid = 0;
  private pgUrl = "";
  private readonly procs = new Map<Part, HoardProcess>();
  /**
   * Messages NATS goes on counting as pending, by consumer, after the harness found every invariant holding
   * for long past a redelivery (nats-server 2.9 after its own crash): later checks count only what is above.
   */
  readonly stalePending = new Map<string, number>();

  private constructor(
    readonly base: string,
    private readonly gatewayPort: number,
    private readonly settings: ClusterSettings,
  ) {
    this.gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
  }

  /** Starts NATS, Postgres, the runtime, the tracker and the gateway in `base`. */
  static async start(base: string, settings: ClusterSettings): Promise<ChaosCluster> {
    mkdirSync(base, { recursive: true, mode: 0o711 });
    const cluster = new ChaosCluster(base, await freePort(), settings);
    await cluster.startNats();
    await cluster.startPostgres();
    // The runtime first: it migrates the schema and declares the streams.
    await cluster.startPart("runtime");
    await Promise.all([cluster.startPart("tracker"), cluster.startPart("gateway")]);
    return cluster;
  }

  /** The superuser's URL from the bootstrap, password included (the same across restarts: its secret file). */
  get databaseUrl(): string {
    return this.pgUrl;
  }

  get natsUrl(): string {
    return `nats://127.0.0.1:${this.natsPort}`;
  }

  /** The parts' NATS credentials (the harness connects as admin), made at NATS's first start and kept across its restarts. */
  get natsCredentials(): string {
    return path.join(this.base, "nats", "credentials");
  }

  get volumeDriver(): VolumeDriver {
    return this.settings.volumeDriver;
  }

  /** The tracker's state folder: its guests' run folders and volumes, and its log. */
  get trackerHome(): string {
    return path.join(this.base, "tracker");
  }

  /** Log of the part's process (all its runs, appended). */
  logOf(part: Part): string {
    try {
      return readFileSync(path.join(this.base, part, "hoard.log"), "utf8");
    } catch {
      return "";
    }
  }

  /** Exits of Hoard processes that no fault caused since the last call (a part that died by itself is a finding). */
  takeUnexpectedExits(): string[] {
    return [...this.procs.values()].flatMap((p) => p.unexpectedExits.splice(0));
  }

  /** SIGKILL to one part (for Postgres: the postmaster and every backend, as a machine crash would). */
  async kill(kind: FaultKind): Promise<void> {
    if (kind === "nats") {
      killNow(this.natsPid);
      await waitGone(this.natsPid);
      return;
    }
    if (kind === "postgres") {
      const children = childrenOf(this.pgPid);
      killNow(this.pgPid);
      for (const c of children) killNow(c);
      await waitGone(this.pgPid);
      for (const c of children) await waitGone(c);
      return;
    }
    const p = this.procs.get(kind)!;
    p.killing = true;
    const child = p.child!;
    const exited = new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r(null) : child.once("exit", r)));
    child.kill("SIGKILL");
    await exited;
  }

  /** Starts a killed part again on its own data folder and port. */
  async restart(kind: FaultKind): Promise<void> {
    if (kind === "nats") return this.startNats();
    if (kind === "postgres") return this.startPostgres();
    return this.startPart(kind);
  }

  /** Starts any Hoard part that died by itself (counted in unexpectedExits). */
  async revive(): Promise<void> {
    for (const p of this.procs.values()) if (!p.child) await this.startPart(p.part);
  }

  /** Stops everything; guests are the caller's to remove first. */
  async stop(): Promise<void> {
    for (const p of this.procs.values()) {
      p.killing = true;
      if (p.child && p.child.exitCode === null) {
        const child = p.child;
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGINT");
        await Promise.race([exited, sleep(15_000).then(() => child.kill("SIGKILL"))]);
      }
    }
    killNow(this.natsPid);
    const children = childrenOf(this.pgPid);
    killNow(this.pgPid);
    for (const c of children) killNow(c);
    await waitGone(this.natsPid);
    await waitGone(this.pgPid);
    // Guests a failed trial left behind, and their cgroups: nothing of the run may outlive it.
    for (const p of processesIn(this.base)) killNow(p.pid);
    for (const p of processesIn(this.base)) await waitGone(p.pid);
    const limits = new CgroupLimits({ scope: cgroupScope(this.trackerHome) });
    for (const id of await limits.listLimited().catch(() => [] as string[])) await limits.removeLimits(id).catch(() => {});
    // The tracker leaves its volume pool mounted for its next start; the run's end unmounts it.
    if (this.settings.volumeDriver === "btrfs") await new BtrfsVolumes({ dir: path.join(this.trackerHome, "btrfs") }).close();
  }

  private async startNats(): Promise<void> {
    const nats = await startNats({ dir: path.join(this.base, "nats"), trackers: ["local"], ...(this.natsPort ? { port: this.natsPort } : {}) });
    this.natsPort = Number(new URL(nats.url).port);
    this.natsPid = nats.pid;
  }

  private async startPostgres(): Promise<void> {
    // A killed postmaster's shared memory may linger a moment after its processes are gone.
    for (let attempt = 0; ; attempt++) {
      try {
        // Durable commits as in production: with synchronous_commit off a killed postmaster loses commits it
        // had acknowledged (the harness saw an instance announced deleted twice that way).
        const pg = await startPostgres({ dir: path.join(this.base, "postgres"), ...(this.pgPort ? { port: this.pgPort } : {}) });
        this.pgPort = Number(new URL(pg.url).port);
        this.pgUrl = pg.url;
        this.pgPid = pg.pid;
        return;
      } catch (e) {
        if (attempt >= 10) throw e;
        await sleep(500);
      }
    }
  }

  /** Starts a Hoard process and waits until it says it is ready; retried while it cannot start yet. */
  private async startPart(part: Part): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.spawnPart(part);
        return;
      } catch (e) {
        if (attempt >= 20) throw e;
        await sleep(500);
      }
    }
  }

  private spawnPart(part: Part): Promise<void> {
    const home = path.join(this.base, part);
    mkdirSync(home, { recursive: true, mode: 0o711 });
    const proc: HoardProcess = this.procs.get(part) ?? { part, home, child: null, output: "", unexpectedExits: [], killing: false };
    this.procs.set(part, proc);
    proc.killing = false;
    proc.output = "";
    const child = spawn(process.execPath, ["--import", "tsx", "bin/hoard.ts", "start", "--parts", part], {
      cwd: ROOT,
      env: {
        ...process.env,
        NATS_URL: this.natsUrl,
        HOARD_NATS_CREDENTIALS: this.natsCredentials,
        DATABASE_URL: this.databaseUrl,
        HOARD_HOME: home,
        HOARD_NODE: "local",
        HOARD_PORT: String(this.gatewayPort),
        HOARD_VOLUME_DRIVER: this.settings.volumeDriver,
        HOARD_HEARTBEAT_MS: String(this.settings.heartbeatMs),
        HOARD_HEARTBEAT_EXPIRY_MS: String(this.settings.heartbeatMs * 5),
        HOARD_GUEST_START_TIMEOUT_MS: String(this.settings.guestStartTimeoutMs),
        HOARD_INVOKE_TIMEOUT_MS: "5000",
        HOARD_GUEST_CALL_TIMEOUT_MS: "4000",
        HOARD_RATE_LIMIT_PER_MINUTE: "1000000",
        HOARD_QUOTA_INSTANCES: "-1",
        HOARD_QUOTA_VOLUMES_GB: "-1",
        HOARD_LOG_LEVEL: "info",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    proc.child = child;
    child.stdout!.on("data", (d) => (proc.output = (proc.output + d).slice(-20_000)));
    child.stderr!.on("data", (d) => (proc.output = (proc.output + d).slice(-20_000)));
    let ready = false;
    child.once("exit", (code, signal) => {
      if (proc.child === child) proc.child = null;
      if (ready && !proc.killing) proc.unexpectedExits.push(`${part} exited by itself (${signal ?? `code ${code}`}):\n${proc.output.slice(-3000)}`);
    });
    return new Promise((resolve, reject) => {
      const check = setInterval(() => {
        if (proc.output.includes("Hoard is ready")) {
          ready = true;
          clearInterval(check);
          resolve();
        }
      }, 50);
      child.once("exit", (code) => {
        clearInterval(check);
        if (!ready) reject(new Error(`${part} exited with ${code} while starting:\n${proc.output.slice(-3000)}`));
      });
    });
  }
}

function killNow(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // gone already
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    // A zombie is dead for our purposes.
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

async function waitGone(pid: number): Promise<void> {
  for (let i = 0; i < 200 && pid && alive(pid); i++) await sleep(25);
}

function childrenOf(pid: number): number[] {
  if (!pid) return [];
  const out = spawnSync("pgrep", ["-P", String(pid)], { encoding: "utf8" }).stdout ?? "";
  return out.split("\n").filter(Boolean).map(Number);
}
