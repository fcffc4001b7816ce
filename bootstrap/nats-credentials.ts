/**
 * NATS credentials: one user nkey per part (events/permissions.ts says which), its seed in a 0600 file
 * `<part>.nk` of a 0700 folder. The private server is given the public keys; each part connects with its
 * seed (a signed nonce: the seed never crosses the wire) and replies come to its own inbox.
 */
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { connect, nkeyAuthenticator, nkeys, type ConnectionOptions, type NatsConnection } from "@nats-io/transport-node";
import { inboxPrefix, permissionsOf, trackerPart, type NatsPart } from "../events/index.js";

const PART = /^(admin|gateway|runtime|tracker|tracker-[a-z0-9][a-z0-9-]{0,62})$/;
/**
 * A cluster whose network nodes are not known in advance gives every tracker one credential, `tracker.nk`
 * (with the node-wide permissions of `tracker-*`); a node's own `tracker-<node>.nk` wins when present.
 */
const SHARED_TRACKER = "tracker";

const seedPath = (dir: string, part: string) => {
  if (!PART.test(part)) throw new Error(`'${part}' is not a NATS part (admin, gateway, runtime, tracker-<node>)`);
  return path.join(dir, `${part}.nk`);
};

/** Makes a credential for each part in `dir` that has none. Returns the parts it made. */
export function ensureCredentials(dir: string, parts: NatsPart[]): NatsPart[] {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const made: NatsPart[] = [];
  for (const part of parts) {
    const file = seedPath(dir, part);
    if (existsSync(file)) continue;
    const seed = new TextDecoder().decode(nkeys.createUser().getSeed());
    // wx: two starters racing make one credential, and the loser keeps the winner's.
    try {
      writeFileSync(file, `${seed}\n`, { mode: 0o600, flag: "wx" });
      made.push(part);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
  }
  return made;
}

/** The seed `part` connects with, from `dir`. */
export function readSeed(dir: string, part: NatsPart): string {
  const own = seedPath(dir, part);
  const file = !existsSync(own) && part.startsWith("tracker-") && existsSync(seedPath(dir, SHARED_TRACKER)) ? seedPath(dir, SHARED_TRACKER) : own;
  try {
    return readFileSync(file, "utf8").trim();
  } catch {
    throw new Error(`no NATS credential for ${part}: ${own} is missing (the private NATS makes it; for NATS_URL put the part's nkey seed there, see README)`);
  }
}

/** Every credential in `dir` as part → public key (what the server is told). */
export function publicKeys(dir: string): Map<NatsPart, string> {
  const out = new Map<NatsPart, string>();
  for (const name of existsSync(dir) ? readdirSync(dir).sort() : []) {
    const part = name.endsWith(".nk") ? name.slice(0, -3) : "";
    if (!PART.test(part)) continue;
    const pair = nkeys.fromSeed(new TextEncoder().encode(readSeed(dir, part as NatsPart)));
    out.set(part === SHARED_TRACKER ? trackerPart("*") : (part as NatsPart), pair.getPublicKey());
  }
  return out;
}

/** The connection options of `part`: its nkey, its own inbox, its name in the server's connection list. */
export function natsAuth(dir: string, part: NatsPart): Pick<ConnectionOptions, "authenticator" | "inboxPrefix" | "name"> {
  return { authenticator: nkeyAuthenticator(new TextEncoder().encode(readSeed(dir, part))), inboxPrefix: inboxPrefix(part), name: `hoard-${part}` };
}

/** Connects to `url` as `part`, with the credential in `dir`. */
export function connectAs(url: string, dir: string, part: NatsPart, opts: ConnectionOptions = {}): Promise<NatsConnection> {
  return connect({ servers: url, ...natsAuth(dir, part), ...opts });
}

/** A user of the server's configuration: its public key (or a `$VARIABLE` naming it) and its part. */
export interface NatsUser {
  nkey: string;
  part: NatsPart;
}

/**
 * The `authorization` block of a nats-server configuration for `users`. Values in quotes are literal (a
 * subject like `$JS.API.>` is no variable); a `nkey` of the form `$NAME` stays bare, so nats-server reads
 * it from its environment (the generated cluster files keep keys out of the repository that way).
 */
export function natsAuthorization(users: NatsUser[]): string {
  const lines = users.map(({ nkey, part }) => {
    const p = permissionsOf(part);
    const key = /^\$[A-Z_][A-Z0-9_]*$/.test(nkey) ? nkey : JSON.stringify(nkey);
    const permissions = p ? `, permissions: ${JSON.stringify({ publish: { allow: p.publish }, subscribe: { allow: p.subscribe }, ...(p.allowResponses ? { allow_responses: true } : {}) })}` : "";
    return `    { nkey: ${key}${permissions} } # ${part}`;
  });
  return ["authorization {", "  users: [", ...lines, "  ]", "}", ""].join("\n");
}
