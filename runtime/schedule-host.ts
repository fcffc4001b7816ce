import { makeEvent, sources } from "../events/index.js";
import { lambdaContext, type FunctionDeps, type HoardFunction } from "./function.js";

/**
 * Runs the scheduled functions on their period. Every runtime runs them; the functions are written as
 * compare-and-set sweeps, so two runtimes sweeping at once do each change once.
 */
export function serveSchedules(fns: HoardFunction[], deps: FunctionDeps): { stop(): void } {
  const timers = fns.flatMap((fn) => {
    if (fn.trigger.kind !== "schedule") return [];
    let running = false;
    return [
      setInterval(() => {
        if (running) return;
        running = true;
        const event = makeEvent(`hoard.schedule.${fn.name}`, sources.functions, {});
        fn.handler(event, lambdaContext(fn, event.id, deps))
          .catch((err) => deps.log.warn({ err, fn: fn.name }, "scheduled function failed; it runs again next period"))
          .finally(() => {
            running = false;
          });
      }, fn.trigger.everyMs),
    ];
  });
  return { stop: () => timers.forEach(clearInterval) };
}
