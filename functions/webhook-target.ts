/**
 * Where a tenant's webhook may be sent. A webhook is a request the control plane makes on a tenant's behalf,
 * from inside the node: left unchecked, a URL such as http://127.0.0.1:5432/ or http://169.254.169.254/ makes
 * Hoard itself talk to the node's own services, its tenant networks or a cloud's metadata service. So a URL's
 * host is resolved and every address it resolves to is checked against the rules below — at create, and again
 * at each delivery (a name may resolve elsewhere by then) — and a delivery connects to exactly the addresses
 * that were checked, never resolving the name a second time.
 */
import { promises as dns } from "node:dns";
import { isIP } from "node:net";
import { networkInterfaces } from "node:os";
import type { Config, WebhookAllow } from "../config/index.js";

/** An address a delivery may connect to. */
export interface TargetAddress {
  address: string;
  family: 4 | 6;
}

/** A URL whose every address passed: its host (IPv6 without brackets), port, and the addresses to connect to. */
export interface VettedTarget {
  url: URL;
  host: string;
  port: number;
  addresses: TargetAddress[];
}

export type Verdict = { ok: true; target: VettedTarget } | { ok: false; reason: string };

/** The rules in one sentence, the end of every refusal. */
const RULE =
  "webhooks may not target loopback, link-local, unspecified, multicast, broadcast, private or reserved addresses, nor this node's own or its tenant networks' addresses (the operator lists exceptions in HOARD_WEBHOOK_ALLOW)";

// ---- addresses as bytes ----

function v4Bytes(s: string): Uint8Array | null {
  if (isIP(s) !== 4) return null;
  return new Uint8Array(s.split(".").map(Number));
}

function v6Bytes(raw: string): Uint8Array | null {
  let s = raw.replace(/%.*$/, "");
  if (isIP(s) !== 6) return null;
  // A trailing dotted quad (::ffff:1.2.3.4) is the last two groups.
  const quad = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (quad) {
    const b = v4Bytes(quad[1]!)!;
    s = `${s.slice(0, -quad[1]!.length)}${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`;
  }
  const [head, tail] = s.includes("::") ? s.split("::") : [s, undefined];
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill("0"), ...t];
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    const n = parseInt(g, 16);
    out[2 * i] = n >> 8;
    out[2 * i + 1] = n & 0xff;
  });
  return out;
}

const bytesOf = (address: string) => v4Bytes(address) ?? v6Bytes(address);

/** A block of addresses: the first `prefix` bits of `bytes`. */
interface Block {
  bytes: Uint8Array;
  prefix: number;
}

function block(address: string, prefix: number): Block {
  const bytes = bytesOf(address);
  // A bad block must never match everything (or nothing) quietly.
  if (!bytes || !Number.isInteger(prefix) || prefix < 0 || prefix > bytes.length * 8) throw new Error(`not a CIDR: ${address}/${prefix}`);
  return { bytes, prefix };
}

const cidr = (s: string) => {
  const [a, p] = s.split("/");
  return block(a!, Number(p));
};

function inBlock(bytes: Uint8Array, b: Block): boolean {
  if (bytes.length !== b.bytes.length) return false;
  for (let bit = 0; bit < b.prefix; bit += 8) {
    const n = Math.min(8, b.prefix - bit);
    const mask = (0xff << (8 - n)) & 0xff;
    if ((bytes[bit / 8]! & mask) !== (b.bytes[bit / 8]! & mask)) return false;
  }
  return true;
}

const v4Text = (b: Uint8Array) => [...b].join(".");

// ---- the rules ----

