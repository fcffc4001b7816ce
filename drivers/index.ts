/** Where guests live on a node: compute (local processes), network (host ports), volume (folders). */
export { isRunning, logTail, readPidFile, startProcess, stopProcess } from "./compute/process.js";
export type { ProcessExit, StartedProcess, StartOptions } from "./compute/process.js";
export { allocatePort, isPortFree } from "./network/host.js";
export { DirectoryVolumes } from "./volume/directory.js";
export type { VolumeInfo } from "./volume/directory.js";
export { CgroupLimits, cgroupScope } from "./compute/limits.js";
export type { CgroupLimitsOptions, GuestLimits, KernelLimits } from "./compute/limits.js";
export { BtrfsVolumes } from "./volume/btrfs.js";
export type { BtrfsVolumesOptions, VolumeUsage } from "./volume/btrfs.js";
