/**
 * Escape 1 and its kind, tried as a tenant would on both network drivers: with the API and the tenant's own
 * root of a MariaDB, a PostgreSQL and a Redis guest, every engine feature that names a file on the node
 * (server logs, LOAD DATA, INTO OUTFILE, LOAD_FILE, COPY … PROGRAM, ALTER SYSTEM, CONFIG SET dir + SAVE) is
 * pointed outside the guest: at /etc/cron.d, the node's /tmp, the node's secrets and another guest's folders.
 * Nothing there is written or read, each refusal is the engine's own error (a privilege the tenant's root
 * lacks, or the OS refusing the guest's own user), and the guest keeps answering. The OS side is checked
 * directly too: each guest's processes run as its own user (never root, never another guest's or the control
 * plane's Postgres's), with no capabilities, no_new_privs and a private /tmp, and that user cannot read or
 * list another guest's folders or the tracker's files. Needs root (and iproute2, iptables for netns).
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync, readlinkSync, statSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { promisify } from "node:util";
import { Redis } from "ioredis";
import mysql from "mysql2/promise";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GUEST_MAX_TASKS } from "../../drivers/index.js";
import { eventually, startHoard, type Hoard } from "../kit/harness.js";

const run = promisify(execFile);
/** A tag no other run uses, in every path the tenant aims at. */
const TAG = `hoard-escape-${randomBytes(4).toString("hex")}`;

interface Guest {
  id: string;
  address: string;
  port: number;
  rootPassword: string;
}

interface GuestRecord {
  pid: number;
  volume: string;
  uid: number;
  gid: number;
}

/** How a statement ended: "ok" (with its rows), or the error the engine answered with. */
type Outcome = { ok: true; rows: unknown } | { ok: false; engineError: boolean; message: string };

async function mariadbTry(conn: mysql.Connection, sql: string): Promise<Outcome> {
  try {
    const [rows] = await conn.query(sql);
    return { ok: true, rows };
  } catch (err) {
    const e = err as { errno?: unknown; sqlState?: unknown; fatal?: boolean; message: string };
    // The server's own answer: an error number and SQLSTATE, the connection still open.
    return { ok: false, engineError: typeof e.errno === "number" && typeof e.sqlState === "string" && !e.fatal, message: e.message };
  }
}

async function pgTry(client: pg.Client, sql: string): Promise<Outcome> {
  try {
    return { ok: true, rows: (await client.query(sql)).rows };
  } catch (err) {
    const e = err as { code?: unknown; severity?: unknown; message: string };
    return { ok: false, engineError: typeof e.code === "string" && /^[0-9A-Z]{5}$/.test(e.code) && e.severity === "ERROR", message: e.message };
  }
}

async function redisTry(client: Redis, ...args: string[]): Promise<Outcome> {
  try {
    return { ok: true, rows: await client.call(args[0]!, ...args.slice(1)) };
  } catch (err) {
    // ioredis' ReplyError is the server's answer ("ERR …"); anything else is the connection failing.
    const e = err as Error;
    return { ok: false, engineError: e.name === "ReplyError", message: e.message };
  }
}

/** A refusal the engine gave itself, or a statement that ran (and must then have reached nothing). */
function refusedByEngineOrHarmless(outcome: Outcome): void {
  if (!outcome.ok) expect(outcome.engineError, outcome.message).toBe(true);
}

function status(pid: number): Record<string, string> {
  const text = readFileSync(`/proc/${pid}/status`, "utf8");
  return Object.fromEntries(text.split("\n").filter(Boolean).map((l) => [l.slice(0, l.indexOf(":")), l.slice(l.indexOf(":") + 1).trim()]));
}

/** `pid` and every process below it. */
function processTree(pid: number): number[] {
  const parents = new Map<number, number>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      parents.set(Number(entry), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
    } catch {
      // gone meanwhile
    }
  }
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) for (const [child, parent] of parents) if (parent === tree[i]) tree.push(child);
  return tree;
}

