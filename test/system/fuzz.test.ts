/**
 * Property-based fuzzing of every route the gateway serves (read from its route table): malformed and
 * hostile paths, ids, query strings, headers and bodies. Every answer must be below 500 (a 501 only as the
 * catalogued notImplemented), every error must have Trove's body `{"<fault>": {"code", "message"}}`, and a
 * refused request or any GET must change nothing: no row in Postgres, no command to a tracker, no public
 * event. One MariaDB guest (and a database, a user, a configuration group, a subscription on it) is made
 * once and reused.
 *
 * Then bursts of 2 to 8 such requests are sent at once (a tenth as many bursts as cases), so that requests race:
 * still no 5xx, and a burst of refusals and reads changes nothing.
 *
 * `HOARD_FUZZ_RUNS` sets the number of cases (default 2000, the CI run), `HOARD_FUZZ_BURSTS` the number of
 * bursts; `HOARD_FUZZ_SEED` replays a run.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import fc from "fast-check";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually, startHoard, type Hoard } from "../kit/harness.js";
import { fillRoute, routeKey, routeParams, servedRoutes, type RouteEntry } from "../kit/route-table.js";
import { changed, settledDigest, stateDigest, type Digest } from "../kit/state-digest.js";

const RUNS = Number(process.env.HOARD_FUZZ_RUNS ?? 2000);
/** Bursts of requests sent at once: a tenth as many as single cases unless `HOARD_FUZZ_BURSTS` says. */
const BURSTS = Number(process.env.HOARD_FUZZ_BURSTS ?? Math.ceil(RUNS / 10));
const SEED = process.env.HOARD_FUZZ_SEED ? Number(process.env.HOARD_FUZZ_SEED) : Math.floor(Math.random() * 2 ** 31);

const TENANT = "fuzz";
const ADMIN_PROJECT = "ops";
const TOKENS = { tenant: "tok-fuzz", admin: "tok-ops-admin", other: "tok-other" };

let hoard: Hoard;
let routes: RouteEntry[];
let client: pg.Client;
/** The fixtures' ids, reused by the cases. */
const real = { instance: "", configuration: "", subscription: "", versionId: "", backup: "", schedule: "" };

async function api(method: string, project: string, p: string, body?: unknown, token = TOKENS.tenant) {
  return hoard.api(method, project, p, body, { "x-auth-token": token });
}

beforeAll(async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "hoard-fuzz-"));
  const tokensFile = path.join(dir, "tokens.json");
  writeFileSync(
    tokensFile,
    JSON.stringify({
      tokens: {
        [TOKENS.tenant]: { project: TENANT, roles: [] },
        [TOKENS.admin]: { project: ADMIN_PROJECT, roles: ["admin"] },
        [TOKENS.other]: { project: "someone-else", roles: [] },
      },
    }),
  );
  // No project may have an instance but the tenant, and it only one: every create a case sends is refused
  // by the quota at the latest, so no case starts a guest.
  // Its subscriptions name the discard port on loopback, which webhooks reach only where the operator allows.
  hoard = await startHoard({ gateway: { port: 0, tokensFile }, quotas: { instances: 0 }, volumeDriver: "directory", webhooks: { allow: ["127.0.0.1:9"] } });
  routes = await servedRoutes();
  client = new pg.Client({ connectionString: hoard.databaseUrl });
  await client.connect();

  expect((await api("PUT", ADMIN_PROJECT, `/mgmt/quotas/${TENANT}`, { quotas: { instances: 1 } }, TOKENS.admin)).status).toBe(200);
  const created = await api("POST", TENANT, "/instances", {
    instance: {
      name: "fuzzed",
      flavorRef: "1",
      volume: { size: 1 },
      datastore: { type: "mariadb", version: "10.11" },
      databases: [{ name: "fz_db" }],
      users: [{ name: "fz_user", password: "fz-password", databases: [{ name: "fz_db" }] }],
    },
  });
  expect(created.status).toBe(200);
  real.instance = created.body.instance.id;
  await eventually(async () => {
    const r = await api("GET", TENANT, `/instances/${real.instance}`);
    return r.body.instance?.status === "ACTIVE" && r.body.instance?.operating_status === "HEALTHY" ? true : undefined;
  }, 60_000);
  const conf = await api("POST", TENANT, "/configurations", { configuration: { name: "fz_conf", values: { max_connections: 120 }, datastore: { type: "mariadb", version: "10.11" } } });
  expect(conf.status).toBe(200);
  real.configuration = conf.body.configuration.id;
  // Subscribed to a type no case can cause, at an address nobody listens on: no delivery moves rows.
  const sub = await api("POST", TENANT, "/subscriptions", { subscription: { url: "http://127.0.0.1:9/fuzz", event_types: ["instance.resized"] } });
  expect(sub.status).toBe(200);
  real.subscription = sub.body.subscription.id;
  real.versionId = conf.body.configuration.datastore_version_id;
  const backup = await api("POST", TENANT, "/backups", { backup: { name: "fz_backup", instance: real.instance } });
  expect(backup.status).toBe(202);
  real.backup = backup.body.backup.id;
  await eventually(async () => ((await api("GET", TENANT, `/backups/${real.backup}`)).body.backup?.status === "COMPLETED" ? true : undefined), 60_000);
  await eventually(async () => ((await api("GET", TENANT, `/instances/${real.instance}`)).body.instance?.status === "ACTIVE" ? true : undefined), 30_000);
  // Fires at 03:00 only: no run of it moves rows while cases are judged.
  const schedule = await api("POST", TENANT, "/backup_schedules", { backup_schedule: { instance_id: real.instance, cron: "0 3 * * *", name: "fz_nightly", retention: 2 } });
  expect(schedule.status).toBe(200);
  real.schedule = schedule.body.backup_schedule.id;
});
afterAll(async () => {
  await client?.end();
  await hoard?.stop();
});

