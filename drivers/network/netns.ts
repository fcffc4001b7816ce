/**
 * Network driver "netns": each tenant network is a Linux network namespace with a bridge and a /24 of its
 * own. A guest runs inside its network's namespace (`ip netns exec`) on an address of its own and its
 * engine's standard port. The tracker stays in the root namespace and reaches guests through its *leg*: a
 * veth pair whose host end holds the subnet's first address and whose other end is a port of the bridge.
 *
 * Isolation is iptables in the root namespace, in chains of this node's own (named by its scope, so two
 * Hoards on one machine keep apart) that the driver creates with the first network and removes with the
 * last: from a leg only replies to connections the host opened are accepted (so nothing inside a tenant
 * network reaches NATS, Postgres, the gateway or anything else listening on the node), nothing is forwarded
 * from a leg (so tenant networks cannot reach each other or beyond), and nothing is forwarded to a leg except
 * what a public guest's published port lets through from its allowed CIDRs (DNAT from the node's address).
 * IPv6 is switched off on both ends of every leg, so these IPv4 rules are the whole story.
 *
 * Names, for scope S (12 hex digits) and a network's pool index N:
 *   namespace  hoard-S-<network id>      (also findable with `ip netns identify <pid of a guest>`)
 *   leg        h<S[0..6]>v<N> on the host (at most 15 characters), `leg0` inside; bridge `br0` inside
 *   chains     HOARD-S-IN, HOARD-S-FWD (filter), HOARD-S-PUB (nat), jumped to from INPUT, FORWARD, PREROUTING
 * What the driver allocated (subnets, guest addresses, published ports) is kept in `<home>/netns/state.json`,
 * so a restarted tracker adopts its networks and, after a reboot, builds them again as they were
 * (netns-state.ts). The rules are netns-firewall.ts; subnet and address arithmetic netns-addresses.ts.
 */
import { execFile } from "node:child_process";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { confine } from "../compute/confine.js";
import { allocatePort } from "./host.js";
import { addHost, checkNetworkId, intToIp, isIpv4, isNetworkId, overlaps, parseCidr, parsePool } from "./netns-addresses.js";
import { NetnsFirewall } from "./netns-firewall.js";
import { DriverState, type GuestState, type NetworkState } from "./netns-state.js";
import type { EngineCommand, GuestAccess, GuestNetwork, GuestPlacement } from "./placement.js";

const run = promisify(execFile);

/** Inside every namespace. */
const BRIDGE = "br0";
const LEG_INSIDE = "leg0";
/** Guests get .2 to .254 of their network's /24 (.1 is the tracker's leg). */
const FIRST_GUEST = 2;
const LAST_GUEST = 254;

export interface NetnsNetworkOptions {
  /** The node's state folder; the driver keeps `netns/state.json` there. */
  home: string;
  /** Tells this node's namespaces, links and chains from another Hoard's (see `cgroupScope`): 12 hex digits or more. */
  scope: string;
  /** The IPv4 block tenant subnets are cut from, /8 to /24 (each network gets a /24): "10.199.0.0/16" unless given. */
  pool?: string;
  /**
   * The node address public guests are published on. Unset: every address of the node forwards a published
   * port (PREROUTING, so from other hosts and from namespaces on this one, not from the node's own processes),
   * and the view shows the address of the default route.
   */
  publicAddress?: string;
}

/** What the machine lacks for the netns driver, or null when it has everything. */
export async function netnsUnavailable(): Promise<string | null> {
  if (process.getuid?.() !== 0) return "the netns network driver needs root (it creates namespaces, links and iptables rules)";
  for (const [tool, pkg] of [
    ["ip", "iproute2"],
    ["iptables", "iptables"],
    ["iptables-restore", "iptables"],
    ["setpriv", "util-linux"],
  ] as const) {
    const found = await run("/bin/sh", ["-c", 'command -v "$1"', "sh", tool]).then(
      () => true,
      () => false,
    );
    if (!found) return `the netns network driver needs '${tool}' (apt-get install -y ${pkg})`;
  }
  const probe = await run("iptables", ["-w", "-L", "INPUT", "-n"]).then(
    () => null,
    (e: Error & { stderr?: string }) => (e.stderr || e.message).trim(),
  );
  return probe ? `iptables does not work here: ${probe}` : null;
}

