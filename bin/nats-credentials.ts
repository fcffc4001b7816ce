/**
 * `node --import tsx bin/nats-credentials.ts <folder> [part …]`: makes the NATS credentials of a cluster's
 * parts (default: admin gateway runtime tracker) in `<folder>`, one nkey seed `<part>.nk` each (0600), and
 * prints each part's public key as `part=U…` (an env file for the secret nats-server reads them from; see
 * infra/kubernetes/10-secrets.yaml). Seeds already there are kept, so it may be run again to add a part.
 */
import path from "node:path";
import { ensureCredentials, publicKeys } from "../bootstrap/nats-credentials.js";
import { trackerPart, type NatsPart } from "../events/index.js";

const [folder, ...named] = process.argv.slice(2);
if (!folder) {
  console.error("usage: node --import tsx bin/nats-credentials.ts <folder> [admin gateway runtime tracker tracker-<node> …]");
  process.exit(2);
}
const parts = (named.length ? named : ["admin", "gateway", "runtime", "tracker"]) as NatsPart[];
try {
  const made = ensureCredentials(path.resolve(folder), parts);
  const keys = publicKeys(path.resolve(folder));
  for (const part of parts) console.log(`${part}=${keys.get(part === ("tracker" as NatsPart) ? trackerPart("*") : part)}`);
  console.error(`${made.length} new credential(s) in ${path.resolve(folder)}; keep its seeds secret.`);
} catch (e) {
  console.error((e as Error).message);
  process.exit(1);
}
