/**
 * Encrypted backup files: AES-256-GCM over fixed-size chunks, so a file of any size is sealed and opened in
 * bounded memory, and a reader never passes on a byte that has not been authenticated.
 *
 * Layout (version 1):
 *   header  "HOARDBK1" | chunk size (u32) | data key id (16 bytes, a UUID) | salt (32) | nonce prefix (4)
 *   frames  flag (u8: 0 more, 1 last) | plaintext length (u32) | ciphertext | GCM tag (16)
 * Each file has a key of its own, HKDF-SHA256 of the project's data key with the file's random salt, so nonces
 * never repeat across files under one data key; within the file a frame's nonce is the prefix and its index.
 * Every frame's additional data is the whole header, its index and its flag: a frame moved, dropped, repeated
 * or taken from another file fails, and so does a file cut at a frame boundary (no frame says "last") or one
 * with bytes after its last frame. The header itself is covered by every frame.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";
import { Transform, type TransformCallback } from "node:stream";

const MAGIC = Buffer.from("HOARDBK1", "ascii");
const HEADER_BYTES = MAGIC.length + 4 + 16 + 32 + 4;
const FRAME_HEAD = 5;
const TAG_BYTES = 16;
/** 1 MiB of plaintext per frame: a reader holds at most one frame. */
export const CHUNK_BYTES = 1 << 20;
/** What a reader accepts as a frame size (a header is read before it is authenticated). */
const MAX_CHUNK_BYTES = 16 << 20;
const INFO = Buffer.from("hoard backup file v1", "ascii");

/** How a backup file was sealed, as its record says. */
export const SEALED = { cipher: "aes-256-gcm", suffix: ".enc" } as const;

/** The file is not a sealed backup, or does not authenticate: damaged, cut short or altered. */
export class BackupSealBroken extends Error {
  constructor(message: string) {
    super(message);
    this.name = "BackupSealBroken";
  }
}

/** Whether bytes start like a sealed backup file. */
export function looksSealed(head: Buffer): boolean {
  return head.length >= MAGIC.length && head.subarray(0, MAGIC.length).equals(MAGIC);
}

function fileKey(dataKey: Buffer, salt: Buffer): Buffer {
  return Buffer.from(hkdfSync("sha256", dataKey, salt, INFO, 32));
}

function nonceOf(prefix: Buffer, index: bigint): Buffer {
  const n = Buffer.alloc(12);
  prefix.copy(n, 0);
  n.writeBigUInt64BE(index, 4);
  return n;
}

function aadOf(header: Buffer, index: bigint, last: boolean): Buffer {
  const tail = Buffer.alloc(9);
  tail.writeBigUInt64BE(index, 0);
  tail[8] = last ? 1 : 0;
  return Buffer.concat([header, tail]);
}

function uuidBytes(id: string): Buffer {
  const hex = id.replace(/-/g, "");
  if (!/^[0-9a-f]{32}$/i.test(hex)) throw new Error(`'${id}' is not a data key id (a UUID)`);
  return Buffer.from(hex, "hex");
}