// ---- what the cases are made of ----

const HOSTILE = [
  "", " ", "'", '"', "a'b", "x'; DROP TABLE instances; --", "1 OR 1=1", "1' OR '1'='1", "../../../etc/passwd", "..\\..\\windows",
  "%00", "\u0000", "a\u0000b", "\u0001\u0002\u001b[31m", "\r\nX-Injected: 1", "\t", "ünïcødé", "数据库", "💥", "\u202egnp.exe", "\ud800",
  "x".repeat(256), "x".repeat(5000), "null", "undefined", "NaN", "-1", "0", "1e309", "99999999999999999999999", "$(reboot)", "`id`",
  "<script>alert(1)</script>", "%s%s%n", "\\", "/", ".", "..", "*", "%", "%%", "a@b@c", "@", "name.json", ".json", "{}", "[]",
  "00000000-0000-0000-0000-000000000000", "ffffffff-ffff-ffff-ffff-ffffffffffff", "not-a-uuid", "__proto__", "constructor",
];
const hostileString = fc.oneof(
  { arbitrary: fc.constantFrom(...HOSTILE), weight: 6 },
  { arbitrary: fc.string({ maxLength: 40 }), weight: 2 },
  { arbitrary: fc.string({ unit: "grapheme", maxLength: 20 }), weight: 1 },
  { arbitrary: fc.string({ unit: "binary", maxLength: 20 }), weight: 1 },
  { arbitrary: fc.uuid(), weight: 1 },
);
const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: hostileString, weight: 5 },
  { arbitrary: fc.constantFrom(0, -1, -0.5, 1.5, 2 ** 31, 2 ** 53 + 2, -(2 ** 63), 1e308, true, false, null, [], {}, [null], { "": "" }), weight: 3 },
  { arbitrary: fc.integer(), weight: 1 },
  { arbitrary: fc.jsonValue({ maxDepth: 3 }), weight: 2 },
);

/** A body close to what each route wants, for mutations; the key is `METHOD pattern`. Others start from `{}`. */
function templates(): Record<string, unknown> {
  return {
    "POST /v1.0/:project/instances": {
      instance: {
        name: "fz2", flavorRef: "1", volume: { size: 1 }, datastore: { type: "mariadb", version: "10.11" },
        databases: [{ name: "d1" }], users: [{ name: "u1", password: "p", databases: [{ name: "d1" }] }], nics: [{ "net-id": "n1" }],
        configuration: real.configuration, access: { is_public: false, allowed_cidrs: ["10.0.0.0/8"] }, auto_restart: true,
      },
    },
    "POST /v1.0/:project/instances/:id/databases": { databases: [{ name: "d2", character_set: "utf8mb4", collate: "utf8mb4_bin" }] },
    "POST /v1.0/:project/instances/:id/users": { users: [{ name: "u2", password: "pw", host: "%", databases: [{ name: "fz_db" }] }] },
    "PUT /v1.0/:project/instances/:id/users": { users: [{ name: "fz_user", password: "pw2", host: "%" }] },
    "PUT /v1.0/:project/instances/:id/users/:user": { user: { password: "pw3", host: "%" } },
    "PUT /v1.0/:project/instances/:id/users/:user/databases": { databases: [{ name: "fz_db" }] },
    "POST /v1.0/:project/instances/:id/root": { password: "root-password" },
    "POST /v1.0/:project/configurations": { configuration: { name: "c", description: "d", values: { max_connections: 100, sql_mode: "ANSI" }, datastore: { type: "mariadb", version: "10.11" } } },
    "PUT /v1.0/:project/configurations/:id": { configuration: { name: "c2", values: { max_connections: 120 } } },
    "PATCH /v1.0/:project/configurations/:id": { configuration: { values: { max_connections: 130 } } },
    "PUT /v1.0/:project/instances/:id": { instance: { name: "renamed", configuration: real.configuration } },
    "PATCH /v1.0/:project/instances/:id": { instance: { name: "renamed" } },
    "POST /v1.0/:project/instances/:id/action": { resize: { volume: { size: 2 } } },
    "PUT /v1.0/:project/mgmt/quotas/:target": { quotas: { instances: 5, ram: -1 } },
    "POST /v1.0/:project/backups": { backup: { name: "fzb", instance: real.instance, description: "d" } },
    "POST /v1.0/:project/backup_schedules": { backup_schedule: { instance_id: real.instance, cron: "0 3 * * *", timezone: "UTC", name: "fzs", retention: 2, description: "d" } },
    "POST /v1.0/:project/subscriptions": { subscription: { url: "http://127.0.0.1:9/h", event_types: ["instance.resized"], secret: "s".repeat(20), description: "d" } },
  };
}