/** Tenant networks as namespaces; see the file's header. Call `open()` before anything else. */
export class NetnsNetwork implements GuestNetwork {
  readonly kind = "netns";
  readonly scope: string;
  private readonly stateFile: string;
  private readonly pool: { base: number; subnets: number };
  private readonly publicAddress: string | undefined;
  private state: DriverState = { networks: {} };
  /** Every change runs after the one before: iproute2, iptables and the state file are shared. */
  private queue: Promise<unknown> = Promise.resolve();
  private shownAddress: string | undefined;
  /** Networks made or checked by this driver since open(): a later guest of theirs needs only its address. */
  private readonly ready = new Set<string>();
  private readonly firewall: NetnsFirewall;

  constructor(opts: NetnsNetworkOptions) {
    if (!/^[0-9a-f]{12,}$/.test(opts.scope)) throw new Error(`'${opts.scope}' cannot be used as a network scope (at least 12 hex digits)`);
    this.scope = opts.scope.slice(0, 12);
    this.stateFile = path.join(path.resolve(opts.home), "netns", "state.json");
    this.pool = parsePool(opts.pool ?? "10.199.0.0/16");
    if (opts.publicAddress !== undefined && !isIpv4(opts.publicAddress)) throw new Error(`'${opts.publicAddress}' is not an IPv4 address (the public address)`);
    this.publicAddress = opts.publicAddress;
    this.firewall = new NetnsFirewall(this.markers, this.publicAddress);
  }

  /** The namespace of a tenant network. */
  namespace(networkId: string): string {
    return `hoard-${this.scope}-${checkNetworkId(networkId)}`;
  }

  /** The namespaces, host links and chains of this node carry this in their names. */
  get markers(): { namespacePrefix: string; linkPrefix: string; chainPrefix: string } {
    return { namespacePrefix: `hoard-${this.scope}-`, linkPrefix: `h${this.scope.slice(0, 6)}v`, chainPrefix: `HOARD-${this.scope}-` };
  }

  /** The networks this node has, with their subnets and guests (for logs and tests). */
  networks(): { networkId: string; namespace: string; subnet: string; leg: string; guests: string[] }[] {
    return Object.entries(this.state.networks).map(([id, n]) => ({ networkId: id, namespace: this.namespace(id), subnet: `${this.subnetBase(n.index)}/24`, leg: this.legName(n.index), guests: Object.keys(n.guests) }));
  }

  /**
   * Adopts what an earlier tracker left: reads the state and makes every recorded network, guest address
   * and rule exist again (all of it is there already after a mere tracker restart; after a reboot none is).
   */
  async open(): Promise<void> {
    await this.serial(async () => {
      const text = await readFile(this.stateFile, "utf8").catch(() => undefined);
      this.state = text === undefined ? { networks: {} } : DriverState.parse(JSON.parse(text));
      this.shownAddress = this.publicAddress ?? (await this.defaultAddress());
      for (const [id, n] of Object.entries(this.state.networks)) {
        await this.ensureNetwork(id, n);
        for (const g of Object.values(n.guests)) await this.addAddress(id, g.address);
      }
      await this.firewall.apply(this.state);
    });
  }

  async place(networkId: string, instanceId: string, standardPort: number, _portsInUse: { has(port: number): boolean }, access?: GuestAccess): Promise<GuestPlacement> {
    checkNetworkId(networkId);
    return this.serial(async () => {
      let network = this.state.networks[networkId];
      const known = network?.guests[instanceId];
      if (network && known) return this.placementOf(known);
      if (!network) {
        network = { index: await this.freeIndex(), guests: {} };
        this.state.networks[networkId] = network;
      }
      const used = new Set(Object.values(network.guests).map((g) => g.address));
      const base = this.subnetBase(network.index);
      let address: string | undefined;
      for (let host = FIRST_GUEST; host <= LAST_GUEST && !address; host++) {
        const candidate = addHost(base, host);
        if (!used.has(candidate)) address = candidate;
      }
      if (!address) throw new Error(`network ${networkId} has no free address left (${LAST_GUEST - FIRST_GUEST + 1} guests at most)`);
      const guest: GuestState = { address, port: standardPort };
      if (access?.isPublic) {
        const taken = new Set(Object.values(this.state.networks).flatMap((n) => Object.values(n.guests).flatMap((g) => (g.published ? [g.published.port] : []))));
        const port = await allocatePort("0.0.0.0", taken);
        guest.published = { port, allowedCidrs: access.allowedCidrs?.length ? access.allowedCidrs : ["0.0.0.0/0"] };
      }
      network.guests[instanceId] = guest;
      // Recorded first: whatever a crash leaves half made, open() or release() finds and finishes.
      await this.save();
      try {
        await this.ensureNetwork(networkId, network);
        await this.addAddress(networkId, address);
        if (guest.published) await this.enableForwarding();
        await this.firewall.apply(this.state);
      } catch (err) {
        await this.forget(networkId, instanceId).catch(() => {});
        throw err;
      }
      return this.placementOf(guest);
    });
  }

