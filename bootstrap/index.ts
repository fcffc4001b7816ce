/** Bootstrap: the Debian packages Hoard needs, and the private NATS and Postgres servers it runs on. */
export { ensurePackages, missingPackages, type Purpose } from "./packages.js";
export { freePort, portRange } from "./free-port.js";
export { startNats, type NatsOptions, type NatsServer } from "./nats.js";
export { connectAs, ensureCredentials, natsAuth, natsAuthorization, publicKeys, readSeed, type NatsUser } from "./nats-credentials.js";
export { startPostgres, type PostgresOptions, type PostgresServer } from "./postgres.js";
