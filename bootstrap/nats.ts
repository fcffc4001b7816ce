/**
 * A private NATS server with JetStream (Debian's nats-server 2.9.10), its state, pid, port and log in one folder.
 * It runs in its own session so a Ctrl-C at the terminal does not reach it; `stop()` ends it. It admits only
 * Hoard's parts, each with its own nkey and permissions (bootstrap/nats-credentials.ts, events/permissions.ts):
 * the credentials are made at first start in `<dir>/credentials` and kept; `nats.conf` holds the public keys.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { closeSync, fchmodSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fixedParts, trackerPart, type NatsPart } from "../events/index.js";
import { freePort } from "./free-port.js";
import { connectAs, ensureCredentials, natsAuthorization, publicKeys } from "./nats-credentials.js";
import { findBinary } from "./packages.js";
import { commandLine, isRunning, terminate } from "./pid.js";

/** Where and how to run the server. */
export interface NatsOptions {
  /** State folder: JetStream store, nats.pid, nats.port, nats.log. */
  dir: string;
  /** Client port; a free one when absent. */
  port?: number;
  /** The credentials folder; `<dir>/credentials` when absent. */
  credentials?: string;
  /** Network nodes whose trackers get a credential now; more can be added later (`addTrackers`). */
  trackers?: string[];
  progress?: (msg: string) => void;
}

/** A running private NATS server. */
export interface NatsServer {
  url: string;
  pid: number;
  /** The folder of the parts' credentials (`<part>.nk`, nkey seeds, 0600): Hoard's HOARD_NATS_CREDENTIALS. */
  credentials: string;
  /**
   * Gives the trackers of `nodes` a credential each, where they have none: the server's configuration is
   * rewritten and reloaded (SIGHUP), and this resolves once the server admits them.
   */
  addTrackers(nodes: string[]): Promise<void>;
  /** SIGTERM, SIGKILL after 5 s; resolves once the process is gone. */
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 15_000;
/** nats.log: root and its group only. */
const LOG_MODE = 0o640;

interface Files {
  store: string;
  config: string;
  credentials: string;
  pid: string;
  port: string;
  log: string;
}

function filesIn(dir: string, credentials?: string): Files {
  return {
    store: path.join(dir, "jetstream"),
    config: path.join(dir, "nats.conf"),
    credentials: path.resolve(credentials ?? path.join(dir, "credentials")),
    pid: path.join(dir, "nats.pid"),
    port: path.join(dir, "nats.port"),
    log: path.join(dir, "nats.log"),
  };
}

function readNumber(file: string): number | null {
  try {
    const n = Number(readFileSync(file, "utf8").trim());
    return Number.isInteger(n) && n > 0 ? n : null;
  } catch {
    return null;
  }
}

/** The value after `flag` in a command line. */
function flagValue(args: string[], flag: string): number | null {
  const i = args.indexOf(flag);
  const n = i >= 0 ? Number(args[i + 1]) : NaN;
  return Number.isInteger(n) && n > 0 ? n : null;
}

/** A nats-server still serving this folder: the pid file names a live nats-server whose store is ours. */
function runningServer(files: Files): { pid: number; port: number; monitor: number | null; withUsers: boolean } | null {
  const pid = readNumber(files.pid);
  if (pid === null || !isRunning(pid)) return null;
  const args = commandLine(pid);
  // A recycled pid could now be anything; only trust it if it is nats-server on our store.
  // (Ours now carry our configuration; one from before NATS had users, our store.)
  if (!args || path.basename(args[0] ?? "") !== "nats-server" || !(args.includes(files.config) || args.includes(files.store))) return null;
  const port = readNumber(files.port) ?? flagValue(args, "-p");
  // One started before Hoard gave NATS users admits anyone: startNats restarts it rather than reuse it.
  return port === null ? null : { pid, port, monitor: flagValue(args, "-m"), withUsers: args.includes(files.config) };
}

function logTail(file: string): string {
  try {
    return readFileSync(file, "utf8").trim().split("\n").slice(-10).join("\n");
  } catch {
    return "(no log)";
  }
}

/** Waits until JetStream answers healthy on the monitor port, failing early if `child` dies. */
async function waitHealthy(monitor: number, files: Files, pid: number, child: ChildProcess | null): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (!isRunning(pid) || (child && child.exitCode !== null)) {
      throw new Error(`nats-server exited while starting; ${files.log} ends with:\n${logTail(files.log)}`);
    }
    try {
      const res = await fetch(`http://127.0.0.1:${monitor}/healthz?js-enabled-only=true`, { signal: AbortSignal.timeout(1_000) });
      if (res.ok) return;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) throw new Error(`nats-server did not become healthy in ${READY_TIMEOUT_MS / 1000} s; see ${files.log}`);
    await sleep(10);
  }
}

