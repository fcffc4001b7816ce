/**
 * Escape 8 of issue 19, tried as a tenant would: a webhook pointed at the node's inside. A subscription whose
 * URL is (or resolves to) a loopback, link-local, private, multicast, reserved or node address is refused at
 * create, with why; a name that resolves somewhere refused only by the time of delivery is not called (DNS
 * rebinding); a redirect is not followed; what the operator allows (HOARD_WEBHOOK_ALLOW) is called.
 *
 * Names are resolved by a small DNS server in this test (UDP on a free loopback port), which the Hoard uses
 * through its `webhooks.resolver` setting: its answers can change between create and delivery, and between
 * one query and the next, without touching the machine's /etc/hosts or resolver, which others share.
 */
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { createSocket, type Socket } from "node:dgram";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import { createServer as createTlsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { networkInterfaces, tmpdir } from "node:os";
import path from "node:path";
import { createSecureContext } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../config/index.js";
import { makeEvent, publicEvents, sources } from "../../events/index.js";
import { enqueue, insertSubscription } from "../../store/index.js";
import { eventually, startHoard, type Hoard } from "../kit/harness.js";

// ---- a DNS server whose answers the test sets ----

type Answer = string[] | (() => string[]);

/** Answers A and AAAA queries from `a`/`aaaa` (NXDOMAIN for names in neither); counts the A queries per name. */
class TestDns {
  readonly a = new Map<string, Answer>();
  readonly aaaa = new Map<string, Answer>();
  readonly aQueries = new Map<string, number>();
  port = 0;
  private socket: Socket | null = null;

  async start(): Promise<this> {
    const socket = createSocket("udp4");
    socket.on("message", (msg, peer) => {
      const reply = this.reply(msg);
      if (reply) socket.send(reply, peer.port, peer.address);
    });
    await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
    this.port = socket.address().port;
    this.socket = socket;
    return this;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => (this.socket ? this.socket.close(() => resolve()) : resolve()));
  }

  private reply(q: Buffer): Buffer | null {
    if (q.length < 12 || q.readUInt16BE(4) !== 1) return null;
    let off = 12;
    const labels: string[] = [];
    while (off < q.length && q[off] !== 0) {
      labels.push(q.toString("ascii", off + 1, off + 1 + q[off]!));
      off += q[off]! + 1;
    }
    const type = q.readUInt16BE(off + 1);
    const question = q.subarray(12, off + 5);
    const name = labels.join(".").toLowerCase();
    if (type === 1) this.aQueries.set(name, (this.aQueries.get(name) ?? 0) + 1);
    const known = this.a.has(name) || this.aaaa.has(name);
    const table = type === 1 ? this.a : type === 28 ? this.aaaa : null;
    const entry = table?.get(name);
    const addresses = entry === undefined ? [] : typeof entry === "function" ? entry() : entry;
    const header = Buffer.alloc(12);
    header.writeUInt16BE(q.readUInt16BE(0), 0);
    header.writeUInt16BE(0x8180 | (known ? 0 : 3), 2); // a response, recursion available; NXDOMAIN when unknown
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(addresses.length, 6);
    const records = addresses.map((address) => {
      const rdata = type === 1 ? Buffer.from(address.split(".").map(Number)) : v6Bytes(address);
      const rr = Buffer.alloc(12);
      rr.writeUInt16BE(0xc00c, 0); // the name: a pointer to the question's
      rr.writeUInt16BE(type, 2);
      rr.writeUInt16BE(1, 4); // IN
      rr.writeUInt32BE(0, 6); // TTL 0: nothing may keep an answer
      rr.writeUInt16BE(rdata.length, 10);
      return Buffer.concat([rr, rdata]);
    });
    return Buffer.concat([header, question, ...records]);
  }
}

function v6Bytes(address: string): Buffer {
  const [head, tail] = address.includes("::") ? address.split("::") : [address, ""];
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const groups = [...h, ...Array<string>(8 - h.length - t.length).fill("0"), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), 2 * i));
  return out;
}

