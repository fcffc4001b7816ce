/**
 * The Debian packages Hoard runs on, and where their binaries are. Runs on every start, so the happy path only
 * looks at the file system; apt is called only when something is missing.
 */
import { spawn, spawnSync } from "node:child_process";
import { accessSync, constants, readdirSync } from "node:fs";
import path from "node:path";
import type { DebianPackage } from "../datastores/contract.js";
import { engines } from "../datastores/registry.js";

/** What the packages are needed for: running Hoard, or also running its tests (which drive the real CLI). */
export type Purpose = "server" | "test";

interface Requirement {
  /** The Debian package that provides it. */
  pkg: string;
  /** Whether the package's files are usable; each check is a stat or a quick process. */
  present(): boolean;
}

// Debian installs into these; looking here first keeps the check to a few stat calls.
const SYSTEM_DIRS = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The absolute path of `name` in the system folders, else as `command -v` finds it on PATH, else null. */
export function findBinary(name: string): string | null {
  for (const dir of SYSTEM_DIRS) {
    const file = path.join(dir, name);
    if (isExecutable(file)) return file;
  }
  // The shell resolves PATH for us, so this module never reads the environment itself.
  const found = spawnSync("/bin/sh", ["-c", 'command -v "$1"', "sh", name], { encoding: "utf8" });
  const hit = found.status === 0 ? found.stdout.trim() : "";
  return hit.startsWith("/") ? hit : null;
}

/** The newest `<root>/<version>/bin` that has `program`, or null (Debian keeps PostgreSQL's programs so, off PATH). */
function versionedBinDir(root: string, program: string): string | null {
  let versions: string[];
  try {
    versions = readdirSync(root);
  } catch {
    return null;
  }
  const usable = versions
    .filter((v) => /^\d+(\.\d+)?$/.test(v) && isExecutable(path.join(root, v, "bin", program)))
    .sort((a, b) => Number(b) - Number(a));
  return usable[0] ? path.join(root, usable[0], "bin") : null;
}

/** The newest `/usr/lib/postgresql/<version>/bin` that has initdb, or null when no server is installed. */
export function postgresBinDir(): string | null {
  return versionedBinDir("/usr/lib/postgresql", "initdb");
}

const binaries = (...names: string[]) => () => names.every((n) => findBinary(n) !== null);

/** An engine's package (datastores/<engine>/definition.ts) as a requirement. */
function enginePackage(p: DebianPackage): Requirement {
  const { versionedUnder } = p;
  return { pkg: p.name, present: versionedUnder ? () => p.programs.every((n) => versionedBinDir(versionedUnder, n) !== null) : binaries(...p.programs) };
}

/** Each package once, where it first comes. */
const once = (list: Requirement[]) => list.filter((r, i) => list.findIndex((o) => o.pkg === r.pkg) === i);

const SERVER: Requirement[] = once([
  { pkg: "nats-server", present: binaries("nats-server") },
  // The control plane's own Postgres (bootstrap/postgres.ts), whichever engines there are.
  { pkg: "postgresql", present: () => postgresBinDir() !== null },
  // The engines the tracker runs as guests, as the registry lists them.
  ...engines.flatMap((e) => e.definition.packages.map(enginePackage)),
  { pkg: "iproute2", present: binaries("ip") },
  // Volumes with enforced sizes and instant snapshots (the btrfs volume driver).
  { pkg: "btrfs-progs", present: binaries("btrfs", "mkfs.btrfs") },
]);

// The tests run the real `openstack database …` CLI; the trove plugin is a separate package, and the CLI
// silently lacks the `database` commands without it, so import it the way the CLI would.
const importsTroveclient = () => spawnSync("/usr/bin/python3", ["-c", "import troveclient"], { stdio: "ignore" }).status === 0;

const TEST: Requirement[] = [
  ...SERVER,
  { pkg: "python3-openstackclient", present: binaries("openstack") },
  { pkg: "python3-troveclient", present: importsTroveclient },
  // The netns network driver's tests (the driver itself says what it lacks when a node runs it).
  { pkg: "iptables", present: binaries("iptables", "iptables-restore", "iptables-save") },
];

/** The Debian packages a node runs Hoard on (what the image installs, infra/image.ts). */
export const SERVER_PACKAGES: readonly string[] = SERVER.map((r) => r.pkg);

/** The Debian packages `purpose` needs that are not installed yet. */
export function missingPackages(purpose: Purpose): string[] {
  return (purpose === "test" ? TEST : SERVER).filter((r) => !r.present()).map((r) => r.pkg);
}

/** Runs apt-get non-interactively, collecting its output so a failure can quote it. */
function aptGet(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    // env(1) adds the variable to the inherited environment without this module reading it.
    const child = spawn("/usr/bin/env", ["DEBIAN_FRONTEND=noninteractive", "apt-get", ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-4000);
    };
    child.stdout.on("data", keep);
    child.stderr.on("data", keep);
    child.on("error", reject);
    child.on("close", (code) => {
      if (code === 0) resolve();
      else reject(new Error(`apt-get ${args.join(" ")} failed (exit ${code}):\n${output.trim()}`));
    });
  });
}

/** Installs the Debian packages `purpose` needs that are missing; throws the apt-get command to run when not root. */
export async function ensurePackages(purpose: Purpose, progress: (msg: string) => void): Promise<void> {
  const missing = missingPackages(purpose);
  if (missing.length === 0) return;

  if (process.getuid?.() !== 0) {
    throw new Error(
      `Hoard needs Debian packages that are not installed: ${missing.join(", ")}. Install them as root, then try again:\n` +
        `  sudo apt-get update && sudo apt-get install -y ${missing.join(" ")}`,
    );
  }

  progress(`installing ${missing.join(", ")} with apt-get (this can take a few minutes)`);
  await aptGet(["update"]);
  await aptGet(["install", "-y", ...missing]);

  const stillMissing = missingPackages(purpose);
  if (stillMissing.length > 0) {
    throw new Error(`apt-get installed ${missing.join(" ")}, but these are still unusable: ${stillMissing.join(", ")}`);
  }
  progress(`installed ${missing.join(", ")}`);
}
