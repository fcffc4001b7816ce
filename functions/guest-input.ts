/**
 * What tenants give for the engine's schema and accounts, checked against the engine's rules before it
 * reaches a guest: used by instance create and by the database, user and root operations alike.
 */
import { checkName, type EngineRules } from "../datastores/catalog.js";
import { fail } from "../errors/index.js";
import type { DatabaseSpec, GuestDatabase, GuestNewUser, UserSpec } from "../events/index.js";

/** Databases to create (at instance create or later), checked against the engine's identifier and character-set rules. */
export function databases(specs: DatabaseSpec[] | undefined, rules: EngineRules): GuestDatabase[] {
  const seen = new Set<string>();
  return (specs ?? []).map((d) => {
    const problem = checkName(rules.database, d.name);
    if (problem) throw fail("INVALID_NAME", { what: "database", name: d.name, rule: problem });
    if (seen.has(d.name)) throw fail("DUPLICATE_NAME", { what: "Database", name: d.name });
    seen.add(d.name);
    const charset = rules.charset(d.character_set, d.collate);
    if (charset) throw fail("INVALID_VALUE", { what: `character set of database '${d.name}'`, rule: charset });
    return { name: d.name, ...(d.character_set ? { characterSet: d.character_set } : {}), ...(d.collate ? { collate: d.collate } : {}) };
  });
}

/**
 * Users to create: names, hosts and passwords by the engine's rules. At instance create, `dbNames` are the
 * databases the same request creates, and each user's databases must be among them; later, the engine
 * itself says which databases do not exist.
 */
export function users(specs: UserSpec[] | undefined, rules: EngineRules, dbNames?: Set<string>): GuestNewUser[] {
  const seen = new Set<string>();
  return (specs ?? []).map((u) => {
    const nameProblem = checkName(rules.user, u.name);
    if (nameProblem) throw fail("INVALID_NAME", { what: "user", name: u.name, rule: nameProblem });
    const host = u.host ?? "%";
    const hostProblem = checkName(rules.host, host);
    if (hostProblem) throw fail("INVALID_NAME", { what: `host of user '${u.name}'`, name: host, rule: hostProblem });
    const key = `${u.name}@${host}`;
    if (seen.has(key)) throw fail("DUPLICATE_NAME", { what: "User", name: key });
    seen.add(key);
    password(u.password, rules, `password of user '${u.name}'`);
    const dbs = (u.databases ?? []).map((d) => d.name);
    for (const db of dbs) {
      const dbProblem = checkName(rules.database, db);
      if (dbProblem) throw fail("INVALID_NAME", { what: "database", name: db, rule: dbProblem });
      if (dbNames && !dbNames.has(db)) throw fail("INVALID_VALUE", { what: `databases of user '${u.name}'`, rule: `database '${db}' is not among the databases this request creates` });
    }
    return { name: u.name, password: u.password, host, databases: dbs };
  });
}

/** A password by the engine's rules: not empty, not too long, no control characters. */
export function password(value: string, rules: EngineRules, what: string): string {
  if (value.length === 0) throw fail("INVALID_VALUE", { what, rule: "it is empty" });
  if (value.length > rules.password.maxLength) throw fail("INVALID_VALUE", { what, rule: `it is longer than ${rules.password.maxLength} characters` });
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(value)) throw fail("INVALID_VALUE", { what, rule: "it contains control characters" });
  return value;
}

/** One name by a rule, or a 400 saying what a valid one looks like. */
export function checked(rule: EngineRules["database"], what: string, name: string): string {
  const problem = checkName(rule, name);
  if (problem) throw fail("INVALID_NAME", { what, name, rule: problem });
  return name;
}
