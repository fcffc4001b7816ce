/**
 * What the benchmarks that run Hoard as `npm start` does share: start `bin/hoard.ts start` of a tree in a
 * state folder of its own on a free port, call its API, stop it as Ctrl-C does.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, rmSync } from "node:fs";
import path from "node:path";
import { freePort } from "../bootstrap/index.js";
// @ts-expect-error plain JavaScript module shared with the launcher (bin/launch.mjs), which runs before tsx
import { HOARD_NODE_FLAGS } from "../bin/node-flags.mjs";

export interface HoardProcess {
  child: ChildProcess;
  home: string;
  /** The API of `project`: `<gateway>/v1.0/<project>`. */
  url: string;
  /** Its private NATS (the benchmark connects as admin with `natsCredentials`). */
  natsUrl: string;
  natsCredentials: string;
  log: string;
  stop(): Promise<void>;
}

export function stopChild(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once("exit", () => resolve());
    child.kill(signal);
  });
}

/** Starts `bin/hoard.ts start` of the tree in `cwd` (this one unless given) in a fresh `home`, on a free port. */
export async function startHoardProcess(opts: { home: string; project: string; cwd?: string }): Promise<HoardProcess> {
  const { home } = opts;
  rmSync(home, { recursive: true, force: true });
  mkdirSync(home, { recursive: true });
  const port = await freePort();
  const child = spawn(process.execPath, [...HOARD_NODE_FLAGS, "--import", "tsx", "bin/hoard.ts", "start"], {
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
    env: { ...process.env, HOARD_HOME: home, HOARD_PORT: String(port), DATABASE_URL: "", NATS_URL: "" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stderr!.on("data", (d) => (out += d));
  const ready = await new Promise<string>((resolve, reject) => {
    child.stdout!.on("data", (d) => {
      out += d;
      if (/Hoard is ready[\s\S]*Trove API: \S+/.test(out)) resolve(out);
    });
    child.once("exit", (code) => reject(new Error(`hoard (${opts.cwd ?? "this tree"}) exited with ${code} before it was ready:\n${out}`)));
  });
  const natsUrl = /private NATS JetStream at (\S+)/.exec(ready)?.[1];
  if (!natsUrl) throw new Error(`could not read the NATS address from hoard's output:\n${ready}`);
  const gateway = /Trove API: (\S+)\/v1\.0/.exec(ready)![1]!;
  return {
    child,
    home,
    url: `${gateway}/v1.0/${opts.project}`,
    natsUrl,
    natsCredentials: path.join(home, "nats", "credentials"),
    log: path.join(home, "hoard.log"),
    // SIGINT, as Ctrl-C: hoard stops its control plane, Postgres and NATS.
    stop: () => stopChild(child, "SIGINT"),
  };
}

/** Calls the API of a Hoard started here; returns status and parsed body. */
export async function callApi(hoard: Pick<HoardProcess, "url">, method: string, route: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${hoard.url}${route}`, {
    method,
    headers: { "content-type": "application/json", accept: "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}
