/**
 * The set-up of the supervisor-level tests: a GuestSupervisor (the tracker's guest side, no Hoard around it) in
 * a private home, the provision commands it is given, and a clean-up that removes every guest, engine and OS
 * account it made, failing the file on an account its guests left behind.
 */
import { randomUUID } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { chmod, mkdtemp, rm } from "node:fs/promises";
import path from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, expect, inject } from "vitest";
import type { ProvisionCommand } from "../../events/payloads.js";
import { GuestSupervisor } from "../../tracker/guests/index.js";
import { processesUnder } from "./processes.js";

/** What a GuestSupervisor is built from. */
export type SupervisorOptions = ConstructorParameters<typeof GuestSupervisor>[0];

/** The address every guest of a supervisor home listens on. */
export const GUEST_HOST = "127.0.0.1";

export interface SupervisorHomeOptions {
  /** The folder the home is made in: the run's home unless given (a test that needs tmpfs names /dev/shm). */
  parent?: string;
  /** The start of the home's name. */
  prefix: string;
  /** The start of every instance id `command()` makes. */
  idPrefix: string;
  /** What every provision command carries unless the test overrides it: the engine, its version, its settings… */
  defaults: Partial<ProvisionCommand> & Pick<ProvisionCommand, "manager" | "version">;
  /** The golden images built before the first test. */
  warm: { manager: string; version: string }[];
  /** Options of every supervisor on the home beyond the usual ones, given the home (a volume pool inside it). */
  supervisor?: (home: string) => Partial<SupervisorOptions>;
  /** Undoes what the test made in the home besides guests (mounts, a volume pool), once they are removed. */
  cleanup?: () => Promise<void>;
  /** How long building the golden images and removing everything may take. */
  hookTimeoutMs?: number;
}

/** A private home with its supervisor; `supervisorHome()` makes one and ties it to the file's hooks. */
export class SupervisorHome {
  /** The home's folder; set before the first test. */
  home = "";
  /** The supervisor the tests drive (a test may replace it, as a restarted tracker would). */
  supervisor!: GuestSupervisor;
  /** Every instance id given out, removed at the end whether or not its test got that far. */
  readonly made = new Set<string>();
  private extra: Partial<SupervisorOptions> = {};

  constructor(private readonly options: SupervisorHomeOptions) {}

  /** Makes the home and its supervisor, and builds the golden images. */
  async open(): Promise<void> {
    this.home = await mkdtemp(path.join(this.options.parent ?? inject("home"), this.options.prefix));
    // mkdtemp makes it 0700; each engine runs as its guest's own OS user, which must pass through it.
    await chmod(this.home, 0o711);
    this.extra = this.options.supervisor?.(this.home) ?? {};
    this.supervisor = this.makeSupervisor();
    await this.supervisor.warm(this.options.warm);
  }

  /** Another supervisor on the same home, as a restarted tracker (or a second one) would be. */
  makeSupervisor(overrides: Partial<SupervisorOptions> = {}): GuestSupervisor {
    return new GuestSupervisor({ home: this.home, guestHost: GUEST_HOST, startTimeoutMs: 30_000, stopTimeoutMs: 10_000, log: pino({ level: "silent" }), ...this.extra, ...overrides });
  }

  /** A provision command for a new instance (or `overrides.instanceId`), remembered for the clean-up. */
  command(overrides: Partial<ProvisionCommand> = {}): ProvisionCommand {
    const instanceId = overrides.instanceId ?? `${this.options.idPrefix}${randomUUID()}`;
    this.made.add(instanceId);
    return {
      instanceId,
      node: "node-1",
      datastore: this.options.defaults.manager,
      flavor: { id: "1", ramMb: 256, vcpus: 1 },
      volumeSizeGb: 1,
      networkId: "net-1",
      databases: [],
      users: [],
      settings: {},
      ...this.options.defaults,
      ...overrides,
    };
  }

  /** A guest's record (run/<id>/guest.json) as the supervisor wrote it. */
  guestJson(id: string): { pid: number; port: number; uid: number; gid: number } & Record<string, unknown> {
    return JSON.parse(readFileSync(path.join(this.home, "run", id, "guest.json"), "utf8"));
  }

  /** Where a guest's engine keeps its data. */
  dataDir(id: string): string {
    return path.join(this.home, "volumes", id, "data");
  }

  /** Pids of the live engines on this home's volumes (a zombie has no command line, so is not one). */
  engines(): number[] {
    return processesUnder(path.join(this.home, "volumes")).map((p) => p.pid);
  }

  /** Removes every guest (a fresh supervisor finds each through its pid file, whoever started it) and the home. */
  async close(): Promise<void> {
    if (!this.home) return;
    const cleaner = this.makeSupervisor();
    const runs = path.join(this.home, "run");
    const leftovers = existsSync(runs) ? readdirSync(runs) : [];
    for (const id of new Set([...this.made, ...leftovers])) await cleaner.deprovision(id).catch(() => {});
    for (const p of processesUnder(this.home)) process.kill(p.pid, "SIGKILL");
    await this.options.cleanup?.();
    // Each guest's OS account goes with it (and a golden image's with its build).
    const accounts = (await cleaner.guestUsers?.list()) ?? [];
    for (const id of this.made) await cleaner.guestUsers?.remove(id);
    await rm(this.home, { recursive: true, force: true });
    expect(accounts, "guest OS accounts left behind").toEqual([]);
  }
}

/** A supervisor home for this test file (or the describe it is called in): opened before its first test, removed after its last. */
export function supervisorHome(options: SupervisorHomeOptions): SupervisorHome {
  const home = new SupervisorHome(options);
  const timeout = options.hookTimeoutMs ?? 60_000;
  beforeAll(() => home.open(), timeout);
  afterAll(() => home.close(), timeout);
  return home;
}
