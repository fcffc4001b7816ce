/**
 * Backup store "s3": backup files as objects in any S3-compatible store (AWS S3, MinIO, Ceph RGW, …) under
 * `s3://<bucket>/<prefix>`. Large files go up as a multipart upload, which becomes an object only when
 * completed, so a backup cut short is never visible; `sweep()` aborts uploads left open by a crash.
 * Credentials come from the configuration (or the SDK's usual sources) and never appear in messages.
 */
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListMultipartUploadsCommand, AbortMultipartUploadCommand, S3Client, type S3ClientConfig } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { Readable } from "node:stream";
import { type BackupStore, checkKey, StoredFileMissing } from "./store.js";

/** Where and how to reach the bucket. */
export interface S3StoreOptions {
  /** `s3://<bucket>` or `s3://<bucket>/<prefix>`. */
  url: string;
  /** The service's address for a store other than AWS (e.g. `http://127.0.0.1:9000`); path-style addressing then. */
  endpoint?: string;
  region?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  /** Bytes per part of a multipart upload (S3's least is 5 MiB); 16 MiB unless given. */
  partBytes?: number;
}

/** Parts of a multipart upload: 16 MiB, two in flight (at most 32 MiB of a backup in memory). */
const PART_BYTES = 16 * 1024 * 1024;

/** Backup files as objects in an S3-compatible bucket. */
export class S3BackupStore implements BackupStore {
  readonly kind = "s3";
  readonly describe: string;
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly client: S3Client;
  private readonly partBytes: number;

  constructor(opts: S3StoreOptions) {
    const m = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(opts.url);
    if (!m) throw new Error(`'${opts.url}' is not an S3 location: write s3://<bucket>/<prefix>`);
    this.bucket = m[1]!;
    const prefix = (m[2] ?? "").replace(/\/+$/, "");
    if (prefix) checkKey(prefix);
    this.prefix = prefix ? `${prefix}/` : "";
    this.describe = `s3://${this.bucket}/${this.prefix}`;
    const config: S3ClientConfig = {
      region: opts.region ?? "us-east-1",
      // Only what every S3-compatible store accepts: no flexible-checksum trailers unless an API needs one.
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
      ...(opts.endpoint ? { endpoint: opts.endpoint, forcePathStyle: true } : {}),
      ...(opts.accessKeyId && opts.secretAccessKey ? { credentials: { accessKeyId: opts.accessKeyId, secretAccessKey: opts.secretAccessKey } } : {}),
    };
    this.client = new S3Client(config);
    this.partBytes = Math.max(5 * 1024 * 1024, opts.partBytes ?? PART_BYTES);
  }

  async put(key: string, data: Readable): Promise<number> {
    const Key = this.key(key);
    const upload = new Upload({ client: this.client, params: { Bucket: this.bucket, Key, Body: data }, partSize: this.partBytes, queueSize: 2, leavePartsOnError: false });
    try {
      await upload.done();
    } catch (err) {
      data.destroy();
      await upload.abort().catch(() => undefined);
      throw new Error(`could not write to the backup store ${this.describe}: ${messageOf(err)}`);
    }
    const size = await this.size(key);
    if (size === undefined) throw new Error(`the backup store ${this.describe} does not show '${key}' after writing it`);
    return size;
  }

  async get(key: string): Promise<Readable> {
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key(key) }));
      return out.Body as Readable;
    } catch (err) {
      if (isMissing(err)) throw new StoredFileMissing(key, this.describe);
      throw new Error(`could not read '${key}' from the backup store ${this.describe}: ${messageOf(err)}`);
    }
  }

  async size(key: string): Promise<number | undefined> {
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.key(key) }));
      return head.ContentLength ?? 0;
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw new Error(`could not reach the backup store ${this.describe}: ${messageOf(err)}`);
    }
  }

  async delete(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.key(key) })).catch((err) => {
      if (!isMissing(err)) throw new Error(`could not delete '${key}' from the backup store ${this.describe}: ${messageOf(err)}`);
    });
  }

  async sweep(): Promise<number> {
    let aborted = 0;
    try {
      const { Uploads } = await this.client.send(new ListMultipartUploadsCommand({ Bucket: this.bucket, Prefix: this.prefix }));
      for (const u of Uploads ?? []) {
        await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: u.Key, UploadId: u.UploadId }));
        aborted++;
      }
    } catch (err) {
      // Some S3-compatible stores cannot list uploads; their leftovers are unseen parts, never objects.
      if (!/NotImplemented|MethodNotAllowed|not implemented/i.test(messageOf(err))) throw err;
    }
    return aborted;
  }

  /** Closes the client's connections. */
  close(): void {
    this.client.destroy();
  }

  private key(key: string): string {
    return `${this.prefix}${checkKey(key)}`;
  }
}

function isMissing(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === "NoSuchKey" || e.name === "NotFound" || e.$metadata?.httpStatusCode === 404;
}

/** The store's own words, never the request (which may carry signed headers). */
function messageOf(err: unknown): string {
  const e = err as { name?: string; message?: string; Code?: string };
  return [e.name ?? e.Code, e.message].filter(Boolean).join(": ") || String(err);
}
