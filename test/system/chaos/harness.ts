/**
 * The crash harness: trials of seeded random operations over HTTP (create, delete, resize to another
 * flavor, grow the volume, restart, stop, start, back up, restore into a new instance, roll back, delete a
 * backup) while the runtime, the tracker, NATS or Postgres is killed
 * with SIGKILL at random points and started again; then, once the cluster is quiet, the invariants of
 * ./invariants.ts. A trial's seed replays its operations and faults (HOARD_CHAOS_SEED); timing still varies.
 *
 * New operations (backup, restore) are one entry in OPERATIONS and, where they leave something on the
 * node, one check in invariants.ts.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { NatsConnection } from "@nats-io/transport-node";
import { connectAs } from "../../../bootstrap/index.js";
import pg from "pg";
import { ChaosCluster, FAULT_KINDS, type FaultKind } from "./cluster.js";
import { allBackups, allRows, backupsHold, builtOnce, eventsAgree, noStrays, pendingCounts, pendingWork, publicEvents, restingStates, type Row, type VolumeDriver } from "./invariants.js";

/** The datastores a trial may create, each at the version it is created with. */
export const DATASTORES = { redis: "7.0", mariadb: "10.11", postgresql: "15" } as const;
export type Datastore = keyof typeof DATASTORES;

/** A small deterministic generator (mulberry32), so a seed replays a trial. */
export function random(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, int: (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1)), pick: <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]! };
}
type Random = ReturnType<typeof random>;

export interface TrialOptions {
  /** Operations per trial. */
  operations: number;
  /** Faults per trial (each: kill, a pause, start again). */
  faults: number;
  /** How long the cluster may take to become quiet and consistent after the last fault. */
  quietTimeoutMs: number;
  /** The parts that may be killed (all four unless given). */
  kinds?: readonly FaultKind[];
  /** The datastores instances are created with, one picked per create (Redis alone unless given). */
  datastores?: readonly Datastore[];
  /** The tracker's volume driver (directory unless given). */
  volumeDriver?: VolumeDriver;
  log: (line: string) => void;
}

export interface TrialResult {
  seed: number;
  /** Operation → its final answer (after asking again), e.g. "backup 202": count. */
  operations: Record<string, number>;
  /** 503 answers met along the way (each then asked again, up to three times). */
  unavailable: number;
  faults: Record<FaultKind, number>;
  violations: string[];
  ms: number;
}

interface Ctx {
  cluster: ChaosCluster;
  project: string;
  rnd: Random;
  datastores: readonly Datastore[];
  /** Instances this trial knows of (created, or seen in a list). */
  known: Set<string>;
  /** Backups this trial asked for, with the instance each is of. */
  backups: Map<string, string>;
  created: number;
  /** Told of each answer that is a 5xx other than 503, with its body. */
  serverError?: (line: string) => void;
  /** Told of each 503 answer. */
  unavailable?: () => void;
}