/** Every path to a value inside `v` (objects and arrays), the root included. */
function pathsOf(v: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  const out = [prefix];
  if (Array.isArray(v)) v.forEach((x, i) => out.push(...pathsOf(x, [...prefix, i])));
  else if (v && typeof v === "object") for (const [k, x] of Object.entries(v)) out.push(...pathsOf(x, [...prefix, k]));
  return out;
}

type Mutation = { op: "replace" | "delete" | "add" | "wrap"; pick: number; key: string; value: unknown };

function mutate(template: unknown, m: Mutation): unknown {
  const copy = structuredClone(template) as Record<string, unknown>;
  const paths = pathsOf(copy);
  const at = paths[m.pick % paths.length]!;
  if (at.length === 0) return m.op === "replace" ? m.value : m.op === "wrap" ? [copy] : copy;
  const parent = at.slice(0, -1).reduce<any>((o, k) => o[k], copy);
  const last = at[at.length - 1]!;
  switch (m.op) {
    case "replace":
      parent[last] = m.value;
      break;
    case "delete":
      if (Array.isArray(parent)) parent.splice(Number(last), 1);
      else delete parent[last];
      break;
    case "add": {
      const target = parent[last];
      if (target && typeof target === "object" && !Array.isArray(target)) target[m.key] = m.value;
      else parent[m.key] = m.value;
      break;
    }
    case "wrap":
      parent[last] = [parent[last]];
      break;
  }
  return copy;
}

const DEEP = `${"[".repeat(20_000)}${"]".repeat(20_000)}`;
const RAW_BODIES = [
  "{", "[", "nul", "\ufeff{}", '{"a":}', "{'a':1}", "1", '"str"', "true", "null", "[]", "{}", DEEP, `{"instance":${DEEP}}`,
  `1${"0".repeat(400)}`, '{"instance": 1e999}', '{"__proto__": {"polluted": 1}}', '{"constructor": {"prototype": {"polluted": 1}}}',
  '{"a":1,"a":2}', "\u0000", "<xml/>", "a=1&b=2", "--x\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--x--",
];

/** Number literals JSON.parse rounds or overflows but lossless parsing keeps: spliced into a route's own body. */
const NUMBER_LITERALS = ["1e999999", "-0", "1E-400", "123456789012345678901234567890", "-9223372036854775809", "0.1e1", "1.0", `1${"0".repeat(500)}`];

type Body = { kind: "none" } | { kind: "number"; pick: number; literal: string } | { kind: "raw"; text: string } | { kind: "json"; value: unknown } | { kind: "mutated"; m: Mutation } | { kind: "huge"; bytes: number; pick: number };

const bodyArb: fc.Arbitrary<Body> = fc.oneof(
  { arbitrary: fc.constant<Body>({ kind: "none" }), weight: 20 },
  { arbitrary: fc.oneof(fc.constantFrom(...RAW_BODIES), fc.string({ maxLength: 60 })).map((text): Body => ({ kind: "raw", text })), weight: 30 },
  { arbitrary: fc.jsonValue({ maxDepth: 4 }).map((value): Body => ({ kind: "json", value })), weight: 20 },
  {
    arbitrary: fc.record({ op: fc.constantFrom("replace", "delete", "add", "wrap" as const), pick: fc.nat(), key: hostileString, value: hostileValue }).map((m): Body => ({ kind: "mutated", m: m as Mutation })),
    weight: 100,
  },
  { arbitrary: fc.record({ pick: fc.nat(), literal: fc.constantFrom(...NUMBER_LITERALS) }).map((n): Body => ({ kind: "number", ...n })), weight: 15 },
  // Past the gateway's 1 MiB, and just under it (a body the gateway takes must still fit through NATS).
  { arbitrary: fc.record({ bytes: fc.constantFrom(900_000, 1_040_000, 1_048_500, 1_100_000), pick: fc.nat() }).map((h): Body => ({ kind: "huge", ...h })), weight: 3 },
);

