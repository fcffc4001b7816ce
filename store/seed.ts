import { datastoreDefinitions } from "../datastores/catalog.js";
import type { Db } from "./db.js";
import { stableId } from "./stable-id.js";

/** Nova's classic flavors: what `openstack database flavor list` shows on a fresh Hoard. */
const builtinFlavors = [
  { id: "1", name: "m1.tiny", ram_mb: 512, vcpus: 1 },
  { id: "2", name: "m1.small", ram_mb: 2048, vcpus: 1 },
  { id: "3", name: "m1.medium", ram_mb: 4096, vcpus: 2 },
  { id: "4", name: "m1.large", ram_mb: 8192, vcpus: 4 },
  { id: "5", name: "m1.xlarge", ram_mb: 16384, vcpus: 8 },
];

/** Loads the built-in datastores, versions and flavors. Idempotent: existing rows are updated, none removed. */
export async function seed(db: Db): Promise<void> {
  await db.transaction(async (trx) => {
    for (const def of datastoreDefinitions) {
      const dsId = stableId(`datastore:${def.name}`);
      await trx("datastores").insert({ id: dsId, name: def.name, manager: def.manager }).onConflict("id").merge(["name", "manager"]);
      for (const v of def.versions) {
        await trx("datastore_versions")
          .insert({ id: stableId(`version:${def.name}:${v.name}`), datastore_id: dsId, name: v.name, number: v.number, active: v.active })
          .onConflict("id").merge(["name", "number", "active"]);
      }
      await trx("datastores").where({ id: dsId }).update({ default_version_id: stableId(`version:${def.name}:${def.defaultVersion}`) });
    }
    for (const f of builtinFlavors) {
      await trx("flavors").insert({ ...f, disk_gb: 0, ephemeral_gb: 0 }).onConflict("id").merge();
    }
  });
}
