/**
 * The bootstrap layer against the real binaries: private NATS and Postgres servers in their own folders, reuse of
 * a server still running there, real stops, and the machine's own servers (4222, 5432) left alone.
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { connect as tcpConnect } from "node:net";
import path from "node:path";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { connectAs, ensurePackages, freePort, portRange, startNats, startPostgres, type NatsServer, type PostgresServer } from "../../bootstrap/index.js";

/** Whether something accepts TCP connections on 127.0.0.1:`port`. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

const portOf = (url: string) => Number(new URL(url).port);
const gone = (pid: number) => !existsSync(`/proc/${pid}`);

/** Waits until `pid` has left the process table (its parent, maybe init, has reaped it). */
async function reaped(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!gone(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  return gone(pid);
}

/** The state letter of `pid` (R, S, Z, …), or null when it has no /proc entry. */
function state(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] ?? null;
  } catch {
    return null;
  }
}

/** The session id of `pid` (field 6 of /proc/<pid>/stat; the name before it may contain spaces). */
function session(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[3] ?? "";
}

let root: string;
const systemPortsBefore: Record<number, boolean> = {};
const cleanups: Array<() => Promise<void>> = [];

beforeAll(async () => {
  root = mkdtempSync("/dev/shm/hoard-bootstrap-");
  chmodSync(root, 0o711); // the server's OS user (hoard-state, as root) must be able to pass through it
  for (const port of [4222, 5432]) systemPortsBefore[port] = await listening(port);
});

afterAll(async () => {
  for (const cleanup of cleanups) await cleanup().catch(() => {});
  if (root) rmSync(root, { recursive: true, force: true });
});

describe("ensurePackages", () => {
  it("installs what is missing once, then finds everything without calling apt", async () => {
    await ensurePackages("test", () => {});
    const messages: string[] = [];
    await ensurePackages("test", (m) => messages.push(m));
    expect(messages).toEqual([]);
  });
});

describe("freePort", () => {
  it("returns a port nobody listens on, outside the kernel's ephemeral range", async () => {
    const [low, high] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/).map(Number);
    for (let i = 0; i < 20; i++) {
      const port = await freePort();
      expect(port).toBeGreaterThan(1024);
      expect(port < low! || port > high!, `${port} is in ${low}-${high}`).toBe(true);
      expect(await listening(port)).toBe(false);
    }
  });

  it("takes the ports below the ephemeral range, or above it when too few are below", () => {
    expect(portRange([32_768, 60_999])).toEqual([20_000, 32_767]);
    expect(portRange([15_000, 60_000])).toEqual([60_001, 65_535]);
    expect(portRange([10_000, 65_000])).toEqual([20_000, 65_535]);
  });

  it("skips the ports it is told are taken, and says so when it finds none", async () => {
    const evenTaken = { has: (port: number) => port % 2 === 0 };
    for (let i = 0; i < 20; i++) expect((await freePort("127.0.0.1", evenTaken)) % 2).toBe(1);
    await expect(freePort("127.0.0.1", { has: () => true })).rejects.toThrow(/^no free TCP port found on 127\.0\.0\.1 between \d+ and \d+/);
  });
});

describe("startNats", () => {
  let nats: NatsServer;
  let dir: string;

  // Started, with one message in a stream, before the first test, not in it, so that each test can also run alone (`-t`).
  beforeAll(async () => {
    dir = path.join(root, "nats");
    nats = await startNats({ dir });
    cleanups.push(() => nats.stop());
    const nc = await connectAs(nats.url, nats.credentials, "admin");
    try {
      await (await jetstreamManager(nc)).streams.add({ name: "BOOT", subjects: ["boot.>"] });
      expect((await jetstream(nc).publish("boot.hello", "hello")).seq).toBe(1);
    } finally {
      await nc.close();
    }
  });

  it("serves JetStream on a private port", async () => {
    expect(nats.url).toMatch(/^nats:\/\/127\.0\.0\.1:\d+$/);
    expect(portOf(nats.url)).not.toBe(4222);

    const nc = await connectAs(nats.url, nats.credentials, "admin");
    try {
      const consumer = await jetstream(nc).consumers.get("BOOT");
      const msg = await consumer.next({ expires: 5_000 });
      expect(msg?.subject).toBe("boot.hello");
      expect(msg?.string()).toBe("hello");
    } finally {
      await nc.close();
    }
  });

  it("reuses the server still running in the same folder", async () => {
    const again = await startNats({ dir });
    expect(again.pid).toBe(nats.pid);
    expect(again.url).toBe(nats.url);
  });

  it("runs in its own session, so a terminal Ctrl-C to our group does not reach it", () => {
    expect(session(nats.pid)).toBe(String(nats.pid));
    expect(session(nats.pid)).not.toBe(session(process.pid));
  });

  it("stop() ends the process, and a restart keeps the JetStream data", async () => {
    const pid = nats.pid;
    await nats.stop();
    expect(gone(pid)).toBe(true);

    nats = await startNats({ dir });
    expect(nats.pid).not.toBe(pid);
    const nc = await connectAs(nats.url, nats.credentials, "admin");
    try {
      const info = await (await jetstreamManager(nc)).streams.info("BOOT");
      expect(info.state.messages).toBe(1);
    } finally {
      await nc.close();
    }
    const restarted = nats.pid;
    await nats.stop();
    expect(gone(restarted)).toBe(true);
  });
});

