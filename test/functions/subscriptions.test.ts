/**
 * Event subscriptions: webhooks that a real HTTP receiver in this test gets, signed and in order, also after
 * it was down; their delivery state through the API; tenants kept apart; bad input refused; and the
 * server-sent-events stream of a project.
 */
import { createHmac } from "node:crypto";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeEvent, publicEvents, sources } from "../../events/index.js";
import { createLog, startControlPlane } from "../../local/index.js";
import { enqueue } from "../../store/index.js";
import { eventually, startHoard, type Hoard } from "../kit/harness.js";

const A = "subs-a";
const B = "subs-b";
const SECRET_A = "a-secret-of-the-tenant-a-0123456789";
const LIFECYCLE = ["instance.created", "instance.active", "instance.deleting", "instance.deleted"];
let hoard: Hoard;

interface Delivery {
  headers: IncomingHttpHeaders;
  raw: string;
  event: { id: string; type: string; data: { instanceId: string; project: string } };
}

/** A webhook receiver on a real port: records what it gets; answers 200, or 500 when told to fail. */
class Receiver {
  readonly got: Delivery[] = [];
  failing = false;
  port = 0;
  private server: Server | null = null;

  get url() {
    return `http://127.0.0.1:${this.port}/hook`;
  }

  async start(): Promise<this> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        if (this.failing) return res.writeHead(500).end("not now");
        const raw = Buffer.concat(chunks).toString("utf8");
        this.got.push({ headers: req.headers, raw, event: JSON.parse(raw) });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(this.port, "127.0.0.1", resolve));
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
    return this;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  of(instanceId: string) {
    return this.got.filter((d) => d.event.data.instanceId === instanceId);
  }
}

/** Every receiver a test started, stopped when the file ends. */
const receivers: Receiver[] = [];
/** A receiver of the test's own, already listening. */
const freshReceiver = async () => {
  const r = new Receiver();
  receivers.push(r);
  return r.start();
};

beforeAll(async () => {
  // The receivers here listen on loopback, which webhooks may reach only where the operator allows it
  // (test/system/webhook-ssrf.test.ts holds the rules).
  hoard = await startHoard({ webhooks: { allow: ["127.0.0.1/32"] } });
});
afterAll(async () => {
  for (const r of receivers) await r.stop();
  await hoard?.stop();
});

const subscribe = (project: string, subscription: Record<string, unknown>) => hoard.api("POST", project, "/subscriptions", { subscription });
const show = async (project: string, id: string) => (await hoard.api("GET", project, `/subscriptions/${id}`)).body.subscription;
const mariadb = (name: string) => ({ name, datastore: { type: "mariadb", version: "10.11" } });

/** The receiver's check: the signature is the HMAC-SHA256 of the exact body with the subscription's secret. */
function expectSigned(d: Delivery, secret: string) {
  const expected = `sha256=${createHmac("sha256", secret).update(d.raw).digest("hex")}`;
  expect(d.headers["x-hoard-signature"]).toBe(expected);
  expect(d.headers["content-type"]).toBe("application/cloudevents+json");
  expect(d.headers["x-hoard-event-id"]).toBe(d.event.id);
  expect(d.headers["x-hoard-timestamp"]).toMatch(/^\d{10}$/);
}

async function createAndDelete(project: string, name: string): Promise<string> {
  const instance = await hoard.createActive(project, mariadb(name));
  expect((await hoard.api("DELETE", project, `/instances/${instance.id}`)).status).toBe(202);
  return instance.id;
}