/** Blocks refused whatever the node, first match naming why. IPv6 blocks that embed an IPv4 address are judged by it. */
const REFUSED: { block: Block; kind: string }[] = [
  ["255.255.255.255/32", "the broadcast address"],
  ["0.0.0.0/8", "an unspecified address (0.0.0.0/8, 'this host')"],
  ["127.0.0.0/8", "a loopback address"],
  ["169.254.0.0/16", "a link-local address (169.254.0.0/16, where cloud metadata services answer)"],
  ["10.0.0.0/8", "a private address (10.0.0.0/8)"],
  ["172.16.0.0/12", "a private address (172.16.0.0/12)"],
  ["192.168.0.0/16", "a private address (192.168.0.0/16)"],
  ["100.64.0.0/10", "a private address (100.64.0.0/10, carrier-grade NAT)"],
  ["192.0.0.0/24", "a reserved address (192.0.0.0/24, IETF protocol assignments)"],
  ["192.0.2.0/24", "a reserved address (192.0.2.0/24, documentation)"],
  ["198.51.100.0/24", "a reserved address (198.51.100.0/24, documentation)"],
  ["203.0.113.0/24", "a reserved address (203.0.113.0/24, documentation)"],
  ["192.88.99.0/24", "a reserved address (192.88.99.0/24, 6to4 relays)"],
  ["198.18.0.0/15", "a reserved address (198.18.0.0/15, benchmarking)"],
  ["224.0.0.0/4", "a multicast address"],
  ["240.0.0.0/4", "a reserved address (240.0.0.0/4)"],
  ["::/128", "an unspecified address (::)"],
  ["::1/128", "a loopback address (::1)"],
  ["::/96", "a reserved address (::/96, IPv4-compatible, deprecated)"],
  ["64:ff9b:1::/48", "a private address (64:ff9b:1::/48, local-use NAT64)"],
  ["100::/64", "a reserved address (100::/64, discard)"],
  ["2001::/32", "a reserved address (2001::/32, Teredo tunnels)"],
  ["2001:db8::/32", "a reserved address (2001:db8::/32, documentation)"],
  ["fc00::/7", "a private address (fc00::/7, unique local)"],
  ["fe80::/10", "a link-local address (fe80::/10)"],
  ["fec0::/10", "a private address (fec0::/10, site-local)"],
  ["ff00::/8", "a multicast address"],
].map(([c, kind]) => ({ block: cidr(c!), kind: kind! }));

/** IPv6 blocks whose addresses carry an IPv4 address a packet ends up at: where it sits in the 16 bytes. */
const EMBEDDING: { block: Block; at: number; name: string }[] = [
  { block: cidr("::ffff:0:0/96"), at: 12, name: "an IPv4-mapped" },
  { block: cidr("64:ff9b::/96"), at: 12, name: "a NAT64" },
  { block: cidr("2002::/16"), at: 2, name: "a 6to4" },
];

/** Only global unicast (2000::/3) is handed out for IPv6; anything else not named above is reserved. */
const GLOBAL_UNICAST = cidr("2000::/3");

/** What the rules need to know of this node, from its configuration. */
export interface WebhookPolicy {
  allow: WebhookAllow[];
  /** The blocks the netns driver cuts tenant networks from. */
  tenantNetworks: Block[];
  /** Addresses this node's guests and published instances listen on, named in the configuration. */
  guestAddresses: string[];
  resolver: dns.Resolver | null;
}

const policies = new WeakMap<Config, WebhookPolicy>();

/** The webhook rules of a configuration (built once per configuration). */
export function webhookPolicy(config: Config): WebhookPolicy {
  let p = policies.get(config);
  if (!p) {
    let resolver: dns.Resolver | null = null;
    if (config.webhooks.resolver) {
      resolver = new dns.Resolver({ timeout: 2_000, tries: 2 });
      resolver.setServers([config.webhooks.resolver]);
    }
    p = {
      allow: config.webhooks.allow,
      tenantNetworks: [cidr(config.netns.pool)],
      guestAddresses: [config.guestHost, config.netns.publicAddress].filter((a): a is string => !!a && isIP(a) !== 0),
      resolver,
    };
    policies.set(config, p);
  }
  return p;
}

/** Every address of this node's interfaces, asked each time: interfaces come and go (a netns driver's legs). */
function nodeAddresses(): Uint8Array[] {
  return Object.values(networkInterfaces())
    .flatMap((list) => list ?? [])
    .map((i) => bytesOf(i.address))
    .filter((b): b is Uint8Array => b !== null);
}

const sameAddress = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);

/** Why `address` may not be a webhook's target, or null when it may. */
export function refusal(address: string, policy: WebhookPolicy): string | null {
  const bytes = bytesOf(address);
  if (!bytes) return "not an IP address";
  return refusalOf(bytes, policy);
}