/** The operations, each one HTTP request; answers other than 2xx (422 for a busy instance, 503 during a fault) are fine. */
const OPERATIONS: Record<string, { weight: number; run(ctx: Ctx): Promise<number> }> = {
  create: {
    weight: 4,
    async run(ctx) {
      const name = `i${ctx.created++}`;
      const type = ctx.rnd.pick(ctx.datastores);
      const r = await patiently(ctx, () => api(ctx, "POST", "/instances", { instance: { name, flavorRef: "1", volume: { size: 1 }, datastore: { type, version: DATASTORES[type] } } }));
      if (r.status === 200) ctx.known.add(r.body.instance.id);
      return r.status;
    },
  },
  delete: { weight: 2, run: async (ctx) => (await onInstance(ctx, (id) => api(ctx, "DELETE", `/instances/${id}`))).status },
  resize_flavor: { weight: 2, run: async (ctx) => (await onInstance(ctx, (id) => api(ctx, "POST", `/instances/${id}/action`, { resize: { flavorRef: ctx.rnd.pick(["1", "2"]) } }))).status },
  resize_volume: { weight: 2, run: async (ctx) => (await onInstance(ctx, (id) => api(ctx, "POST", `/instances/${id}/action`, { resize: { volume: { size: ctx.rnd.int(2, 5) } } }))).status },
  restart: { weight: 2, run: async (ctx) => (await onInstance(ctx, (id) => api(ctx, "POST", `/instances/${id}/action`, { restart: {} }))).status },
  stop: { weight: 1, run: async (ctx) => (await onInstance(ctx, (id) => api(ctx, "POST", `/instances/${id}/action`, { stop: {} }))).status },
  start: { weight: 1, run: async (ctx) => (await onInstance(ctx, (id) => api(ctx, "POST", `/instances/${id}/action`, { start: {} }))).status },
  backup: {
    weight: 3,
    async run(ctx) {
      const r = await onInstance(ctx, async (id) => {
        const res = await api(ctx, "POST", "/backups", { backup: { name: `b${ctx.created++}`, instance: id } });
        if (res.status === 202 || res.status === 200) ctx.backups.set(res.body.backup.id, id);
        return res;
      });
      return r.status;
    },
  },
  restore: {
    weight: 2,
    async run(ctx) {
      return (
        await onBackup(ctx, async (backupId) => {
          const res = await api(ctx, "POST", "/instances", { instance: { name: `r${ctx.created++}`, flavorRef: "1", volume: { size: 1 }, restorePoint: { backupRef: backupId } } });
          if (res.status === 200) ctx.known.add(res.body.instance.id);
          return res;
        })
      ).status;
    },
  },
  rollback: { weight: 2, run: async (ctx) => (await onBackup(ctx, (backupId, instanceId) => api(ctx, "POST", `/instances/${instanceId}/action`, { rollback: { backupRef: backupId } }))).status },
  delete_backup: { weight: 1, run: async (ctx) => (await onBackup(ctx, (backupId) => api(ctx, "DELETE", `/backups/${backupId}`))).status },
};

async function api(ctx: Pick<Ctx, "cluster" | "project" | "serverError">, method: string, route: string, body?: unknown): Promise<{ status: number; body: any }> {
  try {
    const res = await fetch(`${ctx.cluster.gatewayUrl}/v1.0/${ctx.project}${route}`, {
      method,
      headers: body ? { "content-type": "application/json" } : {},
      ...(body ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(20_000),
    });
    const text = await res.text();
    if (res.status >= 500 && res.status !== 503) ctx.serverError?.(`${method} ${route} answered ${res.status}: ${text.slice(0, 500)}`);
    let parsed: unknown = null;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      parsed = text;
    }
    return { status: res.status, body: parsed };
  } catch {
    return { status: 0, body: null };
  }
}

/**
 * Sends a request again as a client would: while it answers busy (422: the instance is still building,
 * resizing…; 409: the backup is not COMPLETED yet) a few times, so that operations overlap with each other's
 * work, and after a 503 (a part is away; the answer says Retry-After) a few times more, so that operations are
 * carried out around the faults, not only refused during them. Every 503 is counted.
 */
async function patiently(ctx: Ctx, call: () => Promise<{ status: number; body: any }>, busy: readonly number[] = [422]): Promise<{ status: number; body: any }> {
  let r = await call();
  for (let waits = 0, outages = 0; ; ) {
    if (r.status === 503) ctx.unavailable?.();
    if (busy.includes(r.status) && waits < 8) {
      waits++;
      await sleep(250 + ctx.rnd.int(0, 500));
    } else if (r.status === 503 && outages < 3) {
      outages++;
      await sleep(1_000 + ctx.rnd.int(0, 1_000));
    } else return r;
    r = await call();
  }
}

/** Calls `call` on one of the trial's instances, patiently. */
async function onInstance(ctx: Ctx, call: (id: string) => Promise<{ status: number; body: any }>): Promise<{ status: number }> {
  const ids = [...ctx.known].sort();
  if (ids.length === 0) return { status: -1 };
  const id = ctx.rnd.pick(ids);
  return patiently(ctx, () => call(id));
}

