/** Hoard's state in Postgres: connection, schema, seed data and the queries the functions use. */
export { connect, type Db } from "./db.js";
export { migrate } from "./migrations.js";
export { seed, builtinFlavors } from "./seed.js";
export { stableId } from "./stable-id.js";
export { troveTime } from "./timestamps.js";
export * from "./instances.js";
export * from "./instance-status.js";
export * from "./drift.js";
export * from "./catalog.js";
export * from "./networks.js";
export * from "./outbox.js";
export * from "./processed.js";
export * from "./configurations.js";
export * from "./quotas.js";
export * from "./subscriptions.js";
export * from "./backups.js";
export * from "./backup-schedules.js";
export * from "./backup-keys.js";
