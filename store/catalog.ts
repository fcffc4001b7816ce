import { datastoreDefinitions } from "../datastores/catalog.js";
import type { DatastoreRecord, DatastoreVersionRecord, FlavorRecord } from "../events/index.js";
import type { Db, Queryable } from "./db.js";

interface FlavorRow { id: string; name: string; ram_mb: number; vcpus: number; disk_gb: number; ephemeral_gb: number }

const flavorRecord = (r: FlavorRow): FlavorRecord => ({
  id: r.id, name: r.name, ramMb: r.ram_mb, vcpus: r.vcpus, diskGb: r.disk_gb, ephemeralGb: r.ephemeral_gb,
});

/** All flavors, smallest first. */
export async function listFlavors(db: Db): Promise<FlavorRecord[]> {
  const rows: FlavorRow[] = await db("flavors").orderBy([{ column: "ram_mb" }, { column: "id" }]);
  return rows.map(flavorRecord);
}

/** A flavor by id; `orName` also accepts its name. */
export async function findFlavor(db: Queryable, ref: string, orName = false): Promise<FlavorRecord | null> {
  const q = db("flavors").where({ id: ref });
  const row: FlavorRow | undefined = await (orName ? q.orWhere({ name: ref }) : q).first();
  return row ? flavorRecord(row) : null;
}

interface VersionRow { id: string; name: string; number: string; active: boolean; datastore_id: string; datastore_name: string; manager: string }

const capabilitiesOf = (datastore: string) => datastoreDefinitions.find((d) => d.name === datastore)?.capabilities ?? [];

const versionRecord = (r: VersionRow): DatastoreVersionRecord => ({
  id: r.id, name: r.name, number: r.number, active: r.active, datastoreId: r.datastore_id, datastoreName: r.datastore_name,
  capabilities: [...capabilitiesOf(r.datastore_name)],
});

const versions = (db: Db) =>
  db("datastore_versions as v").join("datastores as d", "d.id", "v.datastore_id")
    .select("v.*", "d.name as datastore_name", "d.manager").orderBy(["d.name", "v.name"]);

/** All datastores with their versions; inactive versions only for admins. */
export async function listDatastores(db: Db, includeInactive: boolean): Promise<DatastoreRecord[]> {
  const ds: { id: string; name: string; default_version_id: string | null }[] = await db("datastores").orderBy("name");
  const vs: VersionRow[] = await versions(db);
  return ds.map((d) => ({
    id: d.id,
    name: d.name,
    defaultVersionId: d.default_version_id,
    versions: vs.filter((v) => v.datastore_id === d.id && (includeInactive || v.active)).map(versionRecord),
  }));
}

/** A datastore by id or name. */
export async function findDatastore(db: Db, ref: string, includeInactive: boolean): Promise<DatastoreRecord | null> {
  return (await listDatastores(db, includeInactive)).find((d) => d.id === ref || d.name === ref) ?? null;
}

/** A version of a datastore by id or name (or, without a datastore, by id alone), with the engine manager. */
export async function findVersion(db: Db, datastore: string | undefined, ref: string): Promise<(DatastoreVersionRecord & { manager: string }) | null> {
  const rows: VersionRow[] = await versions(db);
  const row = rows.find((v) =>
    datastore === undefined ? v.id === ref : (v.datastore_id === datastore || v.datastore_name === datastore) && (v.id === ref || v.name === ref));
  return row ? { ...versionRecord(row), manager: row.manager } : null;
}