// ---- HTTP servers on chosen loopback addresses ----

type Behaviour = "accept" | { redirect: string } | "stream" | "silent";

interface Request {
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A real HTTP server: records every connection and request, and answers as told. */
class Listener {
  readonly requests: Request[] = [];
  connections = 0;
  port = 0;
  private server: Server | null = null;

  constructor(readonly host: string, public behaviour: Behaviour = "accept") {}

  async start(port = 0): Promise<this> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        this.requests.push({ url: req.url ?? "", headers: req.headers, body: Buffer.concat(chunks).toString("utf8") });
        const b = this.behaviour;
        if (b === "accept") res.writeHead(204).end();
        else if (b === "silent") return;
        else if (b === "stream") {
          // Headers at once, then a body that never ends.
          res.writeHead(200, { "content-type": "text/plain" });
          const more = setInterval(() => res.write("x".repeat(64 * 1024)), 10);
          res.on("close", () => clearInterval(more));
        } else res.writeHead(307, { location: b.redirect }).end();
      });
    });
    server.on("connection", () => this.connections++);
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, this.host, resolve);
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
    return this;
  }

  url(path = "/hook") {
    return `http://${this.host}:${this.port}${path}`;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** Starts `first()`'s listener on a free port and `second()`'s on the same port, trying again until both fit. */
async function pairOnOnePort(first: () => Listener, second: () => Listener): Promise<[Listener, Listener]> {
  for (let i = 0; ; i++) {
    const a = await first().start();
    try {
      return [a, await second().start(a.port)];
    } catch (e) {
      await a.stop();
      if (i >= 10) throw e;
    }
  }
}

// ---- the Hoard under test ----

/** The tenant networks' pool, set outside the private blocks so that the node's own rule is what refuses it. */
const POOL = "44.31.0.0/16";
/** A public address that the test DNS hands out at create; never connected to (names move before any delivery). */
const PUBLIC = "93.184.215.14";

let hoard: Hoard;
const dnsServer = new TestDns();
/** Anything inside that a tenant should never reach: any connection here is an escape. */
const trap = new Listener("127.0.0.1");
/** A receiver the operator allows by host:port (127.0.0.1 at this port only). */
const allowedByName = new Listener("127.0.0.1");
/** A receiver the operator allows by CIDR (127.0.0.2/32), and a trap on 127.0.0.1 at the same port. */
let allowedByCidr: Listener;
let trapSamePort: Listener;
const redirector = new Listener("127.0.0.2", { redirect: "" });
const streamer = new Listener("127.0.0.2", "stream");
const silent = new Listener("127.0.0.2", "silent");

beforeAll(async () => {
  await dnsServer.start();
  await trap.start();
  await allowedByName.start();
  [allowedByCidr, trapSamePort] = await pairOnOnePort(() => new Listener("127.0.0.2"), () => new Listener("127.0.0.1"));
  redirector.behaviour = { redirect: trap.url("/internal") };
  await redirector.start();
  await streamer.start();
  await silent.start();
  hoard = await startHoard({
    netns: { pool: POOL },
    webhooks: { allow: ["127.0.0.2/32", `127.0.0.1:${allowedByName.port}`], resolver: `127.0.0.1:${dnsServer.port}` },
  });
}, 120_000);

afterAll(async () => {
  for (const l of [trap, allowedByName, allowedByCidr, trapSamePort, redirector, streamer, silent]) await l?.stop();
  await dnsServer.stop();
  await hoard?.stop();
});

const subscribe = (project: string, url: string) => hoard.api("POST", project, "/subscriptions", { subscription: { url, event_types: ["*"] } });
const show = async (project: string, id: string) => (await hoard.api("GET", project, `/subscriptions/${id}`)).body.subscription;

/** Publishes `n` public events of `project` as the functions do (through the outbox). */
async function publish(project: string, n: number): Promise<void> {
  const k = publicEvents.instanceStatusChanged;
  await hoard.plane.db.transaction(async (trx) => {
    for (let i = 0; i < n; i++) {
      const data = { instanceId: `ssrf-${i}`, project, name: `ssrf-${i}`, status: "ACTIVE" };
      await enqueue(trx, k.subject(project), makeEvent(k.type, sources.functions, data));
    }
  });
}

/**
 * Waits until the subscription's oldest delivery has been tried `attempts` times with an outcome recorded
 * (a claim counts its attempt before the outcome is known), or is settled; returns it.
 */
async function headTried(project: string, id: string, attempts = 1) {
  return eventually(async () => {
    const s = await show(project, id);
    const head = s.recent_deliveries.find((d: { sequence: number }) => d.sequence === 1);
    return head && ((head.attempts >= attempts && head.last_error) || head.status !== "pending") ? head : undefined;
  }, 60_000);
}

const nothingReachedInside = () => {
  expect(trap.connections).toBe(0);
  expect(trap.requests).toEqual([]);
  expect(trapSamePort.connections).toBe(0);
};

describe("refused at create, with why", () => {
  beforeAll(() => {
    dnsServer.a.set("loopback.hoard.test", ["127.0.0.1"]);
    dnsServer.a.set("metadata.hoard.test", ["169.254.169.254"]);
    dnsServer.aaaa.set("v6-loopback.hoard.test", ["::1"]);
    dnsServer.a.set("one-bad.hoard.test", [PUBLIC, "10.1.2.3"]);
    dnsServer.a.set("ula.hoard.test", [PUBLIC]);
    dnsServer.aaaa.set("ula.hoard.test", ["fd00::7"]);
  });

  const P = "ssrf-create";
  it.each([
    // The issue's own try: the node's loopback.
    ["http://127.0.0.1:18999/internal", "its host 127.0.0.1 is a loopback address"],
    ["http://127.0.0.9/", "its host 127.0.0.9 is a loopback address"],
    // Odd spellings of 127.0.0.1 are judged as the address they are.
    ["http://2130706433/", "its host 127.0.0.1 is a loopback address"],
    ["http://0x7f.1/", "its host 127.0.0.1 is a loopback address"],
    ["http://127.1/", "its host 127.0.0.1 is a loopback address"],
    ["http://0177.0.0.1/", "its host 127.0.0.1 is a loopback address"],
    ["https://[::1]:8779/", "its host ::1 is a loopback address (::1)"],
    // Allowed is 127.0.0.1 at one port by name: another port, or the same port in another spelling, is not.
    ["http://127.0.0.1:1/", "loopback"],
    ["http://[::ffff:127.0.0.1]/", "its host ::ffff:7f00:1 is an IPv4-mapped form of 127.0.0.1, a loopback address"],
    ["http://[::ffff:7f00:1]/", "an IPv4-mapped form of 127.0.0.1, a loopback address"],
    ["http://[64:ff9b::a9fe:a9fe]/", "a NAT64 form of 169.254.169.254, a link-local address"],
    ["http://[2002:7f00:1::1]/", "a 6to4 form of 127.0.0.1, a loopback address"],
    ["http://169.254.169.254/latest/meta-data/", "its host 169.254.169.254 is a link-local address (169.254.0.0/16, where cloud metadata services answer)"],
    ["http://[fe80::1]/", "a link-local address (fe80::/10)"],
    ["http://0.0.0.0:8779/", "its host 0.0.0.0 is an unspecified address"],
    ["http://0/", "its host 0.0.0.0 is an unspecified address"],
    ["http://[::]/", "its host :: is an unspecified address (::)"],
    ["http://224.0.0.251/", "a multicast address"],
    ["http://[ff02::1]/", "a multicast address"],
    ["http://255.255.255.255/", "the broadcast address"],
    ["http://10.0.0.1/", "a private address (10.0.0.0/8)"],
    ["http://172.16.0.1/", "a private address (172.16.0.0/12)"],
    ["http://172.31.255.254/", "a private address (172.16.0.0/12)"],
    ["http://192.168.1.1/", "a private address (192.168.0.0/16)"],
    ["http://100.64.0.1/", "a private address (100.64.0.0/10, carrier-grade NAT)"],
    ["http://[fc00::1]/", "a private address (fc00::/7, unique local)"],
    ["http://[fd12:3456::1]/", "a private address (fc00::/7, unique local)"],
    ["http://240.0.0.1/", "a reserved address"],
    ["http://192.0.2.10/", "a reserved address (192.0.2.0/24, documentation)"],
    ["http://[2001:db8::1]/", "a reserved address (2001:db8::/32, documentation)"],
    ["http://[100::1]/", "a reserved address"],
    // The netns driver's tenant networks, wherever the operator puts them.
    ["http://44.31.7.9:5432/", "its host 44.31.7.9 is in this node's tenant networks (HOARD_NETNS_POOL)"],
    // Names are resolved and every address they resolve to is checked.
    ["http://loopback.hoard.test/", "its host loopback.hoard.test resolves to 127.0.0.1, a loopback address"],
    ["http://metadata.hoard.test/", "resolves to 169.254.169.254, a link-local address"],
    ["http://v6-loopback.hoard.test/", "resolves to ::1, a loopback address (::1)"],
    ["http://one-bad.hoard.test/", "resolves to 10.1.2.3, a private address (10.0.0.0/8)"],
    ["http://ula.hoard.test/", "resolves to fd00::7, a private address (fc00::/7, unique local)"],
    ["http://nowhere.hoard.test/", "its host nowhere.hoard.test could not be resolved (ENOTFOUND)"],
  ])("%s → 400", async (url, why) => {
    const r = await subscribe(P, url);
    expect(r.status).toBe(400);
    expect(Object.keys(r.body)).toEqual(["badRequest"]);
    expect(r.body.badRequest.code).toBe(400);
    expect(r.body.badRequest.message).toMatch(/^Invalid subscription\.url: its host /);
    expect(r.body.badRequest.message).toContain(why);
    if (!why.includes("could not be resolved")) expect(r.body.badRequest.message).toContain("(the operator lists exceptions in HOARD_WEBHOOK_ALLOW)");
  });

  it("refuses every address of this node's own interfaces", async () => {
    const own = Object.values(networkInterfaces()).flatMap((l) => l ?? []).filter((i) => !i.address.includes("%"));
    expect(own.length).toBeGreaterThan(0);
    for (const i of own) {
      const host = i.family === "IPv6" ? `[${i.address}]` : i.address;
      const r = await subscribe(P, `http://${host}:8080/`);
      expect(r.status, i.address).toBe(400);
      expect(r.body.badRequest.message).toMatch(/is (an address of this node|a loopback|a private|a link-local|a reserved)/);
    }
  });

  it("stored none of them, and nothing inside was reached", async () => {
    const list = await hoard.api("GET", P, "/subscriptions");
    expect(list.body.subscriptions).toEqual([]);
    nothingReachedInside();
  });
});

describe("checked again at each delivery", () => {
  it("does not call a name that resolves to loopback by the time of delivery (DNS rebinding)", async () => {
    const P = "ssrf-rebind";
    dnsServer.a.set("rebind.hoard.test", [PUBLIC]);
    const created = await subscribe(P, `http://rebind.hoard.test:${trap.port}/internal`);
    expect(created.status).toBe(200);
    // Now the name moves inside, before anything is sent.
    dnsServer.a.set("rebind.hoard.test", ["127.0.0.1"]);
    await publish(P, 2);
    const head = await headTried(P, created.body.subscription.id, 2);
    expect(head).toMatchObject({ status: "pending", last_status_code: null });
    expect(head.last_error).toContain("not sent: its host rebind.hoard.test resolves to 127.0.0.1, a loopback address");
    nothingReachedInside();
    expect((await hoard.api("DELETE", P, `/subscriptions/${created.body.subscription.id}`)).status).toBe(202);
  });

  it("connects to exactly the address it checked, though the name answers differently each time", async () => {
    const P = "ssrf-flip";
    // Every other answer is the allowed 127.0.0.2, the rest 127.0.0.1, where a trap listens on the same port.
    let n = 0;
    dnsServer.a.set("flip.hoard.test", () => [n++ % 2 === 0 ? "127.0.0.2" : "127.0.0.1"]);
    const created = await subscribe(P, `http://flip.hoard.test:${allowedByCidr.port}/hook`);
    expect(created.status).toBe(200);
    const before = allowedByCidr.requests.length;
    const EVENTS = 3;
    await publish(P, EVENTS);
    await eventually(async () => {
      const s = await show(P, created.body.subscription.id);
      return s.deliveries.pending === 0 && s.deliveries.delivered + s.deliveries.failed === EVENTS ? s : undefined;
    }, 90_000);
    nothingReachedInside();
    const got = allowedByCidr.requests.slice(before).filter((r) => r.headers["x-hoard-subscription-id"] === created.body.subscription.id);
    expect(got.map((r) => Number(r.headers["x-hoard-sequence"]))).toEqual([1, 2, 3]);
    // The Host header and path are the URL's, though the socket went to the vetted address.
    expect(got[0]!.headers.host).toBe(`flip.hoard.test:${allowedByCidr.port}`);
    expect(got[0]!.url).toBe("/hook");
    // Resolved once at create and once per attempt; some attempts were refused, none reached the trap.
    expect(dnsServer.aQueries.get("flip.hoard.test")!).toBeGreaterThan(EVENTS + 1);
    const state = await show(P, created.body.subscription.id);
    expect(state.deliveries).toEqual({ pending: 0, delivered: EVENTS, failed: 0 });
  }, 120_000);

  it("refuses to deliver to a subscription stored before these rules (a loopback URL in its row)", async () => {
    const P = "ssrf-old-row";
    const { id } = await insertSubscription(hoard.plane.db, { id: randomUUID(), project_id: P, url: trap.url("/internal"), event_types: ["*"], secret: "an-old-secret-0123456789", description: null });
    await publish(P, 1);
    const head = await headTried(P, id);
    expect(head.last_error).toContain(`its host 127.0.0.1 is a loopback address`);
    nothingReachedInside();
  });
});

describe("what is allowed, and how it is called", () => {
  it("calls an allowed host:port and an allowed CIDR: they receive the project's events", async () => {
    const P = "ssrf-allowed";
    const byName = await subscribe(P, allowedByName.url());
    expect(byName.status).toBe(200);
    const byCidr = await subscribe(P, `http://127.0.0.2:${allowedByCidr.port}/cidr`);
    expect(byCidr.status).toBe(200);
    await publish(P, 2);
    const named = await eventually(async () => {
      const mine = allowedByName.requests.filter((r) => r.headers["x-hoard-subscription-id"] === byName.body.subscription.id);
      return mine.length >= 2 ? mine : undefined;
    }, 60_000);
    expect(named.map((r) => JSON.parse(r.body).data.project)).toEqual([P, P]);
    const cidr = await eventually(async () => {
      const mine = allowedByCidr.requests.filter((r) => r.headers["x-hoard-subscription-id"] === byCidr.body.subscription.id);
      return mine.length >= 2 ? mine : undefined;
    }, 60_000);
    expect(cidr.map((r) => r.url)).toEqual(["/cidr", "/cidr"]);
    nothingReachedInside();
  });

  it("does not follow a redirect to loopback: the 307 is a failed attempt", async () => {
    const P = "ssrf-redirect";
    const created = await subscribe(P, redirector.url());
    expect(created.status).toBe(200);
    await publish(P, 1);
    const head = await headTried(P, created.body.subscription.id, 2);
    expect(head).toMatchObject({ status: "pending", last_status_code: 307, last_error: "the receiver answered HTTP 307; redirects are not followed" });
    expect(redirector.requests.length).toBeGreaterThanOrEqual(2);
    nothingReachedInside();
    expect((await hoard.api("DELETE", P, `/subscriptions/${created.body.subscription.id}`)).status).toBe(202);
  });

  it("reads only the answer's headers: a receiver streaming an endless body gets its delivery accepted", async () => {
    const P = "ssrf-stream";
    const created = await subscribe(P, streamer.url());
    await publish(P, 2);
    const state = await eventually(async () => {
      const s = await show(P, created.body.subscription.id);
      return s.deliveries.delivered === 2 ? s : undefined;
    }, 60_000);
    expect(state.recent_deliveries.map((d: { last_status_code: number }) => d.last_status_code)).toEqual([200, 200]);
  });

  it("keeps TLS to the URL's name though it connects to the vetted address: SNI is the name, and the certificate is verified", async () => {
    const P = "ssrf-tls";
    const dir = mkdtempSync(path.join(tmpdir(), "hoard-ssrf-tls-"));
    const names: string[] = [];
    let requests = 0;
    try {
      // A certificate nobody vouches for: a delivery that verifies must refuse it.
      execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=tls.hoard.test", "-addext", "subjectAltName=DNS:tls.hoard.test",
        "-keyout", path.join(dir, "key.pem"), "-out", path.join(dir, "cert.pem")], { stdio: "ignore" });
      const context = { key: readFileSync(path.join(dir, "key.pem")), cert: readFileSync(path.join(dir, "cert.pem")) };
      const server = createTlsServer({ ...context, SNICallback: (name, done) => { names.push(name); done(null, createSecureContext(context)); } }, (_req, res) => {
        requests++;
        res.writeHead(204).end();
      });
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.2", resolve));
      try {
        dnsServer.a.set("tls.hoard.test", ["127.0.0.2"]);
        const created = await subscribe(P, `https://tls.hoard.test:${(server.address() as AddressInfo).port}/hook`);
        expect(created.status).toBe(200);
        await publish(P, 1);
        const head = await headTried(P, created.body.subscription.id);
        expect(head.last_error).toBe("could not reach the receiver (DEPTH_ZERO_SELF_SIGNED_CERT)");
        expect(names[0]).toBe("tls.hoard.test");
        expect(requests).toBe(0);
        expect((await hoard.api("DELETE", P, `/subscriptions/${created.body.subscription.id}`)).status).toBe(202);
      } finally {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("gives up on a receiver that never answers, after the delivery timeout", async () => {
    const P = "ssrf-silent";
    const created = await subscribe(P, silent.url());
    await publish(P, 1);
    const head = await headTried(P, created.body.subscription.id);
    expect(head).toMatchObject({ status: "pending", last_status_code: null, last_error: "no answer within 5 s" });
    expect(silent.requests.length).toBeGreaterThanOrEqual(1);
    expect((await hoard.api("DELETE", P, `/subscriptions/${created.body.subscription.id}`)).status).toBe(202);
  }, 90_000);
});

describe("HOARD_WEBHOOK_ALLOW", () => {
  it("takes CIDRs, IPs and host[:port], hosts as a URL spells them", () => {
    const config = loadConfig({ HOARD_HOME: "/nonexistent", HOARD_WEBHOOK_ALLOW: "10.20.0.0/16, fd00::/8,192.0.2.7,hooks.Internal:8443,[fd00::9]:443,0x7f.1:9000" });
    expect(config.webhooks.allow).toEqual([
      { kind: "cidr", address: "10.20.0.0", prefix: 16 },
      { kind: "cidr", address: "fd00::", prefix: 8 },
      { kind: "cidr", address: "192.0.2.7", prefix: 32 },
      { kind: "host", host: "hooks.internal", port: 8443 },
      { kind: "host", host: "fd00::9", port: 443 },
      { kind: "host", host: "127.0.0.1", port: 9000 },
    ]);
  });

  it.each([
    ["10.0.0.0/33", "has a prefix longer than 32 bits"],
    ["hooks/8", "is not a CIDR"],
    ["hooks.internal:70000", "has a port outside 1-65535"],
    ["a b", "names no valid host"],
  ])("refuses %s at start, saying why", (entry, why) => {
    expect(() => loadConfig({ HOARD_HOME: "/nonexistent", HOARD_WEBHOOK_ALLOW: entry })).toThrow(why);
  });
});
