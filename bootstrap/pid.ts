/** Server processes we did not necessarily start ourselves, seen through /proc by pid. */
import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";

/** The process's arguments, or null when there is no such process. */
export function commandLine(pid: number): string[] | null {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
  } catch {
    return null;
  }
}

/** Whether `pid` is a live process; a zombie counts as gone, since it no longer serves anything. */
export function isRunning(pid: number): boolean {
  try {
    // The state letter follows the parenthesised command name, which may itself contain spaces or ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

/** Polls until `pid` is gone; false if it is still running after `timeoutMs`. */
export async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isRunning(pid)) {
    if (Date.now() > deadline) return false;
    await sleep(20);
  }
  return true;
}

/** SIGTERM, then SIGKILL if it is still running after `graceMs`; resolves once it is gone. */
export async function terminate(pid: number, graceMs = 5_000): Promise<void> {
  if (!isRunning(pid)) return;
  try {
    process.kill(pid, "SIGTERM");
  } catch {
    return; // already gone
  }
  if (await waitForExit(pid, graceMs)) return;
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    return;
  }
  if (!(await waitForExit(pid, 5_000))) throw new Error(`process ${pid} survived SIGKILL`);
}
