/**
 * Issue 19's MariaDB escapes, tried as a tenant would (Hoard's HTTP API and the tenant's own logins), on the
 * host network driver and on the netns driver:
 * - escape 4: a group with sql_mode=NO_BACKSLASH_ESCAPES, then a second sql_mode value that closes the
 *   driver's quoting and sets general_log_file through the tracker's admin session → refused at the API,
 *   and the admin session is inert anyway (it pins its own sql_mode);
 * - user names, hosts and passwords with the same trick;
 * - escape 1: tenant root pointing the general or slow log at a file of the node, file I/O from SQL, plugins,
 *   FEDERATED, LOAD DATA LOCAL, DATA DIRECTORY, symbolic links, huge integers, knobs that multiply threads;
 *   each refused with the engine's own error while the guest keeps answering;
 * - a root granted ALL PRIVILEGES by an older Hoard is brought down at the next start and at root enable.
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import mysql from "mysql2/promise";
import type { Connection } from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MariadbDumpBackup } from "../../datastores/mariadb/backup.js";
import { adminConnection, DEFINERS_SETTLED } from "../../datastores/mariadb/hardening.js";
import { socketPath } from "../../datastores/mariadb/connection.js";
import type { GuestHandle } from "../../datastores/contract.js";
import { eventually, startHoard, type Hoard } from "../kit/harness.js";

type Instance = { id: string; addresses: { address: string; port: number }[] };

const unique = () => `hoard-esc-${randomBytes(6).toString("hex")}`;
const hex = (s: string) => `0x${Buffer.from(s).toString("hex")}`;

/** A mysql2 error's number and message, or "ok" when the statement ran. */
async function outcome(conn: Connection, sql: string, values?: unknown[]): Promise<{ errno: number; message: string } | "ok"> {
  try {
    await conn.query(sql, values);
    return "ok";
  } catch (err) {
    const e = err as { errno?: number; message: string };
    return { errno: e.errno ?? -1, message: e.message };
  }
}

