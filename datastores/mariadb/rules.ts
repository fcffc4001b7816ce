import type { EngineRules } from "../contract.js";

/** Character sets MariaDB 10.11 ships (SHOW CHARACTER SET). */
export const charsets = [
  "armscii8", "ascii", "big5", "binary", "cp1250", "cp1251", "cp1256", "cp1257", "cp850", "cp852", "cp866", "cp932",
  "dec8", "eucjpms", "euckr", "gb2312", "gbk", "geostd8", "greek", "hebrew", "hp8", "keybcs2", "koi8r", "koi8u",
  "latin1", "latin2", "latin5", "latin7", "macce", "macroman", "sjis", "swe7", "tis620", "ucs2", "ujis", "utf16",
  "utf16le", "utf32", "utf8mb3", "utf8mb4", "utf8",
];

/** MariaDB/MySQL identifier rules, stricter than the engine's own so that no name needs quoting tricks. */
export const mariadbRules: EngineRules = {
  database: {
    maxLength: 64,
    pattern: /^[A-Za-z0-9_][A-Za-z0-9_-]*$/,
    help: "use 1 to 64 letters, digits, '_' or '-', not starting with '-'",
    reserved: ["mysql", "information_schema", "performance_schema", "sys", "lost+found", "#mysql50#lost+found"],
  },
  user: {
    maxLength: 80,
    pattern: /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/,
    help: "use 1 to 80 letters, digits, '_', '.' or '-'",
    reserved: ["root", "os_admin", "mysql", "mariadb.sys", "public"],
  },
  host: {
    maxLength: 255,
    pattern: /^(%|[A-Za-z0-9%_][A-Za-z0-9%_.:-]*(\/[0-9.]+)?)$/,
    help: "use '%', a host name or an IP address, with '%' as a wildcard (e.g. 10.0.% or 192.168.0.0/255.255.0.0)",
  },
  password: { maxLength: 512 },
  charset: (charset, collate) => {
    if (charset !== undefined && !charsets.includes(charset.toLowerCase())) {
      return `character set '${charset}' is not one of MariaDB's (${charsets.join(", ")})`;
    }
    if (collate !== undefined) {
      if (!/^[A-Za-z0-9_]{1,64}$/.test(collate)) return `collation '${collate}' may contain only letters, digits and '_'`;
      const prefix = collate.toLowerCase().split("_")[0]!;
      const cs = charset?.toLowerCase();
      if (cs && !(collate.toLowerCase().startsWith(`${cs}_`) || (cs === "utf8" && prefix === "utf8mb3"))) {
        return `collation '${collate}' does not belong to character set '${charset}'`;
      }
      if (!charsets.includes(prefix) && !collate.toLowerCase().startsWith("utf8mb")) {
        return `collation '${collate}' does not belong to any MariaDB character set`;
      }
    }
    return null;
  },
};
