/**
 * Engine process control: starts a guest's engine confined, limited and on its network, waits until it
 * answers, and stops it (cleanly, then SIGKILL).
 */
import { readFile } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import { datastoreDefinitions, ENGINE_LOG, engineDir, strategyFor, type DatastoreStrategy, type GuestHandle } from "../../datastores/index.js";
import { isRunning, logTail, readPidFile, startProcess, stopProcess, type CgroupLimits, type GuestNetwork, type GuestUsers } from "../../drivers/index.js";
import { prepareFolders } from "./folders.js";
import { PID_FILE, SETTINGS_FILE } from "./layout.js";
import { stopwatch } from "./stopwatch.js";

/** Where an engine runs: its flavor's vCPUs and its network. */
export interface EnginePlacement {
  vcpus: number;
  networkId: string;
}

/** The engine process ended while starting (as opposed to not answering in time). */
export class EngineExited extends Error {}

/** What starting and stopping engines needs: the home, the timeouts, and the network, limits and users drivers. */
export interface EngineControlOptions {
  home: string;
  startTimeoutMs: number;
  stopTimeoutMs: number;
  network: GuestNetwork;
  limits: CgroupLimits | undefined;
  users: GuestUsers | null;
}

/** Starts and stops the engines of one node's guests. */
export class EngineControl {
  constructor(private readonly opts: EngineControlOptions) {}

  /** Starts the engine and waits until it answers, or fails at once (with its log) if it exits meanwhile. */
  async start(strategy: DatastoreStrategy, guest: GuestHandle, where: EnginePlacement): Promise<{ pid: number; start_ms: number; ready_ms: number }> {
    const { vcpus } = where;
    const { limits } = this.opts;
    // Never as root: a guest not yet moved to its own user is moved by adopt() before anything starts it.
    if (this.opts.users && !guest.user) throw new Error(`the guest of instance ${guest.instanceId} has no OS user of its own yet`);
    const timer = stopwatch();
    // The socket folder may be under /run, which a reboot empties.
    await prepareFolders(this.opts.home, guest, { data: "never" });
    const launched = strategy.launch(guest, await readSettings(guest.runDir));
    const spec = this.opts.network.wrap(where.networkId, { ...launched, ...(guest.user ? { user: guest.user } : {}) });
    const logFile = path.join(guest.runDir, ENGINE_LOG);
    const proc = await startProcess({
      command: spec.command,
      args: spec.args,
      ...(spec.env ? { env: spec.env } : {}),
      ...(spec.user ? { user: spec.user } : {}),
      cwd: engineDir(guest),
      logFile,
      pidFile: path.join(guest.runDir, PID_FILE),
    });
    // Limits right away: on cgroup v1 memory the engine takes before the move stays charged elsewhere.
    if (limits) {
      await limits.applyLimits(guest.instanceId, proc.pid, { memoryMb: guest.ramMb, vcpus }).catch(async (err: Error) => {
        // An engine that died at once (its port taken, say) cannot be limited: its log says why, not the kill.
        if (!(await isRunning(proc.pid, guest.dataDir))) throw new EngineExited(`the ${strategy.manager} engine stopped while starting.${await describeLog(logFile)}`);
        try {
          process.kill(proc.pid, "SIGKILL");
        } catch {
          // ended meanwhile
        }
        throw new Error(`could not limit the engine to its flavor: ${err.message}`);
      });
    }
    const start_ms = timer.lap();
    const died = proc.exited.then(async (exit): Promise<never> => {
      const how = exit.signal ? `killed by ${exit.signal}` : `exit code ${exit.code}`;
      throw new EngineExited(`the ${strategy.manager} engine stopped while starting (${how}).${await describeLog(logFile)}`);
    });
    died.catch(() => {}); // it rejects whenever the engine ends, long after this start is over
    const stopWaiting = new AbortController();
    try {
      await Promise.race([strategy.waitReady(guest, this.opts.startTimeoutMs, stopWaiting.signal), died]);
    } finally {
      stopWaiting.abort();
    }
    return { pid: proc.pid, start_ms, ready_ms: timer.lap() };
  }

  /** Stops the engine found in the pid file (and any other pid given) if it is still the guest's. */
  async stop(manager: string | undefined, runDir: string, dataDir: string, pids: number[]): Promise<void> {
    const fromFile = await readPidFile(path.join(runDir, PID_FILE));
    const signal = manager ? safeSignal(manager) : "SIGTERM";
    for (const pid of new Set([...pids, ...(fromFile ? [fromFile] : [])])) {
      await stopProcess(pid, signal, this.opts.stopTimeoutMs, dataDir);
    }
  }
}

/** The settings a guest starts with ({} for guests made before settings existed). */
export async function readSettings(runDir: string): Promise<Record<string, string>> {
  const text = await readFile(path.join(runDir, SETTINGS_FILE), "utf8").catch(() => "{}");
  return z.record(z.string(), z.string()).parse(JSON.parse(text));
}

/** The engine's standard port, from the catalog (3306, 5432, 6379). */
export function standardPort(manager: string): number {
  const def = datastoreDefinitions.find((d) => d.manager === manager);
  if (!def) throw new Error(`no datastore is served by engine '${manager}'`);
  return def.port;
}

/** The engine's own stop signal, or SIGTERM for a manager this node no longer knows. */
function safeSignal(manager: string): NodeJS.Signals {
  try {
    return strategyFor(manager).shutdownSignal();
  } catch {
    return "SIGTERM";
  }
}

/** The end of an engine log for an error message: its error lines if it has any, else its last lines. */
async function describeLog(file: string): Promise<string> {
  const tail = (await logTail(file, 40)).split("\n").filter((l) => l !== "");
  const errors = tail.filter((l) => /\b(ERROR|FATAL|PANIC)\b/.test(l));
  const shown = (errors.length ? errors : tail).slice(-8);
  return shown.length ? ` Its log ends with:\n${shown.join("\n")}` : "";
}
