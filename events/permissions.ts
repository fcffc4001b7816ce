/**
 * Who may say what on NATS: one NATS user per part of Hoard, each allowed only the subjects it really uses
 * (its own commands, results, request/reply calls, the JetStream API calls on its own streams and
 * consumers, and its own reply inbox). The private nats-server (bootstrap/nats.ts) and the generated
 * cluster configuration (infra/) are both written from here, so what the code does and what the server
 * allows cannot drift apart. A client with no credential is refused outright.
 */
import { functionSubject, streams, workEvents } from "./catalogue.js";
import { backupCallSubject, guestCallSubject } from "./guest-calls.js";
import { nodeConsumer } from "./jetstream.js";
import { projectEventsSubject } from "./subscriptions.js";

/**
 * A part with its own NATS credential: the gateway, the runtime (function host, scheduler, outbox relay,
 * dispatcher), the tracker of one network node (`tracker-<node>`), and `admin` (bootstrap, tests, the
 * operator's tools: everything).
 */
export type NatsPart = "admin" | "gateway" | "runtime" | `tracker-${string}`;

/** The credential of the tracker of `node`. */
export const trackerPart = (node: string): NatsPart => `tracker-${node}`;

/** The parts every deployment has, whatever its network nodes. */
export const fixedParts: NatsPart[] = ["admin", "gateway", "runtime"];

/** Subjects a user may publish and subscribe to, in nats-server's terms. */
export interface NatsPermissions {
  publish: string[];
  subscribe: string[];
  /** May answer the requests it receives (once each), whatever their reply subject. */
  allowResponses: boolean;
}

/**
 * Each part's replies come to an inbox only it may read: with one shared `_INBOX.>` a tracker could read
 * the gateway's answers (a root password the API shows once) or another node's.
 */
export function inboxPrefix(part: NatsPart): string {
  return part === "admin" ? "_INBOX" : `_INBOX.${part.startsWith("tracker-") ? `tracker.${part.slice("tracker-".length)}` : part}`;
}

const api = "$JS.API";
const streamNames = streams.map((s) => s.name);
const subjectsOf = (stream: (typeof streams)[number]["name"]) => [...streams.find((s) => s.name === stream)!.subjects];
/** The work subjects the runtime publishes (the scheduler's ticks). */
const runtimeWork = [workEvents.backupSchedulesDue.subject()];
/** What trackers report: every other work subject (results and heartbeats). */
const trackerReports = Object.values(workEvents).map((k) => k.subject()).filter((s) => !runtimeWork.includes(s));

/** One stream's create-if-missing and info calls (a part that only needs the stream to exist). */
const streamLookups = (names: string[]) => names.flatMap((n) => [`${api}.STREAM.INFO.${n}`, `${api}.STREAM.CREATE.${n}`]);

/** Calls on one durable consumer: create it with its own filter, read it, pull from it, ack what it got. */
const consumerCalls = (stream: string, durable: string, filter: string) => [
  // The filter is part of the subject (nats-server checks it against the body), so a part cannot point
  // its consumer at subjects that are not its own.
  `${api}.CONSUMER.CREATE.${stream}.${durable}.${filter}`,
  `${api}.CONSUMER.INFO.${stream}.${durable}`,
  `${api}.CONSUMER.MSG.NEXT.${stream}.${durable}`,
  `$JS.ACK.${stream}.${durable}.>`,
];

/**
 * The permissions of `part`; `null` for admin. `tracker-*` (node `*`) is the wider form a cluster uses
 * when its nodes are not known in advance (one tracker credential for every node; see infra/).
 */
export function permissionsOf(part: NatsPart): NatsPermissions | null {
  if (part === "admin") return null;
  const inbox = `${inboxPrefix(part)}.>`;
  if (part === "gateway") {
    return {
      // Request functions only; the answers come to its own inbox.
      publish: [functionSubject("*")],
      // The event stream route: one project's subjects per client, chosen by the gateway after auth.
      subscribe: [inbox, projectEventsSubject("*")],
      allowResponses: false,
    };
  }
  if (part === "runtime") {
    return {
      publish: [
        // The outbox relay: node commands and public events; the scheduler: its ticks. Never a tracker's report.
        ...subjectsOf("HOARD_NODES"),
        ...subjectsOf("HOARD_EVENTS"),
        ...runtimeWork,
        // Guest calls to every node's tracker.
        guestCallSubject("*"),
        backupCallSubject("*"),
        `${api}.INFO`,
        ...streamNames.flatMap((n) => [`${api}.STREAM.INFO.${n}`, `${api}.STREAM.CREATE.${n}`, `${api}.STREAM.UPDATE.${n}`]),
        // Work functions' consumers on HOARD_WORK and HOARD_EVENTS; never on HOARD_NODES (the trackers' queue).
        ...["HOARD_WORK", "HOARD_EVENTS"].flatMap((s) => [`${api}.CONSUMER.CREATE.${s}.*.>`, `${api}.CONSUMER.INFO.${s}.*`, `${api}.CONSUMER.MSG.NEXT.${s}.*`, `$JS.ACK.${s}.>`]),
      ],
      subscribe: [inbox, functionSubject("*")],
      // Answers the gateway's calls on the caller's inbox.
      allowResponses: true,
    };
  }
  const node = part.slice("tracker-".length);
  const consumer = nodeConsumer(node);
  const durable = node === "*" ? "*" : consumer.durable_name!;
  return {
    publish: [
      ...trackerReports,
      `${api}.INFO`,
      // Create-if-missing only: a tracker never changes a stream.
      ...streamLookups(["HOARD_NODES", "HOARD_WORK"]),
      ...consumerCalls("HOARD_NODES", durable, consumer.filter_subject!),
    ],
    subscribe: [inbox, guestCallSubject(node), backupCallSubject(node)],
    // Answers guest calls on the caller's inbox.
    allowResponses: true,
  };
}
