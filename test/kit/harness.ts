/**
 * One Hoard per test file, on real parts: its own NATS JetStream server, its own database on the run's
 * Postgres, a real runtime, tracker and gateway, and real guests. `stop()` removes every guest it made.
 */
import { execFile, execFileSync } from "node:child_process";
import { promisify } from "node:util";
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import path from "node:path";
import { createTestDatabase, dropTestDatabase, testDatabaseName } from "./test-database.js";
import { inject } from "vitest";
import type { NatsConnection } from "@nats-io/transport-node";
import { connectAs, startNats, type NatsServer } from "../../bootstrap/index.js";
import { loadConfig, type Config } from "../../config/index.js";
import { createLog, startControlPlane, type ControlPlane } from "../../local/index.js";
import { CgroupLimits, cgroupScope, GuestUsers } from "../../drivers/index.js";
import { processesLeftUnder } from "./processes.js";

const execFileP = promisify(execFile);

export interface Hoard {
  url: string;
  config: Config;
  plane: ControlPlane;
  databaseUrl: string;
  /** This Hoard's own NATS server (clients need a credential: see `nats.credentials`). */
  natsUrl: string;
  nats: NatsServer;
  /** A connection to it as `admin` (every subject), for tests that look at streams or inject events. */
  nc: NatsConnection;
  /** Calls the HTTP API as `project` and returns status and parsed body. */
  api(method: string, project: string, pathAndQuery: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any; headers: Headers }>;
  /** Runs the real `openstack … database` CLI as `project`; returns exit code and output. */
  openstack(project: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string; json: any }>;
  /** Creates an instance over HTTP and waits until it is ACTIVE and HEALTHY; returns its view. */
  createActive(project: string, instance: Record<string, unknown>): Promise<any>;
  /** Restarts the control plane on the same state (guests keep running); `whileDown` runs while it is stopped. */
  restart(whileDown?: () => Promise<void>): Promise<void>;
  stop(): Promise<void>;
}

