/**
 * The GuestSupervisor against real MariaDB engines, in a private home under /dev/shm (test/kit/supervisor-home.ts);
 * builds one golden image and removes everything it made.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, symlink, utimes, writeFile } from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import mysql from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { socketPath } from "../../datastores/mariadb/connection.js";
import { engineOptions } from "../../datastores/mariadb/strategy.js";
import { HostNetwork, isPortFree, isRunning } from "../../drivers/index.js";
import type { ProvisionCommand } from "../../events/payloads.js";
import { GuestSupervisor } from "../../tracker/guests/index.js";
import { eventually } from "../kit/harness.js";
import { processesUnder } from "../kit/processes.js";
import { GUEST_HOST as HOST, supervisorHome } from "../kit/supervisor-home.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
/** Quotes, backslash, semicolon and a comment: would break any statement that pasted it in. */
const NASTY_PASSWORD = `it's "q" \\ ; -- x\\'`;

const guests = supervisorHome({ parent: "/dev/shm", prefix: "hoard-guests-", idPrefix: "g-", defaults: { manager: "mariadb", version: "10.11" }, warm: [{ manager: "mariadb", version: "10.11" }] });

async function healthOf(sup: GuestSupervisor, id: string): Promise<string | undefined> {
  return (await sup.health()).find((g) => g.instanceId === id)?.health;
}

describe("golden image", () => {
  it("is built once and reused by later warm-ups", async () => {
    const marker = path.join(guests.home, "images", "mariadb-10.11", "image.json");
    const before = await readFile(marker, "utf8");
    await Promise.all([guests.supervisor.warm([{ manager: "mariadb", version: "10.11" }]), guests.makeSupervisor().warm([{ manager: "mariadb", version: "10.11" }])]);
    expect(await readFile(marker, "utf8")).toBe(before);
    expect(readdirSync(path.join(guests.home, "images"))).toEqual(["mariadb-10.11"]);
  });
});

describe("a state folder under /tmp", () => {
  // The engine gets a tmpfs of its own on /tmp: a HOARD_HOME under /tmp must still be there for it, and the
  // rest of the node's /tmp must not.
  it("keeps the guest's folders in the engine's view while its /tmp stays private", { timeout: 120_000 }, async () => {
    if (process.getuid?.() !== 0) return;
    const tmpHome = await mkdtemp("/tmp/hoard-guests-tmp-");
    const probe = `/tmp/hoard-node-only-${randomUUID()}`;
    await writeFile(probe, "the node's");
    // Volumes on a filesystem mounted inside the state folder, as the btrfs pool is: submounts must come along.
    await mkdir(path.join(tmpHome, "volumes"));
    await new Promise<void>((resolve, reject) => execFile("mount", ["-t", "tmpfs", "-o", "size=512m", "hoard-test-volumes", path.join(tmpHome, "volumes")], (err) => (err ? reject(err) : resolve())));
    const sup = guests.makeSupervisor({ home: tmpHome });
    const cmd = guests.command();
    try {
      const at = await sup.provision(cmd);
      const pid = JSON.parse(readFileSync(path.join(tmpHome, "run", cmd.instanceId, "guest.json"), "utf8")).pid as number;
      const seen = await new Promise<string>((resolve, reject) =>
        execFile("nsenter", ["-t", String(pid), "-m", "ls", "-a", "/tmp"], (err, out) => (err ? reject(err) : resolve(out))),
      );
      // Only the state folder's top, brought back into the engine's own /tmp; not the node's other files.
      expect(seen.split("\n").filter((n) => n && n !== "." && n !== "..")).toEqual([path.basename(tmpHome)]);
      const conn = await mysql.createConnection({ socketPath: socketPath({ runDir: path.join(tmpHome, "run", cmd.instanceId) }), user: "root", password: readFileSync(path.join(tmpHome, "run", cmd.instanceId, "admin.secret"), "utf8") });
      expect((await conn.query("SELECT 1 AS one"))[0]).toEqual([{ one: 1 }]);
      await conn.end();
      expect(at.port).toBeGreaterThan(0);
    } finally {
      await sup.deprovision(cmd.instanceId).catch(() => undefined);
      guests.made.delete(cmd.instanceId);
      await sup.guestUsers?.remove(cmd.instanceId);
      await rm(probe, { force: true });
      await new Promise((resolve) => execFile("umount", [path.join(tmpHome, "volumes")], resolve));
      // The golden image's build account is removed with its build; the pool folder goes with the home.
      await rm(tmpHome, { recursive: true, force: true });
    }
  });
});