for (const driver of ["host", "netns"] as const) {
  describe(`MariaDB escapes (${driver} network driver)`, () => {
    const P = randomBytes(16).toString("hex");
    let hoard: Hoard;
    let inst: Instance;
    const rootPw = `root-${randomBytes(6).toString("hex")}`;
    const open: Connection[] = [];

    /** The ways into one instance: the tenant's own logins, and the service's admin session. */
    const into = (target: () => Instance) => {
      const login = async (user: string, password: string, opts: Record<string, unknown> = {}) => {
        const a = target().addresses[0]!;
        const conn = await mysql.createConnection({ host: a.address, port: a.port, user, password, connectTimeout: 5_000, ...opts });
        open.push(conn);
        return conn;
      };
      const rootLogin = async () => {
        const r = await hoard.api("POST", P, `/instances/${target().id}/root`, { password: rootPw });
        expect(r.status, JSON.stringify(r.body)).toBe(200);
        return login("root", rootPw);
      };
      /** What the service's own admin session sees (the test's stand-in for "the node", not the tenant's). */
      const asAdmin = <T>(work: (conn: Connection, guest: GuestHandle) => Promise<T>): Promise<T> =>
        hoard.plane.tracker!.supervisor.act(target().id, async (_s, guest) => {
          const conn = await adminConnection(socketPath(guest), guest.adminPassword);
          try {
            return await work(conn, guest);
          } finally {
            await conn.end();
          }
        });
      const globals = (...names: string[]) =>
        asAdmin(async (conn) => {
          const [rows] = await conn.query(`SELECT ${names.map((n) => `@@GLOBAL.${n} AS ${n}`).join(", ")}`);
          return (rows as Record<string, unknown>[])[0]!;
        });
      const stillAnswers = async () => {
        const conn = await login("app", "app-pw");
        expect(await conn.query("SELECT 41 + 1 AS n").then(([r]) => (r as { n: number }[])[0]!.n)).toBe(42);
        expect((await hoard.api("GET", P, `/instances/${target().id}`)).body.instance).toMatchObject({ status: "ACTIVE", operating_status: "HEALTHY" });
      };
      return { login, rootLogin, asAdmin, globals, stillAnswers };
    };
    const onInst = into(() => inst);
    const { login, rootLogin, asAdmin, globals, stillAnswers } = onInst;
    const group = (values: Record<string, unknown>) => hoard.api("POST", P, "/configurations", { configuration: { name: unique(), values, datastore: { type: "mariadb", version: "10.11" } } });
    /** A tenant's MariaDB instance with the `appdb` database and the `app` user on it. */
    const freshInstance = (name: string): Promise<Instance> =>
      hoard.createActive(P, { name, datastore: { type: "mariadb", version: "10.11" }, databases: [{ name: "appdb" }], users: [{ name: "app", password: "app-pw", databases: [{ name: "appdb" }] }] });

    beforeAll(async () => {
      hoard = await startHoard(driver === "netns" ? { networkDriver: "netns" } : {});
      inst = await freshInstance("esc");
    }, 120_000);
    afterAll(async () => {
      for (const c of open) c.destroy();
      await hoard?.stop();
    }, 120_000);

    describe("escape 4: SQL injection into the admin session through sql_mode", () => {
      const target = `/tmp/${unique()}.log`;
      const injection = `' AND 0 , GLOBAL general_log_file = ${hex(target)} , GLOBAL general_log = 1 #`;

      /** Creates a group with sql_mode=NO_BACKSLASH_ESCAPES, attaches it and waits until the engine runs with it. */
      const attachNoBackslashEscapes = async (to: Instance, at: ReturnType<typeof into>): Promise<string> => {
        const r = await group({ sql_mode: "NO_BACKSLASH_ESCAPES" });
        expect(r.status, JSON.stringify(r.body)).toBe(200);
        const attach = await hoard.api("PUT", P, `/instances/${to.id}`, { instance: { configuration: r.body.configuration.id } });
        expect(attach.status, JSON.stringify(attach.body)).toBe(202);
        await eventually(async () => ((await at.globals("sql_mode")).sql_mode === "NO_BACKSLASH_ESCAPES" ? true : undefined), 30_000, 200);
        return r.body.configuration.id;
      };
      // The tests below run under the group on an instance of their own, which they only read (or make users
      // of their own names on); the file's instance keeps the engine's default sql_mode.
      let nbeInst: Instance;
      let groupId = "";
      const nbe = into(() => nbeInst);
      beforeAll(async () => {
        nbeInst = await freshInstance("esc-nbe");
        groupId = await attachNoBackslashEscapes(nbeInst, nbe);
      }, 120_000);

      it("accepts NO_BACKSLASH_ESCAPES and applies it live; detached again, a restart puts sql_mode back to the engine's default", async () => {
        await attachNoBackslashEscapes(inst, onInst);
        const r = await hoard.api("PUT", P, `/instances/${inst.id}`, { instance: { configuration: null } });
        expect(r.status, JSON.stringify(r.body)).toBe(202);
        await eventually(async () => ((await hoard.api("GET", P, `/instances/${inst.id}`)).body.instance.status === "RESTART_REQUIRED" ? true : undefined), 30_000, 200);
        expect((await hoard.api("POST", P, `/instances/${inst.id}/action`, { restart: {} })).status).toBe(202);
        await eventually(async () => {
          const s = (await hoard.api("GET", P, `/instances/${inst.id}`)).body.instance;
          return s.status === "ACTIVE" && s.operating_status === "HEALTHY" && !s.configuration ? true : undefined;
        }, 60_000, 200);
        expect((await globals("sql_mode")).sql_mode).not.toContain("NO_BACKSLASH_ESCAPES");
      }, 120_000);

      it("refuses the injection value (and its cousins) for sql_mode with 422 naming it, changing nothing", async () => {
        const before = (await nbe.globals("general_log_file")).general_log_file;
        for (const value of [injection, "\\' , GLOBAL general_log = 1 -- ", "ANSI,`x`", "ANSI;SET GLOBAL general_log=1", "NO_BACKSLASH_ESCAPES, ANSI"]) {
          for (const r of [
            await hoard.api("PATCH", P, `/configurations/${groupId}`, { configuration: { values: { sql_mode: value } } }),
            await hoard.api("PUT", P, `/configurations/${groupId}`, { configuration: { values: { sql_mode: value } } }),
            await group({ sql_mode: value }),
          ]) {
            expect(r.status, `${JSON.stringify(value)}: ${JSON.stringify(r.body)}`).toBeGreaterThanOrEqual(400);
            expect(r.status).toBeLessThan(500);
            const message = String((r.body.unprocessableEntity ?? r.body.badRequest).message);
            expect(message).toContain("sql_mode");
          }
        }
        const shown = await hoard.api("GET", P, `/configurations/${groupId}`);
        expect(shown.body.configuration.values).toEqual({ sql_mode: "NO_BACKSLASH_ESCAPES" });
        const patched = await hoard.api("PATCH", P, `/configurations/${groupId}`, { configuration: { values: { sql_mode: injection } } });
        expect(patched.status).toBe(422);
        expect(patched.body.unprocessableEntity.message).toMatch(/sql_mode.*comma-separated list.*MariaDB 10\.11 SQL modes/);
        expect(await nbe.globals("general_log", "general_log_file", "sql_mode")).toEqual({ general_log: 0, general_log_file: before, sql_mode: "NO_BACKSLASH_ESCAPES" });
        expect(existsSync(target)).toBe(false);
        await nbe.stillAnswers();
      });

      it("keeps the admin session inert even for a value that skipped the API (an older Hoard's group)", async () => {
        // Straight to the engine, as a stored group from before this check would arrive.
        const refused = await hoard.plane.tracker!.supervisor.act(nbeInst.id, (s, g) => s.configuration!.applySettings(g, { sql_mode: injection }).then(() => "applied", (e: Error) => e.message));
        expect(refused).toMatch(/not valid/);
        // The admin session pins its own sql_mode whatever the GLOBAL one is: a quoted value stays a value.
        const pinned = await nbe.asAdmin(async (conn) => {
          const [rows] = await conn.query("SELECT @@SESSION.sql_mode AS mode, ? AS echoed", [injection]);
          return (rows as { mode: string; echoed: string }[])[0]!;
        });
        expect(pinned).toEqual({ mode: expect.stringContaining("STRICT_TRANS_TABLES"), echoed: injection });
        expect(pinned.mode).not.toContain("NO_BACKSLASH_ESCAPES");
        expect((await nbe.globals("general_log")).general_log).toBe(0);
        expect(existsSync(target)).toBe(false);
      });

      it("takes only known words for character sets and collations, and no file-naming variable at all", async () => {
        expect((await group({ sql_mode: "strict_trans_tables,ANSI,NO_BACKSLASH_ESCAPES", character_set_server: "utf8mb4", collation_server: "utf8mb4_unicode_ci" })).status).toBe(200);
        expect((await group({ sql_mode: "" })).status).toBe(200);
        for (const [values, words] of [
          [{ character_set_server: "utf8mb4' , GLOBAL general_log = 1 #" }, /character_set_server.*must be one of MariaDB's character sets/],
          [{ character_set_server: "klingon" }, /character_set_server/],
          [{ collation_server: "utf8mb4_bin`" }, /collation_server.*letters, digits and '_'/],
          [{ collation_server: "klingon_ci" }, /collation_server.*character sets/],
          [{ sql_mode: "NO_SUCH_MODE" }, /'NO_SUCH_MODE' is not one/],
        ] as const) {
          const r = await group(values);
          expect(r.status, JSON.stringify(values)).toBe(422);
          expect(r.body.unprocessableEntity.message).toMatch(words);
        }
        for (const name of ["general_log_file", "slow_query_log_file", "log_error", "secure_file_priv", "plugin_dir", "init_file", "init_connect", "local_infile", "general_log", "plugin_load_add"]) {
          const r = await group({ [name]: "/etc/cron.d/x" });
          expect(r.status, name).toBe(422);
          expect(r.body.unprocessableEntity.message).toContain(`'${name}' is not supported`);
        }
      });

      it("refuses huge integers with 422 instead of letting them overflow", async () => {
        const raw = (json: string) => fetch(`${hoard.url}/v1.0/${P}/configurations`, { method: "POST", headers: { "content-type": "application/json" }, body: `{"configuration":{"name":"${unique()}","values":${json},"datastore":{"type":"mariadb","version":"10.11"}}}` });
        for (const [json, name] of [
          ['{"max_connections":1000000000000000000000000000000}', "max_connections"],
          ['{"innodb_buffer_pool_size":18446744073709551616}', "innodb_buffer_pool_size"],
          ['{"max_allowed_packet":-1}', "max_allowed_packet"],
          ['{"wait_timeout":"99999999999999999999999K"}', "wait_timeout"],
          ['{"long_query_time":1e400}', "long_query_time"],
          ['{"max_connections":1e3}', "max_connections"],
        ] as const) {
          const res = await raw(json);
          const body = await res.json();
          expect(res.status, json).toBe(422);
          expect(body.unprocessableEntity.message).toContain(name);
        }
        await nbe.stillAnswers();
      });

      it("creates, re-passwords and renames users with quotes, backslashes and comments in their passwords while NO_BACKSLASH_ESCAPES holds", async () => {
        expect((await nbe.globals("sql_mode")).sql_mode).toBe("NO_BACKSLASH_ESCAPES");
        const tricky = `p'\\' , GLOBAL general_log = 1 # -- \`x\` /*`;
        const created = await hoard.api("POST", P, `/instances/${nbeInst.id}/users`, { users: [{ name: "trick1", password: tricky, databases: [{ name: "appdb" }] }] });
        expect(created.status, JSON.stringify(created.body)).toBe(202);
        const c1 = await nbe.login("trick1", tricky);
        expect((await c1.query("SELECT CURRENT_USER() AS u"))[0]).toEqual([{ u: "trick1@%" }]);
        const again = `\\\\'' OR 1=1 -- ${"\\"}`;
        const changed = await hoard.api("PUT", P, `/instances/${nbeInst.id}/users/trick1`, { user: { password: again } });
        expect(changed.status, JSON.stringify(changed.body)).toBe(202);
        await expect(nbe.login("trick1", tricky)).rejects.toThrow(/Access denied/);
        expect((await (await nbe.login("trick1", again)).query("SELECT 1 AS one"))[0]).toEqual([{ one: 1 }]);
        // Names and hosts with the same characters never get as far as the engine.
        for (const name of ["a'b", "a\\b", "a#b", "a`b", "a b", "a\u0000b", "a/*b"]) {
          const r = await hoard.api("POST", P, `/instances/${nbeInst.id}/users`, { users: [{ name, password: "pw" }] });
          expect(r.status, JSON.stringify(name)).toBe(400);
          const h = await hoard.api("POST", P, `/instances/${nbeInst.id}/users`, { users: [{ name: "okname", host: `10.0.0.1${name.slice(1, -1)}`, password: "pw" }] });
          expect(h.status, JSON.stringify(name)).toBe(400);
          const d = await hoard.api("POST", P, `/instances/${nbeInst.id}/databases`, { databases: [{ name }] });
          expect(d.status, JSON.stringify(name)).toBe(400);
        }
        const nul = await hoard.api("POST", P, `/instances/${nbeInst.id}/users`, { users: [{ name: "nul1", password: "a\u0000b" }] });
        expect(nul.status).toBe(400);
        // Tenant root's password takes the same care.
        const rootTricky = `r'\\' , GLOBAL general_log = 1 #`;
        expect((await hoard.api("POST", P, `/instances/${nbeInst.id}/root`, { password: rootTricky })).status).toBe(200);
        expect((await (await nbe.login("root", rootTricky)).query("SELECT 1 AS one"))[0]).toEqual([{ one: 1 }]);
        expect((await nbe.globals("general_log")).general_log).toBe(0);
        const users = (await hoard.api("GET", P, `/instances/${nbeInst.id}/users`)).body.users.map((u: { name: string }) => u.name);
        expect(users.sort()).toEqual(["app", "trick1"]);
        await nbe.stillAnswers();
      });
    });

    describe("escape 1: tenant root and the node's files", () => {
      it("refuses SET GLOBAL of the log files and the logs with the engine's privilege error; no file appears", async () => {
        const root = await rootLogin();
        const cron = `/etc/cron.d/${unique()}`;
        const tmp = `/tmp/${unique()}`;
        for (const sql of [
          `SET GLOBAL general_log_file = '${cron}'`,
          "SET GLOBAL general_log = 1",
          `SET GLOBAL slow_query_log_file = '${tmp}'`,
          "SET GLOBAL slow_query_log = 1",
          "SET GLOBAL log_output = 'FILE'",
        ]) {
          const r = await outcome(root, sql);
          expect(r, sql).toMatchObject({ errno: 1227, message: expect.stringMatching(/Access denied; you need \(at least one of\) the SUPER privilege/) });
        }
        expect(await outcome(root, "SET GLOBAL secure_file_priv = '/'")).toMatchObject({ errno: 1238, message: expect.stringContaining("read only") });
        await root.query("SELECT 'pwn'");
        expect(existsSync(cron)).toBe(false);
        expect(existsSync(tmp)).toBe(false);
        expect(await globals("general_log", "slow_query_log")).toEqual({ general_log: 0, slow_query_log: 0 });
        await stillAnswers();
      });

      it("refuses file I/O from SQL: INTO OUTFILE, INTO DUMPFILE, LOAD DATA INFILE, LOAD_FILE", async () => {
        const root = await rootLogin();
        await root.query("CREATE TABLE IF NOT EXISTS appdb.t (a TEXT)");
        const out = `/tmp/${unique()}`;
        expect(await outcome(root, `SELECT 'x' INTO OUTFILE '${out}'`)).toMatchObject({ errno: 1227, message: expect.stringContaining("FILE privilege") });
        expect(await outcome(root, `SELECT 'x' INTO DUMPFILE '${out}'`)).toMatchObject({ errno: 1227, message: expect.stringContaining("FILE privilege") });
        expect(await outcome(root, "LOAD DATA INFILE '/etc/passwd' INTO TABLE appdb.t")).toMatchObject({ errno: 1045 });
        expect((await root.query("SELECT LOAD_FILE('/etc/passwd') AS f"))[0]).toEqual([{ f: null }]);
        expect(existsSync(out)).toBe(false);
        expect((await root.query("SELECT COUNT(*) AS n FROM appdb.t"))[0]).toEqual([{ n: 0 }]);
      });

      it("gives nothing through a symbolic link in the secure-file-priv folder", async () => {
        const root = await rootLogin();
        await root.query("CREATE TABLE IF NOT EXISTS appdb.t (a TEXT)");
        const files = await hoard.plane.tracker!.supervisor.act(inst.id, async (_s, g) => path.join(g.runDir, "files"));
        // As if something had planted it: the engine must still not read through it for the tenant.
        mkdirSync(files, { recursive: true });
        const link = path.join(files, "passwd");
        symlinkSync("/etc/passwd", link);
        try {
          expect(await outcome(root, `LOAD DATA INFILE '${link}' INTO TABLE appdb.t`)).toMatchObject({ errno: 1045 });
          expect((await root.query("SELECT LOAD_FILE(?) AS f", [link]))[0]).toEqual([{ f: null }]);
          expect(await outcome(root, `SELECT 'x' INTO OUTFILE '${path.join(files, "out")}'`)).toMatchObject({ errno: 1227 });
        } finally {
          rmSync(link, { force: true });
        }
        expect(readdirSync(files)).toEqual([]);
      });

      it("ignores DATA DIRECTORY and INDEX DIRECTORY (symbolic links are off): table files stay in the guest", async () => {
        const root = await rootLogin();
        const dir = `/tmp/${unique()}`;
        mkdirSync(dir, { mode: 0o777 });
        try {
          expect((await root.query("SELECT @@have_symlink AS s"))[0]).toEqual([{ s: "DISABLED" }]);
          await root.query(`CREATE TABLE appdb.inno (a INT) ENGINE=InnoDB DATA DIRECTORY='${dir}'`);
          await root.query(`CREATE TABLE appdb.myi (a INT) ENGINE=MyISAM DATA DIRECTORY='${dir}' INDEX DIRECTORY='${dir}'`);
          await root.query("INSERT INTO appdb.inno VALUES (1)");
          await root.query("INSERT INTO appdb.myi VALUES (1)");
          expect(readdirSync(dir)).toEqual([]);
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      });

      it("refuses LOAD DATA LOCAL (local_infile is off and the tenant cannot turn it on)", async () => {
        const root = await rootLogin();
        await root.query("CREATE TABLE IF NOT EXISTS appdb.t (a TEXT)");
        expect((await root.query("SELECT @@GLOBAL.local_infile AS l"))[0]).toEqual([{ l: 0 }]);
        expect(await outcome(root, "SET GLOBAL local_infile = 1")).toMatchObject({ errno: 1227 });
        const local = await login("root", rootPw, { flags: ["+LOCAL_FILES"], infileStreamFactory: () => Readable.from(["stolen\n"]) });
        const r = await outcome(local, "LOAD DATA LOCAL INFILE 'anything' INTO TABLE appdb.t");
        expect(r).not.toBe("ok");
        expect((r as { message: string }).message).toMatch(/not allowed|disabled/i);
        expect((await root.query("SELECT COUNT(*) AS n FROM appdb.t"))[0]).toEqual([{ n: 0 }]);
        // A group stored by an older Hoard may still carry local_infile: dropped, live and at start.
        const supervisor = hoard.plane.tracker!.supervisor;
        expect(await supervisor.act(inst.id, (s, g) => s.configuration!.applySettings(g, { local_infile: "ON" }).then(() => "applied"))).toBe("applied");
        expect((await root.query("SELECT @@GLOBAL.local_infile AS l"))[0]).toEqual([{ l: 0 }]);
        const spec = await supervisor.act(inst.id, async (s, g) => s.launch(g, { local_infile: "ON" }));
        expect(spec.args).toContain("--local-infile=0");
        expect(spec.args.filter((a) => /^--local[-_]infile=(1|ON)/i.test(a))).toEqual([]);
      });

      it("cannot load plugins or use FEDERATED/CONNECT", async () => {
        const root = await rootLogin();
        for (const sql of ["INSTALL SONAME 'ha_federatedx'", "INSTALL PLUGIN federated SONAME 'ha_federated'", "INSTALL SONAME 'ha_connect'", "INSTALL SONAME 'server_audit'"]) {
          expect(await outcome(root, sql), sql).toMatchObject({ errno: 1142, message: expect.stringContaining("INSERT command denied") });
        }
        expect(await outcome(root, "UNINSTALL SONAME 'auth_ed25519'")).not.toBe("ok");
        // Without NO_ENGINE_SUBSTITUTION the engine would quietly make InnoDB tables instead: ask for the error.
        await root.query("SET SESSION sql_mode = 'STRICT_TRANS_TABLES,NO_ENGINE_SUBSTITUTION'");
        expect(await outcome(root, "CREATE SERVER evil FOREIGN DATA WRAPPER mysql OPTIONS (HOST '127.0.0.1', USER 'root')")).toMatchObject({ errno: 1227, message: expect.stringContaining("FEDERATED ADMIN") });
        expect(await outcome(root, "CREATE TABLE appdb.fed (a INT) ENGINE=FEDERATED CONNECTION='mysql://root@127.0.0.1/mysql/user'")).toMatchObject({ errno: 1286 });
        expect(await outcome(root, "CREATE TABLE appdb.con (a INT) ENGINE=CONNECT")).toMatchObject({ errno: 1286 });
        const [engines] = await root.query("SELECT ENGINE AS e FROM information_schema.ENGINES WHERE ENGINE IN ('FEDERATED', 'CONNECT') AND SUPPORT <> 'NO'");
        expect(engines).toEqual([]);
      });

      it("cannot climb to the service's privileges: no CREATE USER, no writes to the mysql schema, no other DEFINER, no SHUTDOWN", async () => {
        const root = await rootLogin();
        for (const [sql, errno, words] of [
          ["CREATE USER evil@'%' IDENTIFIED BY 'x'", 1227, "CREATE USER"],
          ["RENAME USER 'root'@'localhost' TO 'evil'@'%'", 1227, "CREATE USER"],
          ["ALTER USER 'root'@'localhost' IDENTIFIED BY 'x'", 1227, "CREATE USER"],
          ["UPDATE mysql.global_priv SET Priv = '{}' WHERE User = 'root'", 1142, "UPDATE command denied"],
          ["INSERT INTO mysql.plugin VALUES ('federated', 'ha_federated.so')", 1142, "INSERT command denied"],
          ["DROP TABLE mysql.proc", 1142, "DROP command denied"],
          ["GRANT INSERT ON mysql.* TO 'root'@'%'", 1044, "Access denied"],
          ["GRANT SUPER ON *.* TO 'root'@'%'", 1045, "Access denied"],
          ["CREATE DEFINER = 'root'@'localhost' PROCEDURE appdb.p() SELECT 1", 1227, "SET USER"],
          ["SHUTDOWN", 1227, "SHUTDOWN"],
          ["FLUSH PRIVILEGES", 1227, "RELOAD"],
          ["SET GLOBAL max_connections = 100000", 1227, "CONNECTION ADMIN"],
          ["SET GLOBAL event_scheduler = ON", 1227, "SUPER"],
          ["SET GLOBAL thread_cache_size = 16384", 1227, "SUPER"],
          ["SET GLOBAL init_connect = 'SELECT 1'", 1227, "CONNECTION ADMIN"],
          ["SET GLOBAL sql_mode = 'NO_BACKSLASH_ESCAPES'", 1227, "SUPER"],
        ] as const) {
          const r = await outcome(root, sql);
          expect(r, sql).toMatchObject({ errno, message: expect.stringContaining(words) });
        }
        await stillAnswers();
      });

      it("still does what a tenant needs on every database, and shares it with its users", async () => {
        const root = await rootLogin();
        await root.query("CREATE TABLE IF NOT EXISTS appdb.t (a TEXT)");
        await root.query("CREATE DATABASE IF NOT EXISTS rootdb");
        await root.query("CREATE TABLE rootdb.t (id INT PRIMARY KEY, v VARCHAR(10))");
        await root.query("INSERT INTO rootdb.t VALUES (1, 'a')");
        await root.query("CREATE VIEW rootdb.v AS SELECT v FROM rootdb.t");
        await root.query("CREATE PROCEDURE rootdb.p() SELECT COUNT(*) AS n FROM rootdb.t");
        await root.query("CREATE TRIGGER rootdb.tr BEFORE INSERT ON rootdb.t FOR EACH ROW SET NEW.v = UPPER(NEW.v)");
        await root.query("INSERT INTO rootdb.t VALUES (2, 'b')");
        expect((await root.query("SELECT v FROM rootdb.v ORDER BY v"))[0]).toEqual([{ v: "a" }, { v: "B" }]);
        await root.query("GRANT SELECT ON rootdb.* TO 'app'@'%'");
        const app = await login("app", "app-pw");
        expect((await app.query("SELECT COUNT(*) AS n FROM rootdb.t"))[0]).toEqual([{ n: 2 }]);
        expect((await root.query("SELECT COUNT(*) AS n FROM appdb.t"))[0]).toEqual([{ n: 0 }]);
        const [users] = await root.query("SELECT User AS u FROM mysql.user WHERE User = 'app'");
        expect(users).toEqual([{ u: "app" }]);
        await root.query("DROP DATABASE rootdb");
      });
    });

    describe("a logical dump replayed by the tracker", () => {
      it("keeps its quoting under a GLOBAL NO_BACKSLASH_ESCAPES and runs no client command smuggled into it", async () => {
        const root = await rootLogin();
        const marker = `/tmp/${unique()}`;
        await root.query("CREATE TABLE IF NOT EXISTS appdb.q (v VARCHAR(100))");
        await root.query("DELETE FROM appdb.q");
        await root.query("INSERT INTO appdb.q VALUES (?)", ["it's \\ back' , 1) -- "]);
        const scratch = mkdtempSync(path.join(hoard.config.home, "dump-"));
        try {
          const outcome = await hoard.plane.tracker!.supervisor.act(inst.id, async (_s, guest) => {
            const conn = await adminConnection(socketPath(guest), guest.adminPassword);
            await conn.query("SET GLOBAL sql_mode = 'NO_BACKSLASH_ESCAPES'");
            await conn.end();
            const strategy = new MariadbDumpBackup();
            try {
              const taken = await strategy.take(guest, { scratch, freeze: () => Promise.reject(new Error("not used")), syncVolume: () => Promise.resolve() });
              if (taken.payload.kind !== "stream") throw new Error("a logical dump is a stream");
              const chunks: Buffer[] = [];
              for await (const c of taken.payload.stream) chunks.push(Buffer.from(c));
              const dump = Buffer.concat(chunks).toString("utf8");
              // The same dump once more with a client command of its own, as a crafted name could place one
              // (MariaDB refuses newlines in database names, and mariadb-dump writes a sandbox line: a third guard).
              await strategy.replay(guest, Readable.from([dump]));
              const smuggled = await strategy.replay(guest, Readable.from([`${dump}\n\\! touch ${marker}\n`])).then(() => "replayed", (e: Error) => e.message);
              return { dump, smuggled };
            } finally {
              const c2 = await adminConnection(socketPath(guest), guest.adminPassword);
              await c2.query("SET GLOBAL sql_mode = DEFAULT");
              await c2.end();
            }
          });
          expect(outcome.dump).toContain("CREATE DATABASE");
          // --binary-mode already takes no client command but \C and DELIMITER; sandbox mode would refuse it too.
          expect(outcome.smuggled).toMatch(/sandbox|Unknown command/i);
        } finally {
          rmSync(scratch, { recursive: true, force: true });
        }
        expect(existsSync(marker)).toBe(false);
        expect((await root.query("SELECT v FROM appdb.q"))[0]).toEqual([{ v: "it's \\ back' , 1) -- " }]);
        expect((await root.query("SELECT COUNT(*) AS n FROM appdb.q"))[0]).toEqual([{ n: 1 }]);
        // The dump's accounts came back with Hoard's grants for root.
        const [grants] = await root.query("SHOW GRANTS FOR CURRENT_USER()");
        expect(JSON.stringify(grants)).not.toContain("ALL PRIVILEGES ON *.*");
        await stillAnswers();
      }, 60_000);
    });

    describe("a root granted ALL PRIVILEGES by an older Hoard", () => {
      const oldGrant = () => asAdmin((conn) => conn.query("GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION"));
      const rootGrants = () =>
        asAdmin(async (conn) => {
          const [rows] = await conn.query("SHOW GRANTS FOR 'root'@'%'");
          return (rows as Record<string, string>[]).map((r) => Object.values(r)[0]!).join("\n");
        });

      it("is brought to the new grants at the guest's next start, with what it left running as the service made its own", async () => {
        await rootLogin();
        await oldGrant();
        // What that root could do with SUPER: objects in its databases that run as the service's account.
        const planted = await login("root", rootPw);
        await planted.query("CREATE DATABASE IF NOT EXISTS legacy");
        await planted.query("CREATE TABLE IF NOT EXISTS legacy.t (v VARCHAR(200))");
        await planted.query("CREATE DEFINER = 'root'@'localhost' PROCEDURE legacy.p() SQL SECURITY DEFINER SELECT CURRENT_USER() AS u");
        await planted.query("CREATE DEFINER = 'root'@'localhost' SQL SECURITY DEFINER VIEW legacy.v AS SELECT CURRENT_USER() AS u, COUNT(*) AS n FROM legacy.t");
        await planted.query("CREATE DEFINER = 'root'@'localhost' TRIGGER legacy.tr BEFORE INSERT ON legacy.t FOR EACH ROW SET NEW.v = CONCAT(NEW.v, '/', CURRENT_USER())");
        await planted.query("CREATE DEFINER = 'root'@'localhost' EVENT legacy.e ON SCHEDULE EVERY 1 DAY DISABLE DO INSERT INTO legacy.t VALUES ('e')");
        expect((await planted.query("CALL legacy.p()"))[0]).toEqual([[{ u: "root@localhost" }], expect.anything()]);
        // Data from an older Hoard carries no mark that its definers were looked at (a restart under this
        // Hoard, earlier in this file, left one).
        const mark = await hoard.plane.tracker!.supervisor.act(inst.id, async (_s, g) => path.join(g.dataDir, DEFINERS_SETTLED));
        rmSync(mark, { force: true });
        expect(await rootGrants()).toContain("GRANT ALL PRIVILEGES ON *.* TO `root`@`%`");
        const restart = await hoard.api("POST", P, `/instances/${inst.id}/action`, { restart: {} });
        expect(restart.status, JSON.stringify(restart.body)).toBe(202);
        await eventually(async () => {
          const s = (await hoard.api("GET", P, `/instances/${inst.id}`)).body.instance;
          return s.status === "ACTIVE" && s.operating_status === "HEALTHY" ? true : undefined;
        }, 60_000, 200);
        const grants = await rootGrants();
        expect(grants).not.toContain("ON *.* TO `root`@`%` WITH GRANT OPTION");
        expect(grants).toContain("GRANT SHOW DATABASES ON *.* TO `root`@`%`");
        const root = await eventually(async () => login("root", rootPw), 30_000, 200);
        expect(await outcome(root, `SET GLOBAL general_log_file = '/etc/cron.d/${unique()}'`)).toMatchObject({ errno: 1227 });
        expect(existsSync(mark)).toBe(true);
        // Each planted object now runs as tenant root, and still does what it did.
        expect((await root.query("CALL legacy.p()"))[0]).toEqual([[{ u: "root@%" }], expect.anything()]);
        await root.query("INSERT INTO legacy.t VALUES ('x')");
        expect((await root.query("SELECT v FROM legacy.t"))[0]).toEqual([{ v: "x/root@%" }]);
        expect((await root.query("SELECT u, n FROM legacy.v"))[0]).toEqual([{ u: "root@%", n: 1 }]);
        const [definers] = await root.query(
          "SELECT 'event' AS k, DEFINER AS d, STATUS AS s FROM information_schema.EVENTS WHERE EVENT_SCHEMA = 'legacy' UNION ALL SELECT 'routine', DEFINER, SECURITY_TYPE FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = 'legacy' UNION ALL SELECT 'trigger', DEFINER, ACTION_TIMING FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = 'legacy' UNION ALL SELECT 'view', DEFINER, SECURITY_TYPE FROM information_schema.VIEWS WHERE TABLE_SCHEMA = 'legacy' ORDER BY k",
        );
        expect(definers).toEqual([
          { k: "event", d: "root@%", s: "DISABLED" },
          { k: "routine", d: "root@%", s: "DEFINER" },
          { k: "trigger", d: "root@%", s: "BEFORE" },
          { k: "view", d: "root@%", s: "DEFINER" },
        ]);
        await root.query("DROP DATABASE legacy");
      });

      it("is not carried into an instance restored from a backup taken while it had them", async () => {
        // The old grant goes to root@'%', which exists once root has been enabled.
        await rootLogin();
        await oldGrant();
        const b = await hoard.api("POST", P, "/backups", { backup: { name: unique(), instance: inst.id } });
        expect(b.status, JSON.stringify(b.body)).toBe(202);
        await eventually(async () => ((await hoard.api("GET", P, `/backups/${b.body.backup.id}`)).body.backup.status === "COMPLETED" ? true : undefined), 60_000, 200);
        const restored = await hoard.createActive(P, { name: "esc-restored", restorePoint: { backupRef: b.body.backup.id } });
        const a = restored.addresses[0]!;
        // secure() drops every root account but root@localhost on a restored guest: root comes back only through
        // root enable, with the new grants.
        await expect(mysql.createConnection({ host: a.address, port: a.port, user: "root", password: rootPw, connectTimeout: 5_000 })).rejects.toThrow(/Access denied/);
        expect((await hoard.api("GET", P, `/instances/${restored.id}/root`)).body).toEqual({ rootEnabled: false });
        expect((await hoard.api("POST", P, `/instances/${restored.id}/root`, { password: rootPw })).status).toBe(200);
        const root = await mysql.createConnection({ host: a.address, port: a.port, user: "root", password: rootPw, connectTimeout: 5_000 });
        open.push(root);
        const [rows] = await root.query("SHOW GRANTS FOR CURRENT_USER()");
        const grants = (rows as Record<string, string>[]).map((r) => Object.values(r)[0]!).join("\n");
        expect(grants).not.toContain("ALL PRIVILEGES ON *.*");
        expect(await outcome(root, `SET GLOBAL general_log_file = '/etc/cron.d/${unique()}'`)).toMatchObject({ errno: 1227 });
        expect((await hoard.api("DELETE", P, `/instances/${restored.id}`)).status).toBe(202);
        expect((await hoard.api("DELETE", P, `/backups/${b.body.backup.id}`)).status).toBe(202);
      }, 120_000);

      it("is brought to the new grants at the next root enable", async () => {
        // The old grant goes to root@'%', which exists once root has been enabled.
        await rootLogin();
        await oldGrant();
        const root = await rootLogin();
        expect(await rootGrants()).not.toContain("ALL PRIVILEGES ON *.*");
        expect(await outcome(root, "SELECT 'x' INTO OUTFILE '/tmp/never'")).toMatchObject({ errno: 1227 });
        expect(existsSync("/tmp/never")).toBe(false);
        await stillAnswers();
      });
    });
  });
}