/** The processes of the cgroup (v2) `pid` is in, when it is one of Hoard's guests' own. */
function cgroupMates(pid: number): number[] {
  const line = readFileSync(`/proc/${pid}/cgroup`, "utf8").split("\n").find((l) => l.startsWith("0::"));
  if (!line || !line.includes("hoard")) return [];
  const procs = path.join("/sys/fs/cgroup", line.slice(3), "cgroup.procs");
  return existsSync(procs) ? readFileSync(procs, "utf8").split("\n").filter(Boolean).map(Number) : [];
}

/** Runs a command as `uid`/`gid` (as the guest's engine would), returning how it ended. */
async function asUser(uid: number, gid: number, command: string[]): Promise<{ ok: boolean; output: string }> {
  return run("setpriv", [`--reuid=${uid}`, `--regid=${gid}`, "--clear-groups", "--", ...command]).then(
    (r) => ({ ok: true, output: r.stdout }),
    (e: Error & { stderr?: string }) => ({ ok: false, output: e.stderr ?? e.message }),
  );
}

for (const networkDriver of ["host", "netns"] as const) {
  describe(`guests on the ${networkDriver} network driver, against their tenant's root`, () => {
    const project = `escapes-${networkDriver}`;
    let hoard: Hoard;
    let home: string;
    const guests: Record<"mariadb" | "postgresql" | "redis", Guest> = {} as never;
    const record = (id: string): GuestRecord => JSON.parse(readFileSync(path.join(home, "run", id, "guest.json"), "utf8"));
    /** Paths outside a guest that it aims at: none may come to exist. */
    const targets = (name: string) => [`/etc/cron.d/${TAG}-${name}`, `/tmp/${TAG}-${name}`, path.join(otherData, `${TAG}-${name}`), path.join(home, "run", guests.redis.id, "engine", `${TAG}-${name}`)];
    /** The PostgreSQL guest's data folder, which the other guests aim at. */
    let otherData: string;

    beforeAll(async () => {
      hoard = await startHoard({ networkDriver });
      home = hoard.config.home;
      const made = await Promise.all([
        hoard.createActive(project, { name: "m", datastore: { type: "mariadb", version: "10.11" }, databases: [{ name: "esc" }] }),
        hoard.createActive(project, { name: "p", datastore: { type: "postgresql", version: "15" }, databases: [{ name: "esc" }] }),
        hoard.createActive(project, { name: "r", datastore: { type: "redis", version: "7.0" } }),
      ]);
      for (const [engine, view] of [["mariadb", made[0]], ["postgresql", made[1]], ["redis", made[2]]] as const) {
        const root = await hoard.api("POST", project, `/instances/${view.id}/root`);
        expect(root.status, JSON.stringify(root.body)).toBe(200);
        guests[engine] = { id: view.id, address: view.addresses[0].address, port: view.addresses[0].port, rootPassword: root.body.user.password };
      }
      otherData = path.join(record(guests.postgresql.id).volume, "data");
    }, 180_000);

    afterAll(async () => {
      await hoard?.stop();
      for (const name of ["mariadb-general", "mariadb-slow", "mariadb-outfile", "pg-program", "pg-copy", "redis-dir"]) {
        if (home && guests.postgresql && guests.redis) for (const t of targets(name)) expect(existsSync(t), t).toBe(false);
      }
    }, 120_000);

    it("runs every guest process as the guest's own user: not root, not shared, no capabilities, no_new_privs, a private /tmp", async () => {
      const uids = new Set<number>();
      for (const g of Object.values(guests)) {
        const { pid, uid, gid } = record(g.id);
        expect(uid).toBeGreaterThan(0);
        expect(gid).toBeGreaterThan(0);
        uids.add(uid);
        const processes = new Set([...processTree(pid), ...cgroupMates(pid)]);
        expect(processes.size).toBeGreaterThan(0);
        for (const p of processes) {
          let s: Record<string, string>;
          try {
            s = status(p);
          } catch {
            continue; // ended meanwhile (a short-lived child)
          }
          expect(s.Uid!.split(/\s+/).map(Number), `uids of ${p}`).toEqual([uid, uid, uid, uid]);
          expect(s.Gid!.split(/\s+/).map(Number), `gids of ${p}`).toEqual([gid, gid, gid, gid]);
          expect(s.Groups ?? "", `groups of ${p}`).toBe("");
          for (const set of ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"]) expect(BigInt(`0x${s[set]}`), `${set} of ${p}`).toBe(0n);
          expect(s.NoNewPrivs, `NoNewPrivs of ${p}`).toBe("1");
          // Its tasks are capped (soft and hard) and it dumps no core.
          const limits = readFileSync(`/proc/${p}/limits`, "utf8");
          expect(limits, `limits of ${p}`).toMatch(new RegExp(`^Max processes\\s+${GUEST_MAX_TASKS}\\s+${GUEST_MAX_TASKS}\\s`, "m"));
          expect(limits, `limits of ${p}`).toMatch(/^Max core file size\s+0\s+0\s/m);
        }
        // A mount namespace of its own, with a tmpfs on /tmp that is the guest user's.
        expect(readlinkSync(`/proc/${pid}/ns/mnt`)).not.toBe(readlinkSync("/proc/self/ns/mnt"));
        const tmp = readFileSync(`/proc/${pid}/mountinfo`, "utf8").split("\n").filter((l) => l.split(" ")[4] === "/tmp");
        expect(tmp.at(-1)).toMatch(/ - tmpfs /);
        expect(tmp.at(-1)).toContain(`uid=${uid}`);
      }
      expect(uids.size).toBe(3);
      // Nor the uid of the control plane's Postgres (its backends run as its server's user).
      const control = new pg.Client({ connectionString: hoard.databaseUrl });
      await control.connect();
      const backend = (await control.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0]!.pid;
      // Read while the session (and so its backend) lives.
      const controlUid = Number(status(backend).Uid!.split(/\s+/)[0]);
      await control.end().catch(() => undefined);
      expect(uids.has(controlUid)).toBe(false);
      // Nor the shared `postgres` account that PostgreSQL guests ran as before.
      const postgres = readFileSync("/etc/passwd", "utf8").split("\n").find((l) => l.startsWith("postgres:"));
      if (postgres) expect(uids.has(Number(postgres.split(":")[2]))).toBe(false);
    });

    it("keeps each guest's folders its own and the tracker's files out of its reach", async () => {
      for (const g of Object.values(guests)) {
        const { uid, gid, volume } = record(g.id);
        for (const dir of [path.join(volume, "data"), path.join(home, "run", g.id, "engine")]) {
          const st = statSync(dir);
          expect([st.uid, st.gid, st.mode & 0o7777], dir).toEqual([uid, gid, 0o700]);
        }
        const runDir = statSync(path.join(home, "run", g.id));
        expect([runDir.uid, runDir.gid, runDir.mode & 0o7777]).toEqual([0, gid, 0o710]);
        const secret = statSync(path.join(home, "run", g.id, "admin.secret"));
        expect([secret.uid, secret.mode & 0o777]).toEqual([0, 0o600]);
      }
      // As the MariaDB guest's user: nothing of the other guests, nor the tracker's files, nor the node's secrets.
      const { uid, gid } = record(guests.mariadb.id);
      const p = guests.postgresql.id;
      for (const command of [
        ["cat", path.join(otherData, "PG_VERSION")],
        ["ls", otherData],
        ["ls", path.join(home, "run", p, "engine")],
        ["ls", path.join(home, "run", guests.mariadb.id)],
        ["cat", path.join(home, "run", guests.mariadb.id, "admin.secret")],
        ["cat", path.join(home, "run", p, "admin.secret")],
        ["cat", "/etc/shadow"],
        ["touch", `/etc/cron.d/${TAG}-as-user`],
        ["touch", path.join(home, "run", guests.mariadb.id, `${TAG}-as-user`)],
      ]) {
        const result = await asUser(uid, gid, command);
        expect(result.ok, `${command.join(" ")}: ${result.output}`).toBe(false);
        expect(result.output).toMatch(/Permission denied/);
      }
      expect(existsSync(`/etc/cron.d/${TAG}-as-user`)).toBe(false);
    });

    it("MariaDB: server logs pointed outside the guest write nothing there", async () => {
      const g = guests.mariadb;
      const conn = await mysql.createConnection({ host: g.address, port: g.port, user: "root", password: g.rootPassword });
      try {
        for (const [variable, on, name] of [["general_log_file", "general_log", "mariadb-general"], ["slow_query_log_file", "slow_query_log", "mariadb-slow"]] as const) {
          for (const target of targets(name)) {
            refusedByEngineOrHarmless(await mariadbTry(conn, `SET GLOBAL ${variable} = ${mysql.escape(target)}`));
            refusedByEngineOrHarmless(await mariadbTry(conn, `SET GLOBAL ${on} = 1`));
            refusedByEngineOrHarmless(await mariadbTry(conn, "SET SESSION long_query_time = 0"));
            await mariadbTry(conn, `SELECT '* * * * * root id > /tmp/${TAG}-pwned', SLEEP(0.01)`);
            refusedByEngineOrHarmless(await mariadbTry(conn, `SET GLOBAL ${on} = 0`));
            expect(existsSync(target), target).toBe(false);
          }
        }
        expect(existsSync(`/tmp/${TAG}-pwned`)).toBe(false);
        expect(await mariadbTry(conn, "SELECT 1 AS one")).toEqual({ ok: true, rows: [{ one: 1 }] });
      } finally {
        await conn.end();
      }
    });

    it("MariaDB: LOAD DATA, INTO OUTFILE and LOAD_FILE reach nothing outside the guest", async () => {
      const g = guests.mariadb;
      const conn = await mysql.createConnection({ host: g.address, port: g.port, user: "root", password: g.rootPassword, database: "esc" });
      try {
        expect((await mariadbTry(conn, "CREATE TABLE loot (v LONGTEXT)")).ok).toBe(true);
        for (const secret of ["/etc/shadow", path.join(home, "run", g.id, "admin.secret"), path.join(home, "run", guests.postgresql.id, "admin.secret"), path.join(otherData, "PG_VERSION")]) {
          const load = await mariadbTry(conn, `LOAD DATA INFILE ${mysql.escape(secret)} INTO TABLE loot`);
          expect(load.ok, `LOAD DATA ${secret}`).toBe(false);
          refusedByEngineOrHarmless(load);
          const read = await mariadbTry(conn, `SELECT LOAD_FILE(${mysql.escape(secret)}) AS v`);
          // LOAD_FILE answers NULL when it may not (or cannot) read the file.
          expect(read, `LOAD_FILE ${secret}`).toEqual({ ok: true, rows: [{ v: null }] });
        }
        expect(await mariadbTry(conn, "SELECT COUNT(*) AS n FROM loot")).toEqual({ ok: true, rows: [{ n: 0 }] });
        for (const target of targets("mariadb-outfile")) {
          const out = await mariadbTry(conn, `SELECT 'pwn' INTO OUTFILE ${mysql.escape(target)}`);
          expect(out.ok, `INTO OUTFILE ${target}`).toBe(false);
          refusedByEngineOrHarmless(out);
          expect(existsSync(target), target).toBe(false);
        }
        expect(await mariadbTry(conn, "SELECT 1 AS one")).toEqual({ ok: true, rows: [{ one: 1 }] });
      } finally {
        await conn.end();
      }
    });

    it("PostgreSQL: COPY … PROGRAM, COPY to and from files and ALTER SYSTEM are refused by the engine", async () => {
      const g = guests.postgresql;
      const client = new pg.Client({ host: g.address, port: g.port, user: "root", password: g.rootPassword, database: "esc" });
      await client.connect();
      try {
        expect((await pgTry(client, "CREATE TEMP TABLE loot (v text)")).ok).toBe(true);
        const [cron, tmp, otherGuest] = targets("pg-program");
        const [copyCron, copyTmp, copyOther] = targets("pg-copy");
        for (const sql of [
          `COPY (SELECT 'pwn') TO PROGRAM 'id > ${tmp}'`,
          `COPY (SELECT 'pwn') TO PROGRAM 'touch ${cron} ${otherGuest}'`,
          "COPY loot FROM PROGRAM 'cat /etc/shadow'",
          `COPY (SELECT 'pwn') TO '${copyTmp}'`,
          `COPY (SELECT 'pwn') TO '${copyCron}'`,
          `COPY (SELECT 'pwn') TO '${copyOther}'`,
          "COPY loot FROM '/etc/shadow'",
          `COPY loot FROM '${path.join(home, "run", g.id, "admin.secret")}'`,
          "SELECT pg_read_file('/etc/shadow')",
          "ALTER SYSTEM SET log_directory = '/etc/cron.d'",
          "ALTER SYSTEM SET archive_command = 'id'",
        ]) {
          const outcome = await pgTry(client, sql);
          expect(outcome.ok, sql).toBe(false);
          refusedByEngineOrHarmless(outcome);
        }
        expect((await pgTry(client, "SELECT count(*)::int AS n FROM loot")).ok).toBe(true);
        expect(await pgTry(client, "SELECT count(*)::int AS n FROM loot")).toEqual({ ok: true, rows: [{ n: 0 }] });
        expect(await pgTry(client, "SELECT 1 AS one")).toEqual({ ok: true, rows: [{ one: 1 }] });
      } finally {
        await client.end();
      }
    });

    it("Redis: CONFIG SET dir/dbfilename and SAVE write nothing outside the guest", async () => {
      const g = guests.redis;
      const client = new Redis({ host: g.address, port: g.port, username: "root", password: g.rootPassword, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      client.on("error", () => {});
      await client.connect();
      try {
        for (const target of targets("redis-dir")) {
          const dir = await redisTry(client, "CONFIG", "SET", "dir", path.dirname(target));
          refusedByEngineOrHarmless(dir);
          refusedByEngineOrHarmless(await redisTry(client, "CONFIG", "SET", "dbfilename", path.basename(target)));
          refusedByEngineOrHarmless(await redisTry(client, "SET", "payload", `\n* * * * * root id > /tmp/${TAG}-pwned\n`));
          refusedByEngineOrHarmless(await redisTry(client, "SAVE"));
          expect(existsSync(target), target).toBe(false);
          expect(existsSync(path.join(path.dirname(target), "dump.rdb")), path.dirname(target)).toBe(false);
        }
        expect(await redisTry(client, "PING")).toEqual({ ok: true, rows: "PONG" });
      } finally {
        client.disconnect();
      }
    });

    it("Redis: REPLICAOF, MIGRATE, MODULE LOAD and DEBUG toward the node are refused, and nothing reaches it", async () => {
      const g = guests.redis;
      // A listener on the node standing for its services (the control plane's ports): it must see no connection.
      let reached = 0;
      const trap = net.createServer((socket) => {
        reached++;
        socket.destroy();
      });
      await new Promise<void>((resolve) => trap.listen(0, "0.0.0.0", resolve));
      const trapPort = (trap.address() as net.AddressInfo).port;
      const client = new Redis({ host: g.address, port: g.port, username: "root", password: g.rootPassword, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      client.on("error", () => {});
      await client.connect();
      try {
        await redisTry(client, "SET", "k", "v");
        for (const host of ["127.0.0.1", g.address]) {
          for (const attempt of [["REPLICAOF", host, String(trapPort)], ["SLAVEOF", host, String(trapPort)], ["MIGRATE", host, String(trapPort), "k", "0", "1000"]]) {
            const outcome = await redisTry(client, ...attempt);
            expect(outcome.ok, attempt.join(" ")).toBe(false);
            refusedByEngineOrHarmless(outcome);
          }
        }
        for (const attempt of [["MODULE", "LOAD", "/usr/lib/redis/modules/x.so"], ["DEBUG", "SLEEP", "0"], ["CONFIG", "SET", "port", "0"]]) {
          const outcome = await redisTry(client, ...attempt);
          expect(outcome.ok, attempt.join(" ")).toBe(false);
          refusedByEngineOrHarmless(outcome);
        }
        await new Promise((r) => setTimeout(r, 500));
        expect(reached).toBe(0);
        // Still a primary of its own, following nobody.
        const info = await redisTry(client, "INFO", "replication");
        expect(info.ok).toBe(true);
        expect(String(info.ok && info.rows)).toMatch(/^role:master\r?$/m);
      } finally {
        client.disconnect();
        trap.close();
      }
    });

    it("keeps every guest running and HEALTHY after all of it", async () => {
      for (const g of Object.values(guests)) {
        const healthy = await eventually(async () => {
          const view = await hoard.api("GET", project, `/instances/${g.id}`);
          return view.body.instance?.status === "ACTIVE" && view.body.instance?.operating_status === "HEALTHY" ? true : undefined;
        }, 30_000);
        expect(healthy).toBe(true);
      }
    });
  });
}