function refusalOf(bytes: Uint8Array, policy: WebhookPolicy): string | null {
  for (const a of policy.allow) if (a.kind === "cidr" && inBlock(bytes, block(a.address, a.prefix))) return null;
  for (const e of EMBEDDING) {
    if (!inBlock(bytes, e.block)) continue;
    const v4 = bytes.slice(e.at, e.at + 4);
    const inner = refusalOf(v4, policy);
    return inner && `${e.name} form of ${v4Text(v4)}, ${inner}`;
  }
  // The kind of address first, as it says most; the node's own rules catch what is public but still inside.
  for (const r of REFUSED) if (inBlock(bytes, r.block)) return r.kind;
  if (bytes.length === 16 && !inBlock(bytes, GLOBAL_UNICAST)) return "a reserved address (outside 2000::/3, the global unicast block)";
  if (nodeAddresses().some((n) => sameAddress(n, bytes))) return "an address of this node";
  if (policy.tenantNetworks.some((b) => inBlock(bytes, b))) return "in this node's tenant networks (HOARD_NETNS_POOL)";
  if (policy.guestAddresses.some((g) => sameAddress(bytesOf(g)!, bytes))) return "the address this node's guests listen on";
  return null;
}

/** Whether a URL's host and port are listed as an exception by name. */
function allowedByName(host: string, port: number, policy: WebhookPolicy): boolean {
  return policy.allow.some((a) => a.kind === "host" && a.host === host && (a.port === null || a.port === port));
}

/** Every address `host` resolves to, IPv4 first; an error's code when it resolves to none. */
async function resolve(host: string, policy: WebhookPolicy): Promise<TargetAddress[]> {
  if (!policy.resolver) {
    // getaddrinfo, as any program on the node would: /etc/hosts, then DNS.
    const found = await dns.lookup(host, { all: true, order: "ipv4first" });
    return found.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));
  }
  const r = policy.resolver;
  const [v4, v6] = await Promise.allSettled([r.resolve4(host), r.resolve6(host)]);
  const out: TargetAddress[] = [];
  if (v4.status === "fulfilled") out.push(...v4.value.map((address) => ({ address, family: 4 as const })));
  if (v6.status === "fulfilled") out.push(...v6.value.map((address) => ({ address, family: 6 as const })));
  if (!out.length) throw v4.status === "rejected" ? v4.reason : v6.status === "rejected" ? v6.reason : Object.assign(new Error("no addresses"), { code: "ENODATA" });
  return out;
}

function withDeadline<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error("timed out"), { code: "ETIMEOUT" })), ms);
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

/**
 * Resolves a webhook URL and checks every address it resolves to: the target to connect to, or why not.
 * A URL's host is taken as the WHATWG URL parser leaves it, so odd spellings of an address
 * (`http://2130706433/`, `http://0x7f.1/`, `http://127.1/`) are judged as the address they are, and that
 * same parsed host is what a delivery connects to.
 */
export async function vetWebhookUrl(raw: string, policy: WebhookPolicy, timeoutMs: number): Promise<Verdict> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, reason: "is not a URL" };
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return { ok: false, reason: `must be an http:// or https:// address, not ${url.protocol}//` };
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  const port = url.port ? Number(url.port) : url.protocol === "https:" ? 443 : 80;
  const literal = isIP(host);
  let addresses: TargetAddress[];
  if (literal) addresses = [{ address: host, family: literal === 6 ? 6 : 4 }];
  else {
    try {
      addresses = await withDeadline(resolve(host, policy), timeoutMs);
    } catch (e) {
      const code = (e as { code?: string }).code ?? "an error";
      return { ok: false, reason: `its host ${host} could not be resolved (${code}); a webhook's host must resolve to a public address` };
    }
  }
  const target = { url, host, port, addresses };
  if (allowedByName(host, port, policy)) return { ok: true, target };
  for (const a of addresses) {
    const why = refusal(a.address, policy);
    if (why === null) continue;
    const what = literal ? `its host ${a.address} is ${why}` : `its host ${host} resolves to ${a.address}, ${why}`;
    return { ok: false, reason: `${what}; ${RULE}` };
  }
  return { ok: true, target };
}
