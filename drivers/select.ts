/**
 * Which driver of each kind a node runs, from its configuration: compute limits, volumes, network, backup
 * store, and the master keys backups are encrypted under. A driver the operator asked for that cannot run here fails the start with the
 * reason; "auto" choices fall back, and the log says why.
 */
import path from "node:path";
import type { Logger } from "pino";
import { findBinary } from "../bootstrap/packages.js";
import type { Config } from "../config/index.js";
import { backupStoreFrom, masterKeysFor, type BackupStore, type MasterKeyFile } from "./backup-store/index.js";
import { CgroupLimits, cgroupScope } from "./compute/limits.js";
import { NetnsNetwork, netnsUnavailable } from "./network/netns.js";
import { HostNetwork, type GuestNetwork } from "./network/placement.js";
import { BtrfsVolumes } from "./volume/btrfs.js";
import { DirectoryVolumes } from "./volume/directory.js";
import type { Volumes } from "./index.js";

/** The drivers a node's guests run on. */
export interface NodeDrivers {
  limits: CgroupLimits | undefined;
  volumes: Volumes;
  network: GuestNetwork;
  backups: BackupStore;
}

/** Opens the drivers the configuration names, in the order a node needs them. */
export async function selectDrivers(config: Config, log: Logger): Promise<NodeDrivers> {
  const limits = await guestLimits(config.home, log);
  const volumes = await volumeDriver(config, log);
  const network = await networkDriver(config, log);
  const backups = await backupStoreFrom({ home: config.home, url: config.backupStore.url, s3: config.backupStore.s3 });
  return { limits, volumes, network, backups };
}

/**
 * The master keys backups are encrypted under: the operator's file (HOARD_BACKUP_KEYS_FILE), or one made in
 * the state folder on first start, which the log tells the operator to keep a copy of.
 */
export async function backupKeys(config: Config, log: Logger): Promise<MasterKeyFile> {
  const { keys, generated } = await masterKeysFor({ file: config.backupKeysFile, home: config.home });
  const current = await keys.current();
  if (generated) log.warn({ file: keys.describe, masterKey: current.id }, "no backup keys file is configured (HOARD_BACKUP_KEYS_FILE): generated a master key in the state folder (mode 0600); keep a copy of it elsewhere, as no backup can be restored without it");
  else log.info({ file: keys.describe, masterKey: current.id }, "backups are encrypted with data keys wrapped by the current master key");
  return keys;
}

/**
 * The flavor's RAM and vCPUs become cgroup limits when this node can set them (root, memory and cpu
 * controllers); otherwise guests run unlimited and the log says why.
 */
async function guestLimits(home: string, log: Logger): Promise<CgroupLimits | undefined> {
  if (process.getuid?.() !== 0) {
    log.warn("not running as root: guests run without memory and CPU limits");
    return undefined;
  }
  const limits = new CgroupLimits({ scope: cgroupScope(home) });
  try {
    log.info({ cgroup: await limits.version() }, "guests get memory and CPU limits from their flavor");
    return limits;
  } catch (err) {
    log.warn({ err: (err as Error).message }, "no usable cgroup controllers: guests run without memory and CPU limits");
    return undefined;
  }
}

/** The configured volume driver; "auto" takes btrfs where it can run (root, btrfs-progs), else folders. */
async function volumeDriver(config: Config, log: Logger): Promise<Volumes> {
  const folders = () => new DirectoryVolumes(path.join(config.home, "volumes"));
  let choice = config.volumeDriver;
  if (choice === "auto") {
    const why = process.getuid?.() !== 0 ? "not running as root" : !findBinary("mkfs.btrfs") ? "btrfs-progs is not installed" : null;
    if (why) log.warn({ why }, "volumes are plain folders: their sizes are recorded, not enforced, and snapshots copy");
    choice = why ? "directory" : "btrfs";
  }
  if (choice === "directory") return folders();
  const pool = new BtrfsVolumes({ dir: path.join(config.home, "btrfs") });
  await pool.openPool();
  log.info({ pool: pool.mountPoint }, "volumes are btrfs subvolumes with enforced sizes");
  return pool;
}

/**
 * The configured network driver. "netns" never falls back to "host": guests would then be reachable from
 * where the operator asked them not to be, so a node that cannot run it does not start, saying why.
 */
async function networkDriver(config: Config, log: Logger): Promise<GuestNetwork> {
  if (config.networkDriver === "host") return new HostNetwork(config.guestHost);
  const why = await netnsUnavailable();
  if (why) throw new Error(`HOARD_NETWORK_DRIVER=netns: ${why}`);
  const network = new NetnsNetwork({ home: config.home, scope: cgroupScope(config.home), pool: config.netns.pool, ...(config.netns.publicAddress ? { publicAddress: config.netns.publicAddress } : {}) });
  await network.open();
  log.info({ pool: config.netns.pool, networks: network.networks().length }, "tenant networks are network namespaces");
  return network;
}
