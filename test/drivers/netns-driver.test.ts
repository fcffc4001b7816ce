/**
 * The netns network driver against the real kernel (namespaces, veth pairs, iptables), first on its own,
 * then under a whole control plane: tenant guests reach nothing of the control plane nor each other, the
 * tracker still carries out every guest action from its legs, public instances are published to their
 * allowed CIDRs only, and a network disappears with its last instance. Needs root, iproute2 and iptables.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { Redis } from "ioredis";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cgroupScope, NetnsNetwork } from "../../drivers/index.js";
import { eventually, netnsFootprint, netnsLeftovers, startHoard, type Hoard } from "../kit/harness.js";

const run = promisify(execFile);
const forwardingBefore = readFileSync("/proc/sys/net/ipv4/ip_forward", "utf8").trim();

/** How a TCP connection from inside `ns` (the root namespace when null) to host:port ends. */
async function probe(ns: string | null, host: string, port: number): Promise<string> {
  const script = `const s=require("net").connect({host:process.argv[1],port:Number(process.argv[2])});
setTimeout(()=>{console.log("timeout");process.exit(0)},1500);
s.on("connect",()=>{console.log("open");process.exit(0)});s.on("error",e=>{console.log(e.code);process.exit(0)})`;
  const cmd = ns ? ["ip", ["netns", "exec", ns, process.execPath, "-e", script, host, String(port)]] as const : [process.execPath, ["-e", script, host, String(port)]] as const;
  const { stdout } = await run(cmd[0], [...cmd[1]]);
  return stdout.trim();
}

/** The node's own IPv4 addresses outside Hoard's legs (a connection to any of them must not get through). */
function nodeAddresses(): string[] {
  return Object.entries(os.networkInterfaces()).flatMap(([name, list]) => (/^h[0-9a-f]{6}v/.test(name) ? [] : (list ?? []).filter((a) => a.family === "IPv4").map((a) => a.address)));
}

/** A TCP server on every address of the node, as NATS or Postgres would be if they listened widely. */
async function canary(): Promise<{ port: number; close(): Promise<void> }> {
  const server = net.createServer((s) => {
    s.on("error", () => {});
    s.end("canary\n");
  });
  await new Promise<void>((r) => server.listen({ host: "0.0.0.0", port: 0 }, r));
  return { port: (server.address() as net.AddressInfo).port, close: () => new Promise((r) => server.close(() => r())) };
}

/** Runs a process through the driver's wrap() and waits for its first line. */
async function startWrapped(network: NetnsNetwork, networkId: string, command: string, args: string[], user?: { uid: number; gid: number }): Promise<{ child: ChildProcess; line: string }> {
  const spec = network.wrap(networkId, { command, args, ...(user ? { user } : {}) });
  const child = spawn(spec.command, spec.args, { stdio: ["ignore", "pipe", "pipe"] });
  const line = await new Promise<string>((resolve, reject) => {
    let err = "";
    child.stderr!.on("data", (d) => (err += d));
    child.stdout!.once("data", (d: Buffer) => resolve(d.toString().trim()));
    child.once("exit", (code) => reject(new Error(`exited ${code}: ${err}`)));
  });
  return { child, line };
}

const listenScript = `require("net").createServer(s=>{s.on("error",()=>{});s.end("guest\\n")}).listen(Number(process.argv[2]),process.argv[1],()=>console.log("ready"))`;

