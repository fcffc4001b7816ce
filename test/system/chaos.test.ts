/**
 * The crash harness's short form (the long form is `npm run chaos`): a few trials of random operations
 * while the runtime, the tracker, NATS or Postgres is SIGKILLed and restarted; every invariant must hold
 * once the cluster is quiet. HOARD_CHAOS_SEED replays a failing seed; the seed is in every failure.
 */
import { createHash } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { inject } from "vitest";
import { describe, expect, it } from "vitest";
import { runChaos } from "./chaos/harness.js";
import { backupsHold, builtOnce, eventsAgree, noStrays, pendingWork, restingStates, type BackupRow, type Row } from "./chaos/invariants.js";

const TRIALS = 3;

describe("crash anywhere", () => {
  it(`keeps every invariant through ${TRIALS} trials of operations and SIGKILLs`, async () => {
    const base = mkdtempSync(path.join(inject("home"), "chaos-"));
    chmodSync(base, 0o755);
    const seed = process.env.HOARD_CHAOS_SEED ? Number(process.env.HOARD_CHAOS_SEED) : Math.floor(Math.random() * 2 ** 31);
    const lines: string[] = [];
    const summary = await runChaos({ base, trials: TRIALS, seed, operations: 10, faults: 2, quietTimeoutMs: 150_000, stopOnFailure: true, log: (l) => lines.push(l) });
    rmSync(base, { recursive: true, force: true });
    const failed = summary.trials.filter((t) => t.violations.length);
    expect(failed.map((t) => `seed ${t.seed} (replay: HOARD_CHAOS_SEED=${t.seed} npx vitest run test/chaos.test.ts):\n${t.violations.join("\n")}`), lines.join("\n")).toEqual([]);
    expect(summary.trials).toHaveLength(TRIALS);
    // Each trial injected its faults.
    expect(Object.values(summary.faults).reduce((a, b) => a + b, 0)).toBe(TRIALS * 2);
  }, 900_000);
});

