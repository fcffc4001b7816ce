import { mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startHoard, type Hoard } from "../kit/harness.js";

const A = "project-a";
const B = "project-b";
let hoard: Hoard;

beforeAll(async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "hoard-tokens-"));
  const tokensFile = path.join(dir, "tokens.json");
  writeFileSync(tokensFile, JSON.stringify({ tokens: { "token-a": { project: A, roles: [] }, "token-b": { project: B, roles: [] } } }));
  hoard = await startHoard({ gateway: { port: 0, tokensFile } });
});
afterAll(async () => {
  await hoard?.stop();
});

const asA = { "x-auth-token": "token-a" };
const asB = { "x-auth-token": "token-b" };

describe("tenants with tokens", () => {
  let id = "";

  it("requires a token when tokens are configured", async () => {
    const r = await hoard.api("GET", A, "/instances");
    expect(r.status).toBe(401);
    expect(r.body.unauthorized.message).toMatch(/X-Auth-Token/);
    expect((await hoard.api("GET", A, "/instances", undefined, { "x-auth-token": "notused" })).status).toBe(401);
  });

  it("refuses a token for another project's path with 403", async () => {
    const r = await hoard.api("GET", A, "/instances", undefined, asB);
    expect(r.status).toBe(403);
    expect(r.body.forbidden.message).toContain(B);
  });

  it("lets project A create, and hides it from project B", async () => {
    const created = await hoard.api("POST", A, "/instances", { instance: { name: "a1", flavorRef: 1, volume: { size: 1 }, datastore: { type: "mysql" } } }, asA);
    expect(created.status).toBe(200);
    id = created.body.instance.id;
    expect(created.body.instance.status).toBe("BUILD");
    expect(created.body.instance.links[0].href).toContain(`/v1.0/${A}/instances/${id}`);
    const listB = await hoard.api("GET", B, "/instances", undefined, asB);
    expect(listB.status).toBe(200);
    expect(listB.body.instances).toEqual([]);
    expect((await hoard.api("GET", B, `/instances/${id}`, undefined, asB)).status).toBe(404);
    expect((await hoard.api("DELETE", B, `/instances/${id}`, undefined, asB)).status).toBe(404);
    const listA = await hoard.api("GET", A, "/instances", undefined, asA);
    expect(listA.body.instances.map((i: { id: string }) => i.id)).toEqual([id]);
  });

  it("does not let project B use project A's network", async () => {
    const net = "b1b2c3d4-0000-4000-8000-00000000abcd";
    const a = await hoard.api("POST", A, "/instances", { instance: { name: "a2", flavorRef: 1, volume: { size: 1 }, nics: [{ network_id: net }] } }, asA);
    expect(a.status).toBe(200);
    const b = await hoard.api("POST", B, "/instances", { instance: { name: "b1", flavorRef: 1, volume: { size: 1 }, nics: [{ network_id: net }] } }, asB);
    expect(b.status).toBe(400);
    expect(b.body.badRequest.message).toContain(net);
  });
});
