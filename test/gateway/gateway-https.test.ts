/**
 * The gateway over HTTPS (issue 19, "TLS to every guest"): given a certificate and key (HOARD_TLS_CERT,
 * HOARD_TLS_KEY) it serves only TLS, the real OpenStack CLI works against it with `--os-cacert`, and without
 * the CA (or with another one) the CLI refuses the server. The CA and the server's certificate (SAN
 * IP:127.0.0.1) are made here with openssl.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../config/index.js";
import { startHoard, type Hoard } from "../kit/harness.js";

const P = "https-cli";
let hoard: Hoard;
let dir: string;
const file = (name: string) => path.join(dir, name);
const openssl = (...args: string[]) => execFileSync("openssl", args, { stdio: ["ignore", "pipe", "pipe"] });

/** A CA (`name`-ca.pem, its key) and, when `server`, a server certificate it signs for 127.0.0.1. */
function makeCa(name: string): void {
  openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", `/CN=${name} test CA`,
    "-keyout", file(`${name}-ca.key`), "-out", file(`${name}-ca.pem`),
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign");
}

function makeServerCert(ca: string): void {
  openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", file("server.key"), "-out", file("server.csr"));
  writeFileSync(file("server.ext"), [
    "basicConstraints=critical,CA:FALSE",
    "keyUsage=critical,digitalSignature,keyEncipherment",
    "extendedKeyUsage=serverAuth",
    "subjectAltName=IP:127.0.0.1",
    "subjectKeyIdentifier=hash",
    "authorityKeyIdentifier=keyid",
  ].join("\n"));
  openssl("x509", "-req", "-in", file("server.csr"), "-CA", file(`${ca}-ca.pem`), "-CAkey", file(`${ca}-ca.key`), "-CAcreateserial",
    "-days", "2", "-extfile", file("server.ext"), "-out", file("server.pem"));
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "hoard-https-"));
  makeCa("hoard");
  makeCa("other");
  makeServerCert("hoard");
  hoard = await startHoard({ gateway: { port: 0, tlsCert: file("server.pem"), tlsKey: file("server.key") } });
}, 120_000);

afterAll(async () => {
  await hoard?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** GET over HTTPS trusting `ca`: status and parsed body. */
function getTls(pathname: string, ca: string): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(`${hoard.url}${pathname}`, { ca: readFileSync(ca), headers: { accept: "application/json" } }, (res) => {
      let text = "";
      res.on("data", (c: Buffer) => (text += c.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : null }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("the gateway over HTTPS", () => {
  it("listens on https://", () => {
    expect(hoard.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
  });

  it("works with the OpenStack CLI given the CA (--os-cacert)", async () => {
    const r = await hoard.openstack(P, ["--os-cacert", file("hoard-ca.pem"), "database", "flavor", "list", "-f", "json"]);
    expect(r.stderr).not.toMatch(/certificate|SSL/i);
    expect(r.code).toBe(0);
    expect(r.json.map((f: { ID: number | string }) => String(f.ID))).toContain("1");
  });

  it("is refused by the CLI without the CA, or with another CA: the certificate does not verify", async () => {
    for (const args of [[], ["--os-cacert", file("other-ca.pem")]]) {
      const r = await hoard.openstack(P, [...args, "database", "flavor", "list", "-f", "json"]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/CERTIFICATE_VERIFY_FAILED|certificate verify failed/i);
    }
  });

  it("gives https links, in the version document too", async () => {
    const versions = await getTls("/", file("hoard-ca.pem"));
    expect(versions.status).toBe(200);
    expect(versions.body.versions[0].links[0].href).toBe(`${hoard.url}/v1.0/`);
    const flavor = await getTls(`/v1.0/${P}/flavors/1`, file("hoard-ca.pem"));
    expect(flavor.status).toBe(200);
    expect(flavor.body.flavor.links[0].href).toMatch(/^https:\/\//);
  });

  it("does not answer the API in plaintext on its port", async () => {
    const plain = hoard.url.replace(/^https:/, "http:");
    const outcome = await new Promise<string>((resolve) => {
      const req = httpRequest(`${plain}/v1.0/${P}/flavors`, (res) => {
        res.resume();
        resolve(`HTTP ${res.statusCode}`);
      });
      req.on("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
      req.end();
    });
    // The TLS server drops a connection that does not start a handshake.
    expect(outcome).toMatch(/^(ECONNRESET|EPIPE)$/);
  });
});

describe("HOARD_TLS_CERT and HOARD_TLS_KEY", () => {
  it("go together: one without the other is refused at start", () => {
    expect(() => loadConfig({ HOARD_HOME: "/nonexistent", HOARD_TLS_CERT: "/etc/hoard/gateway.pem" })).toThrow("HOARD_TLS_CERT and HOARD_TLS_KEY go together");
    expect(() => loadConfig({ HOARD_HOME: "/nonexistent", HOARD_TLS_KEY: "/etc/hoard/gateway.key" })).toThrow("HOARD_TLS_CERT and HOARD_TLS_KEY go together");
  });
});
