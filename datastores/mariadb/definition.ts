/**
 * The MariaDB engine as data: the datastores it serves (`mariadb` itself, and `mysql`, as MySQL is not
 * packaged for Debian), what it can do, and the Debian packages it runs on.
 */
import { defineEngine, type ServedDatastore } from "../contract.js";
import { mariadbFlavorSettings, mariadbParameters } from "./parameters.js";
import { mariadbRules } from "./rules.js";

/** A datastore the MariaDB engine serves. */
function servedByMariadb(name: string): ServedDatastore {
  return {
    name,
    versions: [{ name: "10.11", number: "10.11", active: true, parameters: mariadbParameters }],
    defaultVersion: "10.11",
    rules: mariadbRules,
    port: 3306,
    flavorSettings: mariadbFlavorSettings,
  };
}

export const mariadbDefinition = defineEngine({
  manager: "mariadb",
  title: "MariaDB",
  groups: ["schema", "users", "root", "configuration"],
  backupStrategies: ["mariadb-snapshot", "mariadb-dump"],
  datastores: [servedByMariadb("mariadb"), servedByMariadb("mysql")],
  packages: [
    { name: "mariadb-server", programs: ["mariadbd", "mariadb-install-db"] },
    { name: "mariadb-client", programs: ["mariadb"] },
  ],
});
