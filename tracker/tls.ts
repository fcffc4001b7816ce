/**
 * The node's guest certificate authority and the certificates it gives guests.
 *
 * The CA is the operator's (a certificate and key file given in the configuration: the way several
 * trackers of one Hoard share one CA, so a tenant needs one CA file for all its instances), or else one this
 * tracker makes on first start in `<home>/tls/` (ca.key 0600, the folder 0700, both root's). Guests'
 * certificates are issued with the `openssl` CLI (node has no X.509 issuing API), always through execFile
 * with an argument list. Each names the guest's addresses (private, and the published one of a public
 * instance) as IP (or DNS) subject alternative names, and the instance id as a DNS name; they are made in
 * `<home>/tls/issuing/` (the tracker's, 0700; swept at start), then moved into the guest's run folder (see
 * datastores/tls.ts), owned by the owner of its data folder, the user its engine runs as. renewDue() reissues those that expire within the renewal window and has the engine
 * take them live.
 */
import { execFile } from "node:child_process";
import { X509Certificate, createPrivateKey } from "node:crypto";
import { chmod, chown, mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { isIP } from "node:net";
import path from "node:path";
import { promisify } from "node:util";
import type { Logger } from "pino";
import { guestTls, tlsDir, TLS_MODE_FILE, type DatastoreStrategy, type GuestHandle, type GuestLayout, type TlsMode } from "../datastores/index.js";

const run = promisify(execFile);
const CURVE = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
/** The CA this tracker makes when the operator gives none lives ten years. */
const CA_DAYS = 3650;

/** What the instance's view shows of a guest's TLS: its mode in force and its certificate's end. */
export interface GuestTlsState {
  mode: TlsMode | "off";
  expires: string | null;
}

export interface GuestCertificatesOptions {
  home: string;
  node: string;
  /** The operator's CA (PEM files); both or neither. */
  caCertFile?: string;
  caKeyFile?: string;
  /** How long a guest's certificate is valid, and how long before its end it is renewed. */
  validityDays: number;
  renewBeforeDays: number;
  log: Logger;
}

/** A guest's certificate made ahead of its run folder (see GuestCertificates.request). */
export interface PendingCertificate {
  /** Puts it (and the mode) into the guest's TLS folder, owned by the owner of its data folder. */
  install(guest: GuestLayout): Promise<void>;
  /** Removes what install() did not take (nothing after it). */
  discard(): Promise<void>;
}

/** Issues and renews the guests' certificates of one node. open() first. */
export class GuestCertificates {
  private caCert = "";
  private caKey = "";
  private pem = "";
  /** Each guest's certificate's end, as last issued or read (the heartbeat reports it). */
  private readonly expiry = new Map<string, string>();

  constructor(private readonly opts: GuestCertificatesOptions) {}

  /** The CA certificate (PEM) that verifies every guest of this node. */
  get caPem(): string {
    return this.pem;
  }

  /** Loads the operator's CA, or this node's own (made on first start). */
  async open(): Promise<void> {
    const { caCertFile, caKeyFile } = this.opts;
    if (caCertFile || caKeyFile) {
      if (!caCertFile || !caKeyFile) throw new Error("HOARD_GUEST_CA_CERT and HOARD_GUEST_CA_KEY go together: give both files or neither");
      this.caCert = path.resolve(caCertFile);
      this.caKey = path.resolve(caKeyFile);
    } else {
      const dir = path.join(this.opts.home, "tls");
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await chmod(dir, 0o700);
      this.caCert = path.join(dir, "ca.crt");
      this.caKey = path.join(dir, "ca.key");
      if (!(await exists(this.caCert)) || !(await exists(this.caKey))) await this.makeCa(dir);
      await chmod(this.caKey, 0o600);
    }
    // Certificates a tracker that died was making: never installed, so nobody needs them.
    await rm(this.issuing(), { recursive: true, force: true });
    this.pem = await readFile(this.caCert, "utf8");
    const ca = new X509Certificate(this.pem);
    if (!ca.ca) throw new Error(`${this.caCert} is not a CA certificate`);
    if (!ca.checkPrivateKey(createPrivateKey(await readFile(this.caKey)))) throw new Error(`${this.caKey} is not the key of ${this.caCert}`);
    const keyMode = (await stat(this.caKey)).mode & 0o077;
    if (keyMode) this.opts.log.warn({ key: this.caKey }, "the guest CA's key can be read by others than its owner (chmod 600 it)");
  }

  /**
   * Gives a guest about to start its certificate and mode (what launch() then points the engine at), unless
   * its engine has no TLS or cannot offer it beside plaintext and TLS is not required: it then stays plaintext.
   */
  async issue(guest: GuestLayout & { host: string }, strategy: DatastoreStrategy, mode: TlsMode, published?: string): Promise<void> {
    const pending = await this.request(guest.instanceId, strategy, mode, guest.host, published);
    try {
      await pending?.install(guest);
    } finally {
      await pending?.discard();
    }
  }

  /**
   * Issues a guest's key and certificate ahead, into a private folder of the tracker's, so the openssl run
   * overlaps the making of the guest's volume; install() then puts them into the guest's run folder.
   * Undefined when the guest gets no TLS (see issue()).
   */
  async request(instanceId: string, strategy: DatastoreStrategy, mode: TlsMode, host: string, published?: string): Promise<PendingCertificate | undefined> {
    if (!strategy.tls || (mode !== "required" && !strategy.tls.alongsidePlaintext)) return undefined;
    await mkdir(this.issuing(), { recursive: true, mode: 0o700 });
    const work = await mkdtemp(path.join(this.issuing(), `${instanceId.slice(0, 40)}-`));
    try {
      await this.sign(work, instanceId, [host, ...(published && published !== "0.0.0.0" ? [published] : [])]);
    } catch (err) {
      await rm(work, { recursive: true, force: true });
      throw err;
    }
    return {
      install: async (guest) => {
        await writeFile(path.join(await this.guestFolder(guest), TLS_MODE_FILE), `${JSON.stringify({ mode })}\n`, { mode: 0o600 });
        await this.install(work, guest);
      },
      discard: () => rm(work, { recursive: true, force: true }),
    };
  }

  /** The guest's TLS as it is on disk now (its mode and its certificate's end), "off" without certificates. */
  async state(guest: Pick<GuestLayout, "runDir" | "instanceId">): Promise<GuestTlsState> {
    const tls = guestTls(guest.runDir);
    if (!tls) return { mode: "off", expires: null };
    const expires = new Date(new X509Certificate(await readFile(tls.cert)).validTo).toISOString();
    this.expiry.set(guest.instanceId, expires);
    return { mode: tls.mode, expires };
  }

  /** The end of a guest's certificate as last known, for heartbeats. */
  expiresOf(instanceId: string): string | undefined {
    return this.expiry.get(instanceId);
  }

  /** Forgets a removed guest. */
  forget(instanceId: string): void {
    this.expiry.delete(instanceId);
  }

  /**
   * Renews the certificate of a running guest when it ends within the renewal window (or was issued by
   * another CA than the current one) and has its engine take it live. Returns whether it renewed.
   */
  async renewIfDue(guest: GuestHandle, strategy: DatastoreStrategy, published?: string): Promise<boolean> {
    const tls = guestTls(guest.runDir);
    if (!tls || !strategy.tls) return false;
    const cert = new X509Certificate(await readFile(tls.cert));
    const left = Date.parse(cert.validTo) - Date.now();
    const current = cert.checkIssued(new X509Certificate(this.pem)) && (await readFile(tls.ca, "utf8").catch(() => "")) === this.pem;
    if (left > this.opts.renewBeforeDays * 86_400_000 && current) return false;
    await this.write(guest, published);
    await strategy.tls.reload(guest);
    return true;
  }

  /** Issues a new key and certificate for a running guest straight into its TLS folder. */
  private async write(guest: GuestLayout & { host: string }, published?: string): Promise<void> {
    await mkdir(this.issuing(), { recursive: true, mode: 0o700 });
    const work = await mkdtemp(path.join(this.issuing(), `${guest.instanceId.slice(0, 40)}-`));
    try {
      await this.sign(work, guest.instanceId, [guest.host, ...(published && published !== "0.0.0.0" ? [published] : [])]);
      await this.install(work, guest);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }

  /**
   * The guest's TLS folder, made if needed: the tracker's (root, 0710) with the engine's group, so the engine
   * reads the files in it (its own key, 0600) but can put nothing there for the tracker to follow or trust.
   */
  private async guestFolder(guest: Pick<GuestLayout, "runDir" | "dataDir">): Promise<string> {
    const dir = tlsDir(guest.runDir);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    if (process.getuid?.() === 0) await chown(dir, 0, (await stat(guest.dataDir)).gid);
    await chmod(dir, 0o710);
    return dir;
  }

  /** Where certificates are made before they go to their guest: the tracker's own (0700), swept at start. */
  private issuing(): string {
    return path.join(this.opts.home, "tls", "issuing");
  }

  /** Makes server.key (0600), server.crt and ca.crt in `work` for a guest known by these names. */
  private async sign(work: string, instanceId: string, addresses: string[]): Promise<void> {
    const san = [...[...new Set(addresses)].map((n) => (isIP(n) ? `IP:${n}` : `DNS:${n}`)), `DNS:${instanceId}`].join(",");
    const key = path.join(work, "server.key");
    await writeFile(key, "", { mode: 0o600 });
    await run("openssl", [
      "req", "-x509", ...CURVE, "-nodes", "-keyout", key, "-out", path.join(work, "server.crt"),
      "-CA", this.caCert, "-CAkey", this.caKey, "-days", String(this.opts.validityDays),
      "-subj", `/O=Hoard/CN=${instanceId}`,
      "-addext", `subjectAltName=${san}`,
      "-addext", "basicConstraints=critical,CA:FALSE",
      "-addext", "keyUsage=critical,digitalSignature,keyEncipherment",
      "-addext", "extendedKeyUsage=serverAuth",
    ]).catch((err: { stderr?: string; message: string }) => {
      throw new Error(`could not issue the guest's certificate: ${(err.stderr ?? err.message).trim().split("\n").slice(-3).join(" ")}`);
    });
    await writeFile(path.join(work, "ca.crt"), this.pem, { mode: 0o644 });
  }

  /** Moves the files made in `work` into the guest's TLS folder, owned by its engine's user. */
  private async install(work: string, guest: GuestLayout): Promise<void> {
    const dir = await this.guestFolder(guest);
    // The engine's user (the data folder's owner) must read its key: PostgreSQL wants it 0600 and its own.
    const owner = await stat(guest.dataDir);
    for (const name of ["server.key", "server.crt", "ca.crt"]) {
      const file = path.join(work, name);
      await chmod(file, name === "server.key" ? 0o600 : 0o644);
      if (process.getuid?.() === 0) await chown(file, owner.uid, owner.gid);
    }
    // The key first: an engine that reads between the two renames fails its reload and keeps the old pair.
    for (const name of ["ca.crt", "server.key", "server.crt"]) await rename(path.join(work, name), path.join(dir, name));
    this.expiry.set(guest.instanceId, new Date(new X509Certificate(await readFile(path.join(dir, "server.crt"))).validTo).toISOString());
  }

  /** Makes this node's own CA: the key written aside (0600) and renamed into place with its certificate. */
  private async makeCa(dir: string): Promise<void> {
    const key = path.join(dir, ".ca.key.new");
    const cert = path.join(dir, ".ca.crt.new");
    await rm(key, { force: true });
    await writeFile(key, "", { mode: 0o600 });
    await run("openssl", [
      "req", "-x509", ...CURVE, "-nodes", "-keyout", key, "-out", cert, "-days", String(CA_DAYS),
      "-subj", `/O=Hoard/CN=Hoard guest CA (${this.opts.node})`,
      "-addext", "basicConstraints=critical,CA:TRUE,pathlen:0",
      "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    await chmod(key, 0o600);
    await rename(key, this.caKey);
    await rename(cert, this.caCert);
    this.opts.log.info({ ca: this.caCert }, "made this node's guest certificate authority");
  }
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}
