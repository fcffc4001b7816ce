import { checkName, type EngineRules } from "../../datastores/catalog.js";
import { fail } from "../../errors/index.js";
import type { DatabaseSpec, GuestDatabase, GuestUser, UserSpec } from "../../events/index.js";
import type { z } from "zod";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const CIDR = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}(\/([0-9]|[12][0-9]|3[0-2]))?$/;

/** The requested volume size in GB: an integer or a digit string, at least 1, at most `max`. */
export function volumeSize(size: number | string, max: number): number {
  const n = typeof size === "string" ? Number(size) : size;
  if (!Number.isSafeInteger(n) || n < 1) throw fail("INVALID_VALUE", { what: "instance.volume.size", rule: `${size} is not a whole number of GB of at least 1` });
  if (n > max) throw fail("VOLUME_TOO_LARGE", { size: n, max });
  return n;
}

/** The network id from `nics` (`net-id` from the trove CLI and tempest, `network_id` from openstack). */
export function networkId(nics: { "net-id"?: string; network_id?: string; subnet_id?: string }[] | undefined): string | undefined {
  const nic = nics?.[0];
  if (!nic) return undefined;
  const id = nic.network_id ?? nic["net-id"];
  if (!id) throw fail("INVALID_VALUE", { what: "instance.nics", rule: "give the network as {\"network_id\": \"<uuid>\"} (or \"net-id\")" });
  if (!UUID.test(id)) throw fail("INVALID_VALUE", { what: "instance.nics", rule: `network id '${id}' is not a UUID` });
  return id.toLowerCase();
}

/** Trove's `access`: private unless said otherwise; CIDRs must be IPv4 and unique. */
export function access(a: { is_public?: boolean; allowed_cidrs?: string[] } | undefined): { is_public: boolean; allowed_cidrs?: string[] } {
  const cidrs = a?.allowed_cidrs;
  if (cidrs) {
    for (const c of cidrs) if (!CIDR.test(c)) throw fail("INVALID_VALUE", { what: "instance.access.allowed_cidrs", rule: `'${c}' is not an IPv4 address or CIDR (e.g. 10.0.0.0/8)` });
    if (new Set(cidrs).size !== cidrs.length) throw fail("INVALID_VALUE", { what: "instance.access.allowed_cidrs", rule: "each CIDR may appear once" });
  }
  return { is_public: a?.is_public ?? false, ...(cidrs ? { allowed_cidrs: cidrs } : {}) };
}

/** Initial databases, checked against the engine's identifier and character-set rules. */
export function databases(specs: z.infer<typeof DatabaseSpec>[] | undefined, rules: EngineRules): GuestDatabase[] {
  const seen = new Set<string>();
  return (specs ?? []).map((d) => {
    const problem = checkName(rules.database, d.name);
    if (problem) throw fail("INVALID_NAME", { what: "database", name: d.name, rule: problem });
    if (seen.has(d.name)) throw fail("DUPLICATE_NAME", { what: "Database", name: d.name });
    seen.add(d.name);
    const charset = rules.charset(d.character_set, d.collate);
    if (charset) throw fail("INVALID_VALUE", { what: `character set of database '${d.name}'`, rule: charset });
    return { name: d.name, ...(d.character_set ? { characterSet: d.character_set } : {}), ...(d.collate ? { collate: d.collate } : {}) };
  });
}

/** Initial users: names, hosts and passwords by the engine's rules; their databases must be created too. */
export function users(specs: z.infer<typeof UserSpec>[] | undefined, rules: EngineRules, dbNames: Set<string>): GuestUser[] {
  const seen = new Set<string>();
  return (specs ?? []).map((u) => {
    const nameProblem = checkName(rules.user, u.name);
    if (nameProblem) throw fail("INVALID_NAME", { what: "user", name: u.name, rule: nameProblem });
    const host = u.host ?? "%";
    const hostProblem = checkName(rules.host, host);
    if (hostProblem) throw fail("INVALID_NAME", { what: `host of user '${u.name}'`, name: host, rule: hostProblem });
    const key = `${u.name}@${host}`;
    if (seen.has(key)) throw fail("DUPLICATE_NAME", { what: "User", name: key });
    seen.add(key);
    if (u.password.length === 0) throw fail("INVALID_VALUE", { what: `password of user '${u.name}'`, rule: "it is empty" });
    if (u.password.length > rules.password.maxLength) throw fail("INVALID_VALUE", { what: `password of user '${u.name}'`, rule: `it is longer than ${rules.password.maxLength} characters` });
    // eslint-disable-next-line no-control-regex
    if (/[\x00-\x1f\x7f]/.test(u.password)) throw fail("INVALID_VALUE", { what: `password of user '${u.name}'`, rule: "it contains control characters" });
    const dbs = (u.databases ?? []).map((d) => d.name);
    for (const db of dbs) {
      if (!dbNames.has(db)) throw fail("INVALID_VALUE", { what: `databases of user '${u.name}'`, rule: `database '${db}' is not among the databases this request creates` });
    }
    return { name: u.name, password: u.password, host, databases: dbs };
  });
}