describe("a provisioned guest", () => {
  let cmd: ProvisionCommand;
  let endpoint: { address: string; port: number };

  // Made before the first test, not in it, so that each test can also run alone (`-t`); the tests only read it.
  beforeAll(async () => {
    cmd = guests.command({
      databases: [{ name: "db1" }, { name: "db-2", characterSet: "utf8mb4", collate: "utf8mb4_unicode_ci" }, { name: "a_b" }],
      users: [
        { name: "u1", password: "secret", host: "%", databases: ["db1", "a_b"] },
        { name: "u2", password: NASTY_PASSWORD, host: "%", databases: ["db1", "db-2"] },
      ],
    });
    endpoint = await guests.supervisor.provision(cmd);
    const u1 = await mysql.createConnection({ host: endpoint.address, port: endpoint.port, user: "u1", password: "secret", database: "db1" });
    await u1.query("CREATE TABLE t (v INT)");
    await u1.query("INSERT INTO t VALUES (42)");
    await u1.end();
  });
  // Gone with the last of its tests: the describes after this one find no engine on the home.
  afterAll(async () => {
    if (cmd) await guests.supervisor.deprovision(cmd.instanceId);
  });

  it("serves its users over TCP with the databases and grants asked for", async () => {
    expect(endpoint.address).toBe(HOST);

    const u1 = await mysql.createConnection({ host: endpoint.address, port: endpoint.port, user: "u1", password: "secret", database: "db1" });
    expect((await u1.query("SELECT v FROM t"))[0]).toEqual([{ v: 42 }]);
    // Grants name exactly the databases given: u1 has none on db-2, and `a_b` does not cover `axb`.
    await expect(u1.query("CREATE TABLE `db-2`.x (v INT)")).rejects.toThrow(/denied/);
    await expect(u1.query("CREATE DATABASE axb")).rejects.toThrow(/denied/);
    await u1.end();

    const u2 = await mysql.createConnection({ host: endpoint.address, port: endpoint.port, user: "u2", password: NASTY_PASSWORD, database: "db-2" });
    expect((await u2.query("SELECT @@character_set_database AS cs, @@collation_database AS co"))[0]).toEqual([{ cs: "utf8mb4", co: "utf8mb4_unicode_ci" }]);
    expect((await u2.query("SELECT v FROM db1.t"))[0]).toEqual([{ v: 42 }]);
    await u2.end();

    // root is reachable only over the socket, with the secret; never over TCP.
    for (const password of ["", "secret"]) {
      await expect(mysql.createConnection({ host: endpoint.address, port: endpoint.port, user: "root", password })).rejects.toThrow();
    }
  });

  it("keeps its admin secret in run/<id>/admin.secret (0600) and nowhere else", async () => {
    const runDir = path.join(guests.home, "run", cmd.instanceId);
    const secret = readFileSync(path.join(runDir, "admin.secret"), "utf8");
    expect(secret).toMatch(/^[0-9a-f]{64}$/);
    expect(statSync(path.join(runDir, "admin.secret")).mode & 0o777).toBe(0o600);
    const record = guests.guestJson(cmd.instanceId);
    expect(record).toMatchObject({ instanceId: cmd.instanceId, manager: "mariadb", version: "10.11", host: HOST, port: endpoint.port, ramMb: 256, networkId: "net-1", volume: path.join(guests.home, "volumes", cmd.instanceId) });
    const text = JSON.stringify(record);
    for (const s of [secret, "secret", NASTY_PASSWORD]) expect(text).not.toContain(s);
  });

  it("is provisioned again without change (same endpoint, same process, data kept)", async () => {
    const pid = guests.guestJson(cmd.instanceId).pid;
    const again = await Promise.all([guests.supervisor.provision(cmd), guests.supervisor.provision(cmd)]);
    expect(again).toEqual([endpoint, endpoint]);
    expect(guests.guestJson(cmd.instanceId).pid).toBe(pid);
    const u1 = await mysql.createConnection({ host: endpoint.address, port: endpoint.port, user: "u1", password: "secret", database: "db1" });
    expect((await u1.query("SELECT v FROM t"))[0]).toEqual([{ v: 42 }]);
    await u1.end();
  });

});

