/**
 * Hoard as it runs on OpenFaaS, on real parts: the gateway and a tracker (no local runtime), every function
 * behind the HTTP function host (runtime/openfaas-http.ts) and the dispatcher (runtime/dispatcher.ts)
 * carrying JetStream work, gateway calls and the outbox to it. The API is driven end to end, the answers
 * are compared with the local runtime's, and the dispatcher's ack/nak/term rules are held to account.
 */
import { spawn } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import path from "node:path";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { createTestDatabase, dropTestDatabase, testDatabaseName } from "../kit/test-database.js";
import type { Logger } from "pino";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { z } from "zod";
import { connectAs, freePort, startNats, type NatsServer } from "../../bootstrap/index.js";
import { loadConfig, type Config } from "../../config/index.js";
import { RetryableError } from "../../errors/index.js";
import { makeEvent, redeliveryDelayMs, sources, WORK_MAX_DELIVER, workEvents } from "../../events/index.js";
import { functions } from "../../functions/index.js";
import { createLog, startControlPlane, type ControlPlane } from "../../local/index.js";
import { defineFunction, lazyGuestCaller, outcome, startDispatcher, startFunctionHost, startRuntime, type Dispatcher, type FunctionHost, type HoardFunction } from "../../runtime/index.js";
import { connect, type Db } from "../../store/index.js";
import { eventually } from "../kit/harness.js";
import { processesLeftUnder } from "../kit/processes.js";

const P = "0fa5f0000000000000000000000000a1";
const MISSING = "00000000-0000-4000-8000-000000000404";

let base = "";
let nats: NatsServer;
let dbName = "";
let databaseUrl = "";
let config: Config;
let log: Logger;
let plane: ControlPlane;
/** What OpenFaaS would run: the functions with their own pool and NATS connection, and the dispatcher. */
let fnDb: Db;
let guests: ReturnType<typeof lazyGuestCaller>;
let host: FunctionHost;
let dispatcherNc: NatsConnection;
/** The test's own connection, as admin: it stands in for a tracker when it injects work events. */
let adminNc: NatsConnection;
let dispatcher: Dispatcher | null = null;

const startTheDispatcher = () => startDispatcher({ nc: dispatcherNc, functions, gatewayUrl: host.url, log, outbox: { db: fnDb, databaseUrl } });

