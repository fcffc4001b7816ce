/**
 * The node's own state against a hostile tenant (issue 19, escapes 3, 5 and 7):
 * - the control plane's Postgres: another OS user than every guest's, its socket out of reach of other
 *   users, a password for every connection; a folder an older Hoard made (trust, owned by `postgres`) is
 *   moved over at the next start, its rows kept;
 * - a tenant's `RAISE LOG` flood cannot fill the node's disk through the engine log, and the guest keeps
 *   running; below the free-space floor the node refuses new databases and says why;
 * - the state folder's modes (0711; hoard.log and nats.log 0640), also fixed on files an older Hoard left.
 */
import { execFile } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { connectAs, freePort, startNats, startPostgres, type PostgresServer } from "../../bootstrap/index.js";
import { postgresBinDir } from "../../bootstrap/packages.js";
import { processUid, stateAccount, STATE_USER } from "../../bootstrap/postgres.js";
import { EngineLogs } from "../../tracker/engine-logs.js";
import { eventually, startHoard, type Hoard } from "../kit/harness.js";

const exec = promisify(execFile);
const NOBODY = 65534;
const asRoot = process.getuid?.() === 0;
const mode = (file: string) => (statSync(file).mode & 0o777).toString(8);

function uidOf(name: string): number {
  const line = readFileSync("/etc/passwd", "utf8").split("\n").find((l) => l.startsWith(`${name}:`));
  return Number(line!.split(":")[2]);
}

/** psql run as another OS user (as a guest's engine or any local process would), with no password at hand. */
async function psqlAs(uid: number, args: string[], env: Record<string, string> = {}): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await exec("setpriv", [`--reuid=${uid}`, `--regid=${uid}`, "--clear-groups", "--", "psql", "-X", "-w", "-At", ...args], { cwd: "/", env: { PATH: "/usr/bin:/bin", HOME: "/", ...env }, timeout: 20_000 });
    return { code: 0, output: stdout + stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: err.code ?? 1, output: `${err.stdout ?? ""}${err.stderr ?? ""}` };
  }
}

let root: string;
const cleanups: Array<() => Promise<void>> = [];

beforeAll(() => {
  root = mkdtempSync("/dev/shm/hoard-nodestate-");
  chmodSync(root, 0o711);
});

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch((e: Error) => console.error(`cleanup: ${e.message}`));
  if (root) rmSync(root, { recursive: true, force: true });
});

describe.runIf(asRoot)("the control plane's Postgres", () => {
  let server: PostgresServer;
  let dir: string;

  beforeAll(async () => {
    dir = path.join(root, "pg");
    server = await startPostgres({ dir, fsync: false });
    cleanups.push(() => server.stop());
  });

  it("runs as its own system user, neither `postgres` (the guests' engines before) nor any guest's", async () => {
    const account = await stateAccount();
    expect(processUid(server.pid)).toBe(account.uid);
    expect(server.uid).toBe(account.uid);
    expect(processUid(server.pid)).not.toBe(uidOf("postgres"));
    expect(processUid(server.pid)).not.toBe(0);
    const owner = statSync(dir);
    expect([owner.uid, mode(dir)]).toEqual([account.uid, "700"]);
  });

  it("keeps its password in a 0600 file of Hoard's own, and never shows it in its display URL", () => {
    const secret = statSync(server.secretFile);
    expect(mode(server.secretFile)).toBe("600");
    expect(secret.uid).toBe(process.getuid!());
    const password = readFileSync(server.secretFile, "utf8").trim();
    expect(password).toMatch(/^[0-9a-f]{64}$/);
    expect(new URL(server.url).password).toBe(password);
    expect(server.display).not.toContain(password);
  });

  it("cannot be reached through its unix socket by another OS user (nobody, postgres)", async () => {
    const port = new URL(server.url).port;
    for (const uid of [NOBODY, uidOf("postgres")]) {
      const r = await psqlAs(uid, ["-h", dir, "-p", port, "-U", "postgres", "-d", "hoard", "-c", "select 1"]);
      expect(r.code, r.output).not.toBe(0);
      expect(r.output).toMatch(/Permission denied/);
    }
    // The socket is there: root, which Hoard runs as, gets in with the password.
    const c = new pg.Client({ host: dir, port: Number(port), user: "postgres", password: new URL(server.url).password, database: "hoard" });
    await c.connect();
    expect((await c.query("select 1 as one")).rows).toEqual([{ one: 1 }]);
    await c.end();
  });

  it("refuses a TCP connection without the password, or with a wrong one", async () => {
    const port = new URL(server.url).port;
    const none = await psqlAs(NOBODY, ["-h", "127.0.0.1", "-p", port, "-U", "postgres", "-d", "hoard", "-c", "select 1"]);
    expect(none.code, none.output).not.toBe(0);
    expect(none.output).toMatch(/no password supplied|password authentication failed/);
    const wrong = await psqlAs(NOBODY, ["-h", "127.0.0.1", "-p", port, "-U", "postgres", "-d", "hoard", "-c", "select 1"], { PGPASSWORD: "guess" });
    expect(wrong.output).toMatch(/password authentication failed/);
    const hba = readFileSync(path.join(dir, "data", "pg_hba.conf"), "utf8");
    expect(hba).not.toMatch(/^\s*(local|host)\S*\s.*\b(trust|peer|ident)\b/m);
  });
});

