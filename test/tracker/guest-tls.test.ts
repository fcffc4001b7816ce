/**
 * TLS to every guest, as a tenant meets it: the CA certificate comes from the API, and the engines' own
 * clients (mariadb, psql, redis-cli) verify the server's certificate with it at the address the instance's
 * view gives; `"tls": "required"` makes each engine refuse plaintext itself; a client that trusts another
 * CA is refused; certificates are renewed and taken live, the engine's pid unchanged; the CA's key is 0600.
 * The same for a guest on the netns network driver.
 */
import { execFile } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import pino from "pino";
import { loadConfig } from "../../config/index.js";
import { strategyFor } from "../../datastores/index.js";
import { GuestCertificates } from "../../tracker/tls.js";
import { eventually, startHoard, type Hoard } from "../kit/harness.js";

const P = "7150000000000000000000000000a001";
const OTHER = "7150000000000000000000000000b002";
const dir = mkdtempSync(path.join(os.tmpdir(), "hoard-guest-tls-"));

interface Ran {
  code: number;
  out: string;
}

/** Runs a client program; never throws: its exit code and all it printed. */
function client(cmd: string, args: string[], env: Record<string, string> = {}): Promise<Ran> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { env: { PATH: "/usr/bin:/bin", HOME: dir, LANG: "C.UTF-8", ...env }, timeout: 20_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof (err as { code?: unknown }).code === "number" ? ((err as { code: number }).code) : 1) : 0, out: `${stdout}${stderr}` });
    });
    child.stdin?.end();
  });
}

/** The CA certificate of an instance as the API gives it, in a file of its own. */
async function caFile(hoard: Hoard, project: string, id: string): Promise<string> {
  const r = await hoard.api("GET", project, `/instances/${id}/ca`);
  expect(r.status).toBe(200);
  expect(r.body.ca.certificate).toMatch(/^-----BEGIN CERTIFICATE-----/);
  const file = path.join(dir, `ca-${id}.pem`);
  writeFileSync(file, r.body.ca.certificate);
  return file;
}

/** A CA that is not Hoard's, with which verification must fail. */
async function strangerCa(): Promise<string> {
  const file = path.join(dir, "stranger-ca.pem");
  const ran = await client("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", path.join(dir, "stranger.key"), "-out", file, "-days", "2", "-subj", "/CN=not Hoard"]);
  expect(ran.code, ran.out).toBe(0);
  return file;
}

const privateAddress = (view: any): { address: string; port: number } => view.addresses.find((a: { type: string }) => a.type === "private");

function mariadb(at: { address: string; port: number }, user: string, password: string, sql: string, tls: string[]): Promise<Ran> {
  return client("mariadb", ["--no-defaults", `--host=${at.address}`, `--port=${at.port}`, `--user=${user}`, "--batch", "--skip-column-names", ...tls, "-e", sql], { MYSQL_PWD: password });
}

function psql(at: { address: string; port: number }, user: string, password: string, db: string, sql: string, ssl: string): Promise<Ran> {
  return client("psql", [`host=${at.address} port=${at.port} user=${user} dbname=${db} ${ssl}`, "-X", "-A", "-t", "-c", sql], { PGPASSWORD: password, PGCONNECT_TIMEOUT: "10" });
}

function redisCli(at: { address: string; port: number }, user: string, password: string, args: string[], tls: string[]): Promise<Ran> {
  return client("redis-cli", ["-h", at.address, "-p", String(at.port), "--user", user, "--no-auth-warning", ...tls, ...args], { REDISCLI_AUTH: password });
}

/** The certificate the server at `at` presents (through STARTTLS for MariaDB and PostgreSQL). */
async function presented(at: { address: string; port: number }, ca: string, starttls?: "mysql" | "postgres"): Promise<X509Certificate> {
  const ran = await client("openssl", ["s_client", "-connect", `${at.address}:${at.port}`, ...(starttls ? ["-starttls", starttls] : []), "-CAfile", ca, "-verify_return_error", "-verify_ip", at.address, "-showcerts"]);
  const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(ran.out)?.[0];
  if (!pem || !/Verify return code: 0 \(ok\)/.test(ran.out)) throw new Error(`no verified certificate from ${at.address}:${at.port}: ${ran.out.slice(-400)}`);
  return new X509Certificate(pem);
}