describe("the invariants", () => {
  const row = (id: string, more: Partial<Row> = {}): Row => ({ id, project_id: "p", task: "NONE", server_status: "ACTIVE", fault_message: null, port: null, deleted_at: null, ...more });
  const event = (id: string, type: string, instanceId: string) => ({ id, type, data: { instanceId, status: "" } });

  it("catch a stuck task and an ERROR without a reason", () => {
    expect(restingStates([row("a"), row("b", { task: "RESIZING" }), row("c", { server_status: "ERROR" }), row("d", { server_status: "ERROR", fault_message: "why" })])).toEqual([
      "instance b is stuck in task RESIZING (server ACTIVE)",
      "instance c is in ERROR without a reason",
    ]);
  });

  it("catch pending work above the count NATS kept after its own crash", () => {
    expect(pendingWork(new Map([["backup-completed", 2], ["instance-provisioned", 1]]), new Map([["backup-completed", 2]]))).toEqual(["1 message(s) still pending for instance-provisioned"]);
    expect(pendingWork(new Map([["backup-completed", 3]]), new Map([["backup-completed", 2]]))).toEqual(["3 message(s) still pending for backup-completed"]);
  });

  it("catch a guest built twice", () => {
    const line = JSON.stringify({ msg: "guest provisioned", instance: "x" });
    expect(builtOnce([line, line, JSON.stringify({ msg: "guest provisioned", instance: "y" })].join("\n"))).toEqual(["the guest of x was built 2 times"]);
  });

  it("catch events that disagree with the rows", () => {
    const rows = [row("a", { deleted_at: new Date() }), row("b"), row("c")];
    const events = [event("1", "instance.created", "a"), event("2", "instance.deleted", "a"), event("3", "instance.active", "a"), event("4", "instance.created", "b"), event("4", "instance.created", "b")];
    expect(eventsAgree(rows, events)).toEqual([
      "event 4 (instance.created) was published twice",
      "instance a has events after its deletion: instance.active",
      "instance b was announced created 2 times",
      "instance c was announced created 0 times",
    ]);
  });

  it("catch a volume and a run folder without a row, and a row without its guest", async () => {
    const home = mkdtempSync(path.join(inject("home"), "strays-"));
    mkdirSync(path.join(home, "volumes", "stray"), { recursive: true });
    mkdirSync(path.join(home, "run", "stray"), { recursive: true });
    const found = await noStrays([row("gone", { server_status: "SHUTDOWN" })], home);
    rmSync(home, { recursive: true, force: true });
    expect(found).toEqual(["run folder of stray exists without a live row", "volume of stray exists without a live row", "instance gone is SHUTDOWN but its node has no guest for it"]);
  });

  it("look for volumes and snapshots where the btrfs driver keeps them", async () => {
    const home = mkdtempSync(path.join(inject("home"), "strays-"));
    mkdirSync(path.join(home, "btrfs", "mnt", "volumes", "stray"), { recursive: true });
    mkdirSync(path.join(home, "btrfs", "mnt", "snapshots", "stray", "backup-b1"), { recursive: true });
    const strays = await noStrays([], home, "btrfs");
    const backups = await backupsHold([], home, "btrfs");
    rmSync(home, { recursive: true, force: true });
    expect(strays).toEqual(["volume of stray exists without a live row"]);
    expect(backups).toEqual(["snapshot backup-b1 of stray left behind (backup without a row)"]);
  });

  it("catch backups stuck, unrestorable, unencrypted, failed with a file, or left behind (files, snapshots, scratch)", async () => {
    const home = mkdtempSync(path.join(inject("home"), "backups-"));
    const file = (rel: string, text: string) => {
      mkdirSync(path.dirname(path.join(home, rel)), { recursive: true });
      writeFileSync(path.join(home, rel), text);
    };
    const sha = (text: string) => createHash("sha256").update(text).digest("hex");
    // A sealed file starts with the format's magic; the invariant reads only that and the row's encryption.
    const sealed = (text: string) => `HOARDBK1${text}`;
    const encryption = { cipher: "aes-256-gcm", keyId: "k" };
    file("backups/i1/good.tar.zst.enc", sealed("good"));
    file("backups/i1/bad.tar.zst.enc", sealed("changed"));
    file("backups/i1/plain.tar.zst", "plain");
    file("backups/i1/failed.tar.zst", "x");
    file("backups/i1/stray.tar.zst", "x");
    file("backups/i1/.partial-abc-x.tar.zst", "x");
    mkdirSync(path.join(home, "volumes", ".snapshots", "i1", "backup-failed"), { recursive: true });
    mkdirSync(path.join(home, "backup-work", "failed"), { recursive: true });
    const b = (id: string, status: string, more: Partial<BackupRow> = {}): BackupRow => ({ id, project_id: "p", instance_id: "i1", status, fail_reason: null, artifact: null, ...more });
    const found = await backupsHold(
      [
        b("good", "COMPLETED", { artifact: { location: "i1/good.tar.zst.enc", checksum: sha(sealed("good")), encryption } }),
        b("bad", "COMPLETED", { artifact: { location: "i1/bad.tar.zst.enc", checksum: sha(sealed("bad")), encryption } }),
        b("plain", "COMPLETED", { artifact: { location: "i1/plain.tar.zst", checksum: sha("plain") } }),
        b("lost", "COMPLETED", { artifact: { location: "i1/lost.tar.zst", checksum: sha("lost") } }),
        b("failed", "FAILED", { fail_reason: "why" }),
        b("mute", "FAILED"),
        b("stuck", "BUILDING"),
      ],
      home,
    );
    rmSync(home, { recursive: true, force: true });
    expect(found.sort()).toEqual(
      [
        "partial file i1/.partial-abc-x.tar.zst left in the backup store",
        "backup bad is COMPLETED but its file does not match its checksum",
        "backup plain is COMPLETED but its file i1/plain.tar.zst is not encrypted",
        "backup lost is COMPLETED but its file i1/lost.tar.zst is not in the store",
        "backup failed FAILED but its file i1/failed.tar.zst is in the store",
        "backup mute FAILED without a reason",
        "backup stuck is stuck in BUILDING",
        "backup file i1/stray.tar.zst is in the store without a backup row",
        "snapshot backup-failed of i1 left behind (backup FAILED)",
        "scratch folder of backup failed left behind (FAILED)",
      ].sort(),
    );
  });

  it("do not count a backup's events as its instance's", () => {
    const rows = [row("a", { deleted_at: new Date() })];
    const events = [event("1", "instance.created", "a"), event("2", "instance.deleted", "a"), event("3", "backup.deleted", "a")];
    expect(eventsAgree(rows, events)).toEqual([]);
  });
});