/** An internal error's answer names a reference; the log line with it (runtime's or gateway's) says what went wrong. */
function withCause(cluster: ChaosCluster, line: string): string {
  const ref = /reference ([\w-]+)/.exec(line)?.[1];
  const logs = [cluster.logOf("runtime"), cluster.logOf("gateway")].join("\n");
  const cause = ref ? logs.split("\n").filter((l) => l.includes(ref)).join("\n").slice(0, 2_000) : "";
  return cause ? `${line}\n      log: ${cause}` : line;
}

/** Calls `call` on one of the trial's backups (and its instance), patiently. */
async function onBackup(ctx: Ctx, call: (backupId: string, instanceId: string) => Promise<{ status: number; body: any }>): Promise<{ status: number }> {
  const ids = [...ctx.backups.keys()].sort();
  if (ids.length === 0) return { status: -1 };
  const id = ctx.rnd.pick(ids);
  return patiently(ctx, () => call(id, ctx.backups.get(id)!), [422, 409]);
}

function pickOperation(rnd: Random): string {
  const names = Object.keys(OPERATIONS);
  const total = names.reduce((n, k) => n + OPERATIONS[k]!.weight, 0);
  let x = rnd.next() * total;
  for (const k of names) {
    x -= OPERATIONS[k]!.weight;
    if (x < 0) return k;
  }
  return names[0]!;
}

/** Operations in flight at once: faults then land in the middle of work, not between requests. */
const LANES = 3;

/** One trial: operations and faults at seeded random moments, then quiet, then the invariants. */
export async function runTrial(cluster: ChaosCluster, seed: number, opts: TrialOptions): Promise<TrialResult> {
  const started = Date.now();
  const rnd = random(seed);
  const project = `c4a05${seed.toString(16).padStart(27, "0")}`.slice(0, 32);
  const known = new Set<string>();
  const backups = new Map<string, string>();
  let created = 0;
  // The plan is drawn up front from the seed, each step with its own generator for its choices, so a replay
  // does the same things whatever order the lanes reach them in.
  const step = () => ({ op: pickOperation(rnd), sub: rnd.int(0, 2 ** 31), pauseMs: rnd.int(0, 400) });
  // Each lane begins with a create and then a backup, so the other operations have instances to work on and
  // restore, rollback and backup delete have a backup to use while faults land.
  const opening = ["create", "backup"];
  const plan = Array.from({ length: opts.operations }, (_, i) => (i < LANES * opening.length ? { ...step(), op: opening[Math.floor(i / LANES)]! } : step()));
  const faults = Array.from({ length: opts.faults }, () => ({ kind: rnd.pick(opts.kinds ?? FAULT_KINDS), afterMs: rnd.int(0, 1_500), downMs: rnd.int(100, 2_500), during: step() }));
  const result: TrialResult = { seed, operations: {}, unavailable: 0, faults: { runtime: 0, tracker: 0, nats: 0, postgres: 0 }, violations: [], ms: 0 };
  const serverErrors: string[] = [];
  const perform = async (s: ReturnType<typeof step>) => {
    const ctx: Ctx = { cluster, project, rnd: random(s.sub), datastores: opts.datastores ?? ["redis"], known, backups, serverError: (line) => serverErrors.push(withCause(cluster, line)), unavailable: () => result.unavailable++, get created() { return created; }, set created(n) { created = n; } };
    // While a part is down the API answers 503 (retry later), never another 5xx (api() notes those).
    const status = await OPERATIONS[s.op]!.run(ctx);
    const key = `${s.op} ${status === -1 ? "skipped" : status}`;
    result.operations[key] = (result.operations[key] ?? 0) + 1;
  };

  let next = 0;
  const lanes = Array.from({ length: LANES }, async () => {
    for (let i = next++; i < plan.length; i = next++) {
      await perform(plan[i]!);
      await sleep(plan[i]!.pauseMs);
    }
  });
  const faulting = (async () => {
    for (const f of faults) {
      await sleep(f.afterMs);
      opts.log(`  seed ${seed}: kill ${f.kind} for ${f.downMs} ms`);
      await cluster.kill(f.kind);
      result.faults[f.kind]++;
      // An operation against the crippled cluster while the part is down.
      const during = perform(f.during);
      await sleep(f.downMs);
      await cluster.restart(f.kind);
      await during;
    }
  })();
  await Promise.all([...lanes, faulting]);

  result.violations = [...serverErrors, ...(await quietAndCheck(cluster, new Set([project]), opts))];
  if (result.violations.length === 0) result.violations = await cleanUp(cluster, project, opts);
  result.ms = Date.now() - started;
  return result;
}