type Caller = "tenant" | "admin" | "none" | "bad-token" | "other-project";
interface Case {
  route: number;
  method: string | null;
  caller: Caller;
  project: string | null;
  params: Record<string, { real: boolean; pick: number; value: string; raw: boolean }>;
  query: [string, string][] | string | null;
  host: string | null;
  contentType: string | null;
  body: Body;
}

/** `arb` one time in `odds`, else null (the route's own choice). */
const rarely = <T>(arb: fc.Arbitrary<T>, odds: number): fc.Arbitrary<T | null> => fc.oneof({ arbitrary: fc.constant(null), weight: odds - 1 }, { arbitrary: arb, weight: 1 });

const METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"];
const caseArb = (paramNames: string[]): fc.Arbitrary<Case> =>
  fc.record({
    route: fc.nat(),
    method: rarely(fc.constantFrom(...METHODS), 6),
    caller: fc.oneof(
      { arbitrary: fc.constant<Caller>("tenant"), weight: 12 },
      { arbitrary: fc.constantFrom<Caller>("admin", "none", "bad-token", "other-project"), weight: 2 },
    ),
    project: rarely(hostileString, 12),
    params: fc.record(Object.fromEntries(paramNames.map((n) => [n, fc.record({ real: fc.nat(3).map((k) => k > 0), pick: fc.nat(), value: hostileString, raw: fc.boolean() })]))) as fc.Arbitrary<Case["params"]>,
    query: rarely(
      fc.oneof(
        fc.array(fc.tuple(fc.oneof(fc.constantFrom("limit", "marker", "types", "limit[]", "detail"), hostileString), fc.oneof(hostileString, fc.nat().map(String))), { maxLength: 3 }),
        fc.constantFrom("limit=1&limit=2", "%zz", "limit=0", "limit=-5", "limit=1e3", `marker=${"m".repeat(600)}`, "types=", "types=instance.*,,", "types=%00", "a[b][c]=1"),
      ),
      3,
    ),
    host: rarely(fc.oneof(hostileString, fc.constantFrom("h".repeat(8000), "evil.example:99999", "[::1]", "a b", "x/y?z#w")), 15),
    contentType: rarely(fc.constantFrom("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/json; charset=latin1", "", "application/xml"), 4),
    body: bodyArb,
  });

/** The real value a route parameter may take, by route and name. */
function realValues(url: string, name: string): string[] {
  if (name === "id") {
    if (url.includes("/configurations/")) return [real.configuration];
    if (url.includes("/subscriptions/")) return [real.subscription];
    if (url.includes("/backups/")) return [real.backup];
    if (url.includes("/backup_schedules/")) return [real.schedule];
    if (url.includes("/flavors/")) return ["1", "2"];
    if (url.includes("/datastores/versions/")) return [real.versionId, "10.11"];
    return [real.instance, `${real.instance}.json`];
  }
  return (
    {
      user: ["fz_user", "fz_user@%", "root"],
      name: url.includes("/parameters/") ? ["max_connections", "sql_mode"] : ["fz_db"],
      db: ["fz_db"],
      ds: ["mariadb", "mysql", "postgresql", "redis"],
      ver: ["10.11", real.versionId, "15"],
      version: ["10.11", real.versionId, "7.0"],
      target: [TENANT, "someone-else"],
    } as Record<string, string[]>
  )[name] ?? [];
}

/** The ids of fixtures a case may not delete or change the state of, so later cases keep something to aim at. */
const fixtureIds = () => [real.instance, real.configuration, real.subscription, real.backup, real.schedule];

interface Request {
  method: string;
  project: string;
  path: string;
  query: string;
  headers: Record<string, string>;
  body: string | undefined;
  route: RouteEntry;
}

