/** Backup stores (a folder of the node, an S3-compatible bucket) and the archive format of backup files. */
export { FilesystemBackupStore } from "./filesystem.js";
export { checkKey, StoredFileMissing } from "./store.js";
export type { BackupStore } from "./store.js";
export { compress, compressionOf, concatenate, consume, counter, decompress, digestOf, filter, packFolders, preferredCompression, producer, textOf, unpackInto } from "./archive.js";
export type { Compression, Counted, PackPart } from "./archive.js";