async function api(method: string, route: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${plane.gatewayUrl}/v1.0/${P}${route}`, {
    method,
    headers: { accept: "application/json", ...(body !== undefined ? { "content-type": "application/json" } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

/** POSTs straight to a function host, as the OpenFaaS gateway would. */
async function call(url: string, body: string, headers: Record<string, string> = {}): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null, headers: res.headers };
}

const event = (name: string, data: unknown) => JSON.stringify(makeEvent(`hoard.fn.${name}`, sources.gateway, data));
const caller = { project: P, roles: [] as string[] };

beforeAll(async () => {
  base = mkdtempSync(path.join(inject("home"), "faas-"));
  // PostgreSQL guests run as the postgres user, who must be able to pass through.
  chmodSync(base, 0o711);
  config = loadConfig(
    { HOARD_HOME: path.join(base, "home"), HOARD_NATS_CREDENTIALS: path.join(base, "nats", "credentials") },
    { gateway: { port: 0 }, heartbeatIntervalMs: 500, heartbeatExpiryMs: 5_000, guestStartTimeoutMs: 30_000, logLevel: "info", rateLimitPerMinute: 1_000_000 },
  );
  nats = await startNats({ dir: path.join(base, "nats"), trackers: [config.node] });
  dbName = testDatabaseName(base);
  databaseUrl = await createTestDatabase(dbName);
  log = createLog(config, { console: false });
  plane = await startControlPlane({ config, databaseUrl, natsUrl: nats.url, log, parts: { runtime: false, gateway: true, tracker: true } });
  fnDb = connect(databaseUrl);
  // The function host and the dispatcher are the runtime on a cluster: they connect with its credential.
  guests = lazyGuestCaller(() => connectAs(nats.url, nats.credentials, "runtime"), config.guestCallTimeoutMs);
  host = await startFunctionHost({ functions, deps: { db: fnDb, config, log, guests }, port: 0 });
  dispatcherNc = await connectAs(nats.url, nats.credentials, "runtime");
  adminNc = await connectAs(nats.url, nats.credentials, "admin");
  dispatcher = await startTheDispatcher();
});

afterAll(async () => {
  await dispatcher?.stop();
  await host?.stop();
  await guests?.close();
  await fnDb?.destroy();
  await dispatcherNc?.drain().catch(() => {});
  await adminNc?.drain().catch(() => {});
  await plane?.stop();
  const supervisor = plane?.tracker?.supervisor;
  for (const id of supervisor?.list() ?? []) await supervisor!.deprovision(id);
  await supervisor?.closeVolumes();
  await nats?.stop();
  const leaked = await processesLeftUnder(base);
  await dropTestDatabase(dbName);
  rmSync(base, { recursive: true, force: true });
  expect(leaked.map((p) => p.cmdline)).toEqual([]);
});

describe("the Trove API on functions over HTTP", () => {
  it("lists flavors through the NATS→HTTP bridge", async () => {
    const r = await api("GET", "/flavors");
    expect(r.status).toBe(200);
    expect(r.body.flavors).toContainEqual(expect.objectContaining({ id: 1, name: "m1.tiny", ram: 512 }));
  });

  it("takes a redis 7.0 from create to ACTIVE through work functions on the dispatcher, then deletes it", async () => {
    const created = await api("POST", "/instances", { instance: { name: "r1", flavorRef: "1", volume: { size: 1 }, datastore: { type: "redis", version: "7.0" } } });
    expect(created.status, JSON.stringify(created.body)).toBe(200);
    const id: string = created.body.instance.id;
    const active = await eventually(async () => {
      const r = await api("GET", `/instances/${id}`);
      if (r.body.instance?.status === "ERROR") throw new Error(JSON.stringify(r.body.instance.fault));
      return r.body.instance?.status === "ACTIVE" && r.body.instance?.operating_status === "HEALTHY" ? r.body.instance : undefined;
    }, 60_000);
    expect(active.datastore).toMatchObject({ type: "redis", version: "7.0" });
    // guest.provisioned and the heartbeats travelled JetStream → dispatcher → HTTP.
    expect(dispatcher!.stats()["instance-provisioned"]?.ack).toBeGreaterThanOrEqual(1);
    await eventually(async () => ((dispatcher!.stats()["instance-heartbeat"]?.ack ?? 0) >= 1 ? true : undefined), 5_000);

    expect((await api("DELETE", `/instances/${id}`)).status).toBe(202);
    await eventually(async () => ((await api("GET", `/instances/${id}`)).status === 404 ? true : undefined), 30_000);
    expect(plane.tracker!.supervisor.list()).not.toContain(id);
    expect(dispatcher!.stats()["instance-deprovisioned"]?.ack).toBeGreaterThanOrEqual(1);
  });
});

describe("the function host's HTTP contract", () => {
  it("answers a request function with the Reply the NATS request host sends", async () => {
    const r = await call(`${host.url}/function/flavor-list`, event("flavor-list", { caller }));
    expect(r.status).toBe(200);
    expect(r.body.ok).toBe(true);
    expect(r.body.result).toContainEqual(expect.objectContaining({ name: "m1.tiny" }));
  });

  it("answers a catalogued error at its status, and marks it as not worth retrying", async () => {
    const r = await call(`${host.url}/function/instance-show`, event("instance-show", { caller, instanceId: MISSING }));
    expect(r.status).toBe(404);
    expect(r.body).toEqual({ ok: false, error: { code: "NOT_FOUND", message: `Instance ${MISSING} could not be found.` } });
    expect(r.headers.get("x-hoard-retryable")).toBe("false");
  });

  it("refuses input its schema refuses (400 VALIDATION) and a body that is not JSON (400 MALFORMED_BODY)", async () => {
    const invalid = await call(`${host.url}/function/instance-show`, event("instance-show", { caller }));
    expect(invalid.status).toBe(400);
    expect(invalid.body.error.code).toBe("VALIDATION");
    const malformed = await call(`${host.url}/function/instance-show`, "{not json");
    expect(malformed.status).toBe(400);
    expect(malformed.body.error.code).toBe("MALFORMED_BODY");
    expect((await fetch(`${host.url}/function/no-such-function`, { method: "POST", body: "{}" })).status).toBe(404);
    expect((await fetch(`${host.url}/function/flavor-list`)).status).toBe(405);
  });

  it("runs a schedule function on the cron-connector's empty POST", async () => {
    const r = await call(`${host.url}/function/instance-build-expire`, "");
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ ok: true, result: { expired: 0 } });
  });

  it("gives X-Call-Id to the handler as awsRequestId; a retryable failure is 503, anything else 500 without internals", async () => {
    const probe = (name: string, handle: () => Promise<unknown>) =>
      defineFunction({ name, description: name, trigger: { kind: "request" }, input: z.object({}), timeoutMs: 1_000, memoryMb: 64, handle });
    // The Lambda context is the handler's to see: this probe's handler records it.
    const seen: { requestId?: string; fn?: string; remaining?: number } = {};
    const context: HoardFunction = {
      ...probe("probe-context", async () => null),
      handler: async (_event, ctx) => {
        Object.assign(seen, { requestId: ctx.awsRequestId, fn: ctx.functionName, remaining: ctx.getRemainingTimeInMillis() });
        return "ok";
      },
    };
    const probes = [
      context,
      probe("probe-retry", () => Promise.reject(new RetryableError("lock held by pid 4242", 2_500))),
      probe("probe-crash", () => Promise.reject(new Error("connect to postgres://hoard:s3cret@db failed"))),
    ] as HoardFunction[];
    const probeHost = await startFunctionHost({ functions: probes, deps: { db: fnDb, config, log, guests }, port: 0 });
    try {
      const ok = await call(`${probeHost.url}/function/probe-context`, event("probe-context", {}), { "x-call-id": "call-1234" });
      expect(ok.body).toEqual({ ok: true, result: "ok" });
      expect(seen).toMatchObject({ requestId: "call-1234", fn: "probe-context" });
      expect(seen.remaining).toBeGreaterThan(0);

      const retry = await call(`${probeHost.url}/function/probe-retry`, event("probe-retry", {}));
      expect(retry.status).toBe(503);
      expect(retry.headers.get("retry-after")).toBe("3");
      expect(retry.headers.get("x-hoard-retryable")).toBe("true");
      expect(retry.body.errorType).toBe("RetryableError");
      expect(JSON.stringify(retry.body)).not.toContain("4242");

      const crash = await call(`${probeHost.url}/function/probe-crash`, event("probe-crash", {}));
      expect(crash.status).toBe(500);
      expect(Object.keys(crash.body).sort()).toEqual(["errorMessage", "errorType"]);
      expect(crash.body.errorMessage).toMatch(/^Internal error \(reference /);
      expect(JSON.stringify(crash.body)).not.toMatch(/s3cret|postgres/);
    } finally {
      await probeHost.stop();
    }
  });
});

describe("the dispatcher's ack, nak and term rules", () => {
  it("decides from the status, the function host's verdict and the delivery count", () => {
    const h = (o: Record<string, string>) => new Headers(o);
    expect(outcome(200, h({}), 1, 20)).toEqual({ kind: "ack" });
    expect(outcome(204, null, 5, 20)).toEqual({ kind: "ack" });
    expect(outcome(503, h({}), 1, 20)).toEqual({ kind: "nak", delayMs: redeliveryDelayMs(1) });
    expect(outcome(503, h({ "retry-after": "2" }), 1, 20)).toEqual({ kind: "nak", delayMs: 2_000 });
    expect(outcome(429, h({}), 3, 20)).toEqual({ kind: "nak", delayMs: redeliveryDelayMs(3) });
    expect(outcome(502, h({}), 1, 20)).toEqual({ kind: "nak", delayMs: redeliveryDelayMs(1) });
    expect(outcome(null, null, 1, 20)).toEqual({ kind: "nak", delayMs: redeliveryDelayMs(1) });
    expect(outcome(503, h({}), 20, 20)).toEqual({ kind: "term" });
    expect(outcome(400, h({}), 1, 20)).toEqual({ kind: "term" });
    expect(outcome(404, h({}), 1, 20)).toEqual({ kind: "term" });
    expect(outcome(501, h({ "x-hoard-retryable": "false" }), 1, 20)).toEqual({ kind: "term" });
    expect(outcome(413, h({ "x-hoard-retryable": "true", "retry-after": "1" }), 1, 20)).toEqual({ kind: "nak", delayMs: 1_000 });
  });

  it("terminates an event its function refuses (4xx) at once and never delivers it again", async () => {
    const before = dispatcher!.stats()["instance-provisioned"] ?? { ack: 0, nak: 0, term: 0 };
    const js = jetstream(adminNc);
    const bad = makeEvent(workEvents.guestProvisioned.type, sources.tracker("local"), { instanceId: "not-a-uuid" });
    const ack = await js.publish(workEvents.guestProvisioned.subject(), JSON.stringify(bad), { msgID: bad.id });
    await eventually(async () => ((dispatcher!.stats()["instance-provisioned"]?.term ?? 0) === before.term + 1 ? true : undefined), 10_000);
    await new Promise((r) => setTimeout(r, 1_500));
    const after = dispatcher!.stats()["instance-provisioned"]!;
    expect(after.term).toBe(before.term + 1);
    expect(after.nak).toBe(before.nak);
    const info = await (await jetstreamManager(dispatcherNc)).consumers.info("HOARD_WORK", "instance-provisioned");
    expect(info.num_ack_pending).toBe(0);
    expect(info.num_redelivered).toBe(0);
    expect(info.ack_floor.stream_seq).toBeGreaterThanOrEqual(ack.seq);
  });

  it("retries what may succeed later, with backoff, until max_deliver, against functions that fail on purpose", async () => {
    // A stand-in OpenFaaS gateway whose functions answer from a script, one answer per delivery.
    const scripts: Record<string, Array<[number, Record<string, string>]>> = {
      flaky: [[503, { "retry-after": "0" }], [503, { "retry-after": "0" }], [200, {}]],
      throttled: [[429, {}], [200, {}]],
      refused: [[422, {}]],
      verdict: [[500, { "x-hoard-retryable": "false" }]],
      "later-413": [[413, { "x-hoard-retryable": "true", "retry-after": "0" }], [200, {}]],
      broken: [],
    };
    const calls: Record<string, string[]> = {};
    const stub: Server = createServer((req, res) => {
      const name = /^\/function\/test-(.+)$/.exec(req.url ?? "")?.[1] ?? "";
      const seen = (calls[name] ??= []);
      seen.push(String(req.headers["x-call-id"]));
      const [status, headers] = scripts[name]?.[seen.length - 1] ?? [503, { "retry-after": "0" }];
      req.resume();
      res.writeHead(status, headers).end();
    });
    await new Promise<void>((r) => stub.listen(0, "127.0.0.1", () => r()));
    const port = (stub.address() as { port: number }).port;
    const fake = Object.keys(scripts).map((name) =>
      defineFunction({ name: `test-${name}`, description: name, trigger: { kind: "work", stream: "HOARD_WORK", subject: `hoard.work.test.${name}` }, input: z.object({}), timeoutMs: 1_000, memoryMb: 64, handle: async () => null }),
    );
    const scripted = await startDispatcher({ nc: dispatcherNc, functions: fake, gatewayUrl: `http://127.0.0.1:${port}`, log, bridge: false });
    try {
      const js = jetstream(adminNc);
      const ids: Record<string, string> = {};
      for (const name of Object.keys(scripts)) {
        const ev = makeEvent(`hoard.test.${name}`, sources.functions, {});
        ids[name] = ev.id;
        await js.publish(`hoard.work.test.${name}`, JSON.stringify(ev), { msgID: ev.id });
      }
      const want = {
        "test-flaky": { ack: 1, nak: 2, term: 0 },
        "test-throttled": { ack: 1, nak: 1, term: 0 },
        "test-refused": { ack: 0, nak: 0, term: 1 },
        "test-verdict": { ack: 0, nak: 0, term: 1 },
        "test-later-413": { ack: 1, nak: 1, term: 0 },
        "test-broken": { ack: 0, nak: WORK_MAX_DELIVER - 1, term: 1 },
      };
      const settled = () => Object.entries(want).every(([fn, counts]) => JSON.stringify(scripted.stats()[fn]) === JSON.stringify(counts));
      await eventually(async () => (settled() ? true : undefined), 20_000);
      expect(scripted.stats()).toEqual(want);
      expect(calls.broken).toHaveLength(WORK_MAX_DELIVER);
      // Every delivery of one event carries the event's id, so the function can tell a redelivery.
      for (const name of Object.keys(scripts)) expect(new Set(calls[name])).toEqual(new Set([ids[name]]));
    } finally {
      await scripted.stop();
      await new Promise((r) => stub.close(r));
    }
  });
});

