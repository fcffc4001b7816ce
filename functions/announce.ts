import { makeEvent, publicEvents, sources } from "../events/index.js";
import { enqueue, type InstanceRow, type Transaction } from "../store/index.js";

/** The public events about instances (backups have their own, see backup-state.ts). */
type InstanceEventKind = Extract<keyof typeof publicEvents, `instance${string}`>;

/** Queues a public instance event for subscribers, in the transaction that made the change. */
export async function announceInstance(trx: Transaction, kind: InstanceEventKind, row: InstanceRow, status: string): Promise<void> {
  const k = publicEvents[kind];
  const data = k.data.parse({
    instanceId: row.id,
    project: row.project_id,
    name: row.name,
    status,
    ...(row.fault_message ? { fault: row.fault_message } : {}),
  });
  await enqueue(trx, k.subject(row.project_id), makeEvent(k.type, sources.functions, data, { subject: row.id }));
}
