/**
 * Escape 6 of issue 19: NATS had no authentication, so any local process (a guest on the host network
 * driver, or a tenant's engine feature that opens TCP connections) could `SUB hoard.>` and see every
 * project's commands, heartbeats and events, and publish tracker commands. Now each part has its own nkey
 * and may use only its own subjects (events/permissions.ts). Tried as an intruder would: with no
 * credential, and with each part's credential reaching for what is another's.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createConnection } from "node:net";
import path from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, nkeyAuthenticator, nkeys, PermissionViolationError, type Msg, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { connectAs, freePort, readSeed, startNats } from "../../bootstrap/index.js";
import { isRunning } from "../../bootstrap/pid.js";
import { nodeCommands, nodeConsumer, trackerPart, workEvents, type NatsPart } from "../../events/index.js";
import { eventually, startHoard, type Hoard } from "../kit/harness.js";

let hoard: Hoard;
const opened: NatsConnection[] = [];
const as = async (part: NatsPart) => {
  const nc = await connectAs(hoard.natsUrl, hoard.nats.credentials, part, { timeout: 5_000 });
  opened.push(nc);
  return nc;
};

beforeAll(async () => {
  hoard = await startHoard();
});
afterAll(async () => {
  for (const nc of opened) await nc.close().catch(() => {});
  await hoard?.stop();
});

/** What the admin sees on `subject` (core NATS) while `act` runs, after a round trip to the server. */
async function seenBy(admin: NatsConnection, subject: string, act: () => Promise<void>): Promise<Msg[]> {
  const got: Msg[] = [];
  const sub = admin.subscribe(subject, { callback: (e, m) => void (e || got.push(m)) });
  await admin.flush();
  await act();
  await admin.flush();
  sub.unsubscribe();
  return got;
}

