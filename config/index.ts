import { readFileSync } from "node:fs";
import path from "node:path";
import { z } from "zod";

const intFrom = (fallback: number) =>
  z.coerce.number().int().positive().default(fallback);
/** A quota: a whole number, or -1 for unlimited. */
const limitFrom = (fallback: number) => z.coerce.number().int().min(-1).default(fallback);

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
  }),
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
  /** Page size cap for paginated lists (Trove's *_page_size). */
  pageSize: intFrom(20),
  logLevel: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
});

export type Config = z.infer<typeof ConfigSchema> & { natsCredentials: string };

type Env = Record<string, string | undefined>;

/** Reads the configuration from HOARD_* variables, DATABASE_URL, NATS_URL, HOARD_NATS_CREDENTIALS and the optional HOARD_CONFIG JSON file. */
export function loadConfig(env: Env = process.env, overrides: Partial<z.input<typeof ConfigSchema>> = {}): Config {
  const file = env.HOARD_CONFIG ? JSON.parse(readFileSync(env.HOARD_CONFIG, "utf8")) : {};
  const fromEnv = {
    home: path.resolve(env.HOARD_HOME ?? ".hoard"),
    databaseUrl: env.DATABASE_URL || undefined,
    natsUrl: env.NATS_URL || undefined,
    natsCredentials: env.HOARD_NATS_CREDENTIALS || undefined,
    gateway: {
      host: env.HOARD_HOST,
      port: env.HOARD_PORT,
      tokensFile: env.HOARD_TOKENS_FILE || undefined,
      invokeTimeoutMs: env.HOARD_INVOKE_TIMEOUT_MS,
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
    logLevel: env.HOARD_LOG_LEVEL,
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