export async function startHoard(overrides: Parameters<typeof loadConfig>[1] = {}): Promise<Hoard> {
  const base = mkdtempSync(path.join(inject("home"), "h-"));
  // mkdtemp makes it 0700; each guest's engine runs as an OS user of its own, who must be able to pass through.
  chmodSync(base, 0o711);
  const natsDir = path.join(base, "nats");
  const config = loadConfig(
    // The parts connect with the credentials the private NATS makes (every part its own, as `npm start` does).
    { HOARD_HOME: path.join(base, "home"), HOARD_NATS_CREDENTIALS: path.join(natsDir, "credentials") },
    { gateway: { port: 0 }, heartbeatIntervalMs: 500, heartbeatExpiryMs: 5_000, guestStartTimeoutMs: 30_000, logLevel: "info", rateLimitPerMinute: 1_000_000, ...overrides },
  );
  const nats = await startNats({ dir: natsDir, trackers: [config.node] });
  const nc = await connectAs(nats.url, nats.credentials, "admin");
  const dbName = testDatabaseName(base);
  const databaseUrl = await createTestDatabase(dbName);
  const log = createLog(config, { console: false });
  let plane = await startControlPlane({ config, databaseUrl, natsUrl: nats.url, log });
  const cliHome = path.join(base, "cli-home");
  mkdirSync(cliHome, { recursive: true });

  const hoard: Hoard = {
    url: plane.gatewayUrl!,
    config,
    plane,
    databaseUrl,
    natsUrl: nats.url,
    nats,
    nc,
    async api(method, project, pathAndQuery, body, headers = {}) {
      const res = await fetch(`${hoard.url}/v1.0/${project}${pathAndQuery}`, {
        method,
        headers: { accept: "application/json", ...(body !== undefined ? { "content-type": "application/json" } : {}), ...headers },
        ...(body !== undefined ? { body: typeof body === "string" ? body : JSON.stringify(body) } : {}),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : null, headers: res.headers };
    },
    openstack(project, args) {
      return new Promise((resolve) => {
        execFile(
          "/usr/bin/openstack",
          ["--os-auth-type", "none", "--os-endpoint", `${hoard.url}/v1.0/${project}`, ...args],
          { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: cliHome, LANG: "C.UTF-8" }, timeout: 60_000 },
          (err, stdout, stderr) => {
            let json: unknown = null;
            try {
              json = JSON.parse(stdout);
            } catch {
              /* not every command prints JSON */
            }
            resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr, json });
          },
        );
      });
    },
    async createActive(project, instance) {
      const created = await hoard.api("POST", project, "/instances", { instance: { flavorRef: "1", volume: { size: 1 }, ...instance } });
      if (created.status !== 200) throw new Error(`create answered ${created.status}: ${JSON.stringify(created.body)}`);
      const id = created.body.instance.id;
      return eventually(async () => {
        const r = await hoard.api("GET", project, `/instances/${id}`);
        if (r.body.instance?.status === "ERROR") throw new Error(`instance ${id} failed: ${JSON.stringify(r.body.instance.fault)}`);
        return r.body.instance?.status === "ACTIVE" && r.body.instance?.operating_status === "HEALTHY" ? r.body.instance : undefined;
      }, 60_000, 100);
    },
    async restart(whileDown) {
      await plane.stop();
      await whileDown?.();
      plane = await startControlPlane({ config, databaseUrl, natsUrl: nats.url, log });
      hoard.plane = plane;
      hoard.url = plane.gatewayUrl!;
    },
    async stop() {
      // Stop first: the tracker finishes the commands it holds, so no guest is still being built below.
      await plane.stop();
      const supervisor = plane.tracker?.supervisor;
      for (const id of supervisor?.list() ?? []) await supervisor!.deprovision(id);
      // No guest is left: the volume pool (a loop-mounted btrfs image) can go.
      await supervisor?.closeVolumes();
      await nc.close();
      await nats.stop();
      const cgroups = await new CgroupLimits({ scope: cgroupScope(config.home) }).listLimited().catch(() => []);
      // Each guest's OS account goes with it.
      const users = process.getuid?.() === 0 ? new GuestUsers({ scope: cgroupScope(config.home) }) : undefined;
      const accounts = (await users?.list()) ?? [];
      // The netns network driver removes a network with its last guest, and its chains with the last network.
      const networkLeftovers = config.networkDriver === "netns" ? netnsLeftovers(cgroupScope(config.home)) : [];
      const leaked = await processesLeftUnder(base);
      await dropTestDatabase(dbName);
      rmSync(base, { recursive: true, force: true });
      if (cgroups.length) throw new Error(`cgroups were left behind for: ${cgroups.join(", ")}`);
      if (accounts.length) {
        for (const name of accounts) await execFileP("userdel", [name]).catch(() => execFileP("groupdel", [name]).catch(() => undefined));
        throw new Error(`guest OS accounts were left behind: ${accounts.join(", ")}`);
      }
      if (networkLeftovers.length) throw new Error(`the netns network driver left behind: ${networkLeftovers.join("; ")}`);
      if (leaked.length) {
        for (const p of leaked) {
          try {
            process.kill(p.pid, "SIGKILL");
          } catch {
            // gone meanwhile
          }
        }
        throw new Error(`processes were left running after the tests: ${leaked.map((p) => p.cmdline.slice(0, 120)).join("; ")}`);
      }
    },
  };
  return hoard;
}

/**
 * What a netns network driver of `scope` has on the machine now: namespaces, links and iptables lines (every
 * table) that carry its names (see drivers/network/netns.ts). Another Hoard's are not in it, so a test that
 * looks through it passes while other Hoards run on the same machine.
 */
export function netnsFootprint(scope: string): { namespaces: string[]; links: string[]; rules: string[] } {
  const s = scope.slice(0, 12);
  const out = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: "utf8" });
  return {
    namespaces: out("ip", ["netns", "list"]).split("\n").filter((l) => l.includes(`hoard-${s}-`)),
    links: out("ip", ["-o", "link"]).split("\n").filter((l) => l.includes(`h${s.slice(0, 6)}v`)),
    rules: out("iptables-save", []).split("\n").filter((l) => l.includes(`HOARD-${s}-`) || l.includes(`h${s.slice(0, 6)}v`)),
  };
}

/**
 * What a netns network driver of `scope` left on the machine (its footprint, as lines to report). Run
 * `startHoard({ networkDriver: "netns" })` to have stop() fail on any.
 */
export function netnsLeftovers(scope: string): string[] {
  const { namespaces, links, rules } = netnsFootprint(scope);
  return [...namespaces.map((n) => `namespace ${n}`), ...links.map((l) => `link ${l.trim()}`), ...rules.map((r) => `iptables ${r}`)];
}

/** Polls `probe` until it returns a value (not undefined) or the time runs out. */
export async function eventually<T>(probe: () => Promise<T | undefined>, timeoutMs = 20_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms${last ? `: ${String(last)}` : ""}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
