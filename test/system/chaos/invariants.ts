/**
 * What must hold once the cluster is quiet after a trial, each check returning the violations it found
 * (empty when it holds). They read the truth from its sources: the rows in Postgres, the tracker's folders,
 * the process table, the cgroups, the tracker's log and the public event stream.
 */
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type pg from "pg";
import { CgroupLimits, cgroupScope, GuestUsers, looksSealed } from "../../../drivers/index.js";
import { processesIn } from "../../kit/processes.js";

/** The tasks an instance may rest in: none under way, or a failed build. */
const RESTING = new Set(["NONE", "BUILDING_ERROR_SERVER"]);

export interface Row {
  id: string;
  project_id: string;
  task: string;
  server_status: string;
  fault_message: string | null;
  port: number | null;
  deleted_at: Date | null;
}

/** The rows of every instance ever made in the database. */
export async function allRows(db: pg.Pool): Promise<Row[]> {
  return (await db.query("select id, project_id, task, server_status, fault_message, port, deleted_at from instances")).rows;
}

/** 1. Every instance rests: ACTIVE, SHUTDOWN (stopped on request), ERROR with a reason, or deleted. */
export function restingStates(rows: Row[]): string[] {
  return rows.filter((r) => !r.deleted_at).flatMap((r) => {
    if (!RESTING.has(r.task)) return [`instance ${r.id} is stuck in task ${r.task} (server ${r.server_status})`];
    const error = r.task === "BUILDING_ERROR_SERVER" || r.server_status === "ERROR";
    if (error && !r.fault_message) return [`instance ${r.id} is in ERROR without a reason`];
    return [];
  });
}

/** The volume drivers the harness runs the tracker with. */
export type VolumeDriver = "directory" | "btrfs";

/** Where a tracker's volume driver keeps guest volumes and their snapshots (`<snapshots>/<instanceId>/<name>`). */
export function volumeFolders(trackerHome: string, driver: VolumeDriver): { volumes: string; snapshots: string } {
  if (driver === "btrfs") return { volumes: path.join(trackerHome, "btrfs", "mnt", "volumes"), snapshots: path.join(trackerHome, "btrfs", "mnt", "snapshots") };
  return { volumes: path.join(trackerHome, "volumes"), snapshots: path.join(trackerHome, "volumes", ".snapshots") };
}

const escaped = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** The guest resources on the tracker's node, by instance id. */
export function guestResources(trackerHome: string, driver: VolumeDriver = "directory"): { runs: Set<string>; volumes: Set<string>; processes: Map<string, number[]>; records: Map<string, { port: number; stopped?: boolean; uid?: number }> } {
  const list = (dir: string) => new Set(existsSync(dir) ? readdirSync(dir) : []);
  const runRoot = path.join(trackerHome, "run");
  const runs = list(runRoot);
  const volumeRoot = volumeFolders(trackerHome, driver).volumes;
  // Dot-names are the driver's own (the directory driver's `.snapshots`), not volumes.
  const volumes = new Set([...list(volumeRoot)].filter((n) => !n.startsWith(".")));
  const processes = new Map<string, number[]>();
  // A guest's engine works in its run folder or (redis) its data folder, and names them on its command line.
  const owner = new RegExp(`(?:${escaped(runRoot)}|${escaped(volumeRoot)})/([^/\\s]+)`);
  for (const p of processesIn(trackerHome)) {
    const id = owner.exec(`${p.cwd}/`)?.[1] ?? owner.exec(p.cmdline)?.[1];
    if (!id) continue;
    processes.set(id, [...(processes.get(id) ?? []), p.pid]);
  }
  const records = new Map<string, { port: number; stopped?: boolean; uid?: number }>();
  for (const id of runs) {
    try {
      records.set(id, JSON.parse(readFileSync(path.join(runRoot, id, "guest.json"), "utf8")));
    } catch {
      // no complete guest
    }
  }
  return { runs, volumes, processes, records };
}

