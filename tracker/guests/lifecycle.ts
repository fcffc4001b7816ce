/** Changes to a running guest: its settings, its flavor, its volume's size, and its engine's restarts and stops. */
import { readFile } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import { groupOf, strategyFor } from "../../datastores/index.js";
import { isRunning } from "../../drivers/index.js";
import type { GuestsContext } from "./context.js";
import { readSettings } from "./engine.js";
import { checkId, CONFIGURED_AT_FILE, SETTINGS_FILE, writeJson } from "./layout.js";
import { placementOf, type GuestRecord } from "./records.js";

/** Changes the guests of one node in place. */
export class Lifecycle {
  constructor(private readonly ctx: GuestsContext) {}

  /**
   * Replaces the settings the guest starts with and applies `live` (the dynamic ones) to the running engine,
   * so they hold now and after any restart. A request older than one already applied (`requestedAt`, a
   * redelivered command) is superseded: it changes nothing, so the guest keeps the newest settings.
   */
  async configure(instanceId: string, settings: Record<string, string>, live: Record<string, string>, requestedAt?: string): Promise<void> {
    const { log, layout, records, locks } = this.ctx;
    const id = checkId(instanceId);
    await locks.exclusive(id, async () => {
      const record = records.require(id);
      const appliedFile = path.join(layout.runDir(id), CONFIGURED_AT_FILE);
      const applied = await readFile(appliedFile, "utf8").then((text) => z.object({ requestedAt: z.string() }).parse(JSON.parse(text)).requestedAt, () => null);
      if (requestedAt && applied && Date.parse(requestedAt) < Date.parse(applied)) {
        log.info({ instance: id, requestedAt, applied }, "configure request superseded by a newer one; nothing changed");
        return;
      }
      // Live first: a value the engine refuses is then not kept for the next start either.
      if (Object.keys(live).length) await groupOf(strategyFor(record.manager), "configuration").applySettings(records.handle(record), live);
      await writeJson(path.join(layout.runDir(id), SETTINGS_FILE), settings);
      if (requestedAt) await writeJson(appliedFile, { requestedAt });
    });
  }

  /**
   * Moves a guest to another flavor: new limits and engine settings, one restart. If the engine does not
   * come back, the old flavor and settings are put back (and started) and the error says why.
   */
  async resize(instanceId: string, flavor: { id: string; ramMb: number; vcpus: number }, settings: Record<string, string>): Promise<void> {
    const { log, layout, records, engines, locks } = this.ctx;
    const id = checkId(instanceId);
    await locks.exclusive(id, async () => {
      const before = records.require(id);
      const settingsFile = path.join(layout.runDir(id), SETTINGS_FILE);
      const oldSettings = await readSettings(layout.runDir(id));
      const strategy = strategyFor(before.manager);
      const switchTo = async (record: GuestRecord, values: Record<string, string>) => {
        await writeJson(settingsFile, values);
        const guest = records.handle(record);
        await engines.stop(record.manager, guest.runDir, guest.dataDir, [before.pid]);
        const { pid } = await engines.start(strategy, guest, placementOf(record));
        await records.save({ ...record, pid, stopped: false });
      };
      try {
        await switchTo({ ...before, ramMb: flavor.ramMb, vcpus: flavor.vcpus, flavorId: flavor.id }, settings);
        log.info({ instance: id, flavor: flavor.id }, "guest resized");
      } catch (err) {
        log.warn({ instance: id, flavor: flavor.id, err: (err as Error).message }, "resize failed; going back to the old flavor");
        await switchTo(before, oldSettings).catch((e: Error) => {
          throw new Error(`Resize to flavor ${flavor.id} failed (${(err as Error).message}), and the engine did not come back on flavor ${before.flavorId ?? "(previous)"} either: ${e.message}`);
        });
        throw new Error(`Resize to flavor ${flavor.id} failed, so the instance is back on flavor ${before.flavorId ?? "(previous)"}: ${(err as Error).message}`);
      }
    });
  }

  /** Grows a guest's volume while its engine runs (enforced where the volume driver can). */
  async growVolume(instanceId: string, sizeGb: number): Promise<void> {
    const { log, volumes, records, locks } = this.ctx;
    const id = checkId(instanceId);
    await locks.exclusive(id, async () => {
      records.require(id);
      await volumes.grow(id, sizeGb);
      log.info({ instance: id, sizeGb, enforced: volumes.enforcesSize }, "volume grown");
    });
  }

  /** Stops the engine (if `how.stop`) and starts it (if `how.start`); a guest stopped on purpose stays so across tracker restarts. */
  async relaunch(instanceId: string, how: { stop: boolean; start: boolean }): Promise<void> {
    const { log, records, engines, locks } = this.ctx;
    const id = checkId(instanceId);
    await locks.exclusive(id, async () => {
      const record = records.require(id);
      const guest = records.handle(record);
      if (how.stop) await engines.stop(record.manager, guest.runDir, guest.dataDir, [record.pid]);
      else if (await isRunning(record.pid, guest.dataDir)) return;
      const next: GuestRecord = how.start ? { ...record, pid: (await engines.start(strategyFor(record.manager), guest, placementOf(record))).pid, stopped: false } : { ...record, stopped: true };
      await records.save(next);
      log.info({ instance: id, pid: next.pid, stopped: next.stopped }, how.start ? (how.stop ? "guest restarted" : "guest started") : "guest stopped");
    });
  }
}
