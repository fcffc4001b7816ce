/**
 * The reconciler (functions/instance-reconcile) against real parts: each kind of drift between the instance
 * rows and what the tracker's heartbeats list is made on a running Hoard (a row changed behind the control
 * plane's back, a guest made or removed behind it), and the sweep repairs it and records it.
 */
import { randomUUID } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually, startHoard, type Hoard } from "../kit/harness.js";
import { processesIn } from "../kit/processes.js";

const P = "4ec0c11e000000000000000000000001";
const tenant = { "x-auth-token": "tenant-token" };
const admin = { "x-auth-token": "admin-token" };
let hoard: Hoard;

const redis = (name: string) => ({ name, datastore: { type: "redis", version: "7.0" } });
const createActive = async (name: string) => {
  const created = await hoard.api("POST", P, "/instances", { instance: { flavorRef: "1", volume: { size: 1 }, ...redis(name) } }, tenant);
  expect(created.status, JSON.stringify(created.body)).toBe(200);
  const id: string = created.body.instance.id;
  await eventually(async () => ((await hoard.api("GET", P, `/instances/${id}`, undefined, tenant)).body.instance?.status === "ACTIVE" ? true : undefined), 60_000);
  return id;
};
const volumeOf = (id: string) => path.join(hoard.config.home, "volumes", id);
const guestRuns = (id: string) => processesIn(path.join(hoard.config.home, "run", id)).length > 0;
const drift = async () => (await hoard.api("GET", "ops", "/mgmt/drift?limit=1000", undefined, admin)).body.drift as { kind: string; instance_id: string; detail: string; resolved_at: string | null }[];

/** Every public event published so far, as CloudEvents. */
async function publicEvents(): Promise<{ type: string; data: { instanceId: string; fault?: string } }[]> {
  const jsm = await jetstreamManager(hoard.nc);
  const info = await jsm.streams.info("HOARD_EVENTS");
  const out = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
    const m = await jsm.streams.getMessage("HOARD_EVENTS", { seq }).catch(() => null);
    if (m) out.push(m.json<{ type: string; data: { instanceId: string; fault?: string } }>());
  }
  return out;
}

const ids = { orphan: "", missing: "", stalledDelete: "", stalledResize: "", flavor: "", unknown: randomUUID() as string, leftover: randomUUID() as string };

beforeAll(async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "hoard-reconcile-"));
  const tokensFile = path.join(dir, "tokens.json");
  writeFileSync(tokensFile, JSON.stringify({ tokens: { "admin-token": { project: "ops", roles: ["admin"] }, "tenant-token": { project: P, roles: [] } } }));
  // Folders for volumes, so a leftover can be made by hand as a crash leaves it (btrfs is covered by its own tests).
  hoard = await startHoard({ gateway: { port: 0, tokensFile }, volumeDriver: "directory" });
  const made = await Promise.all(["orphan", "missing", "stalled-delete", "stalled-resize", "flavor"].map(createActive));
  [ids.orphan, ids.missing, ids.stalledDelete, ids.stalledResize, ids.flavor] = made as [string, string, string, string, string];
  const db = hoard.plane.db;
  const supervisor = hoard.plane.tracker!.supervisor;
  // Deleted while its tracker was away, and the removal never reached the node: the guest runs on.
  await db("instances").where({ id: ids.orphan }).update({ deleted_at: db.fn.now(), server_status: "SHUTDOWN" });
  // A guest the control plane never knew (another control plane's, or a row lost with a restored database).
  await supervisor.provision({ instanceId: ids.unknown, node: hoard.config.node, manager: "redis", datastore: "redis", version: "7.0", flavor: { id: "1", ramMb: 512, vcpus: 1 }, volumeSizeGb: 1, networkId: "n-unknown", databases: [], users: [], settings: {} });
  // What a build cut short leaves: a volume and a run folder, no guest.
  mkdirSync(path.join(volumeOf(ids.leftover), "data"), { recursive: true });
  mkdirSync(path.join(hoard.config.home, "run", ids.leftover), { recursive: true });
  // The guest vanished from its node behind the control plane's back (disk replaced, folder removed by hand).
  await supervisor.deprovision(ids.missing);
  // Commands lost an hour ago: a delete (which can be sent again) and a resize (which cannot).
  const anHourAgo = db.raw("now() - interval '1 hour'");
  await db("instances").where({ id: ids.stalledDelete }).update({ task: "DELETING", updated_at: anHourAgo });
  await db("instances").where({ id: ids.stalledResize }).update({ task: "RESIZING", updated_at: anHourAgo });
  // A resize carried out whose report was lost: the row still names the old flavor.
  await db("instances").where({ id: ids.flavor }).update({ flavor_id: "2", updated_at: anHourAgo });
}, 120_000);

afterAll(async () => {
  await hoard?.stop();
});