/** Past a redelivery (30 s ack wait) and a reconciler sweep: a pending count that outlives it is stale. */
const STALE_PENDING_MS = 45_000;

/** Waits until every invariant holds, or the time is up; returns what still does not hold. */
async function quietAndCheck(cluster: ChaosCluster, projects: Set<string>, opts: TrialOptions): Promise<string[]> {
  await cluster.revive();
  const db = new pg.Pool({ connectionString: cluster.databaseUrl, max: 2 });
  const nc = await connectAs(cluster.natsUrl, cluster.natsCredentials, "admin");
  try {
    const deadline = Date.now() + opts.quietTimeoutMs;
    let onlyPendingSince: number | null = null;
    for (;;) {
      const violations = await check(cluster, db, nc, projects).catch((e: Error) => [`could not check: ${e.message}`]);
      if (violations.length === 0 || Date.now() > deadline) return [...violations, ...cluster.takeUnexpectedExits()];
      // A NATS server killed mid-write can come back with a consumer counting an acknowledged message as
      // pending for good (nats-server 2.9: ack pending never redelivered, acked messages left in the work
      // queue). When everything else has held for a while, that count is the server's, not Hoard's.
      const pendingOnly = violations.every((v) => v.includes("still pending for"));
      onlyPendingSince = pendingOnly ? (onlyPendingSince ?? Date.now()) : null;
      if (onlyPendingSince !== null && Date.now() - onlyPendingSince > STALE_PENDING_MS) {
        opts.log(`  note: NATS still counts ${violations.join("; ")} with every invariant holding for ${STALE_PENDING_MS / 1000} s; taken as the server's stale count`);
        // Kept for the rest of the run, so later trials are not held up by it; a count above it is pending again.
        for (const [name, n] of await pendingCounts(nc)) cluster.stalePending.set(name, Math.max(n, cluster.stalePending.get(name) ?? 0));
        return cluster.takeUnexpectedExits();
      }
      await sleep(1_000);
    }
  } finally {
    await nc.close();
    await db.end();
  }
}

async function check(cluster: ChaosCluster, db: pg.Pool, nc: NatsConnection, projects: Set<string>): Promise<string[]> {
  const rows = await allRows(db);
  const outbox = Number((await db.query("select count(*) from outbox")).rows[0].count);
  const mine = rows.filter((r: Row) => projects.has(r.project_id));
  // A stale count that went down (the server let go of some) is lowered, so new pending work shows again.
  const counts = await pendingCounts(nc);
  for (const [name, n] of cluster.stalePending) cluster.stalePending.set(name, Math.min(n, counts.get(name) ?? 0));
  return [
    ...pendingWork(counts, cluster.stalePending),
    ...restingStates(rows),
    ...(await noStrays(rows, cluster.trackerHome, cluster.volumeDriver)),
    ...(await backupsHold(await allBackups(db), cluster.trackerHome, cluster.volumeDriver)),
    ...builtOnce(cluster.logOf("tracker")),
    ...(outbox > 0 ? [`${outbox} event(s) still in the outbox`] : []),
    ...eventsAgree(mine, await publicEvents(nc, projects)),
  ];
}

/** A request asked again while it answers 503 (a loaded runtime not answering in time), as a client would, for up to 30 s. */
async function untilAvailable(call: () => Promise<{ status: number; body: any }>): Promise<{ status: number; body: any }> {
  let r = await call();
  for (let attempt = 0; r.status === 503 && attempt < 10; attempt++) {
    await sleep(3_000);
    r = await call();
  }
  return r;
}

