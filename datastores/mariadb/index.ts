/** The MariaDB engine module (see ../registry.ts). */
import type { ModuleOf } from "../contract.js";
import { MariadbDumpBackup, MariadbSnapshotBackup } from "./backup.js";
import { mariadbDefinition } from "./definition.js";
import { MariadbStrategy } from "./strategy.js";

export const engine: ModuleOf<typeof mariadbDefinition> = {
  definition: mariadbDefinition,
  strategy: new MariadbStrategy(),
  backups: { "mariadb-snapshot": new MariadbSnapshotBackup(), "mariadb-dump": new MariadbDumpBackup() },
};