describe("a guest's life past its tracker", () => {
  // One story in a home of its own (the golden image through a symlink): the adoption must find exactly the
  // guests it made, the kill and the removal act on every guest the adopting supervisor has.
  it("outlives the tracker process that started it and is adopted as HEALTHY; reports SHUTDOWN when an engine is killed, ours or not, and a repeated provision restarts it on its data; is deprovisioned: process stopped, port freed, folders gone, forgotten, again a no-op", { timeout: 90_000 }, async () => {
    const home = path.join(guests.home, "life");
    await mkdir(home);
    await symlink(path.join(guests.home, "images"), path.join(home, "images"));
    const recordOf = (id: string) => JSON.parse(readFileSync(path.join(home, "run", id, "guest.json"), "utf8")) as { pid: number; port: number };
    const dataOf = (id: string) => path.join(home, "volumes", id, "data");
    const first = guests.makeSupervisor({ home });
    const cmd = guests.command({ databases: [{ name: "db1" }], users: [{ name: "u1", password: "secret", host: "%", databases: ["db1"] }] });
    const other = guests.command({ databases: [{ name: "db1" }], users: [{ name: "u1", password: "secret", host: "%", databases: ["db1"] }] });
    try {
      const endpoint = await first.provision(cmd);
      const writer = await mysql.createConnection({ host: endpoint.address, port: endpoint.port, user: "u1", password: "secret", database: "db1" });
      await writer.query("CREATE TABLE t (v INT)");
      await writer.query("INSERT INTO t VALUES (42)");
      await writer.end();

      // Outlives the tracker process that started it, and a new supervisor adopts it as HEALTHY.
      const script = [
        `const { GuestSupervisor } = await import(${JSON.stringify(path.join(ROOT, "tracker", "guests", "index.ts"))});`,
        `const { pino } = await import("pino");`,
        `const sup = new GuestSupervisor({ home: ${JSON.stringify(home)}, guestHost: ${JSON.stringify(HOST)}, startTimeoutMs: 30000, log: pino({ level: "silent" }) });`,
        `process.stdout.write(JSON.stringify(await sup.provision(${JSON.stringify(other)})));`,
      ].join("\n");
      // The tracker process exits on its own: an engine still tied to it (pipe, ref'd handle) would hold it up.
      const stdout = await new Promise<string>((resolve, reject) => {
        execFile(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { cwd: ROOT, timeout: 30_000 }, (err, out, errOut) =>
          err ? reject(new Error(`${err.message}\n${errOut}`)) : resolve(out),
        );
      });
      const otherEndpoint = JSON.parse(stdout) as { address: string; port: number };
      expect(await isRunning(recordOf(other.instanceId).pid, dataOf(other.instanceId))).toBe(true);

      const second = guests.makeSupervisor({ home });
      const adopted = await second.adopt();
      expect(adopted.sort()).toEqual([cmd.instanceId, other.instanceId].sort());
      expect(second.endpoint(other.instanceId)).toEqual(otherEndpoint);
      expect(await second.health()).toEqual(
        expect.arrayContaining([
          { instanceId: cmd.instanceId, health: "HEALTHY" },
          { instanceId: other.instanceId, health: "HEALTHY" },
        ]),
      );
      const conn = await mysql.createConnection({ host: otherEndpoint.address, port: otherEndpoint.port, user: "u1", password: "secret", database: "db1" });
      await conn.end();

      // From here on the adopting supervisor is the tracker; the first one just goes away. It reports SHUTDOWN
      // when an engine is killed, ours or not, and a repeated provision restarts it on its data.
      const ids = second.list();
      expect(ids).toHaveLength(2);
      for (const id of ids) process.kill(recordOf(id).pid, "SIGKILL");
      for (const id of ids) expect(await eventually(async () => ((await healthOf(second, id)) === "SHUTDOWN" ? true : undefined))).toBe(true);

      expect(await second.provision(cmd)).toEqual(endpoint);
      expect(await healthOf(second, cmd.instanceId)).toBe("HEALTHY");
      const u1 = await mysql.createConnection({ host: endpoint.address, port: endpoint.port, user: "u1", password: "secret", database: "db1" });
      expect((await u1.query("SELECT v FROM t"))[0]).toEqual([{ v: 42 }]);
      await u1.end();

      // Deprovisioned, the running guest and the killed one alike: process stopped, port freed, folders gone,
      // forgotten; again is a no-op.
      for (const id of second.list()) {
        const { pid, port } = recordOf(id);
        await second.deprovision(id);
        expect(await isRunning(pid, dataOf(id))).toBe(false);
        expect(await isPortFree(HOST, port)).toBe(true);
        expect(existsSync(path.join(home, "volumes", id))).toBe(false);
        expect(existsSync(path.join(home, "run", id))).toBe(false);
        expect(second.endpoint(id)).toBeUndefined();
        await second.deprovision(id);
      }
      await second.deprovision("never-heard-of-it");
      expect(second.list()).toEqual([]);
      expect(await second.health()).toEqual([]);
      expect(processesUnder(path.join(home, "volumes"))).toEqual([]);
    } finally {
      const cleaner = guests.makeSupervisor({ home });
      for (const id of [cmd.instanceId, other.instanceId]) await cleaner.deprovision(id).catch(() => undefined);
    }
  });
});