function build(c: Case): Request {
  const route = routes[c.route % routes.length]!;
  const method = c.method ?? route.method;
  const tokens: Record<Caller, string | undefined> = { tenant: TOKENS.tenant, admin: TOKENS.admin, none: undefined, "bad-token": "no-such-token", "other-project": TOKENS.other };
  const project = c.project ?? (c.caller === "admin" ? ADMIN_PROJECT : TENANT);
  const values: Record<string, string> = { project };
  const raw: Record<string, boolean> = {};
  for (const name of routeParams(route.url)) {
    if (name === "project") continue;
    const p = c.params[name]!;
    const reals = realValues(route.url, name);
    values[name] = p.real && reals.length ? reals[p.pick % reals.length]! : p.value;
    raw[name] = p.raw && !p.real;
  }
  // An admin may change quotas: never its tenant's, which would let a case create instances.
  if (c.caller === "admin" && values.target === TENANT) values.target = "someone-else";
  let body: unknown;
  let text: string | undefined;
  switch (c.body.kind) {
    case "none":
      break;
    case "raw":
      text = c.body.text;
      break;
    case "json":
      body = c.body.value;
      break;
    case "mutated":
      body = mutate(templates()[`${method} ${route.url}`] ?? {}, c.body.m);
      break;
    case "number":
      body = mutate(templates()[`${method} ${route.url}`] ?? { n: 0 }, { op: "replace", pick: c.body.pick, key: "", value: "\u0001number\u0001" });
      break;
    case "huge": {
      // The route's own body with one value grown until the whole body is about `bytes` long.
      const template = templates()[`${method} ${route.url}`] ?? { filler: "" };
      const size = JSON.stringify(template).length;
      body = mutate(template, { op: "replace", pick: c.body.pick, key: "", value: "x".repeat(Math.max(0, c.body.bytes - size)) });
    }
  }
  if (body !== undefined) text = JSON.stringify(body);
  if (c.body.kind === "number") text = text!.replace('"\\u0001number\\u0001"', c.body.literal);
  const query = c.query === null ? "" : typeof c.query === "string" ? `?${c.query}` : c.query.length ? `?${new URLSearchParams(c.query)}` : "";
  const headers: Record<string, string> = { accept: "application/json" };
  const token = tokens[c.caller];
  if (token) headers["x-auth-token"] = token;
  if (text !== undefined) headers["content-type"] = c.contentType ?? "application/json";
  if (c.host !== null) headers.host = c.host;
  let url = fillRoute(route.url, values, raw);
  // Fixtures are never deleted, stopped, restarted or resized: later cases need them as they are. Judged by
  // the path the server receives: the URL parser resolves `..` and `%2e%2e` (`/instances/<id>/databases/..` is
  // a DELETE of the instance).
  const received = new URL(url, "http://fuzz").pathname;
  const destructive = (method === "DELETE" && /^\/v1\.0\/[^/]*\/(instances|configurations|subscriptions|backups|backup_schedules)\/[^/]+\/?$/.test(received))
    || (method === "POST" && /\/instances\/[^/]+\/action\/?$/.test(received) && text !== undefined && /"(restart|stop|start|reset_status|resize|rollback)"/.test(text));
  if (destructive) for (const f of fixtureIds()) url = url.replaceAll(f, "11111111-2222-4333-8444-555555555555");
  return { method, project, path: url, query, headers, body: method === "GET" || method === "HEAD" ? undefined : text, route };
}

// ---- sending and judging ----

interface Outcome {
  status: number;
  text: string;
}

async function send(r: Request): Promise<Outcome | null> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 30_000);
  try {
    const res = await fetch(`${hoard.url}${r.path}${r.query}`, { method: r.method, headers: r.headers, ...(r.body !== undefined ? { body: r.body } : {}), signal: controller.signal });
    // The event stream never ends by itself: its status is the answer.
    if ((res.headers.get("content-type") ?? "").startsWith("text/event-stream")) {
      await res.body?.cancel();
      return { status: res.status, text: "" };
    }
    return { status: res.status, text: await res.text() };
  } catch (e) {
    // A request fetch itself refuses to send (a header it cannot encode) is no case.
    if (e instanceof TypeError && !String(e.cause ?? "").includes("ECONN")) return null;
    throw e;
  } finally {
    clearTimeout(timer);
  }
}

/** Why an error answer is not in Trove's shape, or null when it is. */
function shapeProblem(status: number, method: string, text: string): string | null {
  if (method === "HEAD") return null;
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return `not JSON: ${text.slice(0, 120)}`;
  }
  if (!body || typeof body !== "object" || Array.isArray(body)) return `not an object: ${text.slice(0, 120)}`;
  const keys = Object.keys(body);
  if (keys.length !== 1) return `not one fault key: ${keys.join(",")}`;
  const inner = (body as Record<string, { code?: unknown; message?: unknown }>)[keys[0]!]!;
  if (inner?.code !== status) return `code ${String(inner?.code)} is not the status ${status}`;
  if (typeof inner.message !== "string" || inner.message.trim() === "") return "no message";
  return null;
}