/** Does `act` on `nc` and waits for the server's permissions violation for `operation` on `subject`. */
async function refused(nc: NatsConnection, operation: "publish" | "subscription", subject: string, act: () => unknown): Promise<PermissionViolationError> {
  const statuses = nc.status();
  const violation = (async () => {
    for await (const s of statuses) {
      if (s.type === "error" && s.error instanceof PermissionViolationError && s.error.operation === operation && s.error.subject === subject) return s.error;
    }
    throw new Error("the connection closed without a permissions violation");
  })();
  await Promise.resolve(act()).catch(() => {});
  await nc.flush().catch(() => {});
  const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no permissions violation for ${operation} to ${subject}`)), 10_000));
  return Promise.race([violation, timeout]);
}

/** Subscribes `nc` to `subject`, expecting the server to refuse, and shows the subscription got nothing. */
async function subscribeRefused(nc: NatsConnection, subject: string): Promise<void> {
  const got: Msg[] = [];
  const error = await refused(nc, "subscription", subject, () => nc.subscribe(subject, { callback: (e, m) => void (e || got.push(m)) }));
  expect(error.message).toMatch(/Permissions Violation for Subscription/);
  expect(got).toEqual([]);
}

/** Publishes on `nc` to `subject`, expecting the server to refuse, and shows no one on `subject` got it. */
async function publishRefused(nc: NatsConnection, subject: string, body = "{}"): Promise<void> {
  const seen = await seenBy(hoard.nc, subject, async () => {
    const error = await refused(nc, "publish", subject, () => nc.publish(subject, body));
    expect(error.message).toMatch(/Permissions Violation for Publish/);
  });
  expect(seen.map((m) => m.subject)).toEqual([]);
}

/** Sends raw protocol lines to the server and returns what it answered before closing. */
function raw(url: string, lines: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    let out = "";
    const socket = createConnection({ host: hostname, port: Number(port) }, () => socket.write(lines));
    socket.setEncoding("utf8");
    socket.on("data", (d) => (out += d));
    socket.on("error", reject);
    socket.on("close", () => resolve(out));
    setTimeout(() => socket.destroy(), 5_000);
  });
}

describe("a client without a credential", () => {
  it("is refused by the NATS client and on the raw protocol (no SUB hoard.>)", async () => {
    await expect(connect({ servers: hoard.natsUrl, timeout: 5_000, reconnect: false })).rejects.toThrow(/Authorization Violation/i);
    const answer = await raw(hoard.natsUrl, "CONNECT {}\r\nSUB hoard.> 1\r\nPING\r\n");
    expect(answer).toContain("-ERR 'Authorization Violation'");
    expect(answer).not.toContain("PONG");
    expect(answer).not.toContain("MSG ");
  });

  it("is refused with an nkey the server does not know, and with a user and password", async () => {
    const stranger = nkeys.createUser().getSeed();
    await expect(connect({ servers: hoard.natsUrl, authenticator: nkeyAuthenticator(stranger), timeout: 5_000, reconnect: false })).rejects.toThrow(/Authorization Violation/i);
    await expect(connect({ servers: hoard.natsUrl, user: "admin", pass: "admin", timeout: 5_000, reconnect: false })).rejects.toThrow(/Authorization Violation/i);
  });
});

describe("the gateway's credential", () => {
  it("cannot publish a tracker's command nor pull the tracker's queue", async () => {
    const gateway = await as("gateway");
    await publishRefused(gateway, nodeCommands.provision.subject(hoard.config.node));
    await publishRefused(gateway, nodeCommands.deprovision.subject(hoard.config.node));
    await publishRefused(gateway, workEvents.guestHeartbeat.subject());
    await publishRefused(gateway, `$JS.API.CONSUMER.MSG.NEXT.HOARD_NODES.${nodeConsumer(hoard.config.node).durable_name}`);
    await expect(jetstreamManager(gateway)).rejects.toThrow(/Permissions Violation/);
  });

  it("cannot subscribe hoard.>, the work or node subjects, or other parts' replies", async () => {
    const gateway = await as("gateway");
    for (const subject of ["hoard.>", ">", "hoard.node.>", "hoard.work.>", "hoard.tracker.>", "_INBOX.>", "_INBOX.runtime.>"]) await subscribeRefused(gateway, subject);
  });
});

describe("a tracker's credential", () => {
  it("is made for a node added later (the server reloads) and reaches only that node's subjects", async () => {
    const own = hoard.config.node;
    await hoard.nats.addTrackers(["other-node"]);
    const other = await as(trackerPart("other-node"));
    // Another node's guest calls (they carry passwords) and commands are not its to read or send.
    await subscribeRefused(other, `hoard.tracker.${own}.call`);
    await subscribeRefused(other, `hoard.tracker.${own}.backup-call`);
    await subscribeRefused(other, `hoard.node.${own}.>`);
    await subscribeRefused(other, "_INBOX.>");
    await subscribeRefused(other, `_INBOX.tracker.${own}.>`);
    await publishRefused(other, nodeCommands.provision.subject(own));
    await publishRefused(other, nodeCommands.deprovision.subject("other-node"));
    await publishRefused(other, `$JS.API.CONSUMER.MSG.NEXT.HOARD_NODES.${nodeConsumer(own).durable_name}`);
    await publishRefused(other, `$JS.API.STREAM.UPDATE.HOARD_NODES`);
    await publishRefused(other, `$JS.API.STREAM.DELETE.HOARD_WORK`);

    const jsm = await jetstreamManager(other);
    // Its own consumer, over its own node's commands: allowed. Pointed at another node's: refused.
    await jsm.consumers.add("HOARD_NODES", nodeConsumer("other-node"));
    await expect(jsm.consumers.add("HOARD_NODES", { ...nodeConsumer("other-node"), filter_subject: `hoard.node.${own}.>` })).rejects.toThrow(/Permissions Violation/);
    await expect(jsm.consumers.add("HOARD_NODES", { ...nodeConsumer(own) })).rejects.toThrow(/Permissions Violation/);
    await expect(jsm.consumers.info("HOARD_NODES", nodeConsumer(own).durable_name!)).rejects.toThrow(/Permissions Violation/);
    await (await jetstreamManager(hoard.nc)).consumers.delete("HOARD_NODES", nodeConsumer("other-node").durable_name!);
  });
});

describe("the runtime's credential", () => {
  it("sends commands but cannot pass for a tracker, read guest calls, or take a tracker's commands", async () => {
    const runtime = await as("runtime");
    await publishRefused(runtime, workEvents.guestHeartbeat.subject(), JSON.stringify({ node: hoard.config.node, guests: [] }));
    await publishRefused(runtime, workEvents.guestProvisioned.subject());
    await subscribeRefused(runtime, `hoard.tracker.${hoard.config.node}.call`);
    await subscribeRefused(runtime, "hoard.node.>");
    await subscribeRefused(runtime, "_INBOX.gateway.>");
    await publishRefused(runtime, `$JS.API.CONSUMER.MSG.NEXT.HOARD_NODES.${nodeConsumer(hoard.config.node).durable_name}`);
    await publishRefused(runtime, `$JS.API.STREAM.DELETE.HOARD_NODES`);
  });
});

describe("the control plane with authentication", () => {
  it("creates an instance to ACTIVE over HTTP, answers guest calls, and deletes it", async () => {
    const project = "natsauth";
    const instance = await hoard.createActive(project, { name: "na1", datastore: { type: "redis", version: "7.0" } });
    // A guest call: gateway → runtime (request/reply) → tracker (request/reply) and back.
    const root = await hoard.api("POST", project, `/instances/${instance.id}/root`);
    expect(root.status).toBe(200);
    expect(root.body.user.password).toBeTruthy();
    const shown = await hoard.api("GET", project, `/instances/${instance.id}/root`);
    expect(shown.body).toEqual({ rootEnabled: true });
    expect((await hoard.api("DELETE", project, `/instances/${instance.id}`)).status).toBe(202);
    await eventually(async () => ((await hoard.api("GET", project, `/instances/${instance.id}`)).status === 404 ? true : undefined), 60_000);
    // Nothing was refused on the way: every part stayed within its permissions.
    expect(readFileSync(path.join(hoard.config.home, "hoard.log"), "utf8")).not.toMatch(/Permissions Violation/i);
  });

  it("keeps every credential out of hoard.log, nats.log and the NATS store, in 0600 files of a 0700 folder", async () => {
    const dir = hoard.nats.credentials;
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    const parts = readdirSync(dir);
    expect(parts).toEqual(expect.arrayContaining(["admin.nk", "gateway.nk", "runtime.nk", `${trackerPart(hoard.config.node)}.nk`]));
    const seeds = parts.map((f) => {
      expect(statSync(path.join(dir, f)).mode & 0o777).toBe(0o600);
      return readSeed(dir, f.slice(0, -3) as NatsPart);
    });
    const natsDir = path.dirname(dir);
    const files = [path.join(hoard.config.home, "hoard.log"), ...walk(natsDir).filter((f) => !f.startsWith(dir + path.sep))];
    expect(files.some((f) => f.includes(`${path.sep}jetstream${path.sep}`))).toBe(true);
    for (const f of files) {
      const text = readFileSync(f).toString("latin1");
      for (const seed of seeds) expect(text.includes(seed), `${f} holds a seed`).toBe(false);
    }
  });
});

describe("the private server's credentials", () => {
  it("are made at first start and kept across restarts", async () => {
    const dir = mkdtempSync(path.join(inject("home"), "nats-auth-"));
    try {
      let nats = await startNats({ dir: path.join(dir, "nats"), trackers: ["n1"] });
      const before = readSeed(nats.credentials, "tracker-n1");
      await nats.stop();
      nats = await startNats({ dir: path.join(dir, "nats") });
      try {
        expect(readSeed(nats.credentials, "tracker-n1")).toBe(before);
        const nc = await connectAs(nats.url, nats.credentials, trackerPart("n1"), { timeout: 5_000, reconnect: false });
        await nc.close();
      } finally {
        await nats.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("a private server left running by a Hoard from before NATS had users", () => {
  it("is restarted with the users, not reused", async () => {
    const dir = mkdtempSync(path.join(inject("home"), "nats-old-"));
    const old = path.join(dir, "nats");
    mkdirSync(old);
    const port = await freePort();
    // Exactly how the earlier bootstrap/nats.ts ran it: no configuration, so no users.
    const child = spawn("nats-server", ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", path.join(old, "jetstream"), "-P", path.join(old, "nats.pid")], { detached: true, stdio: "ignore" });
    child.unref();
    writeFileSync(path.join(old, "nats.port"), `${port}\n`);
    try {
      await eventually(async () => (existsSync(path.join(old, "nats.pid")) ? ((await connect({ servers: `nats://127.0.0.1:${port}` })).close(), true) : undefined));
      const nats = await startNats({ dir: old });
      try {
        expect(nats.pid).not.toBe(child.pid);
        expect(isRunning(child.pid!)).toBe(false);
        await expect(connect({ servers: nats.url, timeout: 5_000, reconnect: false })).rejects.toThrow(/Authorization Violation/i);
        await (await connectAs(nats.url, nats.credentials, "admin", { timeout: 5_000 })).close();
      } finally {
        await nats.stop();
      }
    } finally {
      if (isRunning(child.pid!)) process.kill(child.pid!, "SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : e.isFile() ? [path.join(dir, e.name)] : []));
}