describe.runIf(asRoot)("a Postgres folder an older Hoard initialised (trust, owned by postgres)", () => {
  it("is moved over at the next start: its own user, a password, no trust, its rows kept", { timeout: 120_000 }, async () => {
    const dir = path.join(root, "old-pg");
    const data = path.join(dir, "data");
    const bin = postgresBinDir()!;
    const pgUid = uidOf("postgres");
    mkdirSync(dir);
    chmodSync(dir, 0o755);
    await exec("chown", ["postgres:postgres", dir]);
    const asPostgres = (file: string, args: string[]) => exec("runuser", ["-u", "postgres", "--", path.join(bin, file), ...args], { cwd: dir });
    // Exactly what the older bootstrap did.
    await asPostgres("initdb", ["-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"]);
    const port = await freePort();
    await asPostgres("pg_ctl", ["start", "-D", data, "-l", path.join(dir, "postgres.log"), "-w", "-o", `-p ${port} -k '${dir}' -c listen_addresses=127.0.0.1`]);
    let stopOld = true;
    cleanups.push(async () => {
      if (stopOld) await asPostgres("pg_ctl", ["stop", "-D", data, "-m", "immediate", "-w"]).catch(() => undefined);
    });
    const old = new pg.Client({ host: "127.0.0.1", port, user: "postgres", database: "postgres" });
    await old.connect();
    await old.query("create database hoard");
    await old.end();
    const rows = new pg.Client({ host: "127.0.0.1", port, user: "postgres", database: "hoard" });
    await rows.connect();
    await rows.query("create table kept (v text); insert into kept values ('from before')");
    await rows.end();
    // The escape: any local user logs in as the superuser with no password, over TCP or the world-writable socket.
    expect((await psqlAs(NOBODY, ["-h", dir, "-p", String(port), "-U", "postgres", "-d", "hoard", "-c", "select v from kept"])).output.trim()).toBe("from before");

    const server = await startPostgres({ dir, port });
    stopOld = false;
    cleanups.push(() => server.stop());
    const account = await stateAccount();
    expect(processUid(server.pid)).toBe(account.uid);
    expect(processUid(server.pid)).not.toBe(pgUid);
    for (const p of [dir, data, path.join(data, "base"), path.join(data, "pg_hba.conf")]) expect(statSync(p).uid, p).toBe(account.uid);
    expect(mode(dir)).toBe("700");
    expect(mode(server.secretFile)).toBe("600");
    expect(readFileSync(path.join(data, "pg_hba.conf"), "utf8")).not.toMatch(/\btrust\b/);

    const port2 = new URL(server.url).port;
    expect((await psqlAs(NOBODY, ["-h", dir, "-p", port2, "-U", "postgres", "-d", "hoard", "-c", "select 1"])).output).toMatch(/Permission denied/);
    expect((await psqlAs(NOBODY, ["-h", "127.0.0.1", "-p", port2, "-U", "postgres", "-d", "hoard", "-c", "select 1"])).output).toMatch(/no password supplied|password authentication failed/);
    const c = new pg.Client({ connectionString: server.url });
    await c.connect();
    expect((await c.query("select v from kept")).rows).toEqual([{ v: "from before" }]);
    await c.end();

    // A second start finds it as it left it.
    const again = await startPostgres({ dir });
    expect(again.pid).toBe(server.pid);
    expect(again.url).toBe(server.url);
  });
});