let hoard: Hoard;
let stranger: string;

beforeAll(async () => {
  // Certificates that last one day and are renewed when they end within two: every check renews them, so
  // the renewal test sees it happen (and every other test connects while renewals go on).
  hoard = await startHoard({ guestTls: { certDays: 1, renewBeforeDays: 2, checkIntervalMs: 3_000 } });
  stranger = await strangerCa();
}, 120_000);

afterAll(async () => {
  await hoard?.stop();
  rmSync(dir, { recursive: true, force: true });
}, 120_000);

describe("the guest CA", () => {
  it("keeps its key in the state folder, 0600 in a 0700 folder, and the API gives its certificate", async () => {
    const tlsFolder = path.join(hoard.config.home, "tls");
    expect(statSync(tlsFolder).mode & 0o777).toBe(0o700);
    expect(statSync(path.join(tlsFolder, "ca.key")).mode & 0o777).toBe(0o600);
    const ca = new X509Certificate(readFileSync(path.join(tlsFolder, "ca.crt")));
    expect(ca.ca).toBe(true);
  });

  it("refuses a tls option other than enabled or required with a 400", async () => {
    for (const tls of ["off", "REQUIRED", true, 1, ""]) {
      const r = await hoard.api("POST", P, "/instances", { instance: { name: "bad-tls", flavorRef: "1", volume: { size: 1 }, datastore: { type: "mariadb", version: "10.11" }, tls } });
      expect(r.status, JSON.stringify(tls)).toBe(400);
      expect(r.body.badRequest.code).toBe(400);
      expect(r.body.badRequest.message).toContain("instance.tls");
    }
    const list = await hoard.api("GET", P, "/instances");
    expect(list.body.instances.filter((i: { name: string }) => i.name === "bad-tls")).toEqual([]);
  });
});