function uuidText(b: Buffer): string {
  const h = b.toString("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Bytes gathered from a stream until a whole piece of the wanted size is there. */
class Gather {
  private parts: Buffer[] = [];
  length = 0;
  push(b: Buffer): void {
    if (b.length) {
      this.parts.push(b);
      this.length += b.length;
    }
  }
  /** The first `n` bytes (n ≤ length), removed. */
  take(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    let at = 0;
    while (at < n) {
      const head = this.parts[0]!;
      const want = n - at;
      if (head.length <= want) {
        head.copy(out, at);
        at += head.length;
        this.parts.shift();
      } else {
        head.copy(out, at, 0, want);
        this.parts[0] = head.subarray(want);
        at += want;
      }
    }
    this.length -= n;
    return out;
  }
  /** The first `n` bytes without removing them. */
  peek(n: number): Buffer {
    const out = this.take(n);
    this.parts.unshift(out);
    this.length += n;
    return out;
  }
}

/**
 * A stream that seals what goes through it with the data key `dataKey` (32 bytes) whose id is `keyId`. The
 * last frame is known only at the end, so one chunk is held back until more comes or the input ends.
 */
export function sealer(dataKey: Buffer, keyId: string, chunkBytes = CHUNK_BYTES): Transform {
  if (dataKey.length !== 32) throw new Error("a data key has 32 bytes");
  const salt = randomBytes(32);
  const prefix = randomBytes(4);
  const header = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(header, 0);
  header.writeUInt32BE(chunkBytes, 8);
  uuidBytes(keyId).copy(header, 12);
  salt.copy(header, 28);
  prefix.copy(header, 60);
  const key = fileKey(dataKey, salt);
  const pending = new Gather();
  let index = 0n;
  let started = false;
  const seal = (t: Transform, plain: Buffer, last: boolean) => {
    if (!started) {
      t.push(header);
      started = true;
    }
    const cipher = createCipheriv("aes-256-gcm", key, nonceOf(prefix, index));
    cipher.setAAD(aadOf(header, index, last));
    const head = Buffer.alloc(FRAME_HEAD);
    head[0] = last ? 1 : 0;
    head.writeUInt32BE(plain.length, 1);
    t.push(head);
    const body = cipher.update(plain);
    cipher.final();
    t.push(body);
    t.push(cipher.getAuthTag());
    index++;
  };
  return new Transform({
    highWaterMark: chunkBytes,
    transform(chunk: Buffer, _enc, done: TransformCallback) {
      pending.push(chunk);
      while (pending.length > chunkBytes) seal(this, pending.take(chunkBytes), false);
      done();
    },
    flush(done: TransformCallback) {
      seal(this, pending.take(pending.length), true);
      done();
    },
  });
}

/**
 * A stream that opens a sealed file with the data key `dataKey`; it passes on each frame only once its tag
 * checked, and fails (BackupSealBroken) on a file that is not sealed, sealed under another key id than
 * `keyId`, damaged, reordered, cut short or extended.
 */
export function opener(dataKey: Buffer, keyId: string): Transform {
  const input = new Gather();
  let header: Buffer | undefined;
  let key: Buffer | undefined;
  let prefix: Buffer | undefined;
  let chunkBytes = 0;
  let index = 0n;
  let ended = false;
  const step = (t: Transform): void => {
    if (!header) {
      if (input.length < HEADER_BYTES) return;
      const h = input.take(HEADER_BYTES);
      if (!looksSealed(h)) throw new BackupSealBroken("the file is not an encrypted backup file, though its record says it is one");
      chunkBytes = h.readUInt32BE(8);
      if (chunkBytes === 0 || chunkBytes > MAX_CHUNK_BYTES) throw new BackupSealBroken(`the file's header names chunks of ${chunkBytes} bytes: it is damaged`);
      const id = uuidText(h.subarray(12, 28));
      if (id !== keyId.toLowerCase()) throw new BackupSealBroken(`the file was sealed with data key ${id}, not with ${keyId} as its record says`);
      key = fileKey(dataKey, h.subarray(28, 60));
      prefix = h.subarray(60, 64);
      header = h;
    }
    for (;;) {
      if (input.length < FRAME_HEAD) return;
      const head = input.peek(FRAME_HEAD);
      const flag = head[0]!;
      const length = head.readUInt32BE(1);
      if (flag > 1 || length > chunkBytes) throw new BackupSealBroken(`frame ${index} of the file is damaged (its head does not parse)`);
      if (ended) throw new BackupSealBroken("the file has bytes after its last frame: it was altered");
      if (input.length < FRAME_HEAD + length + TAG_BYTES) return;
      input.take(FRAME_HEAD);
      const body = input.take(length);
      const tag = input.take(TAG_BYTES);
      const decipher = createDecipheriv("aes-256-gcm", key!, nonceOf(prefix!, index));
      decipher.setAAD(aadOf(header, index, flag === 1));
      decipher.setAuthTag(tag);
      const plain = decipher.update(body);
      try {
        decipher.final();
      } catch {
        throw new BackupSealBroken(`frame ${index} of the file does not authenticate: the file is damaged or was altered (or sealed under another key)`);
      }
      if (plain.length) t.push(plain);
      index++;
      if (flag === 1) ended = true;
    }
  };
  return new Transform({
    highWaterMark: CHUNK_BYTES,
    transform(chunk: Buffer, _enc, done: TransformCallback) {
      input.push(chunk);
      try {
        step(this);
        done();
      } catch (err) {
        done(err as Error);
      }
    },
    flush(done: TransformCallback) {
      if (!header) return done(new BackupSealBroken("the file ends inside its header: it was cut short"));
      if (input.length) return done(ended ? new BackupSealBroken("the file has bytes after its last frame: it was altered") : new BackupSealBroken(`the file ends inside frame ${index}: it was cut short`));
      if (!ended) return done(new BackupSealBroken(`the file ends after frame ${index - 1n} without its last frame: it was cut short`));
      done();
    },
  });
}
