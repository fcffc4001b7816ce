/**
 * Work functions that apply one tracker report to Hoard's state, once. `defineWorkFunction` owns what each
 * of them did first: the trigger on the report's subject in HOARD_WORK, its payload schema as the input, and
 * the one transaction that claims the event in the processed-event ledger and applies it, so a redelivered
 * report changes nothing.
 *
 * Work functions that commit item by item keep `defineFunction`: instance-heartbeat (a transaction per guest,
 * each guarded by the heartbeat's time), backup-schedule-run (a transaction per schedule, each claiming its
 * slot) and subscription-fanout (public events from HOARD_EVENTS, recorded in arrival order).
 */
import type { Logger } from "pino";
import type { z } from "zod";
import type { CloudEvent, EventKind } from "../events/index.js";
import { defineFunction, type FunctionDeps, type HoardFunction } from "../runtime/function.js";
import { claimEvent, type Transaction } from "../store/index.js";

/** One work function: its name, what it does, and how it applies its report. */
export interface WorkFunctionDefinition<S extends z.ZodTypeAny> {
  /** Verb on a noun (`instance-provisioned`); also its durable consumer and its consumer in the ledger. */
  name: string;
  description: string;
  /** The subject it consumes, when wider than the report's own (a family such as `hoard.work.guest.engine.>`). */
  subject?: string;
  /**
   * What makes a repeated report harmless: the ledger (the default), or `apply` itself, written as a
   * compare-and-set that changes nothing the second time (no ledger row is written then).
   */
  repeats?: "ledger" | "compare-and-set";
  /** Applies the report inside the transaction, with the outbox for any command or public event it causes. */
  apply(trx: Transaction, data: z.infer<S>, ctx: { event: CloudEvent<z.infer<S>>; deps: FunctionDeps; log: Logger }): Promise<void>;
}

/** Defines the work function of one kind of tracker report; see the top of this file. */
export function defineWorkFunction<S extends z.ZodTypeAny>(kind: EventKind<S>, def: WorkFunctionDefinition<S>): HoardFunction<S, void> {
  const { name, apply } = def;
  const ledger = (def.repeats ?? "ledger") === "ledger";
  return defineFunction({
    name,
    description: def.description,
    trigger: { kind: "work", stream: "HOARD_WORK", subject: def.subject ?? kind.subject() },
    input: kind.data,
    // A report is a few queries in one transaction.
    timeoutMs: 5_000,
    memoryMb: 128,
    async handle(data, ctx): Promise<void> {
      await ctx.deps.db.transaction(async (trx) => {
        if (ledger && !(await claimEvent(trx, name, ctx.event.id))) return;
        await apply(trx, data, ctx);
      });
    },
  });
}