describe("the same answers as the local runtime", () => {
  const probes: Array<[string, string, unknown?]> = [
    ["GET", "/flavors"],
    ["GET", "/flavors/1"],
    ["GET", "/datastores"],
    ["GET", "/datastores/redis/versions"],
    ["GET", "/instances"],
    ["GET", `/instances/${MISSING}`],
    ["DELETE", `/instances/${MISSING}`],
    ["POST", "/instances", { instance: { name: "x", flavorRef: "999", volume: { size: 1 }, datastore: { type: "redis", version: "7.0" } } }],
    ["POST", "/instances", { instance: { name: "x", flavorRef: "1", volume: { size: 1 }, datastore: { type: "nosuchdb" } } }],
    ["GET", `/mgmt/quotas/${P}`],
  ];

  it("answers each call through OpenFaaS's path (bridge → HTTP) with the status and body the local runtime gives", async () => {
    const overHttp = [];
    for (const [method, route, body] of probes) overHttp.push(await api(method, route, body));
    // Swap the dispatcher for the local runtime on the same NATS, database and gateway.
    await dispatcher!.stop();
    dispatcher = null;
    const runtime = await startRuntime({ config, db: fnDb, nc: dispatcherNc, databaseUrl, log, functions });
    const local = [];
    try {
      for (const [method, route, body] of probes) local.push(await api(method, route, body));
    } finally {
      await runtime.stop();
      dispatcher = await startTheDispatcher();
    }
    expect(overHttp).toEqual(local);
    expect(overHttp.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 404, 404, 400, 400, 200]);
  });
});

