/** The Redis engine as data: the datastore it serves, what it can do, and the Debian package it runs on. */
import { defineEngine } from "../contract.js";
import { redisFlavorSettings, redisParameters } from "./parameters.js";
import { redisRules } from "./rules.js";

export const redisDefinition = defineEngine({
  manager: "redis",
  title: "Redis",
  // No "schema": Redis has numbered keyspaces, not named databases (the API answers 501, as Trove does).
  groups: ["users", "root", "configuration"],
  noDatabases: "its keyspaces are numbered and chosen with SELECT",
  backupStrategies: ["redis-rdb"],
  datastores: [
    {
      name: "redis",
      versions: [{ name: "7.0", number: "7.0", active: true, parameters: redisParameters }],
      defaultVersion: "7.0",
      rules: redisRules,
      port: 6379,
      flavorSettings: redisFlavorSettings,
    },
  ],
  packages: [{ name: "redis-server", programs: ["redis-server"] }],
});