describe("a guest whose run folder is too deep for a unix socket", () => {
  it("gets a short socket folder under /run/hoard, works, and leaves no socket behind", async () => {
    // The same golden image through a symlink, so no second image is built.
    const deepHome = path.join(guests.home, "d".repeat(60));
    await mkdir(deepHome);
    await symlink(path.join(guests.home, "images"), path.join(deepHome, "images"));
    const deep = guests.makeSupervisor({ home: deepHome });
    const cmd = guests.command({ databases: [{ name: "db1" }], users: [{ name: "u1", password: "secret", host: "%", databases: ["db1"] }] });
    const sock = socketPath({ runDir: path.join(deepHome, "run", cmd.instanceId) });
    // Not /tmp: the engine's /tmp is its own, which the tracker does not see.
    expect(sock).toMatch(/^\/run\/hoard\/[0-9a-f]{20}\/mysqld\.sock$/);
    try {
      const endpoint = await deep.provision(cmd);
      expect(existsSync(sock)).toBe(true);
      expect(await deep.health()).toEqual([{ instanceId: cmd.instanceId, health: "HEALTHY" }]);
      const conn = await mysql.createConnection({ host: endpoint.address, port: endpoint.port, user: "u1", password: "secret", database: "db1" });
      await conn.end();
    } finally {
      await deep.deprovision(cmd.instanceId);
    }
    expect(existsSync(path.dirname(sock))).toBe(false);
  });
});

describe("a guest that cannot be made", () => {
  function nothingLeftOf(id: string): void {
    expect(existsSync(path.join(guests.home, "volumes", id))).toBe(false);
    expect(existsSync(path.join(guests.home, "run", id))).toBe(false);
    expect(guests.supervisor.list()).not.toContain(id);
    expect(guests.engines()).toEqual([]);
  }

  it("fails with the reason when the version is not installed, and leaves nothing behind", async () => {
    const cmd = guests.command({ version: "9.9", databases: [{ name: "db1" }] });
    await expect(guests.supervisor.provision(cmd)).rejects.toThrow(/MariaDB 9\.9 is not installed on this node \(it has MariaDB 10\.11\.\d+\)/);
    nothingLeftOf(cmd.instanceId);
    expect(readdirSync(path.join(guests.home, "images"))).toEqual(["mariadb-10.11"]);
  });

  it("fails with the engine's own words when the engine dies while starting, and leaves nothing behind", async () => {
    // A flavor far beyond the node's memory: InnoDB cannot map its buffer pool and mariadbd exits at once.
    const cmd = guests.command({ flavor: { id: "huge", ramMb: 200_000, vcpus: 1 } });
    const err = await guests.supervisor.provision(cmd).then(() => undefined, (e: Error) => e);
    expect(err?.message).toMatch(/^The database could not be created: the mariadb engine stopped while starting \(exit code 1\)\. Its log ends with:\n/);
    expect(err?.message).toMatch(/\[ERROR\]/);
    nothingLeftOf(cmd.instanceId);
  });

  it("refuses an instance id that is not a plain name", async () => {
    await expect(guests.supervisor.provision(guests.command({ instanceId: "../escape" }))).rejects.toThrow(/not a valid instance id/);
    await expect(guests.supervisor.deprovision("a/b")).rejects.toThrow(/not a valid instance id/);
    guests.made.delete("../escape");
  });
});

