/** What the function host and the dispatcher share as programs of their own (`node runtime/<file>.ts`). */
import path from "node:path";
import { fileURLToPath } from "node:url";

/** Runs `main` when the module at `moduleUrl` is the program node was started with; a failed start exits 1 saying why. */
export function runIfMain(moduleUrl: string, what: string, main: () => Promise<void>): void {
  if (!process.argv[1] || path.resolve(process.argv[1]) !== fileURLToPath(moduleUrl)) return;
  main().catch((e) => {
    console.error(`${what} could not start: ${(e as Error).message}`);
    process.exit(1);
  });
}

/** Stops on SIGTERM or SIGINT (once), then exits. */
export function exitOnSignals(stop: () => Promise<void>): void {
  const exit = async () => {
    await stop();
    process.exit(0);
  };
  process.once("SIGTERM", () => void exit());
  process.once("SIGINT", () => void exit());
}
