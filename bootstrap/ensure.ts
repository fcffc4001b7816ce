/** `node --import tsx bootstrap/ensure.ts <server|test>`: installs missing Debian packages before a run (used by bin/launch.mjs). */
import { ensurePackages } from "./packages.js";

const purpose = process.argv[2] ?? "server";
if (purpose !== "server" && purpose !== "test") {
  console.error(`usage: ensure.ts <server|test> (got '${purpose}')`);
  process.exit(2);
}
try {
  await ensurePackages(purpose, console.log);
} catch (e) {
  console.error((e as Error).message);
  process.exit(1);
}