/** The real and effective uids of a process (null once it is gone). */
function uidsOf(pid: number): number[] | null {
  try {
    const line = /^Uid:\s+(\d+)\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return line ? [Number(line[1]), Number(line[2])] : null;
  } catch {
    return null;
  }
}

/**
 * 2. No guest process, run folder, volume, cgroup or OS account without a live row, and no live row that
 * claims a guest (ACTIVE or SHUTDOWN, nothing under way) without one; an ACTIVE guest answers on its row's
 * port; no guest process runs as root or as another uid than its guest's own (a crash mid-build or mid-move
 * must not leave an engine running as root, nor an account no guest has).
 */
export async function noStrays(rows: Row[], trackerHome: string, driver: VolumeDriver = "directory"): Promise<string[]> {
  const live = new Map(rows.filter((r) => !r.deleted_at).map((r) => [r.id, r]));
  const found = guestResources(trackerHome, driver);
  const out: string[] = [];
  for (const id of found.processes.keys()) if (!live.has(id)) out.push(`guest process(es) ${found.processes.get(id)!.join(",")} of ${id} run without a live row`);
  for (const id of found.runs) if (!live.has(id)) out.push(`run folder of ${id} exists without a live row`);
  for (const id of found.volumes) if (!live.has(id)) out.push(`volume of ${id} exists without a live row`);
  const cgroups = await new CgroupLimits({ scope: cgroupScope(trackerHome) }).listLimited().catch(() => [] as string[]);
  for (const id of cgroups) if (!live.has(id)) out.push(`cgroup of ${id} exists without a live row`);
  if (process.getuid?.() === 0) {
    const users = new GuestUsers({ scope: cgroupScope(trackerHome) });
    const owned = new Set([...live.keys()].map((id) => users.nameOf(id)));
    for (const name of await users.list()) if (!owned.has(name)) out.push(`OS account ${name} exists without a live row`);
    for (const [id, pids] of found.processes) {
      const uid = found.records.get(id)?.uid;
      for (const pid of pids) {
        const uids = uidsOf(pid);
        if (uids === null) continue;
        if (uids.includes(0)) out.push(`guest process ${pid} of ${id} runs as root`);
        else if (uid !== undefined && uids.some((u) => u !== uid)) out.push(`guest process ${pid} of ${id} runs as uid ${uids.join("/")}, not its guest's ${uid}`);
      }
    }
  }
  const ports = new Map<number, string>();
  for (const r of live.values()) {
    if (r.task !== "NONE" || !["ACTIVE", "SHUTDOWN"].includes(r.server_status)) continue;
    const record = found.records.get(r.id);
    if (!record) {
      out.push(`instance ${r.id} is ${r.server_status} but its node has no guest for it`);
      continue;
    }
    if (!found.volumes.has(r.id)) out.push(`instance ${r.id} is ${r.server_status} but has no volume`);
    if (r.port !== record.port) out.push(`instance ${r.id} says port ${r.port}, its guest listens on ${record.port}`);
    if (r.port !== null && ports.has(r.port)) out.push(`instances ${r.id} and ${ports.get(r.port)} share port ${r.port}`);
    if (r.port !== null) ports.set(r.port, r.id);
    const running = found.processes.has(r.id);
    // One engine per guest: a second one is an engine a crash cut loose from its guest (it holds a port).
    const engines = topLevel(found.processes.get(r.id) ?? []);
    if (engines.length > 1) out.push(`instance ${r.id} has ${engines.length} engine processes (${engines.join(",")})`);
    if (r.server_status === "ACTIVE" && !record.stopped && !running) out.push(`instance ${r.id} is ACTIVE but no engine process runs`);
    if (r.server_status === "ACTIVE" && running && r.port !== null && !(await answers(r.port))) out.push(`instance ${r.id} is ACTIVE but nothing answers on port ${r.port}`);
    if (r.server_status === "SHUTDOWN" && running) out.push(`instance ${r.id} is SHUTDOWN but its engine runs`);
  }
  return out;
}

export interface BackupRow {
  id: string;
  project_id: string;
  instance_id: string;
  status: string;
  fail_reason: string | null;
  artifact: { location: string; checksum: string; encryption?: unknown } | null;
}