describe("the engine log watch (tracker/engine-logs.ts)", () => {
  it("rotates a log past its cap but never writes through a link a guest planted in its run folder", async () => {
    const runRoot = path.join(root, "watch", "run");
    const victim = path.join(root, "watch", "victim");
    mkdirSync(path.join(runRoot, "g1"), { recursive: true });
    mkdirSync(path.join(runRoot, "g2"));
    writeFileSync(path.join(runRoot, "g1", "engine.log"), "line\n".repeat(100_000));
    writeFileSync(victim, "root's file\n".repeat(100_000));
    symlinkSync(victim, path.join(runRoot, "g2", "engine.log"));
    symlinkSync(victim, path.join(runRoot, "g1", "engine.log.1.tmp"));
    const { createLog } = await import("../../local/index.js");
    const { loadConfig } = await import("../../config/index.js");
    const log = createLog(loadConfig({ HOARD_HOME: path.join(root, "watch", "home") }), { console: false });
    const watch = new EngineLogs({ home: root, runRoot, maxBytes: 64 * 1024, checkMs: 50, floorBytes: 0, node: "local", log });
    await watch.start();
    await watch.stop();
    expect(statSync(path.join(runRoot, "g1", "engine.log")).size).toBe(0);
    expect(readFileSync(path.join(runRoot, "g1", "engine.log.1"), "utf8")).toMatch(/^(line\n)+$/);
    expect(statSync(path.join(runRoot, "g1", "engine.log.1")).size).toBeLessThanOrEqual(16 * 1024);
    expect(readFileSync(victim, "utf8")).toBe("root's file\n".repeat(100_000));
  });
});

describe("the run's Postgres (test/kit/global-setup.ts)", () => {
  it.runIf(!process.env.DATABASE_URL)("is the hardened one: no connection without its password", async () => {
    const url = new URL(inject("databaseUrl"));
    expect(url.password).toMatch(/^[0-9a-f]{64}$/);
    url.password = "";
    const c = new pg.Client({ connectionString: url.toString() });
    await expect(c.connect()).rejects.toThrow(/password/);
    await c.end().catch(() => undefined);
  });
});

