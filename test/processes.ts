/** Finding processes a test left behind. */
import { readdirSync, readFileSync } from "node:fs";

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
