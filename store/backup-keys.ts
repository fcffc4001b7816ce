/**
 * The projects' backup data keys, wrapped by a master key (see drivers/backup-store/keys.ts): the newest of
 * a project is the one its next backup uses; a backup names the one it used; rotation re-wraps them all.
 */
import type { WrappedDataKey } from "../events/index.js";
import type { Queryable, Transaction } from "./db.js";

export interface BackupKeyRow {
  key_id: string;
  project_id: string;
  master_key_id: string;
  wrapped: string;
  unusable: string | null;
  created_at: Date;
  rewrapped_at: Date | null;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A row as commands carry it. */
export function wrappedOf(row: BackupKeyRow): WrappedDataKey {
  return { keyId: row.key_id, masterKeyId: row.master_key_id, wrapped: row.wrapped };
}

/** The data key a project's next backup uses (its newest), or null before its first backup. */
export async function currentDataKey(q: Queryable, project: string): Promise<BackupKeyRow | null> {
  return (await q("backup_keys").where({ project_id: project }).orderBy([{ column: "created_at", order: "desc" }, { column: "key_id", order: "desc" }]).first()) ?? null;
}

/** One of a project's data keys, or null when it is gone. */
export async function dataKeyOf(q: Queryable, project: string, keyId: string): Promise<BackupKeyRow | null> {
  if (!UUID.test(keyId)) return null;
  return (await q("backup_keys").where({ project_id: project, key_id: keyId }).first()) ?? null;
}

/** Records a data key a tracker made for a project (a repeated report changes nothing). */
export async function insertDataKey(trx: Transaction, project: string, key: WrappedDataKey): Promise<void> {
  await trx("backup_keys").insert({ key_id: key.keyId, project_id: project, master_key_id: key.masterKeyId, wrapped: key.wrapped }).onConflict("key_id").ignore();
}

/** Every data key, for a rotation. */
export async function allDataKeys(q: Queryable): Promise<BackupKeyRow[]> {
  return q("backup_keys").orderBy("created_at").select("*");
}

/** How many data keys each master key wraps. */
export async function dataKeysPerMasterKey(q: Queryable): Promise<Map<string, number>> {
  const rows: { master_key_id: string; n: string }[] = await q("backup_keys").select("master_key_id").count({ n: "*" }).groupBy("master_key_id");
  return new Map(rows.map((r) => [r.master_key_id, Number(r.n)]));
}

/**
 * Compare-and-set: the key re-wrapped by another master key, only if it is still wrapped by `fromMasterKeyId`
 * (a concurrent rotation won otherwise). Returns whether it changed.
 */
export async function rewrapDataKey(q: Queryable, keyId: string, fromMasterKeyId: string, to: WrappedDataKey): Promise<boolean> {
  const n = await q("backup_keys").where({ key_id: keyId, master_key_id: fromMasterKeyId }).update({ master_key_id: to.masterKeyId, wrapped: to.wrapped, unusable: null, rewrapped_at: q.fn.now() });
  return n === 1;
}

/** Records why a data key cannot be opened (null: it can again). */
export async function markDataKey(q: Queryable, keyId: string, unusable: string | null): Promise<void> {
  await q("backup_keys").where({ key_id: keyId }).whereRaw("unusable is distinct from ?", [unusable]).update({ unusable });
}