/** The rows of every backup in the database. */
export async function allBackups(db: pg.Pool): Promise<BackupRow[]> {
  return (await db.query("select id, project_id, instance_id, status, fail_reason, artifact from backups")).rows;
}

/**
 * 6. Backups rest and their files agree with their rows: none left NEW, BUILDING or DELETING; each COMPLETED
 * one's file is in the store, sealed (encrypted: the store never holds plaintext, even from a backup a crash
 * cut short and a redelivery finished), with the checksum its row records (restorable); a FAILED one says why and left no
 * file; no file in the store without a row; no backup snapshot or scratch folder left once nothing runs.
 */
export async function backupsHold(backups: BackupRow[], trackerHome: string, driver: VolumeDriver = "directory"): Promise<string[]> {
  const out: string[] = [];
  const store = path.join(trackerHome, "backups");
  // The store's files by backup id (`<instanceId>/<backupId>.<ext>`); partial writes by their full name.
  const files = new Map<string, string>();
  for (const dir of existsSync(store) ? readdirSync(store) : []) {
    const folder = path.join(store, dir);
    for (const name of readdirSync(folder, { withFileTypes: true }).filter((e) => e.isFile()).map((e) => e.name)) {
      if (name.startsWith(".")) out.push(`partial file ${dir}/${name} left in the backup store`);
      else files.set(name.split(".")[0]!, `${dir}/${name}`);
    }
  }
  const rows = new Map(backups.map((b) => [b.id, b]));
  for (const b of backups) {
    if (["NEW", "BUILDING", "DELETING"].includes(b.status)) out.push(`backup ${b.id} is stuck in ${b.status}`);
    if (b.status === "COMPLETED") {
      const file = b.artifact ? path.join(store, b.artifact.location) : null;
      if (!file || !existsSync(file)) out.push(`backup ${b.id} is COMPLETED but its file ${b.artifact?.location ?? "(no artifact)"} is not in the store`);
      else {
        const bytes = readFileSync(file);
        if (createHash("sha256").update(bytes).digest("hex") !== b.artifact!.checksum) out.push(`backup ${b.id} is COMPLETED but its file does not match its checksum`);
        if (!looksSealed(bytes) || !b.artifact!.encryption) out.push(`backup ${b.id} is COMPLETED but its file ${b.artifact!.location} is not encrypted`);
      }
    }
    if (b.status === "FAILED") {
      if (!b.fail_reason) out.push(`backup ${b.id} FAILED without a reason`);
      if (files.has(b.id)) out.push(`backup ${b.id} FAILED but its file ${files.get(b.id)} is in the store`);
    }
  }
  for (const [id, file] of files) if (!rows.has(id)) out.push(`backup file ${file} is in the store without a backup row`);
  const snapshots = volumeFolders(trackerHome, driver).snapshots;
  for (const id of existsSync(snapshots) ? readdirSync(snapshots) : []) {
    for (const name of readdirSync(path.join(snapshots, id))) if (name.startsWith("backup-")) out.push(`snapshot ${name} of ${id} left behind (backup ${rows.get(name.slice(7))?.status ?? "without a row"})`);
  }
  const scratch = path.join(trackerHome, "backup-work");
  for (const id of existsSync(scratch) ? readdirSync(scratch) : []) out.push(`scratch folder of backup ${id} left behind (${rows.get(id)?.status ?? "without a row"})`);
  return out;
}

/** 3. No operation carried out twice: each instance's guest was built at most once (the tracker logs each build). */
export function builtOnce(trackerLog: string): string[] {
  const builds = new Map<string, number>();
  for (const line of trackerLog.split("\n")) {
    if (!line.includes('"guest provisioned"')) continue;
    try {
      const id = JSON.parse(line).instance as string;
      builds.set(id, (builds.get(id) ?? 0) + 1);
    } catch {
      // a line cut short by a SIGKILL
    }
  }
  return [...builds].filter(([, n]) => n > 1).map(([id, n]) => `the guest of ${id} was built ${n} times`);
}

