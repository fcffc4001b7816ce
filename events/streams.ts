import { DiscardPolicy, RetentionPolicy, StorageType, type JetStreamManager } from "@nats-io/jetstream";
import { nanos } from "@nats-io/transport-node";
import { streams } from "./catalogue.js";

/** Creates Hoard's JetStream streams, or updates them to the declared form. Safe to run concurrently. */
export async function ensureStreams(jsm: JetStreamManager): Promise<void> {
  for (const s of streams) {
    const config = {
      name: s.name,
      subjects: [...s.subjects],
      retention: s.retention === "workqueue" ? RetentionPolicy.Workqueue : RetentionPolicy.Limits,
      storage: StorageType.File,
      discard: DiscardPolicy.Old,
      max_age: nanos(s.maxAgeMs),
      // Retries of the same event id within this window are dropped by the server.
      duplicate_window: nanos(120_000),
    };
    try {
      await jsm.streams.info(s.name);
      await jsm.streams.update(s.name, config);
    } catch (e) {
      if (!String(e).includes("not found")) throw e;
      try {
        await jsm.streams.add(config);
      } catch (e2) {
        if (!String(e2).includes("already in use")) throw e2;
      }
    }
  }
}
