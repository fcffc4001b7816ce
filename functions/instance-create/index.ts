import { randomUUID } from "node:crypto";
import { rulesFor } from "../../datastores/catalog.js";
import { fail } from "../../errors/index.js";
import { makeEvent, nodeCommands, ProvisionCommand, sources } from "../../events/index.js";
import { defineRequest } from "../../runtime/function.js";
import { backupRow, findBackup, type Db, enqueue, leastLoadedNode, lockProjectQuota, overQuota, quotaLimits, quotaUsage, findConfiguration, findDatastore, findFlavor, findInstance, findVersion, insertInstance, instanceRow, resolveNetwork } from "../../store/index.js";
import { instanceSettings } from "../configuration-values.js";
import { DEFAULT_DATASTORE } from "../configuration-target.js";
import { definitionOf } from "../guest-access.js";
import { announceInstance } from "../announce.js";
import * as check from "./validate.js";
import * as guestInput from "../guest-input.js";
import { verifyBackupFile } from "../backup-state.js";

const GB = 1024 ** 3;

/** The backup a restore starts from: the caller's (404), COMPLETED (409), with its file recorded. */
async function restoreSource(db: Db, project: string, backupRef: string) {
  const backup = await findBackup(db, project, backupRef);
  if (!backup) throw fail("NOT_FOUND", { what: "Backup", id: backupRef });
  if (backup.status !== "COMPLETED" || !backup.artifact || !backup.datastore) throw fail("BACKUP_NOT_COMPLETED", { id: backup.id, status: backup.status });
  const node = (await backupRow(db, backup.id))!.node;
  return { id: backup.id, project, node, artifact: backup.artifact, datastore: backup.datastore };
}