describe("the netns driver on its own", () => {
  const home = mkdtempSync(path.join(os.tmpdir(), "hoard-netns-"));
  const scope = cgroupScope(home);
  const A = "0a0a0a0a-0000-4000-8000-000000000001";
  const B = "0b0b0b0b-0000-4000-8000-000000000002";
  const children: ChildProcess[] = [];
  const none = { has: () => false };

  afterAll(async () => {
    for (const c of children) c.kill("SIGKILL");
    // Whatever a failed test left: released here, so the machine is clean either way.
    const again = new NetnsNetwork({ home, scope });
    await again.open();
    for (const n of again.networks()) for (const g of n.guests) await again.release(n.networkId, g);
    rmSync(home, { recursive: true, force: true });
    expect(netnsLeftovers(scope)).toEqual([]);
  });

  /** A driver opened on the home, as a tracker starting would; each test places what it needs and releases it. */
  async function openDriver(): Promise<NetnsNetwork> {
    const driver = new NetnsNetwork({ home, scope });
    await driver.open();
    return driver;
  }

  /** Releases every guest the driver holds, so the next test starts from no network at all. */
  async function releaseAll(driver: NetnsNetwork): Promise<void> {
    for (const n of driver.networks()) for (const g of n.guests) await driver.release(n.networkId, g);
  }

  it("places guests of one network in one namespace, each on its own address and the standard port", async () => {
    const driver = await openDriver();
    try {
      const a1 = await driver.place(A, "i-a1", 3306, none);
      const a2 = await driver.place(A, "i-a2", 5432, none);
      const b1 = await driver.place(B, "i-b1", 6379, none);
      expect(a1.port).toBe(3306);
      expect(a2.port).toBe(5432);
      expect(a1.host).not.toBe(a2.host);
      expect(a1.host.split(".").slice(0, 3)).toEqual(a2.host.split(".").slice(0, 3));
      expect(b1.host.split(".").slice(0, 3)).not.toEqual(a1.host.split(".").slice(0, 3));
      // Placing again answers the same.
      expect(await driver.place(A, "i-a1", 3306, none)).toEqual(a1);
      const namespaces = execFileSync("ip", ["netns", "list"], { encoding: "utf8" });
      expect(namespaces).toContain(driver.namespace(A));
      expect(namespaces).toContain(driver.namespace(B));
      const inside = execFileSync("ip", ["-n", driver.namespace(A), "-o", "addr"], { encoding: "utf8" });
      expect(inside).toContain(`${a1.host}/32`);
      expect(inside).toContain(`${a2.host}/32`);
      expect(inside).not.toContain("inet6");
      const rules = execFileSync("iptables-save", [], { encoding: "utf8" });
      expect(rules).toContain(`-A INPUT -j HOARD-${scope}-IN`);
      expect(rules).toContain(`-A FORWARD -j HOARD-${scope}-FWD`);
    } finally {
      await releaseAll(driver);
    }
  });

  it("runs wrapped commands in the namespace, as the engine's user when it has one", async () => {
    const driver = await openDriver();
    try {
      await driver.place(A, "i-a1", 3306, none);
      const { child, line } = await startWrapped(driver, A, "/bin/sh", ["-c", "id -u; sleep 30"], { uid: 65534, gid: 65534 });
      children.push(child);
      expect(line).toBe("65534");
      const { stdout } = await run("ip", ["netns", "identify", String(child.pid)]);
      expect(stdout.trim()).toBe(driver.namespace(A));
      child.kill("SIGKILL");
      expect(() => driver.wrap("0c0c0c0c-0000-4000-8000-000000000003", { command: "true", args: [] })).toThrow(/no namespace/);
    } finally {
      await releaseAll(driver);
    }
  });

  it("lets the node reach guests, and nothing inside a network reach the node or another network", async () => {
    const driver = await openDriver();
    try {
      const [a1, b1] = [await driver.place(A, "i-a1", 3306, none), await driver.place(B, "i-b1", 6379, none)];
      const guestA = await startWrapped(driver, A, process.execPath, ["-e", listenScript, a1.host, String(a1.port)]);
      const guestB = await startWrapped(driver, B, process.execPath, ["-e", listenScript, b1.host, String(b1.port)]);
      children.push(guestA.child, guestB.child);
      expect(await probe(null, a1.host, a1.port)).toBe("open");
      expect(await probe(null, b1.host, b1.port)).toBe("open");
      // Inside one network guests reach each other; across networks they do not.
      expect(await probe(driver.namespace(A), a1.host, a1.port)).toBe("open");
      expect(await probe(driver.namespace(A), b1.host, b1.port)).not.toBe("open");
      expect(await probe(driver.namespace(B), a1.host, a1.port)).not.toBe("open");
      const c = await canary();
      try {
        const gateway = driver.networks().find((n) => n.networkId === A)!.subnet.replace(/0\/24$/, "1");
        expect(await probe(null, gateway, c.port)).toBe("open");
        for (const address of [gateway, ...nodeAddresses()]) expect(await probe(driver.namespace(A), address, c.port), address).not.toBe("open");
      } finally {
        await c.close();
      }
      guestA.child.kill("SIGKILL");
      guestB.child.kill("SIGKILL");
    } finally {
      await releaseAll(driver);
    }
  });

  it("is adopted by a new driver on the same home, and rebuilt when the kernel lost it", async () => {
    const driver = await openDriver();
    await driver.place(A, "i-a1", 3306, none);
    await driver.place(A, "i-a2", 5432, none);
    await driver.place(B, "i-b1", 6379, none);
    const before = driver.networks();
    const adopted = new NetnsNetwork({ home, scope });
    await adopted.open();
    expect(adopted.networks()).toEqual(before);
    // As after a reboot: the namespace and its leg are gone, the state is not.
    const lost = before.find((n) => n.networkId === A)!;
    execFileSync("ip", ["netns", "delete", lost.namespace]);
    expect(execFileSync("ip", ["netns", "list"], { encoding: "utf8" })).not.toContain(lost.namespace);
    const rebuilt = new NetnsNetwork({ home, scope });
    try {
      await rebuilt.open();
      expect(rebuilt.networks()).toEqual(before);
      expect(execFileSync("ip", ["-n", lost.namespace, "-o", "addr"], { encoding: "utf8" })).toContain(`${(await rebuilt.place(A, "i-a1", 3306, none)).host}/32`);
    } finally {
      // The rebuilt driver is the one that knows the namespace as it is now.
      await releaseAll(rebuilt);
    }
  });

  it("removes a network with its last guest, and its chains with the last network; release is idempotent", async () => {
    const driver = await openDriver();
    await driver.place(A, "i-a1", 3306, none);
    await driver.place(A, "i-a2", 5432, none);
    await driver.place(B, "i-b1", 6379, none);
    const a = driver.networks().find((n) => n.networkId === A)!;
    await driver.release(A, "i-a1");
    expect(execFileSync("ip", ["netns", "list"], { encoding: "utf8" })).toContain(a.namespace);
    await driver.release(A, "i-a2");
    await driver.release(A, "i-a2");
    expect(execFileSync("ip", ["netns", "list"], { encoding: "utf8" })).not.toContain(a.namespace);
    expect(execFileSync("ip", ["-o", "link"], { encoding: "utf8" })).not.toContain(`${a.leg}@`);
    expect(netnsLeftovers(scope).length).toBeGreaterThan(0);
    await driver.release(B, "i-b1");
    await driver.release("0c0c0c0c-0000-4000-8000-000000000003", "never-placed");
    expect(netnsLeftovers(scope)).toEqual([]);
    expect(JSON.parse(readFileSync(path.join(home, "netns", "state.json"), "utf8")).networks).toEqual({});
  });
});

