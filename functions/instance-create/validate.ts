import { fail } from "../../errors/index.js";

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
