/** The Redis engine module (see ../registry.ts). */
import type { ModuleOf } from "../contract.js";
import { RedisRdbBackup } from "./backup.js";
import { redisDefinition } from "./definition.js";
import { RedisStrategy } from "./strategy.js";

export const engine: ModuleOf<typeof redisDefinition> = {
  definition: redisDefinition,
  strategy: new RedisStrategy(),
  backups: { "redis-rdb": new RedisRdbBackup() },
};
