import type { EngineRules } from "../contract.js";

/** Server encodings of PostgreSQL 15 (the client-only ones, such as SJIS and BIG5, cannot hold a database). */
const encodings = [
  "EUC_CN", "EUC_JIS_2004", "EUC_JP", "EUC_KR", "EUC_TW", "ISO_8859_5", "ISO_8859_6", "ISO_8859_7", "ISO_8859_8",
  "KOI8R", "KOI8U", "LATIN1", "LATIN2", "LATIN3", "LATIN4", "LATIN5", "LATIN6", "LATIN7", "LATIN8", "LATIN9",
  "LATIN10", "MULE_INTERNAL", "SQL_ASCII", "UTF8", "WIN866", "WIN874", "WIN1250", "WIN1251", "WIN1252", "WIN1253",
  "WIN1254", "WIN1255", "WIN1256", "WIN1257", "WIN1258",
];

/** The encoding names PostgreSQL accepts are compared ignoring case, '-' and '_' ("utf-8" is UTF8). */
function normalizeEncoding(name: string): string {
  return name.toUpperCase().replace(/[-_]/g, "");
}

/**
 * PostgreSQL identifier rules, stricter than the engine's own: ASCII only, so the 63-byte limit of an
 * identifier (NAMEDATALEN - 1) is also 63 characters and nothing is silently truncated. Names are quoted
 * when used, so case is kept. `pg_` is PostgreSQL's own prefix for roles; it is kept for databases too.
 */
const name = {
  maxLength: 63,
  pattern: /^(?![pP][gG]_)[A-Za-z_][A-Za-z0-9_-]*$/,
};

export const postgresqlRules: EngineRules = {
  database: {
    ...name,
    help: "use 1 to 63 letters, digits, '_' or '-', starting with a letter or '_' and not with 'pg_'",
    reserved: ["postgres", "template0", "template1", "os_admin", "os_restore", "os_restore_owner", "root"],
  },
  user: {
    ...name,
    help: "use 1 to 63 letters, digits, '_' or '-', starting with a letter or '_' and not with 'pg_'",
    // PostgreSQL refuses "public" and "none" as role names; the current_* ones would read as functions.
    reserved: ["postgres", "template0", "template1", "os_admin", "os_restore", "os_restore_owner", "root", "public", "none", "current_user", "current_role", "session_user"],
  },
  host: {
    // A PostgreSQL role has no host part: who may connect from where is the guest's pg_hba.conf.
    maxLength: 1,
    pattern: /^%$/,
    help: "PostgreSQL users have no host; use '%'",
  },
  password: { maxLength: 512 },
  charset: (charset, collate) => {
    if (charset !== undefined && !encodings.some((e) => normalizeEncoding(e) === normalizeEncoding(charset))) {
      return `character set '${charset}' is not a PostgreSQL server encoding (${encodings.join(", ")})`;
    }
    if (collate !== undefined && !/^[A-Za-z0-9_.@-]{1,64}$/.test(collate)) {
      return `collation '${collate}' is not a locale name (e.g. C, POSIX or en_US.UTF-8)`;
    }
    return null;
  },
};
