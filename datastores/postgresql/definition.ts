/** The PostgreSQL engine as data: the datastore it serves, what it can do, and the Debian package it runs on. */
import { defineEngine } from "../contract.js";
import { postgresqlFlavorSettings, postgresqlParameters } from "./parameters.js";
import { postgresqlRules } from "./rules.js";

export const postgresqlDefinition = defineEngine({
  manager: "postgresql",
  title: "PostgreSQL",
  groups: ["schema", "users", "root", "configuration"],
  backupStrategies: ["postgresql-snapshot", "pg_dump"],
  datastores: [
    {
      name: "postgresql",
      versions: [{ name: "15", number: "15", active: true, parameters: postgresqlParameters }],
      defaultVersion: "15",
      rules: postgresqlRules,
      port: 5432,
      rootUser: "root",
      flavorSettings: postgresqlFlavorSettings,
    },
  ],
  // Debian keeps each major version's programs in /usr/lib/postgresql/<version>/bin, off PATH.
  packages: [{ name: "postgresql", programs: ["initdb"], versionedUnder: "/usr/lib/postgresql" }],
});