/** Deletes what the trial left, which must then go entirely (a delete after chaos works too); `project`'s events must agree. */
async function cleanUp(cluster: ChaosCluster, project: string, opts: TrialOptions): Promise<string[]> {
  const db = new pg.Pool({ connectionString: cluster.databaseUrl, max: 2 });
  try {
    const live: Row[] = (await allRows(db)).filter((r) => !r.deleted_at);
    for (const r of live) {
      const res = await untilAvailable(() => api({ cluster, project: r.project_id }, "DELETE", `/instances/${r.id}`));
      if (res.status !== 202) return [`delete of ${r.id} after the trial answered ${res.status}: ${JSON.stringify(res.body)}`];
    }
    for (const b of await allBackups(db)) {
      if (b.status === "DELETING") continue;
      const res = await untilAvailable(() => api({ cluster, project: b.project_id }, "DELETE", `/backups/${b.id}`));
      if (res.status !== 202) return [`delete of backup ${b.id} (${b.status}) after the trial answered ${res.status}: ${JSON.stringify(res.body)}`];
    }
  } finally {
    await db.end();
  }
  const violations = await quietAndCheck(cluster, new Set([project]), opts);
  const db2 = new pg.Pool({ connectionString: cluster.databaseUrl, max: 1 });
  try {
    const left = (await allRows(db2)).filter((r) => !r.deleted_at);
    const backupsLeft = await allBackups(db2);
    return [
      ...violations,
      ...left.map((r) => `instance ${r.id} was not deleted after the trial (task ${r.task}, server ${r.server_status})`),
      ...backupsLeft.map((b) => `backup ${b.id} was not deleted after the trial (${b.status})`),
    ];
  } finally {
    await db2.end();
  }
}

export interface ChaosOptions extends TrialOptions {
  trials: number;
  /** The first trial's seed; trial k uses seed + k. Random when absent. */
  seed?: number;
  /** Stop at the first trial that breaks an invariant. */
  stopOnFailure?: boolean;
  /** Asked between trials: true ends the run early (Ctrl-C), still stopping the cluster cleanly. */
  stopRequested?: () => boolean;
  base: string;
}

export interface ChaosSummary {
  trials: TrialResult[];
  faults: Record<FaultKind, number>;
  failedSeeds: number[];
}

/** Starts a cluster in `base`, runs the trials, stops the cluster (removing every guest first). */
export async function runChaos(opts: ChaosOptions): Promise<ChaosSummary> {
  const first = opts.seed ?? Math.floor(Math.random() * 2 ** 31);
  const cluster = await ChaosCluster.start(opts.base, { heartbeatMs: 1_000, guestStartTimeoutMs: 15_000, volumeDriver: opts.volumeDriver ?? "directory" });
  const summary: ChaosSummary = { trials: [], faults: { runtime: 0, tracker: 0, nats: 0, postgres: 0 }, failedSeeds: [] };
  try {
    for (let k = 0; k < opts.trials && !opts.stopRequested?.(); k++) {
      const seed = first + k;
      const r = await runTrial(cluster, seed, opts);
      summary.trials.push(r);
      for (const kind of FAULT_KINDS) summary.faults[kind] += r.faults[kind];
      const faults = FAULT_KINDS.filter((f) => r.faults[f]).map((f) => `${f}×${r.faults[f]}`).join(" ");
      if (r.violations.length) {
        summary.failedSeeds.push(seed);
        opts.log(`trial ${k + 1}/${opts.trials} seed ${seed}: FAILED (${faults}; replay with HOARD_CHAOS_SEED=${seed})\n${r.violations.map((v) => `    ${v}`).join("\n")}`);
        if (opts.stopOnFailure) break;
        // The next trial starts from a clean node: whatever this one left is removed.
        await cleanUp(cluster, "", opts).catch(() => []);
      } else {
        const done = Object.entries(r.operations).filter(([key]) => /^\S+ 20\d$/.test(key)).reduce((n, [, c]) => n + c, 0);
        opts.log(`trial ${k + 1}/${opts.trials} seed ${seed}: ok in ${(r.ms / 1000).toFixed(1)} s (${faults}; ${done} operations accepted, ${r.unavailable} 503s asked again)`);
      }
    }
  } finally {
    await cluster.stop();
  }
  return summary;
}
