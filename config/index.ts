import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import path from "node:path";
import { z } from "zod";

const intFrom = (fallback: number) =>
  z.coerce.number().int().positive().default(fallback);
/** A quota: a whole number, or -1 for unlimited. */
const limitFrom = (fallback: number) => z.coerce.number().int().min(-1).default(fallback);

/** One exception to the webhook address rules, as `HOARD_WEBHOOK_ALLOW` lists them. */
export type WebhookAllow = { kind: "cidr"; address: string; prefix: number } | { kind: "host"; host: string; port: number | null };

/**
 * An entry of `HOARD_WEBHOOK_ALLOW`: `10.0.0.0/8`, `fd00::/8`, a bare IP (a single address), `host`,
 * `host:port` or `[v6]:port`. Hosts are normalised as URLs normalise them (`0x7f.1` is `127.0.0.1`), so an
 * entry matches what a webhook URL's host becomes.
 */
const WebhookAllowEntry = z.string().trim().transform((raw, ctx): WebhookAllow => {
  const bad = (why: string) => {
    ctx.addIssue({ code: "custom", message: `'${raw}' ${why}; give a CIDR (10.0.0.0/8, fd00::/8), an IP, host or host:port` });
    return z.NEVER;
  };
  const cidr = /^([^/]+)\/(\d{1,3})$/.exec(raw);
  if (cidr) {
    const family = isIP(cidr[1]!);
    const prefix = Number(cidr[2]);
    if (!family) return bad("is not a CIDR: the part before '/' is not an IP address");
    if (prefix > (family === 4 ? 32 : 128)) return bad(`has a prefix longer than ${family === 4 ? 32 : 128} bits`);
    return { kind: "cidr", address: cidr[1]!, prefix };
  }
  if (isIP(raw)) return { kind: "cidr", address: raw, prefix: isIP(raw) === 4 ? 32 : 128 };
  const hostPort = /^(\[[^\]]+\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(raw);
  if (!hostPort) return bad("is neither a CIDR nor host[:port]");
  const port = hostPort[2] === undefined ? null : Number(hostPort[2]);
  if (port !== null && (port < 1 || port > 65535)) return bad("has a port outside 1-65535");
  let host: string;
  try {
    host = new URL(`http://${hostPort[1]}/`).hostname.replace(/^\[(.*)\]$/, "$1");
  } catch {
    return bad("names no valid host");
  }
  return { kind: "host", host, port };
});

/** `ip`, `ip:port` or `[v6]:port`, as node:dns's `setServers` takes them. */
function isDnsServer(s: string): boolean {
  const m = /^\[(.+)\](?::\d{1,5})?$/.exec(s) ?? /^([^:]+)(?::\d{1,5})?$/.exec(s);
  return isIP(m ? m[1]! : s) !== 0;
}

/** Every setting Hoard reads, declared once. Built from the environment (and an optional JSON file) at start. */
export const ConfigSchema = z.object({
  /** State folder: private NATS/Postgres data, guest volumes, golden images, logs. */
  home: z.string().min(1),
  /** Use an existing Postgres instead of starting a private one. */
  databaseUrl: z.string().url().optional(),
  /** Use an existing NATS (with JetStream) instead of starting a private one. */
  natsUrl: z.string().optional(),
  /**
   * The folder of the parts' NATS credentials, `<part>.nk` (nkey seeds, 0600; who may do what is in
   * events/permissions.ts). The private NATS makes them in `<home>/nats/credentials`, the default; with
   * NATS_URL the operator puts there the seed of each part this process runs.
   */
  natsCredentials: z.string().min(1).optional(),
  gateway: z.object({
    host: z.string().default("127.0.0.1"),
    port: z.coerce.number().int().min(0).max(65535).default(8779),
    /** Optional JSON file mapping tokens to {project, roles}; when absent, the project comes from the path. */
    tokensFile: z.string().optional(),
    /** How long the gateway waits for a function's reply before answering 503. */
    invokeTimeoutMs: intFrom(15_000),
    /** PEM files of the gateway's certificate (chain) and key: HTTPS when both are given, HTTP when neither. */
    tlsCert: z.string().min(1).optional(),
    tlsKey: z.string().min(1).optional(),
  }).refine((g) => !g.tlsCert === !g.tlsKey, { message: "HOARD_TLS_CERT and HOARD_TLS_KEY go together: give both (HTTPS) or neither (HTTP)" }),
  /** Where tenants' webhooks may be sent (functions/webhook-target.ts holds the rules). */
  webhooks: z.object({
    /**
     * Exceptions to the rule that webhooks never reach loopback, link-local, private, multicast, reserved or
     * this node's own addresses: CIDRs (any address in them) and host[:port] (a URL naming exactly that host,
     * and port when given, whatever it resolves to).
     */
    allow: z.array(WebhookAllowEntry).default([]),
    /**
     * A DNS server (`ip` or `ip:port`) that webhook host names are resolved with, A and AAAA records; the
     * system's resolver (getaddrinfo: /etc/hosts, then DNS) when unset.
     */
    resolver: z.string().refine(isDnsServer, "must be an IP address with an optional port (10.0.0.2, 10.0.0.2:53, [fd00::2]:53)").optional(),
  }).default({ allow: [] }),
  /** The network node this tracker serves, and the node new networks are placed on. */
  node: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/).default("local"),
  /**
   * The network nodes new networks are spread over (each has its own tracker); this node alone when empty.
   * A network stays on its node: its instances all live there.
   */
  nodes: z.array(z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/)).default([]),
  /** The address guests bind to on the host network driver. */
  guestHost: z.string().default("127.0.0.1"),
  /**
   * Where guests live on the network: "host" (every guest on `guestHost`, a port each; the default, so a
   * developer connects to guests directly) or "netns" (each tenant network a namespace the control plane is
   * unreachable from; needs root, iproute2 and iptables).
   */
  networkDriver: z.enum(["host", "netns"]).default("host"),
  netns: z.object({
    /** The IPv4 block tenant networks' /24s are cut from. */
    pool: z.string().default("10.199.0.0/16"),
    /** The node address public instances are published on; every address of the node when unset. */
    publicAddress: z.string().optional(),
  }).default({ pool: "10.199.0.0/16" }),
  heartbeatIntervalMs: intFrom(2_000),
  /** A guest with no heartbeat for this long shows operating_status ERROR. */
  heartbeatExpiryMs: intFrom(10_000),
  /** Largest volume a single instance may ask for, in GB (Trove's max_accepted_volume_size). */
  maxVolumeSizeGb: intFrom(10),
  /** How long a guest may take to start before its instance goes to ERROR. */
  guestStartTimeoutMs: intFrom(60_000),
  /** How long a function waits for a tracker to carry out a guest call (below the gateway's invoke timeout). */
  guestCallTimeoutMs: intFrom(12_000),
  /** Per-project limits when the project has none of its own (-1: unlimited), as Trove's quota defaults. */
  quotas: z.object({
    instances: limitFrom(10),
    ram: limitFrom(-1),
    volumes: limitFrom(40),
    backups: limitFrom(50),
  }).default({ instances: 10, ram: -1, volumes: 40, backups: 50 }),
  /** Servers of the NATS cluster each JetStream stream is kept on (3 in the generated Kubernetes setup). */
  streamReplicas: z.coerce.number().int().min(1).max(5).default(1),
  /** Requests per minute a project may make per HTTP verb on one gateway (Trove's rate limits). */
  rateLimitPerMinute: intFrom(200),
  /**
   * Where guest volumes live: "btrfs" (subvolumes with enforced sizes and instant snapshots, in a pool the
   * node mounts itself; needs root and btrfs-progs), "directory" (plain folders, sizes only recorded), or
   * "auto": btrfs where it can run, else directory.
   */
  volumeDriver: z.enum(["auto", "btrfs", "directory"]).default("auto"),
  /**
   * Where this node's tracker stores backups: a folder (default `<home>/backups`), or `s3://<bucket>/<prefix>`
   * of an S3-compatible store reached at `s3.endpoint` (AWS when absent) with these keys (else the AWS SDK's
   * usual sources: AWS_ACCESS_KEY_ID, ~/.aws, instance roles).
   */
  backupStore: z
    .object({
      url: z.string().min(1).optional(),
      s3: z
        .object({
          endpoint: z.string().url().optional(),
          region: z.string().optional(),
          accessKeyId: z.string().optional(),
          secretAccessKey: z.string().optional(),
        })
        .default({}),
    })
    .default({ s3: {} }),
  /**
   * Guests' engine logs (`<home>/run/<id>/engine.log`, on the node's disk): rotated by the tracker once past
   * `maxMb` (the tail kept in engine.log.1), looked at every `checkMs` and on every write.
   */
  engineLogs: z.object({
    maxMb: intFrom(16),
    checkMs: intFrom(250),
  }).default({ maxMb: 16, checkMs: 250 }),
  /**
   * Free space (MB) the node keeps under its state folder: below it the tracker trims every engine log and
   * refuses new databases and backups, saying why. 0: no floor.
   */
  diskFloorMb: z.coerce.number().int().min(0).default(512),
  /**
   * TLS to guests: the CA that signs every guest's certificate — the operator's (PEM files; give the same
   * pair to every tracker of a cluster, so one CA file verifies all guests), else one each tracker makes in
   * `<home>/tls/` — and how long guests' certificates last and how long before their end they are renewed,
   * which a tracker checks every `checkIntervalMs`.
   */
  guestTls: z
    .object({
      caCertFile: z.string().min(1).optional(),
      caKeyFile: z.string().min(1).optional(),
      certDays: intFrom(90),
      renewBeforeDays: intFrom(30),
      checkIntervalMs: intFrom(3_600_000),
    })
    .default({ certDays: 90, renewBeforeDays: 30, checkIntervalMs: 3_600_000 }),
  /**
   * The operator's backup master keys: a JSON file, mode 0600, `{"current": "<id>", "keys": {"<id>": "<32 bytes
   * base64>"}}`. Every backup is encrypted with its project's data key, wrapped by the current master key;
   * `node --import tsx bin/hoard.ts backup-keys rotate` adds a new one and re-wraps. When unset, the tracker
   * makes `<home>/backup-keys.json` on first start (give every node the same file when there are several).
   */
  backupKeysFile: z.string().min(1).optional(),
  /** Page size cap for paginated lists (Trove's *_page_size). */
  pageSize: intFrom(20),
  /** Level of every log (secrets redacted): `<home>/hoard.log`, or stdout for the function host and the dispatcher. */
  logLevel: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  /** The OpenFaaS function host (bin/openfaas-function.ts), the upstream server of-watchdog proxies to. */
  functionHost: z.object({
    /** The one function this process serves; every registry function, under `/function/<name>`, when unset. */
    function: z.string().min(1).optional(),
    /** The address it listens on. */
    host: z.string().default("127.0.0.1"),
    /** Its port: PORT, else the port of of-watchdog's `upstream_url`; the function host's own (3000) when unset. */
    port: z.coerce.number().int().min(0).max(65535).optional(),
  }).default({ host: "127.0.0.1" }),
  /** The dispatcher (bin/dispatcher.ts): JetStream work and the gateway's calls, carried over HTTP to OpenFaaS. */
  dispatcher: z.object({
    /** The OpenFaaS gateway functions are called through, as `<gatewayUrl>/function/<name>`; the dispatcher needs it. */
    gatewayUrl: z.string().url().optional(),
    /** That gateway's basic auth, `user:password`. */
    gatewayAuth: z.string().min(1).optional(),
    /** Calls in flight per work function; the dispatcher's own (8) when unset. */
    inFlight: z.coerce.number().int().positive().optional(),
  }).default({}),
});

