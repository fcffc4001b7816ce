/** Finding the datastore version a configuration group is (or will be) for. */
import { datastoreDefinitions, type DatastoreDefinition } from "../datastores/catalog.js";
import { fail } from "../errors/index.js";
import { findDatastore, findVersion, type Db } from "../store/index.js";

/** The datastore used when a request names none (Trove's `default_datastore`). */
export const DEFAULT_DATASTORE = "mariadb";

/** The datastore and version a request names (by name or id), with its definition; 400 when unknown. */
export async function resolveVersion(db: Db, datastore: string | undefined, version: string | undefined): Promise<{ def: DatastoreDefinition; versionId: string; versionName: string }> {
  const dsName = datastore ?? DEFAULT_DATASTORE;
  const ds = await findDatastore(db, dsName, true);
  if (!ds) throw fail("UNKNOWN_DATASTORE", { name: dsName });
  const ref = version ?? ds.defaultVersionId;
  const found = ref ? await findVersion(db, ds.id, ref) : null;
  if (!found) throw fail("UNKNOWN_DATASTORE_VERSION", { datastore: ds.name, version: ref ?? "(default)" });
  const def = datastoreDefinitions.find((d) => d.name === ds.name);
  if (!def) throw new Error(`no built-in definition for datastore '${ds.name}'`);
  return { def, versionId: found.id, versionName: found.name };
}

/** The version a parameter route names: `/datastores/{ds}/versions/{v}` or `/datastores/versions/{id}`; 404 when unknown. */
export async function parameterVersion(db: Db, datastore: string | undefined, version: string): Promise<{ def: DatastoreDefinition; versionId: string; versionName: string }> {
  const found = await findVersion(db, datastore, version);
  if (!found) throw fail("NOT_FOUND", { what: "Datastore version", id: version });
  const def = datastoreDefinitions.find((d) => d.name === found.datastoreName);
  if (!def) throw new Error(`no built-in definition for datastore '${found.datastoreName}'`);
  return { def, versionId: found.id, versionName: found.name };
}