describe("startPostgres", () => {
  let server: PostgresServer;
  let dir: string;

  // Started before the first test, not in it, so that each test can also run alone (`-t`).
  beforeAll(async () => {
    dir = path.join(root, "postgres");
    server = await startPostgres({ dir, database: "boot_db", fsync: false });
    cleanups.push(() => server.stop());
  });

  it("initialises a private cluster and creates the database", async () => {
    // The superuser's password is in the URL (and its secret file), never in the display form.
    expect(server.url).toMatch(/^postgres:\/\/postgres:[0-9a-f]{64}@127\.0\.0\.1:\d+\/boot_db$/);
    expect(server.display).toMatch(/^postgres:\/\/postgres@127\.0\.0\.1:\d+\/boot_db$/);
    expect(readFileSync(server.secretFile, "utf8").trim()).toBe(new URL(server.url).password);
    expect(portOf(server.url)).not.toBe(5432);
    expect(existsSync(path.join(dir, "data", "PG_VERSION"))).toBe(true);

    const client = new pg.Client({ connectionString: server.url });
    await client.connect();
    try {
      const { rows } = await client.query("select 1 as one, current_database() as db, current_setting('fsync') as fsync");
      expect(rows).toEqual([{ one: 1, db: "boot_db", fsync: "off" }]);
    } finally {
      await client.end();
    }
  });

  it("reuses the postmaster still running on the same data folder", async () => {
    const again = await startPostgres({ dir, database: "boot_db" });
    expect(again.pid).toBe(server.pid);
    expect(again.url).toBe(server.url);
  });

  it("runs in its own session, so a terminal Ctrl-C to our group does not reach it", () => {
    expect(session(server.pid)).not.toBe(session(process.pid));
  });

  it("says so when the server's OS user cannot enter the folder (as root)", async () => {
    if (process.getuid?.() !== 0) return; // only root hands the cluster to another user
    const locked = mkdtempSync(path.join(root, "locked-")); // mkdtemp makes it 0700, root only
    await expect(startPostgres({ dir: path.join(locked, "pg"), fsync: false })).rejects.toThrow(/hoard-state user cannot enter/);
  });

  it("stop() ends the postmaster", async () => {
    const { pid } = server;
    const port = portOf(server.url);
    await server.stop();
    // pg_ctl leaves the postmaster to init, which reaps it in its own time (up to ~2 s on this machine's
    // init), so right after stop() it may still be a zombie: exited, but not yet gone from the table.
    expect([null, "Z"]).toContain(state(pid));
    expect(await listening(port)).toBe(false);
    expect(await reaped(pid, 10_000)).toBe(true);
  });
});

describe("the run's global setup", () => {
  it("provides a private NATS, a private Postgres and a home folder", async () => {
    expect(existsSync(inject("home"))).toBe(true);
    const nc = await connectAs(inject("natsUrl"), inject("natsCredentials"), "admin");
    try {
      await (await jetstreamManager(nc)).getAccountInfo(); // fails unless JetStream is enabled
    } finally {
      await nc.close();
    }
    const client = new pg.Client({ connectionString: inject("databaseUrl") });
    await client.connect();
    try {
      expect((await client.query("select 1 as one")).rows).toEqual([{ one: 1 }]);
    } finally {
      await client.end();
    }
    // Pre-set URLs are used as given; otherwise the servers are private ones, never the machine's own.
    if (process.env.NATS_URL) expect(inject("natsUrl")).toBe(process.env.NATS_URL);
    else expect(portOf(inject("natsUrl"))).not.toBe(4222);
    if (process.env.DATABASE_URL) expect(inject("databaseUrl")).toBe(process.env.DATABASE_URL);
    else expect(portOf(inject("databaseUrl"))).not.toBe(5432);
  });
});

describe("the machine's own servers", () => {
  it("still answer (or still do not) on 4222 and 5432", async () => {
    for (const port of [4222, 5432]) expect(await listening(port)).toBe(systemPortsBefore[port]);
  });
});
