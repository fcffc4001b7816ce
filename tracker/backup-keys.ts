/**
 * The use of backup keys on a node: each backup is encrypted with its project's data key, which the
 * operator's master keys wrap (see drivers/backup-store/keys.ts and encryption.ts).
 */
import type { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { Logger } from "pino";
import { refuse } from "../errors/index.js";
import { MasterKeyMissing, newDataKey, opener, openDataKey, type MasterKeyFile } from "../drivers/index.js";
import type { BackupArtifact, BackupCommand, WrappedDataKey } from "../events/payloads.js";

/** A backup's data key, open, and wrapped as it is recorded; `made` when it is new for this backup. */
export interface SealingKey {
  dataKey: Buffer;
  wrapped: WrappedDataKey;
  made: boolean;
}

/**
 * The data key a backup is encrypted with: the command's, opened with its master key; or, when it has none
 * or that master key is gone (the operator removed it), a new one under the current master key, so backups
 * go on. Undefined when the node has no keys (backups unencrypted).
 */
export async function sealingKey(keys: MasterKeyFile | undefined, cmd: BackupCommand, log: Logger): Promise<SealingKey | undefined> {
  if (!keys) return undefined;
  if (cmd.dataKey) {
    try {
      return { dataKey: await openDataKey(keys, cmd.dataKey), wrapped: cmd.dataKey, made: false };
    } catch (err) {
      if (!(err instanceof MasterKeyMissing)) throw err;
      log.warn({ backup: cmd.backupId, dataKey: cmd.dataKey.keyId, err: err.message }, "the project's data key cannot be opened here; the backup gets a new data key");
    }
  }
  const made = newDataKey(await keys.current());
  return { ...made, made: true };
}

/**
 * The data key that opens an encrypted backup (undefined for one stored unencrypted). Refused when none was
 * given, it is not the backup's, the node has no keys, or the master key that wrapped it is gone.
 */
export async function openingKey(keys: MasterKeyFile | undefined, artifact: BackupArtifact, wrapped: WrappedDataKey | undefined): Promise<Buffer | undefined> {
  const enc = artifact.encryption;
  if (!enc) return undefined;
  const key = artifact.location;
  if (!wrapped) throw refuse("BACKUP_KEY_NOT_GIVEN", { key, keyId: enc.keyId });
  if (wrapped.keyId !== enc.keyId) throw refuse("BACKUP_KEY_OTHER", { key, keyId: enc.keyId, given: wrapped.keyId });
  if (!keys) throw refuse("BACKUP_KEYS_ABSENT", { key });
  try {
    return await openDataKey(keys, wrapped);
  } catch (err) {
    if (err instanceof MasterKeyMissing) throw refuse("BACKUP_MASTER_KEY_MISSING", { key, masterKey: err.masterKeyId, reason: err.message });
    throw err;
  }
}

/** The compressed plaintext of a stored backup: `stored` itself, or decrypted frame by frame. */
export function opened(artifact: BackupArtifact, stored: Readable, dataKey: Buffer | undefined): Readable {
  if (!artifact.encryption) return stored;
  if (!dataKey) throw refuse("BACKUP_KEY_UNOPENED", { key: artifact.location });
  return through(stored, opener(dataKey, artifact.encryption.keyId));
}

/** `source` piped into the counting stream `t`, whose failure follows the source's. */
export function through<T extends Transform>(source: Readable, t: T): T {
  pipeline(source, t).catch(() => undefined);
  return t;
}