describe("a guest whose port is taken between the check and the engine's bind", () => {
  it("is started on another port, which its record and endpoint carry", async () => {
    // Someone else (another tracker on this machine, an outgoing connection) holds the port first handed out.
    const squatter = net.createServer();
    await new Promise<void>((resolve) => squatter.listen({ host: HOST, port: 0, exclusive: true }, resolve));
    const taken = (squatter.address() as net.AddressInfo).port;
    class FirstPortTaken extends HostNetwork {
      private handedOut = false;
      override async place(...args: Parameters<HostNetwork["place"]>): Promise<{ host: string; port: number }> {
        if (this.handedOut) return super.place(...args);
        this.handedOut = true;
        return { host: HOST, port: taken };
      }
    }
    const sup = guests.makeSupervisor({ network: new FirstPortTaken(HOST) });
    const cmd = guests.command({ users: [{ name: "u1", password: "pw-1", host: "%", databases: [] }] });
    try {
      const endpoint = await sup.provision(cmd);
      expect(endpoint.port).not.toBe(taken);
      expect(guests.guestJson(cmd.instanceId).port).toBe(endpoint.port);
      const conn = await mysql.createConnection({ host: HOST, port: endpoint.port, user: "u1", password: "pw-1" });
      expect(await conn.query("SELECT 1 AS one").then(([rows]) => rows)).toEqual([{ one: 1 }]);
      await conn.end();
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
      await sup.deprovision(cmd.instanceId);
    }
  });
});

describe("a build cut short by a tracker killed before it wrote the engine's pid file", () => {
  it("has its engine found by its data folder and stopped when the provision comes again", async () => {
    const cmd = guests.command();
    await guests.supervisor.provision(cmd);
    const first = guests.guestJson(cmd.instanceId).pid;
    // What the dead tracker left: an engine running on the guest's data, no pid file and no guest.json.
    await rm(path.join(guests.home, "run", cmd.instanceId, "engine.pid"));
    await rm(path.join(guests.home, "run", cmd.instanceId, "guest.json"));
    const restarted = guests.makeSupervisor();
    expect(await restarted.adopt()).not.toContain(cmd.instanceId);
    await restarted.provision(cmd);
    expect(await isRunning(first, guests.dataDir(cmd.instanceId))).toBe(false);
    expect(guests.guestJson(cmd.instanceId).pid).not.toBe(first);
    await restarted.deprovision(cmd.instanceId);
    expect(guests.engines()).toEqual([]);
  });
});

describe("a provision that comes again after its guest was removed (NATS died before the provision's ack was stored)", () => {
  it("is refused by this and a restarted supervisor, builds nothing, and the removal is forgotten after a day", async () => {
    const cmd = guests.command();
    await guests.supervisor.provision(cmd);
    await guests.supervisor.deprovision(cmd.instanceId);
    await expect(guests.supervisor.provision(cmd)).rejects.toThrow(new RegExp(`The guest of instance ${cmd.instanceId} was removed from this node at .*; it is not built again`));
    const restarted = guests.makeSupervisor();
    await restarted.adopt();
    await expect(restarted.provision(cmd)).rejects.toThrow(/it is not built again/);
    expect(existsSync(path.join(guests.home, "run", cmd.instanceId))).toBe(false);
    expect(existsSync(path.join(guests.home, "volumes", cmd.instanceId))).toBe(false);
    expect(restarted.list()).not.toContain(cmd.instanceId);
    expect(guests.engines()).toEqual([]);
    // Past the horizon (the node stream's max age) no provision can come again: the mark is pruned.
    const mark = path.join(guests.home, "deprovisioned", cmd.instanceId);
    const old = new Date(Date.now() - 25 * 3600_000);
    await utimes(mark, old, old);
    await guests.makeSupervisor().adopt();
    expect(existsSync(mark)).toBe(false);
  });
});