const stats = { sent: 0, skipped: 0, fiveHundreds: 0, notImplemented: 0, byStatus: {} as Record<number, number>, routesHit: new Set<string>() };
const failures: string[] = [];
const perRoute: Record<string, Record<number, number>> = {};

/** Counts an answer and notes what is wrong with it (a 5xx, an error not in Trove's shape); returns its label. */
function judge(r: Request, out: Outcome, n: string): string {
  stats.sent++;
  stats.byStatus[out.status] = (stats.byStatus[out.status] ?? 0) + 1;
  stats.routesHit.add(routeKey(r.route));
  const pr = (perRoute[`${r.method} ${r.route.url}`] ??= {});
  pr[out.status] = (pr[out.status] ?? 0) + 1;
  const label = `${n} ${r.method} ${r.path.slice(0, 160)}${r.query.slice(0, 60)} body=${(r.body ?? "").slice(0, 200)} → ${out.status} ${out.text.slice(0, 200)}`;
  if (out.status >= 500) {
    const documented = out.status === 501 && shapeProblem(out.status, r.method, out.text) === null && out.text.includes("notImplemented");
    if (documented) stats.notImplemented++;
    else {
      stats.fiveHundreds++;
      failures.push(`5xx: ${label}`);
    }
  }
  if (out.status >= 400) {
    const problem = shapeProblem(out.status, r.method, out.text);
    if (problem) failures.push(`shape (${problem}): ${label}`);
  }
  return label;
}

describe("fuzzing every route", () => {
  it("covers each route of the route table", () => {
    expect(routes.length).toBeGreaterThan(40);
    for (const key of Object.keys(templates())) expect(routes.map(routeKey), `template for a route the gateway does not serve: ${key}`).toContain(key);
  });

  it(`answers ${RUNS} hostile requests below 500, in Trove's error shape, changing nothing it refuses (seed ${SEED})`, async () => {
    const paramNames = [...new Set(routes.flatMap((r) => routeParams(r.url)))];
    let baseline: Digest = await settledDigest(client, hoard.nc);
    let index = 0;
    await fc.assert(
      fc.asyncProperty(caseArb(paramNames), async (c) => {
        const n = index++;
        const r = build(c);
        const out = await send(r);
        if (!out) {
          stats.skipped++;
          return true;
        }
        const label = judge(r, out, `#${n}`);
        await fixtureKept(label);
        baseline = changesNothing(r, out) ? await unchangedSince(baseline, label) : await settledDigest(client, hoard.nc);
        return true;
      }),
      { numRuns: RUNS, seed: SEED, endOnFailure: true },
    );
    const summary = { seed: SEED, cases: stats.sent, skipped: stats.skipped, fiveHundreds: stats.fiveHundreds, notImplemented501: stats.notImplemented, routesHit: stats.routesHit.size, routes: routes.length, byStatus: stats.byStatus };
    console.log(`fuzz: ${JSON.stringify(summary)}`);
    if (process.env.HOARD_FUZZ_VERBOSE) console.log(Object.entries(perRoute).sort().map(([k, v]) => `${k} ${JSON.stringify(v)}`).join("\n"));
    const unhit = routes.map(routeKey).filter((k) => !stats.routesHit.has(k));
    if (RUNS >= 500) expect(unhit, "routes no case reached").toEqual([]);
    expect(failures.slice(0, 30), `${failures.length} failures (seed ${SEED})`).toEqual([]);
  }, 15 * 60_000);

  // Requests that race each other: locks taken in different orders, a row changed between check and write.
  it(`answers ${BURSTS} bursts of 2 to 8 hostile requests sent at once below 500, changing nothing when all are refused (seed ${SEED + 1})`, async () => {
    const paramNames = [...new Set(routes.flatMap((r) => routeParams(r.url)))];
    const before = { sent: stats.sent, fiveHundreds: stats.fiveHundreds, failures: failures.length };
    let index = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(caseArb(paramNames), { minLength: 2, maxLength: 8 }), async (cases) => {
        const n = index++;
        const baseline = await settledDigest(client, hoard.nc);
        const requests = cases.map(build);
        const outs = await Promise.all(requests.map(send));
        const labels = outs.flatMap((out, i) => (out ? [{ label: judge(requests[i]!, out, `burst ${n}.${i}`), quiet: changesNothing(requests[i]!, out) }] : []));
        if (labels.every((l) => l.quiet)) await unchangedSince(baseline, labels.map((l) => l.label).join(" | "));
        await fixtureKept(`burst ${n}: ${labels.map((l) => l.label).join(" | ")}`);
        return true;
      }),
      { numRuns: BURSTS, seed: SEED + 1, endOnFailure: true, ...(process.env.HOARD_FUZZ_PATH ? { path: process.env.HOARD_FUZZ_PATH } : {}) },
    );
    console.log(`fuzz bursts: ${JSON.stringify({ seed: SEED + 1, bursts: BURSTS, cases: stats.sent - before.sent, fiveHundreds: stats.fiveHundreds - before.fiveHundreds })}`);
    const mine = failures.slice(before.failures);
    expect(mine.slice(0, 30), `${mine.length} failures (seed ${SEED + 1})`).toEqual([]);
  }, 15 * 60_000);
});

