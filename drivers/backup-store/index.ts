/** Backup stores (a folder of the node, an S3-compatible bucket) and the archive format of backup files. */
export { FilesystemBackupStore } from "./filesystem.js";
export { checkKey, StoredFileMissing } from "./store.js";
export type { BackupStore } from "./store.js";
export { compress, compressionOf, concatenate, consume, counter, decompress, digestOf, filter, packFolders, preferredCompression, producer, textOf, unpackInto } from "./archive.js";
export type { Compression, Counted, PackPart } from "./archive.js";
export type { S3StoreOptions } from "./s3.js";
export { BackupSealBroken, CHUNK_BYTES, looksSealed, opener, SEALED, sealer } from "./encryption.js";
export { MasterKeyFile, MasterKeyMissing, masterKeysFor, newDataKey, newMasterKeyId, newMasterKeyText, openDataKey, unwrapKey, wrapKey } from "./keys.js";
export type { KeyFileContent, MasterKey, WrappedKey } from "./keys.js";

import path from "node:path";
import { FilesystemBackupStore } from "./filesystem.js";
import type { S3StoreOptions } from "./s3.js";
import type { BackupStore } from "./store.js";

/**
 * The backup store configured for a node: `s3://…` is a bucket, anything else a folder (default
 * `<home>/backups`). The AWS SDK is loaded only for a bucket: it costs a tracker some 30 MB otherwise.
 */
export async function backupStoreFrom(settings: { home: string; url?: string | undefined; s3?: Omit<S3StoreOptions, "url"> | undefined }): Promise<BackupStore> {
  const url = settings.url;
  if (url?.startsWith("s3://")) {
    const { S3BackupStore } = await import("./s3.js");
    return new S3BackupStore({ url, ...settings.s3 });
  }
  return new FilesystemBackupStore(url ? path.resolve(url.replace(/^file:\/\//, "")) : path.join(settings.home, "backups"));
}