describe("a guest made before guests had OS users of their own", () => {
  /** The uids of a process (real, effective, saved, filesystem). */
  const uidsOf = (pid: number) => /^Uid:\s+(.*)$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]!.trim().split(/\s+/).map(Number);

  it("is moved to its own user at the next tracker start: stopped, handed over, started again, data kept", async () => {
    if (process.getuid?.() !== 0) return; // only a root tracker has users to give
    const first = guests.makeSupervisor();
    const cmd = guests.command({ databases: [{ name: "db1" }], users: [{ name: "u1", password: "secret", host: "%", databases: ["db1"] }] });
    const endpoint = await first.provision(cmd);
    const u1 = await mysql.createConnection({ host: endpoint.address, port: endpoint.port, user: "u1", password: "secret", database: "db1" });
    await u1.query("CREATE TABLE t (v INT)");
    await u1.query("INSERT INTO t VALUES (7)");
    await u1.end();
    // Back to what the code before guest users left: the engine as root, its files in the run folder itself,
    // everything root's, and a record with no uid.
    const id = cmd.instanceId;
    const runDir = path.join(guests.home, "run", id);
    const { uid, gid, ...oldRecord } = guests.guestJson(id);
    expect(uid).toBeGreaterThan(0);
    await new Promise<void>((resolve) => execFile("kill", ["-TERM", String(oldRecord.pid)], () => resolve()));
    await eventually(async () => ((await isRunning(oldRecord.pid, guests.dataDir(id))) ? undefined : true), 20_000);
    await rm(path.join(runDir, "engine"), { recursive: true, force: true });
    await mkdir(path.join(runDir, "files"), { mode: 0o700 });
    await new Promise<void>((resolve, reject) => execFile("chown", ["-R", "0:0", "--", path.join(guests.home, "volumes", id), runDir], (err) => (err ? reject(err) : resolve())));
    const old = spawnOld(id, endpoint.port);
    await eventually(async () => {
      const c = await mysql.createConnection({ host: endpoint.address, port: endpoint.port, user: "u1", password: "secret", database: "db1" }).catch(() => undefined);
      await c?.end();
      return c ? true : undefined;
    }, 20_000);
    expect(uidsOf(old.pid!)).toEqual([0, 0, 0, 0]);
    await writeFile(path.join(runDir, "guest.json"), JSON.stringify({ ...oldRecord, pid: old.pid }));
    await writeFile(path.join(runDir, "engine.pid"), `${old.pid}\n`);

    const next = guests.makeSupervisor();
    expect(await next.adopt()).toContain(id);
    const moved = guests.guestJson(id);
    expect(moved.uid).toBeGreaterThan(0);
    expect(moved.uid).toBe((await next.guestUsers!.find(id))!.uid);
    expect(moved.pid).not.toBe(old.pid);
    expect(await isRunning(old.pid!, guests.dataDir(id))).toBe(false);
    expect(uidsOf(moved.pid)).toEqual([moved.uid, moved.uid, moved.uid, moved.uid]);
    expect(statSync(guests.dataDir(id)).uid).toBe(moved.uid);
    expect(existsSync(path.join(runDir, "files"))).toBe(false);
    expect(statSync(path.join(runDir, "engine", "files")).uid).toBe(moved.uid);
    expect(await healthOf(next, id)).toBe("HEALTHY");
    const again = await mysql.createConnection({ host: endpoint.address, port: endpoint.port, user: "u1", password: "secret", database: "db1" });
    expect((await again.query("SELECT v FROM t"))[0]).toEqual([{ v: 7 }]);
    await again.end();
    // A moved guest is left as it is by the next start.
    await guests.makeSupervisor().adopt();
    expect(guests.guestJson(id).pid).toBe(moved.pid);
    await next.deprovision(id);
    expect(await next.guestUsers!.find(id)).toBeUndefined();
  }, 90_000);
});

/** The engine of `id` started as the code before guest users did: as root, with its socket in the run folder. */
function spawnOld(id: string, port: number): ChildProcess {
  const runDir = path.join(guests.home, "run", id);
  const child = spawn(
    "mariadbd",
    [...engineOptions(128, true), `--secure-file-priv=${path.join(runDir, "files")}`, `--datadir=${guests.dataDir(id)}`, `--bind-address=${HOST}`, `--port=${port}`, `--socket=${path.join(runDir, "mysqld.sock")}`, `--pid-file=${path.join(runDir, "mariadbd.pid")}`],
    { detached: true, stdio: "ignore" },
  );
  child.unref();
  return child;
}