interface PublicEvent {
  id: string;
  type: string;
  data: { instanceId: string; status: string };
}

/** Every public event of `project`s, in stream order. */
export async function publicEvents(nc: NatsConnection, projects: Set<string>): Promise<PublicEvent[]> {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info("HOARD_EVENTS");
  const out: PublicEvent[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
    const m = await jsm.streams.getMessage("HOARD_EVENTS", { seq }).catch(() => null);
    if (!m || !projects.has(m.subject.split(".")[2] ?? "")) continue;
    out.push(m.json<PublicEvent>());
  }
  return out;
}

/**
 * 4. Public events agree with the rows: each instance announced created once, deleted once exactly when its
 * row is deleted and nothing after but an orphan's removal, no event published twice.
 */
export function eventsAgree(rows: Row[], events: PublicEvent[]): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  const byInstance = new Map<string, PublicEvent[]>();
  for (const e of events) {
    if (seen.has(e.id)) out.push(`event ${e.id} (${e.type}) was published twice`);
    seen.add(e.id);
    // A backup's events name its instance too; a backup outlives its instance (deleted after it, as Trove's).
    if (!e.type.startsWith("instance.")) continue;
    byInstance.set(e.data.instanceId, [...(byInstance.get(e.data.instanceId) ?? []), e]);
  }
  for (const r of rows) {
    const list = byInstance.get(r.id) ?? [];
    const created = list.filter((e) => e.type === "instance.created").length;
    if (created !== 1) out.push(`instance ${r.id} was announced created ${created} times`);
    const deletedAt = list.findIndex((e) => e.type === "instance.deleted");
    const deleted = list.filter((e) => e.type === "instance.deleted").length;
    if (r.deleted_at && deleted !== 1) out.push(`instance ${r.id} is deleted but was announced deleted ${deleted} times`);
    if (!r.deleted_at && deleted) out.push(`instance ${r.id} is live but was announced deleted`);
    if (deletedAt >= 0) {
      const after = list.slice(deletedAt + 1).filter((e) => e.type !== "instance.orphan_removed");
      if (after.length) out.push(`instance ${r.id} has events after its deletion: ${after.map((e) => e.type).join(", ")}`);
    }
  }
  return out;
}

/** The processes of a group whose parent is not in it (an engine's own workers are not counted). */
function topLevel(pids: number[]): number[] {
  const parent = (pid: number) => {
    try {
      return Number(readFileSync(`/proc/${pid}/stat`, "utf8").replace(/^.*\) /s, "").split(" ")[1]);
    } catch {
      return 0;
    }
  };
  const group = new Set(pids);
  return pids.filter((p) => !group.has(parent(p)));
}

/**
 * Quiet means no command and no work event waiting or in flight (heartbeats, which never stop, aside): only
 * then is the state final. Returns what is still pending.
 */
export function pendingWork(counts: ReadonlyMap<string, number>, stale: ReadonlyMap<string, number> = new Map()): string[] {
  return [...counts].filter(([name, n]) => n > (stale.get(name) ?? 0)).map(([name, n]) => `${n} message(s) still pending for ${name}`);
}

/**
 * Messages each consumer of the command and work streams has not finished (not delivered, or not acked yet),
 * by consumer; heartbeats aside (they never stop). `pendingWork` takes the counts `stale` names as the
 * server's own (see the harness).
 */
export async function pendingCounts(nc: NatsConnection): Promise<Map<string, number>> {
  const jsm = await jetstreamManager(nc);
  const counts = new Map<string, number>();
  for (const stream of ["HOARD_NODES", "HOARD_WORK"]) {
    for await (const c of jsm.consumers.list(stream)) {
      if (c.name === "instance-heartbeat") continue;
      const n = c.num_pending + c.num_ack_pending;
      if (n > 0) counts.set(c.name, n);
    }
  }
  return counts;
}

function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: "127.0.0.1" });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.once("connect", () => done(true));
    s.once("error", () => done(false));
    s.setTimeout(2_000, () => done(false));
  });
}
