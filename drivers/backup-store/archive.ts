/**
 * Backup files as byte streams: folders packed with tar, everything compressed (zstd -1 where installed,
 * else gzip -1: zstd is some 7× faster at a like ratio), and sha256 and sizes counted on the way, so a backup
 * is read once. The archivers run as child processes; a stream fails when its process does.
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { createHash } from "node:crypto";
import { accessSync, constants } from "node:fs";
import { PassThrough, Readable, Transform, type Writable } from "node:stream";
import { pipeline } from "node:stream/promises";

const SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** How stored bytes are compressed; the file name's suffix says which. */
export type Compression = "zst" | "gz";

/** zstd when the node has it, else gzip. */
export function preferredCompression(): Compression {
  return SYSTEM_PATH.split(":").some((d) => canRun(`${d}/zstd`)) ? "zst" : "gz";
}

/** The compression of a stored file, from its name's suffix (before `.enc`, which an encrypted file has). */
export function compressionOf(key: string): Compression {
  const name = key.replace(/\.enc$/, "");
  if (name.endsWith(".zst")) return "zst";
  if (name.endsWith(".gz")) return "gz";
  throw new Error(`the backup file '${key}' is neither .zst nor .gz: Hoard did not write it`);
}

/** One folder's entries to pack: `names` inside `dir`, stored under the same names. */
export interface PackPart {
  dir: string;
  names: string[];
  /** tar --exclude patterns (e.g. "data/postmaster.pid"). */
  exclude?: string[];
}

/** A tar stream of the parts, in order (a later part's file replaces an earlier one of the same name on unpack). */
export function packFolders(parts: PackPart[]): Readable {
  return producer("tar", partsArgs(parts));
}

function partsArgs(parts: PackPart[]): string[] {
  const args = ["--create", "--file=-", "--numeric-owner"];
  for (const part of parts) {
    for (const pattern of part.exclude ?? []) args.push(`--exclude=${pattern}`);
    args.push(`--directory=${part.dir}`);
    for (const name of part.names) {
      if (name.startsWith("-")) throw new Error(`'${name}' cannot be packed`);
      args.push(name);
    }
  }
  return args;
}

/**
 * Unpacks a compressed tar stream into `dir` (which must exist), keeping numeric owners and modes. tar runs
 * the decompressor itself, so the data passes between them through a kernel pipe, not through this process;
 * and it reads to the end of the stream (past the end-of-archive blocks), so a caller counting or hashing
 * what it feeds sees every byte.
 */
export async function unpackInto(packed: Readable, dir: string, how: Compression): Promise<void> {
  await consume(packed, "tar", ["--extract", "--file=-", how === "zst" ? "--zstd" : "--gzip", "--ignore-zeros", "--numeric-owner", "--same-permissions", `--directory=${dir}`]);
}

/** What went through a counting stream. */
export interface Counted {
  bytes: number;
  sha256: string;
}

/** A pass-through that counts bytes and, if asked, hashes them; `result()` once the stream ended. */
export function counter(hash: boolean): Transform & { result(): Counted } {
  const digest = hash ? createHash("sha256") : undefined;
  let bytes = 0;
  const t = new Transform({
    highWaterMark: 1 << 20,
    transform(chunk: Buffer, _enc, done) {
      bytes += chunk.length;
      digest?.update(chunk);
      done(null, chunk);
    },
  }) as Transform & { result(): Counted };
  let sha: string | undefined;
  t.result = () => ({ bytes, sha256: hash ? (sha ??= digest!.digest("hex")) : "" });
  return t;
}

/**
 * Compresses a stream with the given compression (level 1: speed first). One zstd thread: it keeps up with
 * reading the volume (some 400 MB/s), and leaves the other cores to the guests' engines, whose writers wait
 * longer while a backup takes every core (measured by `npm run bench -- backup`).
 */
export function compress(input: Readable, how: Compression): Readable {
  return how === "zst" ? filter(input, "zstd", ["-1", "-T1", "-q", "-c"]) : filter(input, "gzip", ["-1", "-c"]);
}

/** Decompresses a stream. */
export function decompress(input: Readable, how: Compression): Readable {
  return how === "zst" ? filter(input, "zstd", ["-d", "-q", "-c"]) : filter(input, "gzip", ["-d", "-c"]);
}

