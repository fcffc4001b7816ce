/**
 * The crash harness's short form (the long form is `npm run chaos`): a few trials of random operations
 * while the runtime, the tracker, NATS or Postgres is SIGKILLed and restarted; every invariant must hold
 * once the cluster is quiet. HOARD_CHAOS_SEED replays a failing seed; the seed is in every failure.
 */
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import path from "node:path";
import { inject } from "vitest";
import { describe, expect, it } from "vitest";
import { runChaos } from "./chaos/harness.js";

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