describe("an operator's CA (one for every tracker of a cluster)", () => {
  it("signs guests' certificates with it, makes no CA of its own, and refuses a key that is not the certificate's", async () => {
    const home = mkdtempSync(path.join(dir, "operator-"));
    const caCert = path.join(home, "op-ca.crt");
    const caKey = path.join(home, "op-ca.key");
    const made = await client("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", caKey, "-out", caCert, "-days", "30", "-subj", "/CN=operator CA", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign"]);
    expect(made.code, made.out).toBe(0);
    const config = loadConfig({ HOARD_HOME: home, HOARD_GUEST_CA_CERT: caCert, HOARD_GUEST_CA_KEY: caKey, HOARD_GUEST_CERT_DAYS: "7" });
    expect(config.guestTls).toMatchObject({ caCertFile: caCert, caKeyFile: caKey, certDays: 7 });
    const log = pino({ level: "silent" });
    const certs = new GuestCertificates({ home, node: "n1", caCertFile: caCert, caKeyFile: caKey, validityDays: 7, renewBeforeDays: 1, log });
    await certs.open();
    expect(certs.caPem).toBe(readFileSync(caCert, "utf8"));
    expect(() => statSync(path.join(home, "tls", "ca.key"))).toThrow();
    const runDir = path.join(home, "run", "g1");
    const dataDir = path.join(home, "volumes", "g1", "data");
    await client("mkdir", ["-p", runDir, dataDir]);
    await certs.issue({ instanceId: "g1", volume: path.dirname(dataDir), dataDir, runDir, host: "10.1.2.3" }, strategyFor("postgresql"), "required", "192.0.2.7");
    const verified = await client("openssl", ["verify", "-CAfile", caCert, path.join(runDir, "tls", "server.crt")]);
    expect(verified.out).toContain(": OK");
    const cert = new X509Certificate(readFileSync(path.join(runDir, "tls", "server.crt")));
    expect(cert.subjectAltName).toBe("IP Address:10.1.2.3, IP Address:192.0.2.7, DNS:g1");
    expect(statSync(path.join(runDir, "tls", "server.key")).mode & 0o777).toBe(0o600);
    expect(await certs.state({ instanceId: "g1", runDir })).toMatchObject({ mode: "required" });
    // Redis cannot offer TLS beside plaintext: without "required" it gets no certificate.
    const plainRun = path.join(home, "run", "g2");
    await client("mkdir", ["-p", plainRun]);
    await certs.issue({ instanceId: "g2", volume: path.dirname(dataDir), dataDir, runDir: plainRun, host: "10.1.2.4" }, strategyFor("redis"), "enabled");
    expect(await certs.state({ instanceId: "g2", runDir: plainRun })).toEqual({ mode: "off", expires: null });

    await expect(new GuestCertificates({ home, node: "n1", caCertFile: caCert, validityDays: 7, renewBeforeDays: 1, log }).open()).rejects.toThrow(/give both files or neither/);
    await client("openssl", ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-out", path.join(home, "other.key")]);
    await expect(new GuestCertificates({ home, node: "n1", caCertFile: caCert, caKeyFile: path.join(home, "other.key"), validityDays: 7, renewBeforeDays: 1, log }).open()).rejects.toThrow(/is not the key of/);
  });
});

describe("mariadb", () => {
  let open: any;
  let strict: any;
  let ca: string;

  beforeAll(async () => {
    const users = [{ name: "u1", password: "u1-secret", databases: [{ name: "db1" }] }];
    [open, strict] = await Promise.all([
      hoard.createActive(P, { name: "m-open", datastore: { type: "mariadb", version: "10.11" }, databases: [{ name: "db1" }], users }),
      hoard.createActive(P, { name: "m-strict", datastore: { type: "mariadb", version: "10.11" }, databases: [{ name: "db1" }], users, tls: "required" }),
    ]);
    ca = await caFile(hoard, P, open.id);
  }, 120_000);

  it("shows TLS in the view and verifies with the CA from the API (mariadb --ssl-ca --ssl-verify-server-cert)", async () => {
    expect(open.tls).toMatchObject({ mode: "enabled", ca_url: expect.stringContaining(`/instances/${open.id}/ca`) });
    expect(Date.parse(open.tls.expires)).toBeGreaterThan(Date.now());
    expect(strict.tls.mode).toBe("required");
    for (const view of [open, strict]) {
      const r = await mariadb(privateAddress(view), "u1", "u1-secret", "SHOW SESSION STATUS LIKE 'Ssl_version'", [`--ssl-ca=${ca}`, "--ssl-verify-server-cert"]);
      expect(r.code, r.out).toBe(0);
      expect(r.out).toMatch(/Ssl_version\s+TLSv1\.[23]/);
    }
  });

  it("still takes plaintext when TLS is enabled, and refuses it (the engine's own error) when required", async () => {
    const plain = await mariadb(privateAddress(open), "u1", "u1-secret", "SELECT 'plain'", ["--skip-ssl"]);
    expect(plain.code, plain.out).toBe(0);
    expect(plain.out.trim()).toBe("plain");
    // MariaDB 10.11 answers a login over plaintext under require_secure_transport as a failed login (1045);
    // the same login over TLS, right after, is let in.
    const refused = await mariadb(privateAddress(strict), "u1", "u1-secret", "SELECT 'plain'", ["--skip-ssl"]);
    expect(refused.code).not.toBe(0);
    expect(refused.out).toMatch(/ERROR 1045 \(28000\): Access denied for user 'u1'/);
    const overTls = await mariadb(privateAddress(strict), "u1", "u1-secret", "SELECT 'over tls'", [`--ssl-ca=${ca}`, "--ssl-verify-server-cert"]);
    expect(overTls.out.trim()).toBe("over tls");
    // Refused, not broken: the guest keeps serving over TLS and Hoard's own session (the socket) still works.
    const users = await hoard.api("GET", P, `/instances/${strict.id}/users`);
    expect(users.status).toBe(200);
    expect(users.body.users.map((u: { name: string }) => u.name)).toEqual(["u1"]);
  });

  it("is refused by a client that trusts another CA", async () => {
    const r = await mariadb(privateAddress(open), "u1", "u1-secret", "SELECT 1", [`--ssl-ca=${stranger}`, "--ssl-verify-server-cert"]);
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(/SSL|certificate|verify/i);
  });

  it("renews the certificate and takes it live (FLUSH SSL): a new certificate, the same engine process", async () => {
    const pidFile = path.join(hoard.config.home, "run", strict.id, "engine.pid");
    const pid = readFileSync(pidFile, "utf8").trim();
    const first = await presented(privateAddress(strict), ca, "mysql");
    const renewed = await eventually(async () => {
      const now = await presented(privateAddress(strict), ca, "mysql");
      return now.serialNumber !== first.serialNumber ? now : undefined;
    }, 30_000, 500);
    expect(renewed.checkIssued(new X509Certificate(readFileSync(ca)))).toBe(true);
    expect(readFileSync(pidFile, "utf8").trim()).toBe(pid);
    const r = await mariadb(privateAddress(strict), "u1", "u1-secret", "SELECT 'after renewal'", [`--ssl-ca=${ca}`, "--ssl-verify-server-cert"]);
    expect(r.out.trim()).toBe("after renewal");
    // The heartbeats carry the renewed certificate's end to the view.
    await eventually(async () => {
      const view = (await hoard.api("GET", P, `/instances/${strict.id}`)).body.instance;
      return view.tls.expires !== strict.tls.expires ? true : undefined;
    }, 30_000, 500);
  });
});

describe("postgresql", () => {
  let open: any;
  let strict: any;
  let ca: string;

  beforeAll(async () => {
    const users = [{ name: "clerk", password: "clerk-secret", databases: [{ name: "shop" }] }];
    [open, strict] = await Promise.all([
      hoard.createActive(P, { name: "p-open", datastore: { type: "postgresql", version: "15" }, databases: [{ name: "shop" }], users }),
      hoard.createActive(P, { name: "p-strict", datastore: { type: "postgresql", version: "15" }, databases: [{ name: "shop" }], users, tls: "required" }),
    ]);
    ca = await caFile(hoard, P, strict.id);
  }, 120_000);

  it("keeps the key 0600 and the engine's own, in a folder of the tracker's the engine can only read", async () => {
    const tlsFolder = path.join(hoard.config.home, "run", strict.id, "tls");
    const enginePid = readFileSync(path.join(hoard.config.home, "run", strict.id, "engine.pid"), "utf8").trim();
    const engineUid = statSync(`/proc/${enginePid}`).uid;
    expect(engineUid).not.toBe(0);
    const folder = statSync(tlsFolder);
    expect([folder.uid, folder.mode & 0o777]).toEqual([0, 0o710]);
    const key = statSync(path.join(tlsFolder, "server.key"));
    expect([key.uid, key.mode & 0o777]).toEqual([engineUid, 0o600]);
  });

  it("verifies the server with psql sslmode=verify-full and the CA from the API", async () => {
    expect(open.tls.mode).toBe("enabled");
    expect(strict.tls.mode).toBe("required");
    for (const view of [open, strict]) {
      const r = await psql(privateAddress(view), "clerk", "clerk-secret", "shop", "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", `sslmode=verify-full sslrootcert=${ca}`);
      expect(r.code, r.out).toBe(0);
      expect(r.out.trim()).toBe("t");
    }
  });

  it("still takes plaintext when TLS is enabled, and refuses it (pg_hba's own refusal) when required", async () => {
    const plain = await psql(privateAddress(open), "clerk", "clerk-secret", "shop", "SELECT 'plain'", "sslmode=disable");
    expect(plain.code, plain.out).toBe(0);
    expect(plain.out.trim()).toBe("plain");
    const refused = await psql(privateAddress(strict), "clerk", "clerk-secret", "shop", "SELECT 'plain'", "sslmode=disable");
    expect(refused.code).not.toBe(0);
    expect(refused.out).toMatch(/pg_hba\.conf rejects connection .*no encryption/);
    const dbs = await hoard.api("GET", P, `/instances/${strict.id}/databases`);
    expect(dbs.status).toBe(200);
    expect(dbs.body.databases.map((d: { name: string }) => d.name)).toEqual(["shop"]);
  });

  it("is refused by a client that trusts another CA", async () => {
    const r = await psql(privateAddress(strict), "clerk", "clerk-secret", "shop", "SELECT 1", `sslmode=verify-full sslrootcert=${stranger}`);
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(/certificate verify failed/);
  });

  it("renews the certificate and takes it live (a reload): a new certificate, the same postmaster", async () => {
    const pidFile = path.join(hoard.config.home, "run", strict.id, "engine.pid");
    const pid = readFileSync(pidFile, "utf8").trim();
    const first = await presented(privateAddress(strict), ca, "postgres");
    await eventually(async () => ((await presented(privateAddress(strict), ca, "postgres")).serialNumber !== first.serialNumber ? true : undefined), 30_000, 500);
    expect(readFileSync(pidFile, "utf8").trim()).toBe(pid);
  });
});

describe("redis", () => {
  let strict: any;
  let plainOnly: any;
  let ca: string;

  beforeAll(async () => {
    const users = [{ name: "worker", password: "worker-secret" }];
    [strict, plainOnly] = await Promise.all([
      hoard.createActive(P, { name: "r-strict", datastore: { type: "redis", version: "7.0" }, users, tls: "required" }),
      hoard.createActive(P, { name: "r-plain", datastore: { type: "redis", version: "7.0" }, users }),
    ]);
    ca = await caFile(hoard, P, strict.id);
  }, 120_000);

  it("verifies the server with redis-cli --tls --cacert and the CA from the API", async () => {
    expect(strict.tls.mode).toBe("required");
    const r = await redisCli(privateAddress(strict), "worker", "worker-secret", ["PING"], ["--tls", "--cacert", ca]);
    expect(r.code, r.out).toBe(0);
    expect(r.out.trim()).toBe("PONG");
  });

  it("refuses plaintext on a required guest (its port speaks TLS only), and keeps serving", async () => {
    const refused = await redisCli(privateAddress(strict), "worker", "worker-secret", ["PING"], []);
    expect(refused.out).not.toContain("PONG");
    const again = await redisCli(privateAddress(strict), "worker", "worker-secret", ["PING"], ["--tls", "--cacert", ca]);
    expect(again.out.trim()).toBe("PONG");
  });

  it("is refused by a client that trusts another CA", async () => {
    const r = await redisCli(privateAddress(strict), "worker", "worker-secret", ["PING"], ["--tls", "--cacert", stranger]);
    expect(r.out).not.toContain("PONG");
    expect(r.out).toMatch(/certificate verify failed|SSL/i);
  });

  it("says TLS is off for a guest that did not require it (Redis serves one protocol per port)", async () => {
    expect(plainOnly.tls.mode).toBe("off");
    const r = await redisCli(privateAddress(plainOnly), "worker", "worker-secret", ["PING"], []);
    expect(r.out.trim()).toBe("PONG");
  });

  it("renews the certificate and takes it live (CONFIG SET tls-*): a new certificate, the same process", async () => {
    const pidFile = path.join(hoard.config.home, "run", strict.id, "engine.pid");
    const pid = readFileSync(pidFile, "utf8").trim();
    const first = await presented(privateAddress(strict), ca);
    await eventually(async () => ((await presented(privateAddress(strict), ca)).serialNumber !== first.serialNumber ? true : undefined), 30_000, 500);
    expect(readFileSync(pidFile, "utf8").trim()).toBe(pid);
  });
});

describe("the CA route", () => {
  it("is another project's 404, and the same CA verifies every guest of the node", async () => {
    const list = await hoard.api("GET", P, "/instances");
    const ids: string[] = list.body.instances.map((i: { id: string }) => i.id);
    expect(ids.length).toBeGreaterThan(0);
    const certs = new Set<string>();
    for (const id of ids) {
      expect((await hoard.api("GET", OTHER, `/instances/${id}/ca`)).status).toBe(404);
      certs.add((await hoard.api("GET", P, `/instances/${id}/ca`)).body.ca.certificate);
    }
    expect(certs.size).toBe(1);
    expect([...certs][0]).toBe(readFileSync(path.join(hoard.config.home, "tls", "ca.crt"), "utf8"));
    // Certificates are made aside and moved to their guests: nothing is left where they were made.
    expect(readdirSync(path.join(hoard.config.home, "tls", "issuing"))).toEqual([]);
  });
});

describe("on the netns network driver", () => {
  let netns: Hoard;
  const Q = "7150000000000000000000000000c003";

  beforeAll(async () => {
    netns = await startHoard({ networkDriver: "netns" });
  }, 120_000);

  afterAll(async () => {
    await netns?.stop();
  }, 120_000);

  it("gives each engine a certificate for its namespace address that clients verify with the CA from the API, and required refuses plaintext", async () => {
    const [m, p, r] = await Promise.all([
      netns.createActive(Q, { name: "nm", datastore: { type: "mariadb", version: "10.11" }, databases: [{ name: "db1" }], users: [{ name: "u1", password: "u1-secret", databases: [{ name: "db1" }] }], tls: "required" }),
      netns.createActive(Q, { name: "np", datastore: { type: "postgresql", version: "15" }, databases: [{ name: "shop" }], users: [{ name: "clerk", password: "clerk-secret", databases: [{ name: "shop" }] }], tls: "required", access: { is_public: true } }),
      netns.createActive(Q, { name: "nr", datastore: { type: "redis", version: "7.0" }, users: [{ name: "worker", password: "worker-secret" }], tls: "required" }),
    ]);
    const ca = await caFile(netns, Q, m.id);
    expect(privateAddress(m).address).not.toBe("127.0.0.1");

    const mTls = await mariadb(privateAddress(m), "u1", "u1-secret", "SHOW SESSION STATUS LIKE 'Ssl_version'", [`--ssl-ca=${ca}`, "--ssl-verify-server-cert"]);
    expect(mTls.out, mTls.out).toMatch(/Ssl_version\s+TLSv1\.[23]/);
    expect((await mariadb(privateAddress(m), "u1", "u1-secret", "SELECT 1", ["--skip-ssl"])).out).toMatch(/ERROR 1045/);

    const pTls = await psql(privateAddress(p), "clerk", "clerk-secret", "shop", "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", `sslmode=verify-full sslrootcert=${ca}`);
    expect(pTls.out.trim(), pTls.out).toBe("t");
    expect((await psql(privateAddress(p), "clerk", "clerk-secret", "shop", "SELECT 1", "sslmode=disable")).out).toMatch(/no encryption/);
    expect((await psql(privateAddress(p), "clerk", "clerk-secret", "shop", "SELECT 1", `sslmode=verify-full sslrootcert=${stranger}`)).out).toMatch(/certificate verify failed/);
    // A public instance's certificate also names the address it is published on.
    const published = p.addresses.find((a: { type: string }) => a.type === "public");
    expect(published).toBeDefined();
    const cert = await presented(privateAddress(p), ca, "postgres");
    expect(cert.subjectAltName).toContain(`IP Address:${privateAddress(p).address}`);
    expect(cert.subjectAltName).toContain(`IP Address:${published.address}`);

    const rTls = await redisCli(privateAddress(r), "worker", "worker-secret", ["PING"], ["--tls", "--cacert", ca]);
    expect(rTls.out.trim(), rTls.out).toBe("PONG");
    expect((await redisCli(privateAddress(r), "worker", "worker-secret", ["PING"], [])).out).not.toContain("PONG");
  }, 180_000);
});
