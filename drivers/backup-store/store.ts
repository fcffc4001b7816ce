/**
 * The backup store: where backup files live, named by a key relative to the store's root. Every driver
 * makes a file visible under its key only once it is whole (a temporary name renamed, or a multipart upload
 * completed), so a reader never meets half a backup, and a write cut short leaves at most a temporary that
 * `sweep()` removes.
 */
import type { Readable } from "node:stream";

/** A backup store (a folder of the node, or an S3-compatible bucket). */
export interface BackupStore {
  /** "filesystem" or "s3", for logs and notes. */
  readonly kind: string;
  /** Where it is, for messages (a folder or `s3://bucket/prefix`); never holds a secret. */
  readonly describe: string;
  /**
   * Writes `data` under `key`, visible only once whole; returns the bytes stored. On any failure (the store
   * is full, the source failed) nothing remains under `key` or a temporary name, and the error says why.
   */
  put(key: string, data: Readable): Promise<number>;
  /** The stored bytes; StoredFileMissing when there is no such file. */
  get(key: string): Promise<Readable>;
  /** The size of a stored file, or undefined when there is none. */
  size(key: string): Promise<number | undefined>;
  /** Removes the file; no error when there is none. */
  delete(key: string): Promise<void>;
  /** Removes what writes cut short (by a crash of the tracker) left behind; returns how many. */
  sweep(): Promise<number>;
}

/** The file a backup names is not in the store. */
export class StoredFileMissing extends Error {
  constructor(readonly key: string, readonly where: string) {
    super(`the backup file '${key}' is missing from the backup store (${where})`);
    this.name = "StoredFileMissing";
  }
}

/** Keys are relative paths of safe segments: no scheme, no "..", nothing that could leave the store's root. */
export function checkKey(key: string): string {
  const segments = key.split("/");
  if (key.length > 400 || segments.some((s) => !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$/.test(s) || s.includes(".."))) {
    throw new Error(`'${key}' cannot be used as a backup file name`);
  }
  return key;
}