/** sha256 and size of a whole stream. */
export async function digestOf(input: Readable): Promise<Counted> {
  const c = counter(true);
  await pipeline(input, c, new PassThrough().resume() as unknown as Writable);
  return c.result();
}

/**
 * One stream of several, in order: text as it is, and streams opened only when their turn comes (a dump of
 * the next database starts once the previous one is written). Destroying the result stops the current one.
 */
export function concatenate(parts: Array<string | (() => Readable)>): Readable {
  return Readable.from(
    (async function* () {
      for (const part of parts) {
        if (typeof part === "string") yield Buffer.from(part);
        else for await (const chunk of part()) yield chunk as Buffer;
      }
    })(),
    { objectMode: false },
  );
}

/** A stream's whole content as text (for small outputs, such as a list of roles). */
export async function textOf(input: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of input) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

// ---- child processes as streams ----

/** A program's stdout as a stream that fails when the program fails (with the end of its stderr). */
export function producer(command: string, args: string[], env?: NodeJS.ProcessEnv): Readable {
  const child = spawnTool(command, args, env);
  child.stdin.end();
  return settleWith(child, command);
}

/** Pipes `input` through a program; the output stream fails when the program or the input fails. */
export function filter(input: Readable, command: string, args: string[]): Readable {
  const child = spawnTool(command, args);
  const out = settleWith(child, command);
  pipeline(input, child.stdin).catch((err: Error) => {
    // The program may have stopped reading because it failed itself: its error is the better one.
    setImmediate(() => out.destroy(err));
    child.kill("SIGKILL");
  });
  return out;
}

/** Feeds `input` to a program and waits for it to end well. */
export async function consume(input: Readable, command: string, args: string[], env?: NodeJS.ProcessEnv): Promise<void> {
  const child = spawnTool(command, args, env);
  const done = exitOf(child, command);
  child.stdout.resume();
  try {
    await pipeline(input, child.stdin);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "EPIPE" || code === "ERR_STREAM_PREMATURE_CLOSE") {
      // The program stopped reading: because it failed (its own complaint says more than a broken pipe), or
      // because it had all it needed (tar stops at the end-of-archive blocks, before the record's padding).
      await done;
      return;
    }
    child.kill("SIGKILL");
    await done.catch(() => undefined);
    throw err;
  }
  await done;
}

function spawnTool(command: string, args: string[], env?: NodeJS.ProcessEnv): ChildProcessWithoutNullStreams {
  return spawn(command, args, { env: { PATH: SYSTEM_PATH, LC_ALL: "C", ...env }, stdio: ["pipe", "pipe", "pipe"] });
}

/** Resolves when the program exits 0; rejects with its stderr's end otherwise. */
function exitOf(child: ChildProcessWithoutNullStreams, command: string): Promise<void> {
  let stderr = "";
  child.stderr.on("data", (c: Buffer) => {
    stderr = (stderr + c.toString()).slice(-4000);
  });
  return new Promise((resolve, reject) => {
    child.on("error", (err) => reject(new Error(`${command} could not run: ${err.message}`)));
    child.on("close", (code, signal) => {
      if (code === 0) return resolve();
      const said = stderr.split("\n").filter((l) => l.trim()).slice(-5).join("; ");
      reject(new Error(`${command} failed (${signal ?? `exit ${code}`})${said ? `: ${said}` : ""}`));
    });
  });
}

/** The program's stdout, ending only after the program exited well (or failing with its error). */
function settleWith(child: ChildProcessWithoutNullStreams, command: string): Readable {
  const out = new PassThrough({ highWaterMark: 1 << 20 });
  const done = exitOf(child, command);
  child.stdout.pipe(out, { end: false });
  let stdoutEnded = false;
  const finish = () => {
    done.then(
      () => out.end(),
      (err: Error) => out.destroy(err),
    );
  };
  child.stdout.on("end", () => {
    stdoutEnded = true;
    finish();
  });
  done.catch((err: Error) => {
    if (!stdoutEnded) out.destroy(err);
  });
  // A reader that gives up (the store failed) stops the program.
  out.on("close", () => {
    if (child.exitCode === null) child.kill("SIGKILL");
  });
  return out;
}

function canRun(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