describe("bad subscriptions are refused with what to fix, and nothing is stored", () => {
  it.each([
    [{ url: "ftp://example.com/hook", event_types: ["*"] }, "subscription.url: must be an http:// or https:// address"],
    [{ url: "not a url", event_types: ["*"] }, "subscription.url: is not a URL"],
    [{ event_types: ["*"] }, "subscription.url: is required"],
    [{ url: "http://127.0.0.1:1/h", event_types: ["database.exploded"] }, "unknown event type 'database.exploded'; use one of instance.created"],
    [{ url: "http://127.0.0.1:1/h", event_types: ["nothing.*"] }, "unknown event type 'nothing.*'"],
    [{ url: "http://127.0.0.1:1/h", event_types: [] }, "subscription.event_types: is empty"],
    [{ url: "http://127.0.0.1:1/h" }, "subscription.event_types: is required"],
    [{ url: "http://127.0.0.1:1/h", event_types: ["*"], secret: "short" }, "subscription.secret: is shorter than 16 characters"],
    [{ url: "http://127.0.0.1:1/h", event_types: ["*"], secret: "has spaces in the secret" }, "subscription.secret: may hold only printable ASCII"],
    [{ url: "http://user:pw@127.0.0.1:1/h", event_types: ["*"] }, "must not carry credentials"],
  ])("%j → 400", async (body, words) => {
    const r = await subscribe(A, body);
    expect(r.status).toBe(400);
    expect(r.body.badRequest.message).toContain(words);
    expect(JSON.stringify(r.body)).not.toContain("has spaces in the secret");
  });

  it("refuses a body without the envelope, and has stored none of them", async () => {
    const r = await hoard.api("POST", A, "/subscriptions", { url: "http://127.0.0.1:1/h", event_types: ["*"] });
    expect(r.status).toBe(400);
    expect(r.body.badRequest.message).toContain("'subscription'");
    const list = await hoard.api("GET", A, "/subscriptions");
    expect(list.status).toBe(200);
    expect(list.body.subscriptions).toEqual([]);
  });
});

