/** Finding processes a test left behind. */
import { readdirSync, readFileSync, readlinkSync } from "node:fs";

/** Processes whose command line mentions `dir` (guests name their data folder there). */
export function processesUnder(dir: string): { pid: number; cmdline: string }[] {
  const found: { pid: number; cmdline: string }[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${entry}/cmdline`, "utf8").replaceAll("\0", " ");
    } catch {
      continue; // gone meanwhile
    }
    if (cmdline.includes(`${dir}/`)) found.push({ pid: Number(entry), cmdline });
  }
  return found;
}

/** Processes still under `dir` after up to two seconds: a guest that was just stopped may take a moment to leave the process table. */
export async function processesLeftUnder(dir: string): Promise<{ pid: number; cmdline: string }[]> {
  let left = processesUnder(dir);
  for (let i = 0; left.length && i < 20; i++) {
    await new Promise((r) => setTimeout(r, 100));
    left = processesUnder(dir);
  }
  return left;
}

/**
 * Processes that work in `dir` or below it, or name it on their command line: guests run in their run
 * folder, and some engines (redis) rewrite their command line, so the working folder is what finds them.
 */
export function processesIn(dir: string): { pid: number; cwd: string; cmdline: string }[] {
  const found: { pid: number; cwd: string; cmdline: string }[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    let cwd: string;
    let cmdline: string;
    try {
      cwd = readlinkSync(`/proc/${entry}/cwd`);
      cmdline = readFileSync(`/proc/${entry}/cmdline`, "utf8").replaceAll("\0", " ");
    } catch {
      continue; // gone meanwhile, or a kernel thread
    }
    if (cwd === dir || cwd.startsWith(`${dir}/`) || cmdline.includes(`${dir}/`)) found.push({ pid: Number(entry), cwd, cmdline });
  }
  return found;
}