describe("a control plane on the netns driver", () => {
  const A = "netns-tenant-a";
  const B = "netns-tenant-b";
  const C = "netns-tenant-c";
  let hoard: Hoard;
  /** The running tracker's driver: a control plane restart brings a new one. */
  const driver = () => hoard.plane.tracker!.network as NetnsNetwork;
  const clients: { ns: string; hostLink: string }[] = [];

  beforeAll(async () => {
    // The gateway on every address, as in a deployment: the rules, not the binding, keep tenants off it.
    hoard = await startHoard({ networkDriver: "netns", gateway: { host: "0.0.0.0", port: 0 } });
  });
  afterAll(async () => {
    for (const c of clients) {
      await run("ip", ["link", "del", c.hostLink]).catch(() => {});
      await run("ip", ["netns", "delete", c.ns]).catch(() => {});
    }
    await hoard?.stop();
    const scope = cgroupScope(hoard.config.home);
    expect(netnsLeftovers(scope)).toEqual([]);
    const namespaces = execFileSync("ip", ["netns", "list"], { encoding: "utf8" });
    for (const c of clients) expect(namespaces).not.toContain(c.ns);
    expect(execFileSync("iptables-save", [], { encoding: "utf8" })).not.toContain(`HOARD-${scope}`);
    // Forwarding is the node's, not this Hoard's: put back as it was unless another Hoard's netns driver (its
    // chains are there) is on the machine, whose public guests may have it on.
    const otherNetnsHoards = execFileSync("iptables-save", ["-t", "nat"], { encoding: "utf8" }).split("\n").some((l) => /^:HOARD-\S+-PUB /.test(l));
    if (!otherNetnsHoards) expect(readFileSync("/proc/sys/net/ipv4/ip_forward", "utf8").trim()).toBe(forwardingBefore);
  });

  const cli = (project: string, ...args: string[]) => hoard.openstack(project, ["database", ...args]);
  const mariadb = (ns: string | null, host: string, port: number, user: string, password: string, sql: string) =>
    run(ns ? "ip" : "mariadb", [...(ns ? ["netns", "exec", ns, "mariadb"] : []), "-h", host, "-P", String(port), "-u", user, `-p${password}`, "--connect-timeout=3", "-N", "-e", sql]).then(
      (r) => r.stdout.trim(),
      (e: Error & { stderr?: string }) => `failed: ${e.stderr ?? e.message}`,
    );

  let m1: any;
  let p1: any;

  // The two tenants' guests are made before the first test, not in it, so that each test can also run alone (`-t`).
  beforeAll(async () => {
    m1 = await hoard.createActive(A, { name: "m1", datastore: { type: "mariadb", version: "10.11" }, databases: [{ name: "db1" }], users: [{ name: "u1", password: "secret1", databases: [{ name: "db1" }] }] });
    p1 = await hoard.createActive(B, { name: "p1", datastore: { type: "postgresql", version: "15" }, databases: [{ name: "shop" }], users: [{ name: "clerk", password: "clerk-pw", databases: [{ name: "shop" }] }] });
  }, 180_000);

  it("gives each guest its own address on the engine's standard port, as in Trove", async () => {
    expect(m1.addresses).toHaveLength(1);
    expect(m1.addresses[0]).toMatchObject({ type: "private", port: 3306 });
    expect(m1.ip).toEqual([m1.addresses[0].address]);
    const network = driver().networks().find((n) => n.guests.includes(m1.id))!;
    expect(network.namespace).toBe(driver().namespace(m1.addresses[0].network));
    // The guest is found from its instance id: its command line names its data, its namespace its network.
    const pid = execFileSync("pgrep", ["-f", `${m1.id}/data`], { encoding: "utf8" }).trim().split("\n")[0]!;
    expect(execFileSync("ip", ["netns", "identify", pid], { encoding: "utf8" }).trim()).toBe(network.namespace);
  });

  it("carries out guest actions from the tracker through the real CLI (MariaDB)", async () => {
    // An instance of its own: its databases and users are listed exactly, and it is restarted.
    const m2 = await hoard.createActive(A, { name: "m2", datastore: { type: "mariadb", version: "10.11" }, databases: [{ name: "db1" }], users: [{ name: "u1", password: "secret1", databases: [{ name: "db1" }] }] });
    expect((await cli(A, "db", "create", "m2", "reports")).code).toBe(0);
    const user = await cli(A, "user", "create", "m2", "alice", "alice-pw", "--host", "%", "--databases", "reports");
    expect(user.code, user.stderr).toBe(0);
    expect((await cli(A, "db", "list", "m2", "-f", "json")).json.map((d: { Name: string }) => d.Name)).toEqual(["db1", "reports"]);
    expect((await cli(A, "user", "list", "m2", "-f", "json")).json.map((u: { Name: string }) => u.Name).sort()).toEqual(["alice", "u1"]);
    // Over TCP through the tracker's leg, with the tenant's own account.
    const { address, port } = m2.addresses[0];
    expect(await mariadb(null, address, port, "alice", "alice-pw", "select 'through the leg'")).toBe("through the leg");
    expect(await mariadb(null, address, port, "u1", "secret1", "select database() from dual; use db1; select 1")).toContain("1");
    const restart = await cli(A, "instance", "restart", "m2");
    expect(restart.code, restart.stderr).toBe(0);
    await eventually(async () => ((await hoard.api("GET", A, `/instances/${m2.id}`)).body.instance.status === "ACTIVE" ? true : undefined), 30_000);
    expect(await eventually(async () => ((await mariadb(null, address, port, "alice", "alice-pw", "select 2")) === "2" ? true : undefined), 30_000)).toBe(true);
  }, 120_000);

  it("adopts its networks after a control plane restart, and acts on guests as before", async () => {
    const before = driver().networks();
    await hoard.restart();
    expect(driver().networks()).toEqual(before);
    expect((await cli(A, "db", "create", "m1", "after_restart")).code).toBe(0);
    expect((await cli(A, "db", "list", "m1", "-f", "json")).json.map((d: { Name: string }) => d.Name)).toContain("after_restart");
  });

  it("carries out guest actions on PostgreSQL in another tenant network", async () => {
    expect(p1.addresses[0]).toMatchObject({ port: 5432 });
    expect(p1.addresses[0].network).not.toBe(m1.addresses[0].network);
    expect((await cli(B, "db", "create", "p1", "reports")).code).toBe(0);
    const user = await cli(B, "user", "create", "p1", "auditor", "aud-pw", "--databases", "reports");
    expect(user.code, user.stderr).toBe(0);
    const c = new pg.Client({ host: p1.addresses[0].address, port: 5432, user: "auditor", password: "aud-pw", database: "reports" });
    await c.connect();
    expect((await c.query("select current_database() as db")).rows[0].db).toBe("reports");
    await c.end();
  });

  it("puts a second guest of the same network (Redis) in the same namespace, at an address of its own", async () => {
    const r1 = await hoard.createActive(B, { name: "r1", datastore: { type: "redis", version: "7.0" } });
    expect(r1.addresses[0]).toMatchObject({ port: 6379, network: p1.addresses[0].network });
    expect(r1.addresses[0].address).not.toBe(p1.addresses[0].address);
    expect(driver().networks().find((n) => n.networkId === p1.addresses[0].network)!.guests.sort()).toEqual([p1.id, r1.id].sort());
    const user = await cli(B, "user", "create", "r1", "worker", "worker-pw");
    expect(user.code, user.stderr).toBe(0);
    const r = new Redis({ host: r1.addresses[0].address, port: 6379, username: "worker", password: "worker-pw", lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    r.on("error", () => {});
    await r.connect();
    expect(await r.ping()).toBe("PONG");
    r.disconnect();
  });

  it("keeps the control plane and the other tenant out of reach from inside a guest's namespace", async () => {
    const ns = driver().namespace(m1.addresses[0].network);
    const natsPort = Number(new URL(hoard.natsUrl).port);
    const pgPort = Number(new URL(hoard.databaseUrl).port);
    const gatewayPort = Number(new URL(hoard.url).port);
    const gateway = driver().networks().find((n) => n.namespace === ns)!.subnet.replace(/0\/24$/, "1");
    // The gateway listens on every address: reachable from the node through the leg's address, not from inside.
    expect(await probe(null, gateway, gatewayPort)).toBe("open");
    const ports = { gateway: gatewayPort, postgres: pgPort, nats: natsPort };
    for (const [what, port] of Object.entries(ports)) {
      for (const address of ["127.0.0.1", gateway, ...nodeAddresses()]) {
        expect(await probe(ns, address, port), `${what} at ${address}:${port}`).not.toBe("open");
      }
    }
    // The other tenant's guest: refused from inside, reachable from the node.
    expect(await probe(ns, p1.addresses[0].address, 5432)).not.toBe("open");
    expect(await probe(driver().namespace(p1.addresses[0].network), m1.addresses[0].address, 3306)).not.toBe("open");
    expect(await probe(null, p1.addresses[0].address, 5432)).toBe("open");
    // Its own network's guests are reachable from inside.
    expect(await probe(ns, m1.addresses[0].address, 3306)).toBe("open");
  });

  it("publishes a public instance to its allowed CIDRs only", async () => {
    const tag = randomBytes(2).toString("hex");
    const makeClient = async (n: number) => {
      const ns = `hoardc-${tag}-${n}`;
      const hostLink = `hc${tag}${n}`;
      clients.push({ ns, hostLink });
      await run("ip", ["netns", "add", ns]);
      await run("ip", ["link", "add", hostLink, "type", "veth", "peer", "name", "eth0", "netns", ns]);
      await run("ip", ["addr", "add", `10.253.${n}.1/30`, "dev", hostLink]);
      await run("ip", ["link", "set", hostLink, "up"]);
      await run("ip", ["-n", ns, "addr", "add", `10.253.${n}.2/30`, "dev", "eth0"]);
      await run("ip", ["-n", ns, "link", "set", "eth0", "up"]);
      await run("ip", ["-n", ns, "link", "set", "lo", "up"]);
      await run("ip", ["-n", ns, "route", "add", "default", "via", `10.253.${n}.1`]);
      return { ns, nodeAddress: `10.253.${n}.1` };
    };
    const allowed = await makeClient(7);
    const other = await makeClient(8);
    const created = await cli(C, "instance", "create", "pub1", "--flavor", "1", "--size", "1", "--datastore", "mariadb", "--datastore-version", "10.11", "--databases", "web", "--users", "webapp:web-pw", "--is-public", "--allowed-cidr", "10.253.7.0/24", "-f", "json");
    expect(created.code, created.stderr).toBe(0);
    const pub = await eventually(async () => {
      const s = (await hoard.api("GET", C, `/instances/${created.json.id}`)).body.instance;
      if (s.status === "ERROR") throw new Error(JSON.stringify(s.fault));
      return s.status === "ACTIVE" && s.operating_status === "HEALTHY" ? s : undefined;
    }, 60_000);
    expect(pub.access).toMatchObject({ is_public: true, allowed_cidrs: ["10.253.7.0/24"] });
    // The view lists the published address beside the private one, as Trove lists a public address.
    expect(pub.addresses).toHaveLength(2);
    const published = pub.addresses.find((a: { type: string }) => a.type === "public");
    expect(published).toEqual({ address: driver().published(pub.id)!.address, type: "public", port: driver().published(pub.id)!.port });
    expect(pub.ip).toEqual([pub.addresses[0].address, published.address]);
    // Through the node's address (any of them) and the published port, with the real client.
    expect(await mariadb(allowed.ns, allowed.nodeAddress, published.port, "webapp", "web-pw", "select 'public'")).toBe("public");
    expect(await mariadb(allowed.ns, published.address, published.port, "webapp", "web-pw", "select 'public'")).toBe("public");
    expect(await mariadb(other.ns, other.nodeAddress, published.port, "webapp", "web-pw", "select 'public'")).toMatch(/^failed/);
    expect(await probe(other.ns, other.nodeAddress, published.port)).toBe("ECONNREFUSED");
    // A private guest is not reachable from those hosts at all, neither by its address nor by its port.
    expect(await probe(allowed.ns, m1.addresses[0].address, 3306)).not.toBe("open");
    expect(driver().published(m1.id)).toBeUndefined();
    const scope = cgroupScope(hoard.config.home);
    expect(netnsFootprint(scope).rules.some((l) => l.includes(`--dport ${published.port} -j DNAT`))).toBe(true);

    // Its network's last instance goes: namespace, leg, and the forwarding rules with it.
    const network = driver().networks().find((n) => n.guests.includes(pub.id))!;
    expect((await hoard.api("DELETE", C, `/instances/${pub.id}`)).status).toBe(202);
    await eventually(async () => ((await hoard.api("GET", C, `/instances/${pub.id}`)).status === 404 ? true : undefined), 30_000);
    await eventually(async () => (driver().networks().some((n) => n.networkId === network.networkId) ? undefined : true), 10_000);
    expect(execFileSync("ip", ["netns", "list"], { encoding: "utf8" })).not.toContain(network.namespace);
    expect(execFileSync("ip", ["-o", "link"], { encoding: "utf8" })).not.toContain(`${network.leg}@`);
    expect(netnsFootprint(scope).rules.filter((l) => l.includes(`dport ${published.port}`))).toEqual([]);
    expect(await probe(allowed.ns, allowed.nodeAddress, published.port)).not.toBe("open");
  });
});
