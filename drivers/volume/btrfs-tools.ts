/** The tools the btrfs volume driver runs, found in the system folders once, and how it runs them. */
import { execFile } from "node:child_process";
import { constants } from "node:fs";
import { access } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";

const exec = promisify(execFile);

/** The tools the driver runs, and the package that brings each one. */
const TOOLS = {
  btrfs: "btrfs-progs",
  "mkfs.btrfs": "btrfs-progs",
  losetup: "util-linux",
  findmnt: "util-linux",
  mount: "mount",
  umount: "mount",
  truncate: "coreutils",
  cp: "coreutils",
} as const;
export type Tool = keyof typeof TOOLS;

/** Where the tools are looked for, and the PATH they run with: system folders only, sbin included (a service's PATH often lacks it). */
const SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** Full paths of the tools, found once. */
let toolPaths: Promise<Record<Tool, string>> | undefined;

/** The full path of each tool; rejects naming the packages to install when any is missing. */
export async function checkTools(): Promise<Record<Tool, string>> {
  toolPaths ??= (async () => {
    const found: Partial<Record<Tool, string>> = {};
    for (const tool of Object.keys(TOOLS) as Tool[]) {
      for (const dir of SYSTEM_PATH.split(":")) {
        const candidate = path.join(dir, tool);
        if (await access(candidate, constants.X_OK).then(() => true, () => false)) {
          found[tool] = candidate;
          break;
        }
      }
    }
    const missing = (Object.keys(TOOLS) as Tool[]).filter((t) => !found[t]);
    if (missing.length) {
      const packages = [...new Set(missing.map((t) => TOOLS[t]))];
      throw new Error(`the btrfs volume driver needs ${missing.join(", ")}, which ${missing.length === 1 ? "is" : "are"} not installed: install ${packages.join(" and ")} (e.g. \`apt-get install ${packages.join(" ")}\`)`);
    }
    return found as Record<Tool, string>;
  })();
  toolPaths.catch(() => (toolPaths = undefined));
  return toolPaths;
}

/** Runs a tool; rejects with its stderr, which says what went wrong. */
export async function run(tool: Tool, args: string[]): Promise<string> {
  const paths = await checkTools();
  try {
    const { stdout } = await exec(paths[tool], args, { env: { PATH: SYSTEM_PATH, LC_ALL: "C" }, timeout: 120_000, maxBuffer: 16 * 1024 * 1024 });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${tool} ${args.join(" ")}: ${(e.stderr || e.message).trim()}`);
  }
}
