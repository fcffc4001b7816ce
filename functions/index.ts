/**
 * The function registry: every operation Hoard runs, in one list. The local runtime, the OpenFaaS entry
 * and the generated infra files are all derived from it.
 */
import type { HoardFunction } from "../runtime/function.js";
import datastoreList from "./datastore-list/index.js";
import datastoreShow from "./datastore-show/index.js";
import datastoreVersionList from "./datastore-version-list/index.js";
import datastoreVersionShow from "./datastore-version-show/index.js";
import flavorList from "./flavor-list/index.js";
import flavorShow from "./flavor-show/index.js";
import instanceBuildExpire from "./instance-build-expire/index.js";
import instanceCreate from "./instance-create/index.js";
import instanceDelete from "./instance-delete/index.js";
import instanceDeprovisioned from "./instance-deprovisioned/index.js";
import instanceFailed from "./instance-failed/index.js";
import instanceHeartbeat from "./instance-heartbeat/index.js";
import instanceList from "./instance-list/index.js";
import instanceProvisioned from "./instance-provisioned/index.js";
import instanceShow from "./instance-show/index.js";

export const functions: HoardFunction[] = [
  instanceCreate,
  instanceList,
  instanceShow,
  instanceDelete,
  instanceProvisioned,
  instanceFailed,
  instanceDeprovisioned,
  instanceHeartbeat,
  instanceBuildExpire,
  flavorList,
  flavorShow,
  datastoreList,
  datastoreShow,
  datastoreVersionList,
  datastoreVersionShow,
] as HoardFunction[];
