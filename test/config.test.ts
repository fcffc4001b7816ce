/**
 * The settings of the function host and the dispatcher come through the one config schema, as every other
 * setting does: read from the environment, validated, with their defaults.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadConfig } from "../config/index.js";

const home = mkdtempSync(path.join(os.tmpdir(), "hoard-config-"));
afterAll(() => rmSync(home, { recursive: true, force: true }));
const load = (env: Record<string, string>) => loadConfig({ HOARD_HOME: home, ...env });

describe("the function host's and the dispatcher's settings", () => {
  it("have their defaults when nothing is set", () => {
    const config = load({});
    expect(config.functionHost).toEqual({ host: "127.0.0.1" });
    expect(config.dispatcher).toEqual({});
    expect(config.streamReplicas).toBe(1);
  });

  it("read HOARD_FUNCTION, HOARD_HTTP_HOST and PORT, else the port of of-watchdog's upstream_url", () => {
    expect(load({ HOARD_FUNCTION: "flavor-list", HOARD_HTTP_HOST: "0.0.0.0", PORT: "8081", upstream_url: "http://127.0.0.1:3001" }).functionHost).toEqual({ function: "flavor-list", host: "0.0.0.0", port: 8081 });
    expect(load({ upstream_url: "http://127.0.0.1:3001" }).functionHost.port).toBe(3001);
    expect(load({ upstream_url: "http://127.0.0.1" }).functionHost.port).toBeUndefined();
    expect(() => load({ PORT: "eighty" })).toThrow();
  });

  it("read HOARD_GATEWAY_URL, HOARD_GATEWAY_AUTH, HOARD_DISPATCH_IN_FLIGHT and HOARD_STREAM_REPLICAS, validated", () => {
    const config = load({ HOARD_GATEWAY_URL: "http://gateway.openfaas:8080", HOARD_GATEWAY_AUTH: "admin:pw", HOARD_DISPATCH_IN_FLIGHT: "4", HOARD_STREAM_REPLICAS: "3" });
    expect(config.dispatcher).toEqual({ gatewayUrl: "http://gateway.openfaas:8080", gatewayAuth: "admin:pw", inFlight: 4 });
    expect(config.streamReplicas).toBe(3);
    expect(() => load({ HOARD_DISPATCH_IN_FLIGHT: "0" })).toThrow();
    expect(() => load({ HOARD_STREAM_REPLICAS: "many" })).toThrow();
    expect(() => load({ HOARD_LOG_LEVEL: "loud" })).toThrow();
  });

  it("take DATABASE_URL from the file DATABASE_URL_FILE names when DATABASE_URL is unset", () => {
    const file = path.join(home, "database-url");
    writeFileSync(file, "postgres://hoard:secret@db:5432/hoard\n");
    expect(load({ DATABASE_URL_FILE: file }).databaseUrl).toBe("postgres://hoard:secret@db:5432/hoard");
    expect(load({ DATABASE_URL_FILE: file, DATABASE_URL: "postgres://other@db/hoard" }).databaseUrl).toBe("postgres://other@db/hoard");
  });
});
