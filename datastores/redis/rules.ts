import type { EngineRules } from "../contract.js";

/**
 * Redis identifier rules. Users are ACL users: Redis itself allows any name without spaces, but these
 * names also go into the ACL file and the API's URLs, so only plain characters pass. Redis has numbered
 * keyspaces rather than named databases, no hosts on users and no character sets: the database rule only
 * fills the contract (the datastore lacks the "databases" capability), the host rule takes '%' alone.
 */
export const redisRules: EngineRules = {
  database: {
    maxLength: 64,
    pattern: /^[A-Za-z0-9_][A-Za-z0-9_-]*$/,
    help: "Redis has no named databases (it has numbered keyspaces); use 1 to 64 letters, digits, '_' or '-'",
  },
  user: {
    maxLength: 64,
    pattern: /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/,
    help: "use 1 to 64 letters, digits, '_', '.' or '-', starting with a letter, digit or '_'",
    reserved: ["default", "os_admin", "root"],
  },
  host: {
    maxLength: 1,
    pattern: /^%$/,
    help: "Redis users are not tied to a host; use '%'",
  },
  password: { maxLength: 512 },
  booleanWords: { on: "yes", off: "no" },
  charset: (charset, collate) => {
    if (charset === undefined && collate === undefined) return null;
    return "Redis has no character sets or collations";
  },
};
