/**
 * Where guests live on a node: compute (local processes with cgroup limits), network (host ports, or a
 * namespace per tenant network), volume (folders, or btrfs subvolumes with quotas and snapshots), backup store
 * (a folder, or an S3 bucket).
 */
export { isRunning, logTail, processesWith, readPidFile, startProcess, stopProcess } from "./compute/process.js";
export type { ProcessExit, StartedProcess, StartOptions } from "./compute/process.js";
export { DEFAULT_GUEST_ID_RANGE, GuestUsers } from "./compute/guest-users.js";
export type { GuestUsersOptions, OsUser } from "./compute/guest-users.js";
export { confine, GUEST_MAX_TASKS } from "./compute/confine.js";
export { allocatePort, isPortFree } from "./network/host.js";
export { HostNetwork } from "./network/placement.js";
export type { EngineCommand, GuestAccess, GuestNetwork, GuestPlacement } from "./network/placement.js";
export { NetnsNetwork, netnsUnavailable } from "./network/netns.js";
export type { NetnsNetworkOptions } from "./network/netns.js";
export { DirectoryVolumes } from "./volume/directory.js";
export type { VolumeInfo } from "./volume/directory.js";
export { CgroupLimits, cgroupScope } from "./compute/limits.js";
export type { CgroupLimitsOptions, GuestLimits, KernelLimits } from "./compute/limits.js";
export { BtrfsVolumes } from "./volume/btrfs.js";
export type { BtrfsVolumesOptions, VolumeUsage } from "./volume/btrfs.js";

/** The volume drivers a node can run its guests on. */
export type Volumes = import("./volume/directory.js").DirectoryVolumes | import("./volume/btrfs.js").BtrfsVolumes;
export * from "./backup-store/index.js";
export { backupKeys, selectDrivers } from "./select.js";
export type { NodeDrivers } from "./select.js";