describe("webhooks", () => {
  // Each test has projects, receivers and subscriptions of its own: a subscription's sequence numbers and
  // delivery counts start at the test's first event.
  it("shows the secret once: in full at create, masked after", async () => {
    const [A, B] = ["hooks-secret-a", "hooks-secret-b"];
    const [receiverA, receiverB] = [await freshReceiver(), await freshReceiver()];
    const given = await subscribe(A, { url: receiverA.url, event_types: LIFECYCLE, secret: SECRET_A, description: "lifecycle of A" });
    expect(given.status).toBe(200);
    expect(given.body.subscription).toMatchObject({ url: receiverA.url, event_types: LIFECYCLE, secret: SECRET_A, description: "lifecycle of A" });
    const subA = given.body.subscription.id;

    const generated = await subscribe(B, { url: receiverB.url, event_types: ["*", "*"] });
    expect(generated.status).toBe(200);
    const secret: string = generated.body.subscription.secret;
    expect(secret.length).toBeGreaterThanOrEqual(32);
    expect(generated.body.subscription.event_types).toEqual(["*"]);
    const subB = generated.body.subscription.id;

    const shown = await show(B, subB);
    expect(shown.secret).toBe(`****${secret.slice(-4)}`);
    expect(shown.deliveries).toEqual({ pending: 0, delivered: 0, failed: 0 });
    const listed = await hoard.api("GET", A, "/subscriptions");
    expect(listed.body.subscriptions.map((s: { id: string }) => s.id)).toEqual([subA]);
    expect(JSON.stringify(listed.body)).not.toContain(SECRET_A);
  });

  it("keeps one project's subscriptions from another (404)", async () => {
    const [A, B] = ["hooks-apart-a", "hooks-apart-b"];
    const receiver = await freshReceiver();
    const subA = (await subscribe(A, { url: receiver.url, event_types: LIFECYCLE, secret: SECRET_A })).body.subscription.id;
    const subB = (await subscribe(B, { url: receiver.url, event_types: ["*"] })).body.subscription.id;
    expect((await hoard.api("GET", B, `/subscriptions/${subA}`)).status).toBe(404);
    expect((await hoard.api("DELETE", B, `/subscriptions/${subA}`)).status).toBe(404);
    expect((await hoard.api("GET", B, "/subscriptions")).body.subscriptions.map((s: { id: string }) => s.id)).toEqual([subB]);
  });

  it("delivers a project's events signed and in order, and none of another project's", async () => {
    const [A, B] = ["hooks-order-a", "hooks-order-b"];
    const [receiverA, receiverB] = [await freshReceiver(), await freshReceiver()];
    const subA = (await subscribe(A, { url: receiverA.url, event_types: LIFECYCLE, secret: SECRET_A })).body.subscription.id;
    const secretB: string = (await subscribe(B, { url: receiverB.url, event_types: ["*"] })).body.subscription.secret;
    const [a, b] = await Promise.all([createAndDelete(A, "hook-a1"), createAndDelete(B, "hook-b1")]);
    const got = await eventually(async () => (receiverA.of(a).length >= 4 ? receiverA.of(a) : undefined), 60_000);
    expect(got.map((d) => d.event.type)).toEqual(LIFECYCLE);
    expect(got.map((d) => Number(d.headers["x-hoard-sequence"]))).toEqual([1, 2, 3, 4]);
    for (const d of got) {
      expectSigned(d, SECRET_A);
      expect(d.event.data).toMatchObject({ project: A, instanceId: a });
    }
    // B's subscription got B's events, signed with B's secret; A's receiver never saw any of them.
    const gotB = await eventually(async () => (receiverB.of(b).some((d) => d.event.type === "instance.deleted") ? receiverB.of(b) : undefined), 60_000);
    for (const d of gotB) expectSigned(d, secretB);
    expect(receiverB.got.every((d) => d.event.data.project === B)).toBe(true);
    expect(receiverA.got.every((d) => d.event.data.project === A)).toBe(true);
    expect(receiverA.of(b)).toEqual([]);
    expect(new Set(receiverA.got.map((d) => d.event.id)).size).toBe(receiverA.got.length);

    const state = await show(A, subA);
    expect(state.deliveries).toEqual({ pending: 0, delivered: 4, failed: 0 });
    expect(state.recent_deliveries.map((d: { sequence: number; status: string; last_status_code: number }) => [d.sequence, d.status, d.last_status_code])).toEqual([
      [4, "delivered", 204],
      [3, "delivered", 204],
      [2, "delivered", 204],
      [1, "delivered", 204],
    ]);
  });

  it("holds deliveries while the receiver fails or is down, then sends the missed ones in order", async () => {
    const A = "hooks-held";
    const receiverA = await freshReceiver();
    const subA = (await subscribe(A, { url: receiverA.url, event_types: LIFECYCLE, secret: SECRET_A })).body.subscription.id;
    // Four deliveries that went through first, so the held ones have older ones before them.
    const first = await createAndDelete(A, "hook-a1");
    await eventually(async () => ((await show(A, subA)).deliveries.delivered === 4 ? true : undefined), 60_000);

    receiverA.failing = true;
    const id = await createAndDelete(A, "hook-a2");
    // While it answers 500, the oldest is retried and the later ones wait behind it, untried.
    const failing = await eventually(async () => {
      const s = await show(A, subA);
      const head = s.recent_deliveries.find((d: { sequence: number }) => d.sequence === 5);
      return s.deliveries.pending === 4 && head?.attempts >= 2 ? s : undefined;
    }, 60_000);
    const head = failing.recent_deliveries.find((d: { sequence: number }) => d.sequence === 5);
    expect(head).toMatchObject({ type: "instance.created", status: "pending", last_status_code: 500, last_error: "the receiver answered HTTP 500" });
    expect(head.next_attempt_at).toEqual(expect.any(String));
    for (const later of failing.recent_deliveries.filter((d: { sequence: number }) => d.sequence > 5)) expect(later).toMatchObject({ status: "pending", attempts: 0 });

    // Now it is down altogether: no connection at all.
    await receiverA.stop();
    receiverA.failing = false;
    const down = await eventually(async () => {
      const s = await show(A, subA);
      const h = s.recent_deliveries.find((d: { sequence: number }) => d.sequence === 5);
      return h?.last_error?.includes("could not reach the receiver") ? h : undefined;
    }, 60_000);
    expect(down.last_status_code).toBeNull();
    expect(down.last_error).not.toContain(SECRET_A);
    expect(receiverA.of(id)).toEqual([]);

    await receiverA.start();
    const got = await eventually(async () => (receiverA.of(id).length >= 4 ? receiverA.of(id) : undefined), 90_000);
    expect(got.map((d) => d.event.type)).toEqual(LIFECYCLE);
    expect(got.map((d) => Number(d.headers["x-hoard-sequence"]))).toEqual([5, 6, 7, 8]);
    for (const d of got) expectSigned(d, SECRET_A);
    expect(Number(got[0]!.headers["x-hoard-attempt"])).toBeGreaterThanOrEqual(3);
    // Everything the receiver has seen, across both instances, arrived in sequence order, each once.
    expect(receiverA.got.map((d) => Number(d.headers["x-hoard-sequence"]))).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(receiverA.of(first)).toHaveLength(4);

    const state = await eventually(async () => {
      const s = await show(A, subA);
      return s.deliveries.delivered === 8 ? s : undefined;
    });
    expect(state.deliveries).toEqual({ pending: 0, delivered: 8, failed: 0 });
    expect(state.recent_deliveries[3]).toMatchObject({ sequence: 5, status: "delivered", last_status_code: 204, last_error: null });
  }, 180_000);

  it("deletes a subscription (202); it is gone and gets nothing more", async () => {
    const [A, B] = ["hooks-deleted-a", "hooks-deleted-b"];
    const [receiverA, receiverB] = [await freshReceiver(), await freshReceiver()];
    const subA = (await subscribe(A, { url: receiverA.url, event_types: LIFECYCLE, secret: SECRET_A })).body.subscription.id;
    expect((await subscribe(B, { url: receiverB.url, event_types: ["*"] })).status).toBe(200);
    expect((await hoard.api("DELETE", A, `/subscriptions/${subA}`)).status).toBe(202);
    expect((await hoard.api("GET", A, `/subscriptions/${subA}`)).status).toBe(404);
    expect((await hoard.api("DELETE", A, `/subscriptions/${subA}`)).status).toBe(404);
    expect((await hoard.api("GET", A, "/subscriptions")).body.subscriptions).toEqual([]);
    const before = receiverA.got.length;
    const created = await hoard.api("POST", A, "/instances", { instance: { flavorRef: "1", volume: { size: 1 }, ...mariadb("hook-a3") } });
    expect(created.status).toBe(200);
    // B's subscription to everything sees its own next event, so the pipeline has run past A's.
    const b = await hoard.api("POST", B, "/instances", { instance: { flavorRef: "1", volume: { size: 1 }, ...mariadb("hook-b3") } });
    await eventually(async () => (receiverB.of(b.body.instance.id).length > 0 ? true : undefined));
    expect(receiverA.got.length).toBe(before);
  });
});

