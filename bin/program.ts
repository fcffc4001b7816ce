/** What bin/'s programs share: how a start fails, and (the function host and the dispatcher) how they stop. */

/** Runs a program's `main`; a failed start exits 1 saying why. */
export function runProgram(what: string, main: () => Promise<void>): void {
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