  wrap(networkId: string, command: EngineCommand): EngineCommand {
    if (!this.state.networks[networkId]) throw new Error(`network ${networkId} has no namespace on this node (was the guest made with another network driver?)`);
    // `ip netns exec` must run as root (it also gives the engine a mount namespace of its own); the engine's
    // user, and the rest of its confinement, is taken after entering the namespace.
    const confined = confine(command, { inOwnMountNamespace: true });
    return { ...confined, command: "ip", args: ["netns", "exec", this.namespace(networkId), confined.command, ...confined.args] };
  }

  async release(networkId: string, instanceId: string): Promise<void> {
    if (!isNetworkId(networkId)) return;
    await this.serial(() => this.forget(networkId, instanceId));
  }

  /** The address a public guest is published on, or undefined when it is private (or unknown). */
  published(instanceId: string): { address: string; port: number } | undefined {
    for (const n of Object.values(this.state.networks)) {
      const p = n.guests[instanceId]?.published;
      if (p) return { address: this.shownAddress ?? "0.0.0.0", port: p.port };
    }
    return undefined;
  }

  // ---- networks ----

  /** Removes a guest's address; with the network's last guest, the namespace, leg and state too. */
  private async forget(networkId: string, instanceId: string): Promise<void> {
    const network = this.state.networks[networkId];
    if (!network) return;
    const guest = network.guests[instanceId];
    if (guest) {
      delete network.guests[instanceId];
      await this.ip(["-n", this.namespace(networkId), "addr", "del", `${guest.address}/32`, "dev", BRIDGE]).catch(() => {});
    }
    if (Object.keys(network.guests).length === 0) {
      await this.removeNetwork(networkId, network);
      delete this.state.networks[networkId];
    }
    await this.firewall.apply(this.state);
    if (!this.anyPublished()) await this.restoreForwarding();
    await this.save();
  }

  /** Makes the namespace, its bridge and the leg exist as they should; leaves what already is alone. */
  private async ensureNetwork(networkId: string, network: NetworkState): Promise<void> {
    if (this.ready.has(networkId)) return;
    const ns = this.namespace(networkId);
    const leg = this.legName(network.index);
    const gateway = addHost(this.subnetBase(network.index), 1);
    const subnet = `${this.subnetBase(network.index)}/24`;
    if (!(await this.namespaces()).includes(ns)) {
      await this.ip(["netns", "add", ns]);
    }
    // Inside: no IPv6 (the rules are IPv4), loopback up, the bridge.
    await run("ip", ["netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"]);
    await this.ip(["-n", ns, "link", "set", "lo", "up"]);
    if (!(await this.linkExists(BRIDGE, ns))) await this.ip(["-n", ns, "link", "add", BRIDGE, "type", "bridge"]);
    await this.ip(["-n", ns, "link", "set", BRIDGE, "up"]);
    if (!(await this.linkExists(LEG_INSIDE, ns))) {
      // A host end without its peer belongs to a namespace that is being torn down (the kernel does it later).
      if (await this.linkExists(leg)) await this.ip(["link", "del", leg]).catch(() => {});
      await this.ip(["link", "add", leg, "type", "veth", "peer", "name", LEG_INSIDE, "netns", ns]);
    }
    await writeFile(`/proc/sys/net/ipv6/conf/${leg}/disable_ipv6`, "1");
    await this.ip(["addr", "replace", `${gateway}/24`, "dev", leg]);
    await this.ip(["link", "set", leg, "up"]);
    await this.ip(["-n", ns, "link", "set", LEG_INSIDE, "master", BRIDGE, "up"]);
    await this.ip(["-n", ns, "route", "replace", subnet, "dev", BRIDGE, "scope", "link"]);
    // Replies to public clients go back through the leg (new connections from inside are refused there).
    await this.ip(["-n", ns, "route", "replace", "default", "via", gateway, "dev", BRIDGE]);
    this.ready.add(networkId);
  }