export type Config = z.infer<typeof ConfigSchema> & { natsCredentials: string };

type Env = Record<string, string | undefined>;

/**
 * Reads the configuration from HOARD_* variables, DATABASE_URL (or the file DATABASE_URL_FILE names, where
 * OpenFaaS mounts a secret), NATS_URL, HOARD_NATS_CREDENTIALS, the function host's PORT and of-watchdog's
 * upstream_url, and the optional HOARD_CONFIG JSON file.
 */
export function loadConfig(env: Env = process.env, overrides: Partial<z.input<typeof ConfigSchema>> = {}): Config {
  const file = env.HOARD_CONFIG ? JSON.parse(readFileSync(env.HOARD_CONFIG, "utf8")) : {};
  const upstreamPort = env.upstream_url ? Number(new URL(env.upstream_url).port) : NaN;
  const fromEnv = {
    home: path.resolve(env.HOARD_HOME ?? ".hoard"),
    databaseUrl: env.DATABASE_URL || (env.DATABASE_URL_FILE ? readFileSync(env.DATABASE_URL_FILE, "utf8").trim() : "") || undefined,
    natsUrl: env.NATS_URL || undefined,
    natsCredentials: env.HOARD_NATS_CREDENTIALS || undefined,
    gateway: {
      host: env.HOARD_HOST,
      port: env.HOARD_PORT,
      tokensFile: env.HOARD_TOKENS_FILE || undefined,
      invokeTimeoutMs: env.HOARD_INVOKE_TIMEOUT_MS,
      tlsCert: env.HOARD_TLS_CERT || undefined,
      tlsKey: env.HOARD_TLS_KEY || undefined,
    },
    webhooks: {
      allow: env.HOARD_WEBHOOK_ALLOW ? env.HOARD_WEBHOOK_ALLOW.split(",").map((e) => e.trim()).filter(Boolean) : undefined,
      resolver: env.HOARD_WEBHOOK_RESOLVER || undefined,
    },
    node: env.HOARD_NODE,
    nodes: env.HOARD_NODES ? env.HOARD_NODES.split(",").map((n) => n.trim()).filter(Boolean) : undefined,
    guestHost: env.HOARD_GUEST_HOST,
    networkDriver: env.HOARD_NETWORK_DRIVER,
    netns: { pool: env.HOARD_NETNS_POOL, publicAddress: env.HOARD_PUBLIC_ADDRESS },
    heartbeatIntervalMs: env.HOARD_HEARTBEAT_MS,
    heartbeatExpiryMs: env.HOARD_HEARTBEAT_EXPIRY_MS,
    maxVolumeSizeGb: env.HOARD_MAX_VOLUME_GB,
    guestStartTimeoutMs: env.HOARD_GUEST_START_TIMEOUT_MS,
    guestCallTimeoutMs: env.HOARD_GUEST_CALL_TIMEOUT_MS,
    pageSize: env.HOARD_PAGE_SIZE,
    quotas: { instances: env.HOARD_QUOTA_INSTANCES, ram: env.HOARD_QUOTA_RAM_MB, volumes: env.HOARD_QUOTA_VOLUMES_GB, backups: env.HOARD_QUOTA_BACKUPS },
    rateLimitPerMinute: env.HOARD_RATE_LIMIT_PER_MINUTE,
    engineLogs: { maxMb: env.HOARD_ENGINE_LOG_MAX_MB, checkMs: env.HOARD_ENGINE_LOG_CHECK_MS },
    diskFloorMb: env.HOARD_DISK_FLOOR_MB,
    streamReplicas: env.HOARD_STREAM_REPLICAS,
    volumeDriver: env.HOARD_VOLUME_DRIVER,
    backupStore: {
      url: env.HOARD_BACKUP_STORE || undefined,
      s3: {
        endpoint: env.HOARD_BACKUP_S3_ENDPOINT || undefined,
        region: env.HOARD_BACKUP_S3_REGION || undefined,
        accessKeyId: env.HOARD_BACKUP_S3_ACCESS_KEY_ID || undefined,
        secretAccessKey: env.HOARD_BACKUP_S3_SECRET_ACCESS_KEY || undefined,
      },
    },
    guestTls: {
      caCertFile: env.HOARD_GUEST_CA_CERT || undefined,
      caKeyFile: env.HOARD_GUEST_CA_KEY || undefined,
      certDays: env.HOARD_GUEST_CERT_DAYS,
      renewBeforeDays: env.HOARD_GUEST_CERT_RENEW_DAYS,
      checkIntervalMs: env.HOARD_GUEST_CERT_CHECK_MS,
    },
    backupKeysFile: env.HOARD_BACKUP_KEYS_FILE || undefined,
    logLevel: env.HOARD_LOG_LEVEL,
    functionHost: {
      function: env.HOARD_FUNCTION || undefined,
      host: env.HOARD_HTTP_HOST,
      port: env.PORT || (Number.isInteger(upstreamPort) && upstreamPort > 0 ? upstreamPort : undefined),
    },
    dispatcher: {
      gatewayUrl: env.HOARD_GATEWAY_URL || undefined,
      gatewayAuth: env.HOARD_GATEWAY_AUTH || undefined,
      inFlight: env.HOARD_DISPATCH_IN_FLIGHT || undefined,
    },
  };
  const config = ConfigSchema.parse(merge(merge(dropUndefined(fromEnv), file), overrides));
  return { ...config, natsCredentials: path.resolve(config.natsCredentials ?? path.join(config.home, "nats", "credentials")) };
}

function dropUndefined<T>(value: T): T {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    const cleaned = dropUndefined(v);
    if (cleaned !== undefined) out[k] = cleaned;
  }
  return out as T;
}

function merge(base: any, extra: any): any {
  if (!extra || typeof extra !== "object") return base;
  const out = { ...base };
  for (const [k, v] of Object.entries(extra)) {
    out[k] = v && typeof v === "object" && !Array.isArray(v) ? merge(base?.[k] ?? {}, v) : v;
  }
  return out;
}