describe("two runtimes delivering at once", () => {
  it("sends each subscription's deliveries one at a time, in sequence, each accepted once", async () => {
    const C = "subs-c";
    const second = await startControlPlane({
      config: hoard.config,
      databaseUrl: hoard.databaseUrl,
      natsUrl: hoard.natsUrl,
      log: createLog(hoard.config, { console: false }),
      parts: { runtime: true, gateway: false, tracker: false },
    });
    // A receiver that turns down the first attempt at every tenth event and counts requests in flight.
    let inFlight = 0;
    let maxInFlight = 0;
    const accepted: number[] = [];
    const refused = new Set<number>();
    const server = createServer((req, res) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const seq = Number(req.headers["x-hoard-sequence"]);
        setTimeout(() => {
          inFlight--;
          if (seq % 10 === 3 && !refused.has(seq)) {
            refused.add(seq);
            return res.writeHead(503).end();
          }
          accepted.push(seq);
          res.writeHead(200).end();
        }, 5);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
      const created = await subscribe(C, { url, event_types: ["instance.*"] });
      expect(created.status).toBe(200);
      const N = 40;
      const k = publicEvents.instanceStatusChanged;
      await hoard.plane.db.transaction(async (trx) => {
        for (let i = 0; i < N; i++) {
          const data = { instanceId: `burst-${i}`, project: C, name: `burst-${i}`, status: "ACTIVE" };
          await enqueue(trx, k.subject(C), makeEvent(k.type, sources.functions, data));
        }
      });
      await eventually(async () => (accepted.length >= N ? true : undefined), 90_000);
      expect(accepted).toEqual(Array.from({ length: N }, (_, i) => i + 1));
      expect(maxInFlight).toBe(1);
      const state = await show(C, created.body.subscription.id);
      expect(state.deliveries).toEqual({ pending: 0, delivered: N, failed: 0 });
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await second.stop();
    }
  }, 120_000);
});

