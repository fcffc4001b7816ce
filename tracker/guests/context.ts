import type { Logger } from "pino";
import type { BackupStore, CgroupLimits, GuestNetwork, GuestUsers, MasterKeyFile, Volumes } from "../../drivers/index.js";
import type { GuestCertificates } from "../tls.js";
import type { EngineControl } from "./engine.js";
import type { GoldenImages } from "./images.js";
import type { NodeLayout } from "./layout.js";
import type { InstanceLocks } from "./locks.js";
import type { RedeliveryMarks } from "./marks.js";
import type { GuestRecords } from "./records.js";

/** What the supervisor's jobs share: the node's drivers, and the state every job reads or keeps. */
export interface GuestsContext {
  home: string;
  log: Logger;
  volumes: Volumes;
  network: GuestNetwork;
  limits: CgroupLimits | undefined;
  store: BackupStore;
  tls: GuestCertificates | undefined;
  users: GuestUsers | null;
  keys: MasterKeyFile | undefined;
  layout: NodeLayout;
  records: GuestRecords;
  marks: RedeliveryMarks;
  images: GoldenImages;
  engines: EngineControl;
  locks: InstanceLocks;
}
