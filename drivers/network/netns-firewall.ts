/**
 * The netns driver's isolation: iptables chains of this node's own in the root namespace (see netns.ts's
 * header for what they let through), written in one iptables-restore from the driver's state.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type { DriverState } from "./netns-state.js";

const run = promisify(execFile);

/** One node's chains. */
export class NetnsFirewall {
  /** The rules last written (iptables-restore input), so a change that keeps them the same writes nothing. */
  private written: string | undefined;

  constructor(
    private readonly markers: { linkPrefix: string; chainPrefix: string },
    /** Where public guests are published; unset, every local address. */
    private readonly publicAddress: string | undefined,
  ) {}

  /**
   * Writes this node's chains from the state in one iptables-restore (declaring a chain flushes it), with the
   * jumps from the built-in chains that are missing; with no network left, removes jumps and chains.
   */
  async apply(state: DriverState): Promise<void> {
    const { chainPrefix, linkPrefix } = this.markers;
    const IN = `${chainPrefix}IN`;
    const FWD = `${chainPrefix}FWD`;
    const PUB = `${chainPrefix}PUB`;
    const jumps: [string, string, string][] = [
      ["filter", "INPUT", IN],
      ["filter", "FORWARD", FWD],
      ["nat", "PREROUTING", PUB],
    ];
    // One look at what is there, one change: each iptables call takes milliseconds, the two take the same.
    const look = async () => {
      const present = (await run("iptables-save", [])).stdout.split("\n");
      return { present, jumpLines: (from: string, chain: string) => present.filter((l) => l === `-A ${from} -j ${chain}`).length };
    };
    if (Object.keys(state.networks).length === 0) {
      const { present, jumpLines } = await look();
      this.written = undefined;
      const tables = new Map<string, string[]>();
      for (const [table, from, chain] of jumps) {
        const lines = tables.get(table) ?? [];
        for (let i = jumpLines(from, chain); i > 0; i--) lines.push(`-D ${from} -j ${chain}`);
        if (present.some((l) => l.startsWith(`:${chain} `))) lines.push(`-F ${chain}`, `-X ${chain}`);
        tables.set(table, lines);
      }
      const removal = [...tables].filter(([, lines]) => lines.length).flatMap(([table, lines]) => [`*${table}`, ...lines, "COMMIT"]);
      if (removal.length) await this.restore(`${removal.join("\n")}\n`);
      return;
    }
    const legs = `${linkPrefix}+`;
    const filter = [
      "*filter",
      `:${IN} - [0:0]`,
      `:${FWD} - [0:0]`,
      // Into the node from a tenant network: only replies to what the node (the tracker) opened.
      `-A ${IN} -i ${legs} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
      `-A ${IN} -i ${legs} -p tcp -j REJECT --reject-with tcp-reset`,
      `-A ${IN} -i ${legs} -j DROP`,
      // Out of a tenant network through the node: only replies (to public clients).
      `-A ${FWD} -i ${legs} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
      `-A ${FWD} -i ${legs} -p tcp -j REJECT --reject-with tcp-reset`,
      `-A ${FWD} -i ${legs} -j DROP`,
    ];
    const nat = ["*nat", `:${PUB} - [0:0]`];
    const to = this.publicAddress ? `-d ${this.publicAddress}/32` : "-m addrtype --dst-type LOCAL";
    for (const n of Object.values(state.networks)) {
      const leg = `${linkPrefix}${n.index}`;
      for (const g of Object.values(n.guests)) {
        if (!g.published) continue;
        const p = g.published.port;
        nat.push(`-A ${PUB} -p tcp ${to} --dport ${p} -j DNAT --to-destination ${g.address}:${g.port}`);
        // Into a tenant network: only what a published port forwards, from its allowed sources.
        const match = `-o ${leg} -d ${g.address}/32 -p tcp --dport ${g.port} -m conntrack --ctstate DNAT --ctorigdstport ${p}`;
        for (const cidr of g.published.allowedCidrs) filter.push(`-A ${FWD} ${match} -s ${cidr} -j ACCEPT`);
        filter.push(`-A ${FWD} ${match} -j REJECT --reject-with tcp-reset`);
      }
    }
    filter.push(`-A ${FWD} -o ${legs} -j DROP`);
    const rules = [...filter, "COMMIT", ...nat, "COMMIT"].join("\n") + "\n";
    if (rules === this.written) return;
    const { jumpLines } = await look();
    // The built-in chains jump to ours first, whatever else the node's firewall has.
    for (const [table, from, chain] of jumps) {
      if (jumpLines(from, chain) === 0) (table === "nat" ? nat : filter).push(`-I ${from} 1 -j ${chain}`);
    }
    await this.restore([...filter, "COMMIT", ...nat, "COMMIT"].join("\n") + "\n");
    this.written = rules;
  }

  private restore(rules: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const child = execFile("iptables-restore", ["-w", "--noflush"], (err, _stdout, stderr) => {
        if (err) reject(new Error(`iptables-restore failed: ${(stderr || err.message).trim()}\n${rules}`));
        else resolve();
      });
      child.stdin!.end(rules);
    });
  }
}