describe("a real Hoard with a PostgreSQL guest", () => {
  const P = "nodestate";
  const CAP_MB = 4;
  let hoard: Hoard;
  let g: { id: string; address: string; port: number };

  beforeAll(async () => {
    hoard = await startHoard({ engineLogs: { maxMb: CAP_MB, checkMs: 100 } });
    const shown = await hoard.createActive(P, { name: "flood", datastore: { type: "postgresql", version: "15" }, databases: [{ name: "app" }], users: [{ name: "u1", password: "u1-secret-pw", databases: [{ name: "app" }] }] });
    g = { id: shown.id, ...shown.addresses[0] };
  }, 180_000);

  afterAll(async () => {
    await hoard?.stop();
  }, 120_000);

  const logs = () => {
    const dir = path.join(hoard.config.home, "run", g.id);
    return { log: path.join(dir, "engine.log"), rotated: path.join(dir, "engine.log.1") };
  };
  const size = (file: string) => (existsSync(file) ? statSync(file).size : 0);
  const tenant = async () => {
    const c = new pg.Client({ host: g.address, port: g.port, user: "u1", password: "u1-secret-pw", database: "app" });
    await c.connect();
    return c;
  };

  it("keeps the engine log under its cap while a plain tenant user floods it with RAISE LOG for 5 s, and the guest keeps running", { timeout: 120_000 }, async () => {
    const { log, rotated } = logs();
    const c = await tenant();
    // The engine's own log limits hold, and the tenant cannot lift them for its session.
    expect((await c.query("SHOW log_min_error_statement")).rows).toEqual([{ log_min_error_statement: "panic" }]);
    for (const setting of ["log_min_error_statement = 'log'", "log_min_messages = 'debug5'", "log_statement = 'all'"]) {
      await expect(c.query(`SET ${setting}`)).rejects.toThrow(/permission denied to set parameter/);
    }
    // The tenant's own session bound ends the loop (the tenant may set statement_timeout itself).
    await c.query("SET statement_timeout = 5000");
    let largest = 0;
    let flooding = true;
    const sampler = (async () => {
      while (flooding) {
        largest = Math.max(largest, size(log) + size(rotated));
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    const flood = await c.query("DO $$ BEGIN LOOP RAISE LOG '%', repeat('x',1000000); END LOOP; END $$").then(
      () => null,
      (e: Error) => e,
    );
    flooding = false;
    await sampler;
    await c.end();
    expect(flood?.message).toMatch(/statement timeout/);
    console.log(`engine log during a 5 s RAISE LOG flood: at most ${(largest / 1024 / 1024).toFixed(1)} MB with engine.log.1 (cap ${CAP_MB} MB)`);
    // The tracker truncated the log: after the flood it holds at most the cap (plus what came in since).
    const cap = CAP_MB * 1024 * 1024;
    const after = await eventually(async () => (size(log) <= cap ? size(log) + size(rotated) : undefined), 10_000, 50);
    expect(after).toBeLessThanOrEqual(cap + cap / 4);
    // While it ran: never far above the cap (the copy to engine.log.1 is a quarter of it), where without the
    // tracker it reached hundreds of MB in the same 5 s.
    expect(largest).toBeLessThan(cap + cap / 4 + 64 * 1024 * 1024);
    expect(readFileSync(rotated, "utf8")).toContain("xxxxxxxx");
    // The statement is never copied after each message (log_min_error_statement = panic).
    expect(readFileSync(rotated, "utf8")).not.toContain("STATEMENT:");

    // The guest answers, the tenant's session works, and the instance is healthy.
    const again = await tenant();
    expect((await again.query("select 1 as one")).rows).toEqual([{ one: 1 }]);
    await again.end();
    await eventually(async () => {
      const r = await hoard.api("GET", P, `/instances/${g.id}`);
      return r.body.instance.status === "ACTIVE" && r.body.instance.operating_status === "HEALTHY" ? true : undefined;
    }, 30_000, 100);
  });

  it.runIf(asRoot)("runs under another uid than the control plane's Postgres", async () => {
    const pid = Number(readFileSync(path.join(hoard.config.home, "run", g.id, "engine.pid"), "utf8"));
    const account = await stateAccount();
    expect(processUid(pid)).not.toBeNull();
    expect(processUid(pid)).not.toBe(account.uid);
    expect(readFileSync("/etc/passwd", "utf8")).toContain(`${STATE_USER}:`);
  });

  it("keeps the state folder 0711 and hoard.log and nats.log 0640, fixing what an older Hoard left 0755/0644", { timeout: 120_000 }, async () => {
    const home = hoard.config.home;
    const hoardLog = path.join(home, "hoard.log");
    const natsLog = path.join(path.dirname(home), "nats", "nats.log");
    expect(mode(home)).toBe("711");
    expect(mode(hoardLog)).toBe("640");
    expect(mode(natsLog)).toBe("640");
    chmodSync(home, 0o755);
    chmodSync(hoardLog, 0o644);
    await hoard.restart();
    expect(mode(home)).toBe("711");
    // hoard.log is opened once per process: the next start fixes it (createLog, as bin/hoard.ts calls it).
    const { createLog } = await import("../../local/index.js");
    createLog(hoard.config, { console: false }).flush();
    expect(mode(hoardLog)).toBe("640");

    const natsDir = path.join(root, "old-nats");
    mkdirSync(natsDir);
    writeFileSync(path.join(natsDir, "nats.log"), "from an older Hoard\n", { mode: 0o644 });
    const nats = await startNats({ dir: natsDir });
    cleanups.push(() => nats.stop());
    expect(mode(path.join(natsDir, "nats.log"))).toBe("640");
  });

  it("below the node's free-space floor: engine logs trimmed, a new database and a backup refused with the reason, heartbeats say so", { timeout: 120_000 }, async () => {
    const nc = await connectAs(hoard.natsUrl, hoard.config.natsCredentials, "admin");
    try {
      const beats = nc.subscribe("hoard.work.guest.heartbeat");
      // A floor above any disk's free space: the node is "full" without filling anything.
      hoard.config.diskFloorMb = 1_000_000_000;
      await hoard.restart();
      const created = await hoard.api("POST", P, "/instances", { instance: { name: "refused", flavorRef: "1", volume: { size: 1 }, datastore: { type: "postgresql", version: "15" } } });
      expect(created.status).toBe(200);
      const failed = await eventually(async () => {
        const r = await hoard.api("GET", P, `/instances/${created.body.instance.id}`);
        return r.body.instance.status === "ERROR" ? r.body.instance : undefined;
      }, 60_000, 100);
      expect(failed.fault.message).toMatch(/low on disk space: .* below its floor of .*HOARD_DISK_FLOOR_MB.*a new database is refused/);
      for await (const m of beats) {
        const data = JSON.parse(m.string()).data;
        if (data.node !== hoard.config.node || !data.disk) continue;
        expect(data.disk).toMatchObject({ low: true, floorBytes: 1_000_000_000 * 1024 * 1024 });
        break;
      }
      const backup = await hoard.api("POST", P, "/backups", { backup: { name: "refused", instance: g.id } });
      expect(backup.status).toBe(202);
      const failedBackup = await eventually(async () => {
        const r = await hoard.api("GET", P, `/backups/${backup.body.backup.id}`);
        return r.body.backup.status === "FAILED" ? r.body.backup : undefined;
      }, 60_000, 100);
      expect(JSON.stringify(failedBackup)).toMatch(/below its floor of .*a backup is refused/);
      const { log } = logs();
      expect(size(log)).toBeLessThanOrEqual(64 * 1024);
      await eventually(async () => (readFileSync(path.join(hoard.config.home, "hoard.log"), "utf8").includes("below its free-space floor") ? true : undefined), 10_000, 50);
      // The guest that was there keeps running.
      const c = await tenant();
      expect((await c.query("select 1 as one")).rows).toEqual([{ one: 1 }]);
      await c.end();
      await hoard.api("DELETE", P, `/instances/${created.body.instance.id}`);
    } finally {
      hoard.config.diskFloorMb = 0;
      await hoard.restart();
      await nc.close();
    }
  });
});
