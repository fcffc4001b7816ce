/**
 * Backup keys: the operator's master keys (a 0600 JSON file on the node, never in Postgres or NATS) and the
 * projects' data keys, which exist outside a tracker's memory only wrapped (AES-256-GCM) by a master key.
 *
 * The file: `{"current": "<id>", "keys": {"<id>": "<32 bytes, base64>", …}}`. New data keys are wrapped by
 * the current key; older keys stay in the file for as long as a data key is wrapped by them (rotation, see
 * bin/backup-keys.ts, re-wraps every data key under a new current key, after which the old one can go). The
 * file is read at each use, so a rotation needs no tracker restart.
 */
import { createCipheriv, createDecipheriv, randomBytes, randomUUID } from "node:crypto";
import { open, readFile, rename, stat } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";

/** A data key as it is kept and sent: wrapped by the master key `masterKeyId` (base64 nonce | ciphertext | tag). */
export interface WrappedKey {
  keyId: string;
  masterKeyId: string;
  wrapped: string;
}

/** A master key from the operator's file. */
export interface MasterKey {
  id: string;
  key: Buffer;
}

const KeyId = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, "a master key id is letters, digits, '.', '_' and '-' (at most 64)");
const KeyFile = z.object({
  current: KeyId,
  keys: z.record(KeyId, z.string().refine((s) => Buffer.from(s, "base64").length === 32, "a master key is 32 bytes, base64")),
}).refine((f) => f.keys[f.current] !== undefined, { message: "'current' names a key the file does not have" });
export type KeyFileContent = z.infer<typeof KeyFile>;

/** The master key is not there (or is not the one that wrapped the key): the backup cannot be opened here. */
export class MasterKeyMissing extends Error {
  constructor(readonly masterKeyId: string, message: string) {
    super(message);
    this.name = "MasterKeyMissing";
  }
}

/** The operator's master keys, read from their file at each use. */
export class MasterKeyFile {
  constructor(readonly file: string) {}

  /** For messages: where the keys are (never what they are). */
  get describe(): string {
    return this.file;
  }

  /** The file's content, checked: it must be private to its owner (0600 or tighter). */
  async read(): Promise<KeyFileContent> {
    const st = await stat(this.file).catch(() => undefined);
    if (!st) throw new Error(`the backup keys file ${this.file} does not exist`);
    if ((st.mode & 0o077) !== 0) throw new Error(`the backup keys file ${this.file} is readable by others (mode ${(st.mode & 0o777).toString(8)}): chmod 600 it`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(await readFile(this.file, "utf8"));
    } catch {
      throw new Error(`the backup keys file ${this.file} is not JSON`);
    }
    const r = KeyFile.safeParse(parsed);
    if (!r.success) throw new Error(`the backup keys file ${this.file} is not usable: ${r.error.issues.map((i) => `${i.path.join(".") || "file"}: ${i.message}`).join("; ")}`);
    return r.data;
  }

  /** The key new data keys are wrapped by. */
  async current(): Promise<MasterKey> {
    const f = await this.read();
    return { id: f.current, key: Buffer.from(f.keys[f.current]!, "base64") };
  }

  /** The master key `id`, or undefined when the file no longer has it. */
  async find(id: string): Promise<MasterKey | undefined> {
    const f = await this.read();
    const k = f.keys[id];
    return k === undefined ? undefined : { id, key: Buffer.from(k, "base64") };
  }

  /** Replaces the file's content: written beside it (0600), flushed, then renamed over it. */
  async write(content: KeyFileContent): Promise<void> {
    await writeKeyFile(this.file, content);
  }
}

/** A new master key id: the date and a few random characters (`k20261204-3fa9c1`). */
export function newMasterKeyId(now = new Date()): string {
  return `k${now.toISOString().slice(0, 10).replace(/-/g, "")}-${randomBytes(3).toString("hex")}`;
}

/** 32 random bytes, base64, for a key file. */
export function newMasterKeyText(): string {
  return randomBytes(32).toString("base64");
}

async function writeKeyFile(file: string, content: KeyFileContent): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(4).toString("hex")}.tmp`);
  const handle = await open(tmp, "wx", 0o600);
  try {
    await handle.writeFile(`${JSON.stringify(content, null, 2)}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, file);
}

/**
 * The key file for a node: `file` when the operator gave one (it must exist); else `<home>/backup-keys.json`,
 * made with a fresh master key on first use. Says whether it was made now, so the caller can tell the operator.
 */
export async function masterKeysFor(opts: { file?: string | undefined; home: string }): Promise<{ keys: MasterKeyFile; generated: boolean }> {
  if (opts.file) {
    const keys = new MasterKeyFile(path.resolve(opts.file));
    await keys.read();
    return { keys, generated: false };
  }
  const file = path.join(opts.home, "backup-keys.json");
  const keys = new MasterKeyFile(file);
  if (await stat(file).then(() => true, () => false)) {
    await keys.read();
    return { keys, generated: false };
  }
  const id = newMasterKeyId();
  await writeKeyFile(file, { current: id, keys: { [id]: newMasterKeyText() } });
  return { keys, generated: true };
}

const aadOf = (keyId: string, masterKeyId: string) => Buffer.from(`hoard data key ${keyId} under ${masterKeyId}`, "utf8");

/** Wraps a data key by a master key (AES-256-GCM, the key ids as additional data). */
export function wrapKey(master: MasterKey, keyId: string, dataKey: Buffer): WrappedKey {
  const nonce = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", master.key, nonce);
  cipher.setAAD(aadOf(keyId, master.id));
  const body = Buffer.concat([cipher.update(dataKey), cipher.final()]);
  return { keyId, masterKeyId: master.id, wrapped: Buffer.concat([nonce, body, cipher.getAuthTag()]).toString("base64") };
}

/** The data key inside `w`; MasterKeyMissing when `master` is not the key that wrapped it. */
export function unwrapKey(master: MasterKey, w: WrappedKey): Buffer {
  const raw = Buffer.from(w.wrapped, "base64");
  if (raw.length !== 12 + 32 + 16 || master.id !== w.masterKeyId) throw new MasterKeyMissing(w.masterKeyId, `data key ${w.keyId} is not wrapped the way master key '${w.masterKeyId}' wraps`);
  const decipher = createDecipheriv("aes-256-gcm", master.key, raw.subarray(0, 12));
  decipher.setAAD(aadOf(w.keyId, w.masterKeyId));
  decipher.setAuthTag(raw.subarray(44));
  try {
    return Buffer.concat([decipher.update(raw.subarray(12, 44)), decipher.final()]);
  } catch {
    throw new MasterKeyMissing(w.masterKeyId, `master key '${w.masterKeyId}' in the backup keys file is not the key that wrapped data key ${w.keyId}`);
  }
}

/** A new data key (32 random bytes) and its id, wrapped by `master`. */
export function newDataKey(master: MasterKey): { dataKey: Buffer; wrapped: WrappedKey } {
  const dataKey = randomBytes(32);
  return { dataKey, wrapped: wrapKey(master, randomUUID(), dataKey) };
}

/** The data key inside `w`, from the keys in `file`; MasterKeyMissing when its master key is gone. */
export async function openDataKey(file: MasterKeyFile, w: WrappedKey): Promise<Buffer> {
  const master = await file.find(w.masterKeyId);
  if (!master) throw new MasterKeyMissing(w.masterKeyId, `master key '${w.masterKeyId}' is not in this node's backup keys file (${file.describe})`);
  return unwrapKey(master, w);
}
