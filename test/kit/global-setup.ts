/**
 * Once per test run: a fresh folder on tmpfs with a private NATS (JetStream) and a private Postgres (fsync off),
 * provided to every test file as `natsUrl`, `natsCredentials`, `databaseUrl` and `home`. NATS_URL (with
 * HOARD_NATS_CREDENTIALS, a folder holding at least `admin.nk`) / DATABASE_URL, when set, are used instead
 * of starting the corresponding server. The Postgres is started by the same bootstrap as `npm start`'s, so
 * tests run against the hardened server: its own OS user (hoard-state), a 0700 folder and socket, and a
 * password for every connection; `databaseUrl` carries that password (test files create their databases
 * with it, see test-database.ts).
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { TestProject } from "vitest/node";
import { startNats, startPostgres } from "../../bootstrap/index.js";
import { processesUnder } from "./processes.js";

declare module "vitest" {
  export interface ProvidedContext {
    /** The run's NATS server (JetStream enabled); it admits only clients with a credential. */
    natsUrl: string;
    /** Its credentials folder (`<part>.nk`): tests connect as `admin` (bootstrap/nats-credentials.ts connectAs). */
    natsCredentials: string;
    /** The run's Postgres database; test files create their own databases next to it. */
    databaseUrl: string;
    /** A folder for Hoard state (homes, guest volumes), removed after the run. */
    home: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // tmpfs makes initdb and guest data folders several times faster than the disk.
  const parent = existsSync("/dev/shm") ? "/dev/shm" : tmpdir();
  const root = mkdtempSync(path.join(parent, "hoard-test-"));
  // mkdtemp makes it 0700; the run's Postgres (as hoard-state) and the guests' OS users must pass through it.
  chmodSync(root, 0o711);
  const home = path.join(root, "home");
  mkdirSync(home, { mode: 0o755 });

  const stops: Array<() => Promise<void>> = [];
  const teardown = async () => {
    for (const stop of stops.reverse()) await stop().catch((e: Error) => console.error(`teardown: ${e.message}`));
    // A safety net: test files fail on their own leaks (harness stop()); whatever is left here is killed.
    const leaked = processesUnder(home);
    for (const p of leaked) process.kill(p.pid, "SIGKILL");
    rmSync(root, { recursive: true, force: true });
    if (leaked.length) throw new Error(`guest processes were left running after the tests:\n${leaked.map((p) => `  ${p.pid} ${p.cmdline.slice(0, 200)}`).join("\n")}`);
  };

  try {
    let natsUrl = process.env.NATS_URL;
    let natsCredentials = process.env.HOARD_NATS_CREDENTIALS ?? "";
    if (!natsUrl) {
      const nats = await startNats({ dir: path.join(root, "nats") });
      stops.push(nats.stop);
      natsUrl = nats.url;
      natsCredentials = nats.credentials;
    } else if (!natsCredentials) {
      throw new Error("NATS_URL is set: set HOARD_NATS_CREDENTIALS too, to a folder holding the admin credential (admin.nk)");
    }
    let databaseUrl = process.env.DATABASE_URL;
    if (!databaseUrl) {
      const pg = await startPostgres({ dir: path.join(root, "postgres"), fsync: false });
      stops.push(pg.stop);
      databaseUrl = pg.url;
    }
    project.provide("natsUrl", natsUrl);
    project.provide("natsCredentials", natsCredentials);
    project.provide("databaseUrl", databaseUrl);
    project.provide("home", home);
  } catch (e) {
    await teardown();
    throw e;
  }
  return teardown;
}

