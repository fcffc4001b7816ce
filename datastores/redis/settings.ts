/**
 * Redis's configuration: parameter values in the form Redis takes, checked against the parameter rules
 * (./parameters.ts), and the configuration group that sets and reads them live.
 */
import { refuse } from "../../errors/index.js";
import type { ConfigurationGroup, GuestHandle, ParameterRule, Settings } from "../contract.js";
import { asAdmin, pairs } from "./connection.js";
import { redisDefinition } from "./definition.js";
import { redisParameters } from "./parameters.js";

/** The rule of a parameter a group may set; PARAMETER_NOT_SETTABLE otherwise. */
function ruleFor(name: string): ParameterRule {
  const rule = redisParameters.find((p) => p.name === name);
  if (!rule) throw refuse("PARAMETER_NOT_SETTABLE", { engine: redisDefinition.title, name });
  return rule;
}

/**
 * A setting in the form Redis takes, checked against the parameter rules: booleans become yes/no, enum
 * values lower case. Anything else is refused, so no value can smuggle an option onto the command line.
 */
export function redisValue(name: string, value: string): string {
  const rule = ruleFor(name);
  const invalid = () => refuse("PARAMETER_VALUE_INVALID", { name, value });
  const text = value.trim();
  switch (rule.type) {
    case "integer": {
      if (!/^-?\d+$/.test(text)) throw invalid();
      const n = BigInt(text);
      if ((rule.min !== undefined && n < BigInt(rule.min)) || (rule.max !== undefined && n > BigInt(rule.max))) throw invalid();
      return n.toString();
    }
    case "float":
      if (!/^-?\d+(\.\d+)?$/.test(text)) throw invalid();
      return text;
    case "boolean": {
      const lower = text.toLowerCase();
      if (["yes", "on", "true", "1"].includes(lower)) return "yes";
      if (["no", "off", "false", "0"].includes(lower)) return "no";
      throw invalid();
    }
    case "string": {
      if (rule.values) {
        const match = rule.values.find((v) => v.toLowerCase() === text.toLowerCase());
        if (!match) throw invalid();
        return match;
      }
      // notify-keyspace-events is the only free string: its class letters.
      if (!/^[KEg$lshzxentdmA]*$/.test(text)) throw invalid();
      return text;
    }
  }
}

export const redisConfiguration: ConfigurationGroup = {
  async applySettings(guest: GuestHandle, settings: Settings): Promise<void> {
    const args: string[] = [];
    for (const [name, value] of Object.entries(settings)) {
      const redisForm = redisValue(name, value);
      if (ruleFor(name).restartRequired) {
        throw refuse("PARAMETER_NEEDS_RESTART", { name, server: redisDefinition.title });
      }
      args.push(name, redisForm);
    }
    if (args.length === 0) return;
    await asAdmin(guest, async (client) => {
      // One CONFIG SET for all: Redis 7 applies them all or none.
      await client.call("CONFIG", "SET", ...args).catch((err: Error) => {
        throw refuse("ENGINE_REFUSED", { engine: redisDefinition.title, what: "the settings", detail: err.message });
      });
    });
  },

  async readSettings(guest: GuestHandle, names: string[]): Promise<Settings> {
    for (const name of names) ruleFor(name);
    if (names.length === 0) return {};
    return asAdmin(guest, async (client) => {
      const values = pairs(await client.call("CONFIG", "GET", ...names));
      const out: Settings = {};
      for (const name of names) out[name] = String(values[name] ?? "");
      return out;
    });
  },
};
