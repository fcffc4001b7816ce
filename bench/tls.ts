/**
 * `npm run bench -- tls`: what TLS to a guest costs a client, against plaintext to the same engine, in one run.
 *
 *   connect  a new connection until it is ready for queries (TCP, the TLS handshake verified against the
 *            guest CA, the engine's login), then closed
 *   query    one `SELECT 1` / `PING` on an open connection (the record layer's cost on a small round trip)
 *
 * Each engine gets a guest made by the tracker's own code (GuestSupervisor with the guest CA, TLS "enabled";
 * for Redis, which serves one protocol per port, a "required" guest beside a plaintext one), and plaintext
 * and TLS runs alternate so both see the same machine. `BENCH_RUNS` (default 200) connections each, and 10×
 * as many queries; medians compared. Everything lives in BENCH_DIR/tls (default ./.hoard-bench/tls) and is
 * removed at the end.
 */
import { randomUUID } from "node:crypto";
import { chmod, mkdir, readFile, rm } from "node:fs/promises";
import path from "node:path";
import { Redis } from "ioredis";
import mysql from "mysql2/promise";
import pg from "pg";
import { pino } from "pino";
import type { ProvisionCommand } from "../events/payloads.js";
import { GuestSupervisor } from "../tracker/guests/index.js";
import { GuestCertificates } from "../tracker/tls.js";
import { median } from "./median.js";

const DIR = path.resolve(process.env.BENCH_DIR ?? ".hoard-bench", "tls");
const RUNS = Number(process.env.BENCH_RUNS ?? 200);
const QUERIES = RUNS * 10;

const ms = (x: number) => `${x < 1 ? x.toFixed(3) : x < 10 ? x.toFixed(2) : x.toFixed(1)} ms`;

/** One engine's client: open a connection (plaintext or TLS verified with `ca`), one query, close. */
interface Client {
  open(tls: boolean): Promise<{ query(): Promise<void>; close(): Promise<void> }>;
}

type At = { address: string; port: number };

function mariadbClient(at: At, ca: string): Client {
  return {
    async open(tls) {
      const conn = await mysql.createConnection({ host: at.address, port: at.port, user: "bench", password: "bench-pw", database: "bench", ...(tls ? { ssl: { ca, rejectUnauthorized: true } } : {}) });
      return { query: async () => void (await conn.query("SELECT 1")), close: () => conn.end() };
    },
  };
}

function postgresqlClient(at: At, ca: string): Client {
  return {
    async open(tls) {
      const c = new pg.Client({ host: at.address, port: at.port, user: "bench", password: "bench-pw", database: "bench", ssl: tls ? { ca, rejectUnauthorized: true } : false });
      await c.connect();
      return { query: async () => void (await c.query("SELECT 1")), close: () => c.end() };
    },
  };
}

function redisClient(plain: At, secure: At, ca: string): Client {
  return {
    async open(tls) {
      const at = tls ? secure : plain;
      const r = new Redis({ host: at.address, port: at.port, username: "bench", password: "bench-pw", lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, ...(tls ? { tls: { ca, host: at.address, rejectUnauthorized: true } } : {}) });
      await r.connect();
      return { query: async () => void (await r.ping()), close: async () => void (await r.quit()) };
    },
  };
}

/** Alternates plaintext and TLS: connect+close times, then query times on one open connection of each. */
async function measure(client: Client): Promise<Record<"plain" | "tls", { connect: number; query: number }>> {
  const connect = { plain: [] as number[], tls: [] as number[] };
  const query = { plain: [] as number[], tls: [] as number[] };
  for (let i = 0; i < RUNS; i++) {
    for (const kind of i % 2 ? (["tls", "plain"] as const) : (["plain", "tls"] as const)) {
      const t = performance.now();
      const c = await client.open(kind === "tls");
      connect[kind].push(performance.now() - t);
      await c.close();
    }
  }
  const open = { plain: await client.open(false), tls: await client.open(true) };
  for (let i = 0; i < QUERIES; i++) {
    for (const kind of ["plain", "tls"] as const) {
      const t = performance.now();
      await open[kind].query();
      query[kind].push(performance.now() - t);
    }
  }
  await open.plain.close();
  await open.tls.close();
  return { plain: { connect: median(connect.plain), query: median(query.plain) }, tls: { connect: median(connect.tls), query: median(query.tls) } };
}

async function main(): Promise<void> {
  await rm(DIR, { recursive: true, force: true });
  await mkdir(DIR, { recursive: true });
  await chmod(DIR, 0o711);
  const log = pino({ level: process.env.BENCH_LOG ?? "silent" }, pino.destination(2));
  const tls = new GuestCertificates({ home: DIR, node: "bench", validityDays: 2, renewBeforeDays: 1, log });
  await tls.open();
  const supervisor = new GuestSupervisor({ home: DIR, guestHost: "127.0.0.1", startTimeoutMs: 120_000, tls, log });
  const ca = await readFile(path.join(DIR, "tls", "ca.crt"), "utf8");
  const guests: string[] = [];
  const provision = async (manager: string, datastore: string, version: string, mode: "enabled" | "required"): Promise<At> => {
    const cmd: ProvisionCommand = {
      instanceId: `bench-${manager}-${mode}-${randomUUID().slice(0, 8)}`,
      node: "bench",
      manager,
      datastore,
      version,
      flavor: { id: "bench", ramMb: 1024, vcpus: 1 },
      volumeSizeGb: 2,
      networkId: "bench",
      databases: manager === "redis" ? [] : [{ name: "bench" }],
      users: [{ name: "bench", password: "bench-pw", host: "%", databases: manager === "redis" ? [] : ["bench"] }],
      settings: {},
      tls: mode,
    };
    guests.push(cmd.instanceId);
    return supervisor.provision(cmd);
  };
  console.log(`TLS benchmark: ${RUNS} connections and ${QUERIES} queries each, plaintext and TLS alternating, on 127.0.0.1 (${DIR})\n`);
  try {
    const engines: [string, Client][] = [
      ["MariaDB 10.11", mariadbClient(await provision("mariadb", "mariadb", "10.11", "enabled"), ca)],
      ["PostgreSQL 15", postgresqlClient(await provision("postgresql", "postgresql", "15", "enabled"), ca)],
      ["Redis 7.0", redisClient(await provision("redis", "redis", "7.0", "enabled"), await provision("redis", "redis", "7.0", "required"), ca)],
    ];
    const rows = [["engine", "connect plain", "connect TLS", "ratio", "query plain", "query TLS", "ratio"]];
    for (const [name, client] of engines) {
      const r = await measure(client);
      rows.push([name, ms(r.plain.connect), ms(r.tls.connect), `${(r.tls.connect / r.plain.connect).toFixed(2)}×`, ms(r.plain.query), ms(r.tls.query), `${(r.tls.query / r.plain.query).toFixed(2)}×`]);
    }
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    for (const row of rows) console.log(row.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  "));
    console.log("\nconnect: a new connection until ready (TCP, TLS handshake verified against the guest CA, login), then closed; medians.");
  } finally {
    for (const id of guests) await supervisor.deprovision(id).catch(() => undefined);
    await rm(DIR, { recursive: true, force: true });
  }
}

await main();
