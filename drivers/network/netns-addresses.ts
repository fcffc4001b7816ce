/** The netns driver's IPv4 arithmetic (subnets cut from the pool, guest addresses) and network ids. */

/** Whether an id can name a namespace (it becomes part of its name). */
export function isNetworkId(id: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(id);
}

/** The id, or an error saying what a network id here may hold. */
export function checkNetworkId(id: string): string {
  if (!isNetworkId(id)) throw new Error(`'${id}' cannot be a network id here (letters, digits, '_', '.', '-', at most 64)`);
  return id;
}

/** Whether `text` is a dotted IPv4 address. */
export function isIpv4(text: string): boolean {
  const parts = text.split(".");
  return parts.length === 4 && parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255);
}

/** An IPv4 address as a number. */
function ipToInt(ip: string): number {
  return ip.split(".").reduce((n, p) => n * 256 + Number(p), 0);
}

/** A number as a dotted IPv4 address. */
export function intToIp(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join(".");
}

/** The address `host` places after `base`. */
export function addHost(base: string, host: number): string {
  return intToIp(ipToInt(base) + host);
}

/** An IPv4 CIDR as its (aligned) base and prefix length. */
export function parseCidr(cidr: string): { base: number; bits: number } {
  const [ip, bits] = cidr.split("/");
  const b = Number(bits);
  if (!ip || !isIpv4(ip) || !Number.isInteger(b) || b < 0 || b > 32) throw new Error(`'${cidr}' is not an IPv4 CIDR`);
  const size = 2 ** (32 - b);
  return { base: Math.floor(ipToInt(ip) / size) * size, bits: b };
}

/** Whether two IPv4 blocks share an address. */
export function overlaps(a: { base: number; bits: number }, b: { base: number; bits: number }): boolean {
  const aEnd = a.base + 2 ** (32 - a.bits);
  const bEnd = b.base + 2 ** (32 - b.bits);
  return a.base < bEnd && b.base < aEnd;
}

/** The tenant pool: its base and how many /24s it holds. */
export function parsePool(pool: string): { base: number; subnets: number } {
  const { base, bits } = parseCidr(pool);
  if (bits < 8 || bits > 24) throw new Error(`the tenant network pool '${pool}' must be a /8 to /24 (each network takes a /24)`);
  return { base, subnets: Math.min(2 ** (24 - bits), 65_536) };
}
