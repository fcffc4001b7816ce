/**
 * Quotas and limits: the CLI's limit list and quota show, quotas enforced atomically at create (413
 * overLimit naming the resource, nothing recorded), admin-only quota updates, and per-project rate limits.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startHoard, type Hoard } from "../kit/harness.js";

// Hex, like a Keystone project id: the CLI's quota show looks names up in Keystone, ids it passes through.
const P = "0a000000000000000000000000000001";
const redis = (name: string, size = 1) => ({ instance: { name, flavorRef: "1", volume: { size }, datastore: { type: "redis", version: "7.0" } } });

describe("quotas with the configured defaults", () => {
  let hoard: Hoard;
  beforeAll(async () => {
    hoard = await startHoard({ quotas: { instances: 3, ram: -1, volumes: 40, backups: 50 } });
  });
  afterAll(async () => {
    await hoard?.stop();
  });

  it("lists the absolute limits first, then the rate limits, through the CLI", async () => {
    const r = await hoard.openstack(P, ["database", "limit", "list", "-f", "json"]);
    expect(r.code, r.stderr).toBe(0);
    // The CLI prints the ABSOLUTE entry as a table of its own, then the rate limits.
    expect(r.stdout).toMatch(/max_instances\s*\|\s*3/);
    const rates = JSON.parse(r.stdout.slice(r.stdout.indexOf("\n[") + 1));
    expect(rates.map((l: { Verb: string }) => l.Verb)).toEqual(expect.arrayContaining(["GET", "POST", "PUT", "DELETE"]));
    const api = await hoard.api("GET", P, "/limits");
    expect(api.body.limits[0]).toEqual({ verb: "ABSOLUTE", max_instances: 3, max_ram: -1, max_volumes: 40, max_backups: 50 });
    expect(api.body.limits[1]).toMatchObject({ verb: "GET", unit: "MINUTE", value: 1_000_000 });
  });

  it("lets exactly the quota through when creates race, and says which resource is over", async () => {
    const results = await Promise.all([1, 2, 3, 4, 5].map((i) => hoard.api("POST", P, "/instances", redis(`q${i}`))));
    expect(results.map((r) => r.status).sort()).toEqual([200, 200, 200, 413, 413]);
    const refused = results.find((r) => r.status === 413)!;
    expect(refused.body.overLimit.message).toContain("Quota exceeded for resources: ['instances']");
    expect((await hoard.api("GET", P, "/instances")).body.instances).toHaveLength(3);
    const shown = await hoard.openstack(P, ["database", "quota", "show", P, "-f", "json"]);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.json).toContainEqual(expect.objectContaining({ Resource: "instances", "In Use": 3, Limit: 3 }));
    // Another project has its own quota.
    expect((await hoard.api("POST", P.replace("1", "2"), "/instances", redis("other"))).status).toBe(200);
  });

  it("refuses another project's quotas and quota updates without the admin role", async () => {
    expect((await hoard.api("GET", P, "/mgmt/quotas/someone-else")).status).toBe(403);
    expect((await hoard.api("PUT", P, `/mgmt/quotas/${P}`, { quotas: { instances: 100 } })).status).toBe(401);
  });
});

describe("quota updates and rate limits with tokens", () => {
  let hoard: Hoard;
  const admin = { "x-auth-token": "admin-token" };
  const tenant = { "x-auth-token": "tenant-token" };
  const T = "tenant-q";

  beforeAll(async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "hoard-quota-tokens-"));
    const tokensFile = path.join(dir, "tokens.json");
    writeFileSync(tokensFile, JSON.stringify({ tokens: { "admin-token": { project: "ops", roles: ["admin"] }, "tenant-token": { project: T, roles: [] }, "tenant-admin-token": { project: T, roles: ["admin"] } } }));
    hoard = await startHoard({ gateway: { port: 0, tokensFile }, rateLimitPerMinute: 10 });
  });
  afterAll(async () => {
    await hoard?.stop();
  });

  it("lets an admin set a project's volume quota, which then refuses a create beyond it", async () => {
    const bad = await hoard.api("PUT", "ops", `/mgmt/quotas/${T}`, { quotas: { volumes: -2 } }, admin);
    expect(bad.status).toBe(400);
    const unknown = await hoard.api("PUT", "ops", `/mgmt/quotas/${T}`, { quotas: { cpus: 4 } }, admin);
    expect(unknown.status).toBe(404);
    const set = await hoard.api("PUT", "ops", `/mgmt/quotas/${T}`, { quotas: { volumes: 1 } }, admin);
    expect(set.status).toBe(200);
    expect(set.body).toEqual({ quotas: { volumes: 1 } });
    const tooBig = await hoard.api("POST", T, "/instances", redis("big", 2), tenant);
    expect(tooBig.status).toBe(413);
    expect(tooBig.body.overLimit.message).toContain("['volumes']");
  });

  it("lets an admin of the project reset an instance's status, and nobody else", async () => {
    const created = await hoard.api("POST", T, "/instances", redis("resettable"), tenant);
    expect(created.status).toBe(200);
    const id = created.body.instance.id;
    expect((await hoard.api("POST", T, `/instances/${id}/action`, { reset_status: {} }, tenant)).status).toBe(401);
    expect((await hoard.api("POST", T, `/instances/${id}/action`, { reset_status: {} }, { "x-auth-token": "tenant-admin-token" })).status).toBe(202);
    const shown = await hoard.api("GET", T, `/instances/${id}`, undefined, tenant);
    // The task is cleared; what the guest is doing is unknown until the next heartbeat says.
    expect(["ERROR", "ACTIVE"]).toContain(shown.body.instance.status);
  });

  it("limits each project's requests per verb and minute: 413 with Retry-After, other projects unaffected", async () => {
    const statuses: number[] = [];
    let limited: Awaited<ReturnType<Hoard["api"]>> | undefined;
    for (let i = 0; i < 14; i++) {
      const r = await hoard.api("GET", T, "/instances", undefined, tenant);
      statuses.push(r.status);
      if (r.status === 413) limited = r;
    }
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(8);
    expect(limited).toBeDefined();
    expect(Number(limited!.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(limited!.body.overLimit).toMatchObject({ code: 413, retryAfter: expect.any(String) });
    expect((await hoard.api("GET", "ops", "/instances", undefined, admin)).status).toBe(200);
  });
});
