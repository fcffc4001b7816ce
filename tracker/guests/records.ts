/**
 * The guests a node knows: each one's guest.json record (written last when a guest is built, so a run folder
 * without it is a half-built guest) and its admin secret, read back after a tracker restart.
 */
import { readFile } from "node:fs/promises";
import path from "node:path";
import type { Logger } from "pino";
import { z } from "zod";
import type { GuestHandle } from "../../datastores/index.js";
import type { Volumes } from "../../drivers/index.js";
import { refuse } from "../../errors/index.js";
import { GUEST_FILE, SECRET_FILE, writeJson, type NodeLayout } from "./layout.js";

/** What guest.json holds: enough to find, check and stop the guest after a tracker restart. */
export const GuestRecord = z.object({
  instanceId: z.string(),
  manager: z.string(),
  version: z.string(),
  host: z.string(),
  port: z.number().int(),
  pid: z.number().int(),
  ramMb: z.number().int(),
  /** Absent in records written before limits existed: one. */
  vcpus: z.number().int().positive().optional(),
  flavorId: z.string().optional(),
  networkId: z.string(),
  volume: z.string(),
  createdAt: z.string(),
  /** Stopped on purpose: not started again by adoption or a repeated provision. */
  stopped: z.boolean().optional(),
  /** The guest's own OS user; absent in records of guests made before they had one (adopt() moves them). */
  uid: z.number().int().positive().optional(),
  gid: z.number().int().positive().optional(),
});
export type GuestRecord = z.infer<typeof GuestRecord>;

/** The known guests' records and admin secrets, in memory and on disk. */
export class GuestRecords {
  /** The complete guests, by instance id. */
  readonly known = new Map<string, GuestRecord>();
  /** Admin passwords of known guests; on disk only in each guest's admin.secret. */
  readonly secrets = new Map<string, string>();

  constructor(
    private readonly layout: NodeLayout,
    private readonly volumes: Volumes,
    private readonly log: Logger,
  ) {}

  /** Reads run/<id>/guest.json and the admin secret into memory; undefined if the guest was never completed. */
  async read(id: string, remember = true): Promise<GuestRecord | undefined> {
    const runDir = this.layout.runDir(id);
    const text = await readFile(path.join(runDir, GUEST_FILE), "utf8").catch(() => undefined);
    if (text === undefined) return undefined;
    let record: GuestRecord;
    try {
      record = GuestRecord.parse(JSON.parse(text));
    } catch (err) {
      this.log.warn({ instance: id, err: (err as Error).message }, "unreadable guest.json; guest not adopted");
      return undefined;
    }
    if (record.instanceId !== id) return undefined;
    if (remember) {
      const secret = await readFile(path.join(runDir, SECRET_FILE), "utf8").catch(() => undefined);
      if (secret === undefined) this.log.warn({ instance: id }, "guest has no admin secret; it will report RUNNING at best");
      else this.secrets.set(id, secret.trim());
      this.known.set(id, record);
    }
    return record;
  }

  /** The record of a known guest; refused (GUEST_ABSENT, 404) when this node has no such guest. */
  require(id: string): GuestRecord {
    const record = this.known.get(id);
    if (!record) throw refuse("GUEST_ABSENT", { id });
    return record;
  }

  /** Writes the guest's record, then knows it: what is on disk is never behind what the tracker acted on. */
  async save(record: GuestRecord): Promise<void> {
    await writeJson(path.join(this.layout.runDir(record.instanceId), GUEST_FILE), record);
    this.known.set(record.instanceId, record);
  }

  /** What an engine strategy needs of a recorded guest. */
  handle(record: GuestRecord): GuestHandle {
    const id = record.instanceId;
    return {
      instanceId: id,
      volume: this.volumes.path(id),
      dataDir: this.layout.dataDir(id),
      runDir: this.layout.runDir(id),
      host: record.host,
      port: record.port,
      ramMb: record.ramMb,
      adminPassword: this.secrets.get(id) ?? "",
      ...(record.uid !== undefined && record.gid !== undefined ? { user: { uid: record.uid, gid: record.gid } } : {}),
    };
  }
}

/** What a recorded guest needs to start again: its flavor's vCPUs and its network. */
export function placementOf(record: GuestRecord): { vcpus: number; networkId: string } {
  return { vcpus: record.vcpus ?? 1, networkId: record.networkId };
}