/** No case may delete the fixture instance (build() steers destructive ones away): later cases and the regressions need it. */
async function fixtureKept(after: string): Promise<void> {
  const row = (await client.query("select task, server_status, deleted_at from instances where id = $1", [real.instance])).rows[0];
  if (!row || row.deleted_at || row.task === "DELETING") throw new Error(`the fixture instance is ${row ? `${row.task}${row.deleted_at ? ", deleted" : ""}` : "gone"} after ${after}`);
}

/** A refusal and a read must leave everything as it was. */
const changesNothing = (r: Request, out: Outcome) => out.status >= 400 || r.method === "GET" || r.method === "HEAD";

/** Notes a failure when the state moved from `baseline`; returns the state now, the next baseline. */
async function unchangedSince(baseline: Digest, label: string): Promise<Digest> {
  let after = await stateDigest(client, hoard.nc);
  let diff = changed(baseline, after);
  if (diff.length) {
    // A change a previous success set going may still be arriving: settle, then judge again.
    after = await settledDigest(client, hoard.nc);
    diff = changed(baseline, after);
  }
  if (diff.length) failures.push(`changed ${diff.join(",")}: ${label}`);
  return after;
}

/** One request as the tenant, by hand: the fuzzer found each of these answering wrongly once. */
async function raw(method: string, p: string, body?: string, timeoutMs = 10_000): Promise<{ status: number; body: any }> {
  const res = await fetch(`${hoard.url}${p}`, { method, headers: { "x-auth-token": TOKENS.tenant, ...(body !== undefined ? { "content-type": "application/json" } : {}) }, ...(body !== undefined ? { body } : {}), signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

describe("regressions found by fuzzing", () => {
  it("answers a path the router cannot take in Trove's shape, and routes long names", async () => {
    for (const p of [`/v1.0/${TENANT}/instances/%zz`, `/v1.0/${TENANT}/instances/${"x".repeat(2000)}`]) {
      const r = await raw("GET", p);
      expect(r.status).toBe(400);
      expect(r.body.badRequest.message).toMatch(/^Malformed request path: /);
    }
    // A user@host longer than Fastify's default 100 characters is still a user to look up.
    const long = await raw("GET", `/v1.0/${TENANT}/instances/${real.instance}/users/${"u".repeat(60)}@${"h".repeat(60)}`);
    // Earlier fuzzing may leave the instance busy (409/422 rather than 404): any Trove envelope will do, as long as
    // the path was routed.
    expect(long.status).toBeGreaterThanOrEqual(400);
    expect(long.status).toBeLessThan(500);
    const [envelope] = Object.values(long.body as Record<string, { message?: unknown }>);
    expect(envelope?.message).toBeTypeOf("string");
    expect(envelope?.message).not.toMatch(/Malformed request path/);
  });

  it("refuses a body the gateway takes but one NATS message cannot carry with 400, not 503", async () => {
    const filler = "x".repeat((1 << 20) - 200);
    const r = await raw("POST", `/v1.0/${TENANT}/configurations`, JSON.stringify({ configuration: { name: "big", values: { sql_mode: filler } } }));
    expect(r.status).toBe(400);
    expect(r.body.badRequest.message).toMatch(/too large/);
  });

  it("answers HEAD on the event stream at once instead of holding it open", async () => {
    const res = await fetch(`${hoard.url}/v1.0/${TENANT}/events`, { method: "HEAD", headers: { "x-auth-token": TOKENS.tenant }, signal: AbortSignal.timeout(5_000) });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
  });

  it("refuses U+0000 in a path, a query or a body with 400 before it reaches Postgres", async () => {
    const answers = [
      await raw("GET", `/v1.0/${TENANT}/flavors/%00`),
      await raw("GET", `/v1.0/${TENANT}/instances?marker=a%00b`),
      await raw("POST", `/v1.0/${TENANT}/configurations`, JSON.stringify({ configuration: { name: "a\u0000b", values: {} } })),
    ];
    for (const r of answers) {
      expect(r.status).toBe(400);
      expect(r.body.badRequest.message).toMatch(/U\+0000/);
    }
  });
});

describe("regressions found by fuzzing: backups and backup schedules", () => {
  const BAD_IDS = ["null", "MpKF", encodeURIComponent("💥"), "%22%26", "x'%3B%20DROP%20TABLE%20backups%3B--", "1", "00000000-0000-0000-0000-00000000000g"];

  it("answers a backup schedule's show and delete with an id that is not a uuid with 404, not 500", async () => {
    for (const id of BAD_IDS) {
      for (const method of ["GET", "DELETE"]) {
        const r = await raw(method, `/v1.0/${TENANT}/backup_schedules/${id}`);
        expect(r.status, `${method} backup_schedules/${id}`).toBe(404);
        expect(r.body.itemNotFound.message).toMatch(/Backup schedule .* could not be found/);
      }
    }
    // The real schedule is still there.
    expect((await raw("GET", `/v1.0/${TENANT}/backup_schedules/${real.schedule}`)).status).toBe(200);
  });

  it("answers a backup's show and delete, and an instance's backups, with an id that is not a uuid with 404", async () => {
    for (const id of BAD_IDS) {
      for (const [method, p] of [["GET", `/backups/${id}`], ["DELETE", `/backups/${id}`], ["GET", `/instances/${id}/backups`]] as const) {
        const r = await raw(method, `/v1.0/${TENANT}${p}`);
        expect(r.status, `${method} ${p}`).toBe(404);
        expect(r.body.itemNotFound.code).toBe(404);
      }
    }
    expect((await raw("GET", `/v1.0/${TENANT}/backups/${real.backup}`)).body.backup.status).toBe("COMPLETED");
  });

  it("filters lists by an instance id that is not a uuid to nothing, and refuses a marker that is not an offset with 400", async () => {
    for (const id of BAD_IDS) {
      const backups = await raw("GET", `/v1.0/${TENANT}/backups?instance_id=${id}`);
      expect(backups.status).toBe(200);
      expect(backups.body.backups).toEqual([]);
      const schedules = await raw("GET", `/v1.0/${TENANT}/backup_schedules?instance_id=${id}&marker=${id}`);
      expect(schedules.status).toBe(200);
      expect(schedules.body.backup_schedules).toEqual([]);
      if (/^[0-9]+$/.test(id)) continue;
      for (const p of [`/backups?marker=${id}`, `/instances/${real.instance}/backups?marker=${id}`]) {
        const r = await raw("GET", `/v1.0/${TENANT}${p}`);
        expect(r.status, p).toBe(400);
        expect(r.body.badRequest.message).toMatch(/not an offset/);
      }
    }
  });

  it("answers a backup or a schedule of an instance id that is not a uuid with 404, making nothing", async () => {
    for (const id of ["null", "MpKF", "💥", '"&', "x'; DROP TABLE instances; --"]) {
      const backup = await raw("POST", `/v1.0/${TENANT}/backups`, JSON.stringify({ backup: { name: "fz_bad", instance: id } }));
      expect(backup.status, `backup of ${id}`).toBe(404);
      expect(backup.body.itemNotFound.message).toMatch(/Instance/);
      const schedule = await raw("POST", `/v1.0/${TENANT}/backup_schedules`, JSON.stringify({ backup_schedule: { instance_id: id, cron: "0 3 * * *", name: "fz_bad", retention: 1 } }));
      expect(schedule.status, `schedule of ${id}`).toBe(404);
      expect(schedule.body.itemNotFound.message).toMatch(/Instance/);
    }
    expect((await raw("GET", `/v1.0/${TENANT}/backup_schedules`)).body.backup_schedules.map((x: { id: string }) => x.id)).toContain(real.schedule);
  });

  it("answers a rollback or a restore from a backup id that is not a uuid with 404", async () => {
    for (const id of ["null", "MpKF", "💥", '"&', "x'; DROP TABLE backups; --"]) {
      const rollback = await raw("POST", `/v1.0/${TENANT}/instances/${real.instance}/action`, JSON.stringify({ rollback: { backupRef: id } }));
      expect(rollback.status, `rollback to ${id}`).toBe(404);
      expect(rollback.body.itemNotFound.message).toMatch(/Backup/);
      const restore = await raw("POST", `/v1.0/${TENANT}/instances`, JSON.stringify({ instance: { name: "fz_restore", flavorRef: "1", volume: { size: 1 }, datastore: { type: "mariadb", version: "10.11" }, restorePoint: { backupRef: id } } }));
      expect(restore.status, `restore from ${id}`).toBeLessThan(500);
      expect(restore.status).toBeGreaterThanOrEqual(400);
    }
    expect((await raw("GET", `/v1.0/${TENANT}/instances/${real.instance}`)).body.instance.status).toBe("ACTIVE");
  });
});