  private async addAddress(networkId: string, address: string): Promise<void> {
    await this.ip(["-n", this.namespace(networkId), "addr", "replace", `${address}/32`, "dev", BRIDGE]);
  }

  private async removeNetwork(networkId: string, network: NetworkState): Promise<void> {
    const ns = this.namespace(networkId);
    const leg = this.legName(network.index);
    this.ready.delete(networkId);
    // Deleting one end of the veth pair deletes both; the bridge goes with the namespace.
    if (await this.linkExists(leg)) await this.ip(["link", "del", leg]);
    if ((await this.namespaces()).includes(ns)) await this.ip(["netns", "delete", ns]);
  }

  /** The lowest pool index no network of ours uses and no route of the node overlaps. */
  private async freeIndex(): Promise<number> {
    const ours = new Set(Object.values(this.state.networks).map((n) => n.index));
    const { stdout } = await run("ip", ["-4", "-j", "route", "show", "table", "all"]);
    const routes = (JSON.parse(stdout || "[]") as { dst?: string }[]).flatMap((r) => (r.dst && r.dst !== "default" ? [parseCidr(r.dst.includes("/") ? r.dst : `${r.dst}/32`)] : []));
    for (let i = 0; i < this.pool.subnets; i++) {
      if (ours.has(i)) continue;
      const base = this.pool.base + i * 256;
      if (routes.some((r) => overlaps(r, { base, bits: 24 }))) continue;
      return i;
    }
    throw new Error(`the tenant network pool has no free /24 left (${this.pool.subnets} networks)`);
  }

  private subnetBase(index: number): string {
    return intToIp(this.pool.base + index * 256);
  }

  private legName(index: number): string {
    return `${this.markers.linkPrefix}${index}`;
  }

  private placementOf(guest: GuestState): GuestPlacement {
    return { host: guest.address, port: guest.port };
  }

  // ---- forwarding ----

  private anyPublished(): boolean {
    return Object.values(this.state.networks).some((n) => Object.values(n.guests).some((g) => g.published));
  }

  /** Public guests need the node to forward; the value it had is kept and put back after the last one. */
  private async enableForwarding(): Promise<void> {
    const file = "/proc/sys/net/ipv4/ip_forward";
    const now = (await readFile(file, "utf8")).trim();
    if (now === "1") return;
    this.state.forwardingWas = now;
    await this.save();
    await writeFile(file, "1");
  }

  private async restoreForwarding(): Promise<void> {
    if (this.state.forwardingWas === undefined) return;
    await writeFile("/proc/sys/net/ipv4/ip_forward", this.state.forwardingWas);
    delete this.state.forwardingWas;
  }

  /** The node's address toward its default route (what the view shows for published ports when none is configured). */
  private async defaultAddress(): Promise<string | undefined> {
    const { stdout } = await run("ip", ["-4", "-j", "route", "get", "192.0.2.1"]).catch(() => ({ stdout: "[]" }));
    return (JSON.parse(stdout || "[]") as { prefsrc?: string }[])[0]?.prefsrc;
  }

  // ---- the system ----

  private async namespaces(): Promise<string[]> {
    const { stdout } = await run("ip", ["-j", "netns", "list"]);
    return (JSON.parse(stdout.trim() || "[]") as { name: string }[]).map((n) => n.name);
  }

  private async linkExists(name: string, ns?: string): Promise<boolean> {
    return run("ip", [...(ns ? ["-n", ns] : []), "link", "show", "dev", name]).then(
      () => true,
      () => false,
    );
  }

  private async ip(args: string[]): Promise<void> {
    await run("ip", args).catch((e: Error & { stderr?: string }) => {
      throw new Error(`ip ${args.join(" ")} failed: ${(e.stderr || e.message).trim()}`);
    });
  }

  private async save(): Promise<void> {
    await mkdir(path.dirname(this.stateFile), { recursive: true, mode: 0o700 });
    const tmp = `${this.stateFile}.tmp`;
    await writeFile(tmp, `${JSON.stringify(this.state, null, 2)}\n`, { mode: 0o600 });
    await rename(tmp, this.stateFile);
  }

  private serial<T>(work: () => Promise<T>): Promise<T> {
    const result = this.queue.then(work);
    this.queue = result.catch(() => {});
    return result;
  }
}

