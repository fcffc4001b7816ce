/** MariaDB's configuration: SET GLOBAL of values checked again here, and reading them back. */
import mysql from "mysql2/promise";
import { refuse } from "../../errors/index.js";
import type { ConfigurationGroup, GuestHandle, ParameterRule, Settings } from "../contract.js";
import { asRoot } from "./connection.js";
import { mariadbDefinition } from "./definition.js";
import { mariadbParameters, WITHDRAWN_PARAMETERS } from "./parameters.js";
import { quoteIdentifier } from "./sql.js";

/** The rule of a parameter a group may set; PARAMETER_NOT_SETTABLE otherwise. */
function ruleFor(name: string): ParameterRule {
  const rule = mariadbParameters.find((p) => p.name === name);
  if (!rule) throw refuse("PARAMETER_NOT_SETTABLE", { engine: mariadbDefinition.title, name });
  return rule;
}

/**
 * A parameter's value as SQL, checked again here whatever the API checked (a group stored by an older Hoard
 * was not): numbers are plain numbers, booleans ON/OFF, strings one of the rule's values or passing its
 * check, and only then quoted (in an admin session whose sql_mode makes the quoting hold).
 */
function settingLiteral(name: string, value: string): string {
  const rule = ruleFor(name);
  const invalid = () => refuse("PARAMETER_VALUE_INVALID", { name });
  if (rule.type === "integer") {
    if (!/^\d{1,20}$/.test(value)) throw invalid();
    return value;
  }
  if (rule.type === "float") {
    if (!/^\d{1,10}(\.\d{1,10})?$/.test(value)) throw invalid();
    return value;
  }
  if (rule.type === "boolean") {
    if (value !== "ON" && value !== "OFF") throw invalid();
    return value;
  }
  if (rule.values && !rule.values.some((v) => v.toLowerCase() === value.toLowerCase())) throw invalid();
  if (rule.check && rule.check(value) !== null) throw invalid();
  if (!rule.values && !rule.check) throw invalid();
  return mysql.escape(value);
}

/** The settings without the parameters Hoard no longer lets a group set (parameters.ts). */
export function withoutWithdrawn(settings: Settings): Settings {
  return Object.fromEntries(Object.entries(settings).filter(([name]) => !WITHDRAWN_PARAMETERS.includes(name)));
}

export const mariadbConfiguration: ConfigurationGroup = {
  async applySettings(guest: GuestHandle, settings: Settings): Promise<void> {
    const statements = Object.entries(withoutWithdrawn(settings)).map(([name, value]) => `SET GLOBAL ${name} = ${settingLiteral(name, value)}`);
    await asRoot(guest, async (conn) => {
      for (const sql of statements) {
        await conn.query(sql).catch((e: Error) => {
          throw refuse("ENGINE_REFUSED", { engine: mariadbDefinition.title, what: sql.slice("SET GLOBAL ".length), detail: e.message });
        });
      }
    });
  },

  async readSettings(guest: GuestHandle, names: string[]): Promise<Settings> {
    const rules = names.filter((name) => !WITHDRAWN_PARAMETERS.includes(name)).map(ruleFor);
    if (rules.length === 0) return {};
    return asRoot(guest, async (conn) => {
      // Names come from the rules (plain words), never from the caller.
      const [rows] = await conn.query(`SELECT ${rules.map((r) => `@@GLOBAL.${r.name} AS ${quoteIdentifier(r.name)}`).join(", ")}`);
      const row = (rows as Record<string, unknown>[])[0] ?? {};
      const out: Settings = {};
      for (const r of rules) {
        const v = row[r.name];
        out[r.name] = r.type === "boolean" ? (v === 1 || v === "1" || v === "ON" ? "ON" : "OFF") : String(v ?? "");
      }
      return out;
    });
  },
};