/**
 * Makes the credentials of `parts` that are missing and writes the server's configuration from every
 * credential in the folder. Returns whether the configuration changed (a running server must reload).
 */
function writeConfig(files: Files, parts: NatsPart[]): boolean {
  ensureCredentials(files.credentials, parts);
  const text = [
    `# Written by Hoard (bootstrap/nats.ts) from ${files.credentials}; public keys only.`,
    // In the file, not on the command line: a reload reads only the file, and SIGHUP would stop JetStream.
    `jetstream { store_dir: ${JSON.stringify(files.store)} }`,
    natsAuthorization([...publicKeys(files.credentials)].map(([part, nkey]) => ({ part, nkey }))),
  ].join("\n");
  let before = "";
  try {
    before = readFileSync(files.config, "utf8");
  } catch {
    /* first start */
  }
  if (before === text) return false;
  writeFileSync(files.config, text, { mode: 0o600 });
  return true;
}

/** Waits until the server admits `part` (a reload is asynchronous). */
async function waitAdmits(url: string, files: Files, part: NatsPart): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    try {
      const nc = await connectAs(url, files.credentials, part, { timeout: 1_000, reconnect: false });
      await nc.close();
      return;
    } catch (e) {
      if (Date.now() > deadline) throw new Error(`nats-server does not admit ${part} after a reload: ${(e as Error).message}; see ${files.log}`);
      await sleep(20);
    }
  }
}

/** Rewrites the configuration for `parts` and, when it changed, has the running server reload it. */
async function reloadFor(pid: number, url: string, files: Files, parts: NatsPart[]): Promise<void> {
  if (!writeConfig(files, parts)) return;
  process.kill(pid, "SIGHUP");
  for (const part of parts) await waitAdmits(url, files, part);
}

function handle(pid: number, port: number, files: Files, child: ChildProcess | null): NatsServer {
  const url = `nats://127.0.0.1:${port}`;
  return {
    url,
    pid,
    credentials: files.credentials,
    addTrackers: (nodes) => reloadFor(pid, url, files, nodes.map(trackerPart)),
    async stop() {
      const exited = child && child.exitCode === null && child.signalCode === null ? once(child, "exit") : null;
      // Our own child leaves /proc only once Node reaps it, which an unref'd child does not keep the loop alive for.
      child?.ref();
      await terminate(pid);
      await exited;
      rmSync(files.port, { force: true });
      rmSync(files.pid, { force: true });
    },
  };
}

/** Starts a private JetStream-enabled nats-server in `dir`, or reuses the one already running there. */
export async function startNats(opts: NatsOptions): Promise<NatsServer> {
  const progress = opts.progress ?? (() => {});
  const dir = path.resolve(opts.dir);
  const files = filesIn(dir, opts.credentials);
  mkdirSync(dir, { recursive: true });

  const parts = [...fixedParts, ...(opts.trackers ?? []).map(trackerPart)];
  const running = runningServer(files);
  if (running?.withUsers) {
    progress(`reusing nats-server pid ${running.pid} on port ${running.port}`);
    if (running.monitor !== null) await waitHealthy(running.monitor, files, running.pid, null);
    const server = handle(running.pid, running.port, files, null);
    await reloadFor(running.pid, server.url, files, parts);
    return server;
  }
  if (running) {
    progress(`restarting nats-server pid ${running.pid}: it was started without users`);
    await terminate(running.pid);
  }
  writeConfig(files, parts);

  const bin = findBinary("nats-server");
  if (!bin) throw new Error("nats-server is not installed (apt-get install -y nats-server)");
  const port = opts.port ?? (await freePort());
  const monitor = await freePort();
  rmSync(files.pid, { force: true });

  const log = openSync(files.log, "a", LOG_MODE);
  // A log made before (0644) is fixed too: it names every client that connected.
  fchmodSync(log, LOG_MODE);
  // -a keeps both the client and the monitor port off the network (they bind 0.0.0.0 otherwise).
  // The configuration holds JetStream and the users (what a reload may change); the rest is on the command line.
  const args = ["-c", files.config, "-a", "127.0.0.1", "-p", String(port), "-m", String(monitor), "-P", files.pid];
  // detached = its own session, so the terminal's SIGINT to our process group does not stop it.
  const child = spawn(bin, args, { cwd: dir, detached: true, stdio: ["ignore", log, log] });
  closeSync(log);
  child.unref();
  const pid = child.pid;
  if (pid === undefined) {
    const [error] = (await once(child, "error")) as [Error];
    throw new Error(`could not run ${bin}: ${error.message}`);
  }
  writeFileSync(files.port, `${port}\n`);

  const started = Date.now();
  try {
    await waitHealthy(monitor, files, pid, child);
  } catch (e) {
    if (isRunning(pid)) await terminate(pid);
    throw e;
  }
  progress(`nats-server pid ${pid} ready on port ${port} in ${Date.now() - started} ms`);
  return handle(pid, port, files, child);
}