export default defineRequest("instance-create", {
  description: "Validates a create-instance request, records the instance in BUILD and asks its node's tracker to provision it.",
  timeoutMs: 10_000,
  memoryMb: 128,
  async handle({ caller, body }, { deps }) {
    const { db, config } = deps;
    if (body.replica_of || (body.replica_count ?? 0) > 1) throw fail("NOT_IMPLEMENTED", { operation: "Replication", datastore: body.datastore?.type ?? DEFAULT_DATASTORE });

    // The CLI may send a flavor URL; its last segment is the id.
    const flavorRef = String(body.flavorRef).split("/").pop()!;
    const flavor = await findFlavor(db, flavorRef);
    if (!flavor) throw fail("UNKNOWN_FLAVOR", { ref: flavorRef });
    const sizeGb = check.volumeSize(body.volume.size, config.maxVolumeSizeGb);

    // A restore takes the backup's datastore and version unless the body names them (then they must match).
    const restore = body.restorePoint ? await restoreSource(db, caller.project, body.restorePoint.backupRef) : null;
    const dsName = body.datastore?.type ?? restore?.datastore.type ?? DEFAULT_DATASTORE;
    const ds = await findDatastore(db, dsName, true);
    if (!ds) throw fail("UNKNOWN_DATASTORE", { name: dsName });
    const versionRef = body.datastore?.version ?? (restore && ds.name === restore.datastore.type ? restore.datastore.versionId : ds.defaultVersionId);
    const version = versionRef ? await findVersion(db, ds.id, versionRef) : null;
    if (!version) throw fail("UNKNOWN_DATASTORE_VERSION", { datastore: ds.name, version: versionRef ?? "(default)" });
    if (!version.active) throw fail("INACTIVE_DATASTORE_VERSION", { datastore: ds.name, version: version.name });
    if (restore) {
      if (version.id !== restore.datastore.versionId) {
        throw fail("BACKUP_DATASTORE_MISMATCH", { id: restore.id, backup: `${restore.datastore.type} ${restore.datastore.version}`, requested: `${ds.name} ${version.name}` });
      }
      const needGb = Math.max(1, Math.ceil(restore.artifact.dataBytes / GB));
      if (sizeGb < needGb) throw fail("BACKUP_TOO_LARGE", { id: restore.id, needGb, sizeGb });
    }

    const rules = rulesFor(version.manager);
    const databases = guestInput.databases(body.databases, rules);
    const users = guestInput.users(body.users, rules, new Set(databases.map((d) => d.name)));
    if (databases.length && !version.capabilities.includes("databases")) throw fail("NOT_IMPLEMENTED", { operation: "Databases", datastore: ds.name });
    if (users.length && !version.capabilities.includes("users")) throw fail("NOT_IMPLEMENTED", { operation: "Users", datastore: ds.name });
    // The group must be the caller's and for this very datastore version (the CLI sends its id unresolved).
    const group = body.configuration ? await findConfiguration(db, caller.project, body.configuration) : null;
    if (body.configuration && !group) throw fail("NOT_FOUND", { what: "Configuration group", id: body.configuration });
    if (group && group.datastoreVersionId !== version.id) {
      throw fail("CONFIGURATION_MISMATCH", { id: group.id, configuration: `${group.datastoreName} ${group.datastoreVersionName}`, instance: `${ds.name} ${version.name}` });
    }
    const settings = instanceSettings(definitionOf({ datastore: { type: ds.name } }), flavor, group?.values ?? null);
    const access = check.access(body.access);
    const requestedNetwork = check.networkId(body.nics);

    // Last, as it reads the whole file: the backup's bytes must still be what was recorded.
    const restoreKey = restore ? await verifyBackupFile(deps, restore) : undefined;

    const id = randomUUID();
    return db.transaction(async (trx) => {
      // Atomic per project: two creates racing for the last slot cannot both pass.
      await lockProjectQuota(trx, caller.project);
      const over = overQuota(await quotaLimits(trx, caller.project, config.quotas), await quotaUsage(trx, caller.project), { instances: 1, ram: flavor.ramMb, volumes: sizeGb });
      if (over.length) throw fail("QUOTA_EXCEEDED", { resources: over });
      const nodes = config.nodes.length ? config.nodes : [config.node];
      // A restore prefers the node whose tracker holds the backup (a folder store is that node's alone).
      const preferred = restore && nodes.includes(restore.node) ? restore.node : nodes.length > 1 ? await leastLoadedNode(trx, nodes) : nodes[0]!;
      const network = await resolveNetwork(trx, caller.project, requestedNetwork, preferred, randomUUID);
      if (!network) throw fail("NETWORK_OF_OTHER_PROJECT", { id: requestedNetwork! });
      await insertInstance(
        trx,
        {
          id,
          project_id: caller.project,
          name: body.name,
          flavor_id: flavor.id,
          datastore_version_id: version.id,
          network_id: network.id,
          node: network.node,
          availability_zone: body.availability_zone ?? null,
          access,
          configuration_id: group?.id ?? null,
          auto_restart: body.auto_restart ?? false,
          tls_mode: body.tls ?? "enabled",
        },
        { id: randomUUID(), sizeGb },
      );
      const command = ProvisionCommand.parse({
        instanceId: id,
        node: network.node,
        manager: version.manager,
        datastore: ds.name,
        version: version.name,
        flavor: { id: flavor.id, ramMb: flavor.ramMb, vcpus: flavor.vcpus },
        volumeSizeGb: sizeGb,
        networkId: network.id,
        access,
        databases,
        users,
        settings,
        tls: body.tls ?? "enabled",
        ...(restore ? { restore: restore.artifact } : {}),
        ...(restoreKey ? { restoreKey } : {}),
      });
      const kind = nodeCommands.provision;
      await enqueue(trx, kind.subject(network.node), makeEvent(kind.type, sources.functions, command, { subject: id }));
      await announceInstance(trx, "instanceCreated", (await instanceRow(trx, id))!, "BUILD");
      return (await findInstance(trx, caller.project, id, config.heartbeatExpiryMs))!;
    });
  },
});