describe("the reconciler", () => {
  it("stops and removes a guest whose instance was deleted, records it and tells its project", async () => {
    expect(guestRuns(ids.orphan)).toBe(true);
    await eventually(async () => (!guestRuns(ids.orphan) && !existsSync(volumeOf(ids.orphan)) ? true : undefined), 60_000, 500);
    const record = (await drift()).find((d) => d.instance_id === ids.orphan);
    expect(record).toMatchObject({ kind: "orphaned_guest" });
    expect(record!.detail).toContain("deleted instance");
    const event = await eventually(async () => (await publicEvents()).find((e) => e.type === "instance.orphan_removed" && e.data.instanceId === ids.orphan), 10_000);
    expect(event.data.fault).toContain("was removed");
    // Once gone from the heartbeats, the record is closed.
    await eventually(async () => ((await drift()).find((d) => d.instance_id === ids.orphan)?.resolved_at ? true : undefined), 30_000, 500);
  });

  it("removes a guest no row ever knew", async () => {
    await eventually(async () => (!guestRuns(ids.unknown) && !existsSync(volumeOf(ids.unknown)) ? true : undefined), 60_000, 500);
    expect((await drift()).find((d) => d.instance_id === ids.unknown)).toMatchObject({ kind: "orphaned_guest" });
    expect(hoard.plane.tracker!.supervisor.list()).not.toContain(ids.unknown);
  });

  it("removes the volume and run folder a cut-short build left", async () => {
    await eventually(async () => (!existsSync(volumeOf(ids.leftover)) && !existsSync(path.join(hoard.config.home, "run", ids.leftover)) ? true : undefined), 60_000, 500);
    expect((await drift()).find((d) => d.instance_id === ids.leftover)).toMatchObject({ kind: "leftover_volume" });
  });

  it("puts an instance whose guest is gone in ERROR with the reason, and it can then be deleted", async () => {
    const shown = await eventually(async () => {
      const r = await hoard.api("GET", P, `/instances/${ids.missing}`, undefined, tenant);
      return r.body.instance.status === "ERROR" ? r.body.instance : undefined;
    }, 60_000, 500);
    expect(shown.fault.message).toContain("is gone from network node");
    expect((await drift()).find((d) => d.instance_id === ids.missing)).toMatchObject({ kind: "missing_guest" });
    expect((await publicEvents()).some((e) => e.type === "instance.error" && e.data.instanceId === ids.missing)).toBe(true);
    expect((await hoard.api("DELETE", P, `/instances/${ids.missing}`, undefined, tenant)).status).toBe(202);
    await eventually(async () => ((await hoard.api("GET", P, `/instances/${ids.missing}`, undefined, tenant)).status === 404 ? true : undefined), 30_000, 500);
  });

  it("sends a lost deprovision again, so a delete stuck in DELETING finishes", async () => {
    await eventually(async () => ((await hoard.api("GET", P, `/instances/${ids.stalledDelete}`, undefined, tenant)).status === 404 ? true : undefined), 60_000, 500);
    expect(guestRuns(ids.stalledDelete)).toBe(false);
    expect(existsSync(volumeOf(ids.stalledDelete))).toBe(false);
    expect((await drift()).find((d) => d.instance_id === ids.stalledDelete)).toMatchObject({ kind: "stalled_task" });
  });

  it("gives up a resize past its deadline: the instance leaves RESIZE with the reason as its fault", async () => {
    const shown = await eventually(async () => {
      const r = await hoard.api("GET", P, `/instances/${ids.stalledResize}`, undefined, tenant);
      return r.body.instance.status !== "RESIZE" ? r.body.instance : undefined;
    }, 60_000, 500);
    expect(shown.status).toBe("ACTIVE");
    expect(shown.fault.message).toContain("RESIZING did not finish");
    expect(guestRuns(ids.stalledResize)).toBe(true);
  });

  it("takes a guest's flavor from the node when the row disagrees", async () => {
    await eventually(async () => ((await hoard.api("GET", P, `/instances/${ids.flavor}`, undefined, tenant)).body.instance.flavor.id === "1" ? true : undefined), 60_000, 500);
    expect((await drift()).find((d) => d.instance_id === ids.flavor)).toMatchObject({ kind: "flavor_mismatch" });
  });

  it("removes nothing when most of what a node reports has no row at all (the wrong database, say)", async () => {
    const strangers = [randomUUID(), randomUUID(), randomUUID()];
    for (const id of strangers) mkdirSync(path.join(volumeOf(id), "data"), { recursive: true });
    const log = path.join(hoard.config.home, "hoard.log");
    await eventually(async () => (readFileSync(log, "utf8").includes("most of this node's guests have no row at all") ? true : undefined), 30_000, 500);
    for (const id of strangers) expect(existsSync(volumeOf(id))).toBe(true);
    for (const id of strangers) rmSync(volumeOf(id), { recursive: true });
  });

  it("shows its record to admins only", async () => {
    const r = await hoard.api("GET", P, "/mgmt/drift", undefined, tenant);
    expect(r.status).toBe(401);
    const bad = await hoard.api("GET", "ops", "/mgmt/drift?limit=0", undefined, admin);
    expect(bad.status).toBe(400);
    expect(bad.body.badRequest.message).toContain("limit");
  });
});
