/**
 * `node --import tsx bin/hoard.ts backup-keys <list|rotate|remove ID>`: the operator's backup master keys.
 *
 *   list          the master keys in the keys file (which is current) and how many data keys each wraps
 *   rotate        adds a new master key, makes it current, and re-wraps every project's data key with it;
 *                 backup files are not touched (they are encrypted with the data keys, which do not change)
 *   remove ID     takes a master key out of the file, once no data key is wrapped by it any more
 *
 * It works on the node's keys file (HOARD_BACKUP_KEYS_FILE, else `<home>/backup-keys.json`) and on Hoard's
 * Postgres (DATABASE_URL, else the private one in the state folder, started for the command if it is not
 * running). Trackers read the keys file at each use, so nothing needs restarting. With several nodes, copy the
 * file to every node after a rotation and before removing the old key. No key is ever printed.
 */
import path from "node:path";
import { startPostgres } from "../bootstrap/index.js";
import { loadConfig } from "../config/index.js";
import { MasterKeyFile, MasterKeyMissing, newMasterKeyId, newMasterKeyText, unwrapKey, wrapKey, type MasterKey } from "../drivers/index.js";
import { allDataKeys, connect, dataKeysPerMasterKey, markDataKey, rewrapDataKey, wrappedOf, type Db } from "../store/index.js";

const USAGE = "usage: node --import tsx bin/hoard.ts backup-keys <list | rotate | remove <master key id>>";

/** Runs the command; resolves to the process's exit code. */
export async function backupKeysCommand(args: string[]): Promise<number> {
  const [verb, id] = args;
  if (!verb || !["list", "rotate", "remove"].includes(verb) || (verb === "remove" && !id)) {
    console.error(USAGE);
    return 2;
  }
  const config = loadConfig();
  const file = new MasterKeyFile(config.backupKeysFile ? path.resolve(config.backupKeysFile) : path.join(config.home, "backup-keys.json"));
  await file.read();
  // startPostgres reuses a running cluster (a running Hoard's), and says so.
  let reused = false;
  const pg = config.databaseUrl ? null : await startPostgres({ dir: path.join(config.home, "postgres"), progress: (m) => (reused ||= m.startsWith("reusing")) });
  const db = connect(config.databaseUrl ?? pg!.url);
  try {
    if (verb === "list") await list(file, db);
    else if (verb === "rotate") return await rotate(file, db);
    else return await remove(file, db, id!);
    return 0;
  } finally {
    await db.destroy();
    // Started for this command only: a running Hoard's own Postgres keeps running.
    if (pg && !reused) await pg.stop();
  }
}

async function list(file: MasterKeyFile, db: Db): Promise<void> {
  const content = await file.read();
  const counts = await dataKeysPerMasterKey(db);
  console.log(`Backup master keys in ${file.describe}:`);
  for (const id of Object.keys(content.keys)) console.log(`  ${id}${id === content.current ? " (current)" : ""}: wraps ${counts.get(id) ?? 0} data key(s)`);
  for (const [id, n] of counts) if (!(id in content.keys)) console.log(`  ${id} (NOT IN THE FILE): wraps ${n} data key(s), whose backups cannot be restored until it is back`);
}

async function rotate(file: MasterKeyFile, db: Db): Promise<number> {
  const content = await file.read();
  const id = newMasterKeyId();
  // The new key is in the file (and current) before any data key is wrapped by it: a crash in between
  // leaves keys wrapped by keys the file still has; running rotate again finishes the job.
  await file.write({ current: id, keys: { ...content.keys, [id]: newMasterKeyText() } });
  const current = (await file.current()) as MasterKey;
  let rewrapped = 0;
  const stuck: string[] = [];
  for (const row of await allDataKeys(db)) {
    if (row.master_key_id === current.id) continue;
    const old = await file.find(row.master_key_id);
    if (!old) {
      stuck.push(`${row.key_id} (project ${row.project_id}): its master key '${row.master_key_id}' is not in the file`);
      await markDataKey(db, row.key_id, `it was encrypted with master key '${row.master_key_id}', which this Hoard no longer has`);
      continue;
    }
    let dataKey: Buffer;
    try {
      dataKey = unwrapKey(old, wrappedOf(row));
    } catch (err) {
      if (!(err instanceof MasterKeyMissing)) throw err;
      stuck.push(`${row.key_id} (project ${row.project_id}): ${err.message}`);
      continue;
    }
    if (await rewrapDataKey(db, row.key_id, row.master_key_id, wrapKey(current, row.key_id, dataKey))) rewrapped++;
    dataKey.fill(0);
  }
  const unused = Object.keys(content.keys).filter((k) => k !== current.id);
  console.log(`New current master key '${current.id}' in ${file.describe}; re-wrapped ${rewrapped} data key(s) with it. No backup file was changed.`);
  if (stuck.length) {
    console.log(`${stuck.length} data key(s) could not be re-wrapped; their backups cannot be restored until their master key is back:\n  ${stuck.join("\n  ")}`);
    return 1;
  }
  if (unused.length) console.log(`No data key is wrapped by ${unused.map((k) => `'${k}'`).join(", ")} any more: remove with 'backup-keys remove <id>' (with several nodes, copy ${file.describe} to each first).`);
  return 0;
}

async function remove(file: MasterKeyFile, db: Db, id: string): Promise<number> {
  const content = await file.read();
  if (!(id in content.keys)) {
    console.error(`There is no master key '${id}' in ${file.describe}.`);
    return 1;
  }
  if (id === content.current) {
    console.error(`'${id}' is the current master key; rotate first ('backup-keys rotate'), then remove it.`);
    return 1;
  }
  const n = (await dataKeysPerMasterKey(db)).get(id) ?? 0;
  if (n > 0) {
    console.error(`'${id}' still wraps ${n} data key(s): removing it would make their backups unrestorable. Run 'backup-keys rotate' first.`);
    return 1;
  }
  const keys = { ...content.keys };
  delete keys[id];
  await file.write({ current: content.current, keys });
  console.log(`Removed master key '${id}' from ${file.describe}.`);
  return 0;
}