describe("the deployed shape: one process, one function", () => {
  it("serves HOARD_FUNCTION on PORT from DATABASE_URL and NATS_URL, and stops on SIGTERM", async () => {
    const port = await freePort();
    const { child, output, exited } = runProgram("bin/openfaas-function.ts", { HOARD_FUNCTION: "flavor-list", PORT: String(port), DATABASE_URL: databaseUrl, NATS_URL: nats.url, HOARD_NATS_CREDENTIALS: nats.credentials, HOARD_HOME: path.join(base, "fn-home"), HOARD_LOG_LEVEL: "warn" });
    try {
      await eventually(async () => (output().includes("Hoard function host: flavor-list") ? true : undefined), 30_000);
      // of-watchdog forwards the path after /function/<name>: here, "/".
      const single = await call(`http://127.0.0.1:${port}/`, event("flavor-list", { caller }));
      const shared = await call(`${host.url}/function/flavor-list`, event("flavor-list", { caller }));
      expect(single.status).toBe(200);
      expect(single.body).toEqual(shared.body);
      expect((await call(`http://127.0.0.1:${port}/function/instance-show`, event("instance-show", { caller, instanceId: MISSING }))).status).toBe(404);
    } finally {
      child.kill("SIGTERM");
    }
    expect(await exited, output()).toBe(0);
  });

  it("runs the dispatcher from NATS_URL, HOARD_GATEWAY_URL and DATABASE_URL, and stops on SIGTERM", async () => {
    // The test's own dispatcher steps aside, so the gateway's call can only be bridged by the program's.
    await dispatcher!.stop();
    dispatcher = null;
    const { child, output, exited } = runProgram("bin/dispatcher.ts", { HOARD_GATEWAY_URL: host.url, DATABASE_URL: databaseUrl, NATS_URL: nats.url, HOARD_NATS_CREDENTIALS: nats.credentials, HOARD_HOME: path.join(base, "dispatcher-home"), HOARD_LOG_LEVEL: "warn" });
    try {
      await eventually(async () => (output().includes(`Hoard dispatcher: ${functions.length} functions at ${host.url}/function/<name>`) ? true : undefined), 30_000);
      expect((await api("GET", "/flavors")).status).toBe(200);
    } finally {
      child.kill("SIGTERM");
      dispatcher = await startTheDispatcher();
    }
    expect(await exited, output()).toBe(0);
  });

  it("refuses to start for a function that does not exist", async () => {
    const { output, exited } = runProgram("bin/openfaas-function.ts", { HOARD_FUNCTION: "no-such-function", DATABASE_URL: databaseUrl, NATS_URL: nats.url, HOARD_HOME: path.join(base, "fn-home") });
    expect(await exited).toBe(1);
    expect(output()).toContain("HOARD_FUNCTION=no-such-function is not a Hoard function");
  });
});

/** Starts one of bin/'s programs with only PATH and `env`, collecting what it prints. */
function runProgram(script: string, env: Record<string, string>) {
  const child = spawn(process.execPath, ["--import", "tsx", script], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let printed = "";
  child.stdout.on("data", (d) => (printed += d));
  child.stderr.on("data", (d) => (printed += d));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, output: () => printed, exited };
}
