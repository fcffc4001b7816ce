/**
 * Compute driver "process": a guest is a local process that outlives the tracker that started it. It runs
 * in its own session (detached), writes to its log file rather than to a pipe (a pipe would break when the
 * tracker dies), and is not waited for (unref), so a tracker restart leaves it running to be adopted.
 */
import { spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { open, readdir, readFile, rename, writeFile } from "node:fs/promises";

/** How a started process ended. */
export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A process this tracker started. `exited` settles when it ends (only known for our own children). */
export interface StartedProcess {
  pid: number;
  exited: Promise<ProcessExit>;
}

export interface StartOptions {
  command: string;
  args: string[];
  /** Replaces the environment when given; otherwise the tracker's is inherited. */
  env?: Record<string, string>;
  cwd?: string;
  /** Receives stdout and stderr (appended). */
  logFile: string;
  /** Gets the pid once the process runs, so a restarted tracker can find it. */
  pidFile: string;
  /** Runs the process as this OS user instead of the tracker's. */
  user?: { uid: number; gid: number };
}

/** Starts a detached process with its output in `logFile`; resolves once it runs, rejects if it cannot. */
export async function startProcess(opts: StartOptions): Promise<StartedProcess> {
  const out = openSync(opts.logFile, "a", 0o600);
  try {
    const child = spawn(opts.command, opts.args, {
      detached: true,
      stdio: ["ignore", out, out],
      cwd: opts.cwd,
      ...(opts.env ? { env: opts.env } : {}),
      ...(opts.user ? { uid: opts.user.uid, gid: opts.user.gid } : {}),
    });
    // The listener is what reaps our own child when it dies (otherwise it would linger as a zombie until the
    // tracker exits) and tells a caller waiting for readiness that it is no use waiting any longer.
    const exited = new Promise<ProcessExit>((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
    await new Promise<void>((resolve, reject) => {
      child.once("spawn", resolve);
      child.once("error", (err) => reject(new Error(`could not start ${opts.command}: ${err.message}`)));
    });
    child.unref();
    const pid = child.pid!;
    try {
      await writeAtomically(opts.pidFile, `${pid}\n`);
    } catch (err) {
      // Without its pid file nobody could find this process again to stop it.
      child.kill("SIGKILL");
      throw err;
    }
    return { pid, exited };
  } finally {
    // The child holds its own copy of the descriptor.
    closeSync(out);
  }
}

/** The pid in a pid file, or undefined when the file is missing or holds no pid. */
export async function readPidFile(pidFile: string): Promise<number | undefined> {
  const text = await readFile(pidFile, "utf8").catch(() => "");
  const pid = Number.parseInt(text.trim(), 10);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/**
 * Whether `pid` is alive and is the process we think it is: its command line must contain `marker`, so a pid
 * recycled by an unrelated process is not mistaken for our guest. A zombie counts as dead: a detached guest
 * whose parent (a tracker that died) is gone may never be reaped.
 */
export async function isRunning(pid: number, marker: string): Promise<boolean> {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    const stat = await readFile(`/proc/${pid}/stat`, "utf8");
    // The state follows the command name, which is in parentheses and may itself contain ") ".
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    if (state === "Z" || state === "X") return false;
    const cmdline = (await readFile(`/proc/${pid}/cmdline`, "utf8")).split("\0").join(" ");
    return cmdline.includes(marker);
  } catch {
    return false;
  }
}

/**
 * Live processes whose command line contains `marker` (a guest's data folder). Finds an engine whose pid
 * file was never written: a tracker killed between starting it and writing the file leaves one behind.
 */
export async function processesWith(marker: string): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir("/proc").catch(() => [] as string[])) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    if (await isRunning(Number(entry), marker)) found.push(Number(entry));
  }
  return found;
}

/**
 * Stops our process: sends `signal`, waits up to `timeoutMs` for it to end, then SIGKILLs it. Does nothing
 * if `pid` is not (or no longer) the process carrying `marker`.
 */
export async function stopProcess(pid: number, signal: NodeJS.Signals, timeoutMs: number, marker: string): Promise<void> {
  if (!(await isRunning(pid, marker))) return;
  if (!signalProcess(pid, signal)) return;
  if (await waitForExit(pid, marker, timeoutMs)) return;
  signalProcess(pid, "SIGKILL");
  if (await waitForExit(pid, marker, 10_000)) return;
  throw new Error(`process ${pid} did not end even after SIGKILL`);
}

/** The last `maxLines` lines of a log file (at most its last 64 KiB are read), or "" if it is missing. */
export async function logTail(file: string, maxLines = 12): Promise<string> {
  let handle;
  try {
    handle = await open(file, "r");
    const { size } = await handle.stat();
    const length = Math.min(size, 64 * 1024);
    const buf = Buffer.alloc(length);
    await handle.read(buf, 0, length, size - length);
    const lines = buf.toString("utf8").split("\n").filter((l) => l.trim() !== "");
    return lines.slice(-maxLines).join("\n");
  } catch {
    return "";
  } finally {
    await handle?.close();
  }
}

/** False if the process is already gone. */
function signalProcess(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ESRCH") return false;
    throw err;
  }
}

async function waitForExit(pid: number, marker: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!(await isRunning(pid, marker))) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function writeAtomically(file: string, text: string): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, text, { mode: 0o600 });
  await rename(tmp, file);
}