/** Reads a server-sent-events response as it arrives. */
async function openStream(project: string, query = "") {
  const abort = new AbortController();
  const res = await fetch(`${hoard.url}/v1.0/${project}/events${query}`, { headers: { accept: "text/event-stream" }, signal: abort.signal });
  let text = "";
  const reading = (async () => {
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        text += decoder.decode(value, { stream: true });
      }
    } catch {
      // aborted by close()
    }
  })();
  return {
    res,
    /** The complete events so far: `id`, `event` and parsed `data` of each. */
    events() {
      return text
        .split("\n\n")
        .slice(0, -1)
        .map((block) => Object.fromEntries(block.split("\n").filter((l) => !l.startsWith(":")).map((l) => [l.slice(0, l.indexOf(":")), l.slice(l.indexOf(":") + 2)])))
        .filter((f) => f.event)
        .map((f) => ({ id: f.id as string, event: f.event as string, data: JSON.parse(f.data!) }));
    },
    async close() {
      abort.abort();
      await reading;
    },
  };
}

describe("server-sent events", () => {
  it("streams the project's own events, and none of another's", async () => {
    const streamA = await openStream(A);
    const onlyDeleting = await openStream(A, "?types=instance.deleting");
    const streamB = await openStream(B);
    try {
      expect(streamA.res.status).toBe(200);
      expect(streamA.res.headers.get("content-type")).toContain("text/event-stream");

      const b = await hoard.api("POST", B, "/instances", { instance: { flavorRef: "1", volume: { size: 1 }, ...mariadb("sse-b") } });
      const bId = b.body.instance.id;
      await eventually(async () => (streamB.events().some((e) => e.data.data.instanceId === bId) ? true : undefined));

      const aId = (await hoard.createActive(A, mariadb("sse-a"))).id;
      const seen = await eventually(async () => streamA.events().find((e) => e.data.data.instanceId === aId));
      expect(seen.event).toBe("instance.created");
      expect(seen.id).toBe(seen.data.id);
      expect(seen.data).toMatchObject({ specversion: "1.0", type: "instance.created", data: { project: A } });

      expect((await hoard.api("DELETE", A, `/instances/${aId}`)).status).toBe(202);
      await eventually(async () => (onlyDeleting.events().some((e) => e.data.data.instanceId === aId) ? true : undefined));
      expect(onlyDeleting.events().map((e) => e.event)).toEqual(["instance.deleting"]);

      expect(streamA.events().every((e) => e.data.data.project === A)).toBe(true);
      expect(streamA.events().some((e) => e.data.data.instanceId === bId)).toBe(false);
      expect(streamB.events().every((e) => e.data.data.project === B)).toBe(true);
    } finally {
      await streamA.close();
      await onlyDeleting.close();
      await streamB.close();
    }
  });

  it("refuses an unknown type filter with 400", async () => {
    const r = await hoard.api("GET", A, "/events?types=instance.exploded");
    expect(r.status).toBe(400);
    expect(r.body.badRequest.message).toContain("unknown event type 'instance.exploded'");
  });
});
