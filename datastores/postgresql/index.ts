/** The PostgreSQL engine module (see ../registry.ts). */
import type { ModuleOf } from "../contract.js";
import { PgDumpBackup, PostgresqlSnapshotBackup } from "./backup.js";
import { postgresqlDefinition } from "./definition.js";
import { PostgresqlStrategy } from "./strategy.js";

export const engine: ModuleOf<typeof postgresqlDefinition> = {
  definition: postgresqlDefinition,
  strategy: new PostgresqlStrategy(),
  backups: { "postgresql-snapshot": new PostgresqlSnapshotBackup(), pg_dump: new PgDumpBackup() },
};
